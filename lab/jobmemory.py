"""What the lab's workers share: the memory their jobs hold, a budget that kills
the process when exceeded, and the one-line-per-event job log.

Imported by the worker scripts, which run standalone (their folder is on the path).
"""
from __future__ import annotations

import os
import threading
import time

MIB = 1 << 20
CRASH_EXIT = 86


class JobMemory:
    """Memory held by a worker's jobs, with a budget that kills the process
    when exceeded (like a server killed for running out of memory), and the job log."""

    def __init__(self, name: str, budget_mb: float | None, log_path: str):
        self.name = name
        self.budget_mb = budget_mb
        self.in_flight_mb = 0.0
        self.lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1)

    def log(self, event: str, job_id: str, extra: str = "") -> None:
        line = f"{time.time():.6f} {event} {job_id} {self.name}{(' ' + extra) if extra else ''}\n"
        with self.lock:
            self.log_file.write(line)

    def hold(self, job_id: str, mb: float):
        buf = None
        if mb > 0:
            n = int(mb * MIB)
            buf = bytearray(n)
            buf[::4096] = b"\x01" * len(range(0, n, 4096))
        with self.lock:
            self.in_flight_mb += mb
            over = self.budget_mb is not None and self.in_flight_mb > self.budget_mb
            held = self.in_flight_mb
        if over:
            self.log("crash", job_id, f"in_flight_mb={held:.0f} budget_mb={self.budget_mb:.0f}")
            self.log_file.flush()
            os._exit(CRASH_EXIT)
        return buf

    def release(self, mb: float) -> None:
        with self.lock:
            self.in_flight_mb -= mb
