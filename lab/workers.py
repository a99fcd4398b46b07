"""Controller side of the workers: start, supervise (restart after a crash), read logs."""
from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Proc, ProcessGroup, free_port, wait_port

HERE = Path(__file__).resolve().parent
CRASH_EXIT = 86


@dataclass
class WorkerSlot:
    name: str
    argv: list[str]
    port: int | None
    proc: Proc
    crashes: list[float] = field(default_factory=list)   # unix times of deaths
    restarts: int = 0
    death_seen: bool = False


class WorkerPool:
    """A set of worker processes; a dead one is restarted after ``restart_s``.

    Only deaths we did not cause count as crashes. ``stop()`` ends supervision and
    stops the processes by PID.
    """

    def __init__(self, group: ProcessGroup, restart_s: float | None = 1.0):
        self.group = group
        self.restart_s = restart_s
        self.slots: list[WorkerSlot] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_http(self, name: str, slots: int, budget_mb: float | None, log: Path) -> WorkerSlot:
        port = free_port()
        argv = [sys.executable, str(HERE / "httpworker.py"), "--port", str(port),
                "--slots", str(slots), "--log", str(log), "--name", name]
        if budget_mb is not None:
            argv += ["--budget-mb", str(budget_mb)]
        proc = self.group.start(name, argv, stop_signal=signal.SIGTERM, stop_timeout=3)
        s = WorkerSlot(name, argv, port, proc)
        self.slots.append(s)
        return s

    def add_mq(self, name: str, amqp_port: int, queue: str, consumers: int, prefetch: int,
               budget_mb: float | None, log: Path) -> WorkerSlot:
        ready = self.group.workdir / f"{name}.ready"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, str(HERE / "mqworker.py"), "--amqp-port", str(amqp_port),
                "--queue", queue, "--consumers", str(consumers), "--prefetch", str(prefetch),
                "--log", str(log), "--name", name, "--ready-file", str(ready)]
        if budget_mb is not None:
            argv += ["--budget-mb", str(budget_mb)]
        proc = self.group.start(name, argv, stop_signal=signal.SIGTERM, stop_timeout=3)
        s = WorkerSlot(name, argv, None, proc)
        s.ready_file = ready  # type: ignore[attr-defined]
        self.slots.append(s)
        return s

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for s in self.slots:
            if s.port is not None:
                wait_port(s.port, max(0.1, deadline - time.monotonic()), s.proc, s.name)
            else:
                rf = s.ready_file  # type: ignore[attr-defined]
                while not rf.exists():
                    if not s.proc.alive():
                        raise RuntimeError(f"{s.name} exited early: {s.proc.log_tail()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{s.name} not ready")
                    time.sleep(0.02)
        if self.restart_s is not None and self._thread is None:
            self._thread = threading.Thread(target=self._supervise, daemon=True)
            self._thread.start()

    def _supervise(self) -> None:
        pending: dict[str, float] = {}
        while not self._stop.wait(0.02):
            now = time.monotonic()
            for s in self.slots:
                if s.proc.alive():
                    continue
                if s.name not in pending:
                    self._note_death(s)
                    pending[s.name] = now + self.restart_s
                elif now >= pending[s.name]:
                    del pending[s.name]
                    s.proc = self.group.start(s.name, s.argv, stop_signal=signal.SIGTERM,
                                              stop_timeout=3)
                    s.restarts += 1
                    s.death_seen = False

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.slots if s.proc.alive()]

    def _note_death(self, s: WorkerSlot) -> None:
        if not s.death_seen:
            s.death_seen = True
            s.crashes.append(time.time())

    def crash_count(self) -> int:
        """Deaths we did not cause (also those not yet seen by the supervisor)."""
        for s in self.slots:
            if not s.proc.alive():
                self._note_death(s)
        return sum(len(s.crashes) for s in self.slots)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        for s in self.slots:
            s.proc.stop()


def read_log(path: Path) -> list[tuple[float, str, str, str, str]]:
    """Events as (time, event, job id, worker, extra)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) < 4:
            continue
        extra = parts[4] if len(parts) > 4 else ""
        out.append((float(parts[0]), parts[1], parts[2], parts[3], extra))
    return out
