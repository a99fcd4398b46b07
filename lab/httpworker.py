"""An HTTP worker for the lab: each request is a job of controlled time and memory.

Run as a script (standard library only):

    python httpworker.py --port P --slots 4 --budget-mb 120 --log jobs.log --name w0

``POST /job?id=ID&ms=DURATION_MS&mb=MEMORY_MB`` (or ``/<class>/job``, so that a
balancer can tell job classes apart by path): when the request is accepted the
worker allocates ``mb`` MiB (touching every page, so it is real resident memory,
like a buffered upload), then waits for one of ``slots`` processing slots, works
for ``ms`` milliseconds and answers 200. The memory is held from acceptance until
the answer is written. If the memory held by all accepted requests exceeds the
budget, the worker dies at once (``os._exit(86)``), like a server killed for
running out of memory: its in-flight requests are gone.

Every event is logged as one line ``<unix time> <event> <job id> <worker>``
(events: accept, start, end, crash) so the controller can tell work done for
clients who had already given up.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from jobmemory import JobMemory  # a sibling module: the workers run as scripts


class Worker(JobMemory):
    """The HTTP worker's jobs: memory and log, plus its processing slots."""

    def __init__(self, name: str, slots: int, budget_mb: float | None, log_path: str):
        super().__init__(name, budget_mb, log_path)
        self.slots = threading.BoundedSemaphore(slots) if slots > 0 else None


WORKER: Worker | None = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # keep stdout quiet
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/health"):
            self._reply(200, {"worker": WORKER.name, "in_flight_mb": WORKER.in_flight_mb})
        else:
            self._reply(404, {})

    def do_POST(self):
        url = urlparse(self.path)
        if not url.path.endswith("/job"):   # /job, or /<class>/job for path-based rules
            self._reply(404, {})
            return
        q = parse_qs(url.query)
        job_id = q.get("id", ["?"])[0]
        ms = float(q.get("ms", ["10"])[0])
        mb = float(q.get("mb", ["0"])[0])
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        w = WORKER
        w.log("accept", job_id)
        buf = w.hold(job_id, mb)
        try:
            if w.slots:
                w.slots.acquire()
            try:
                t0 = time.time()
                w.log("start", job_id)
                time.sleep(ms / 1000.0)
                t1 = time.time()
                w.log("end", job_id)
            finally:
                if w.slots:
                    w.slots.release()
            try:
                self._reply(200, {"id": job_id, "worker": w.name, "start": t0, "end": t1})
            except OSError:
                w.log("unsent", job_id)
        finally:
            del buf
            w.release(mb)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


def main(argv=None) -> None:
    global WORKER
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--budget-mb", type=float, default=None)
    ap.add_argument("--log", required=True)
    ap.add_argument("--name", default="w")
    a = ap.parse_args(argv)
    WORKER = Worker(a.name, a.slots, a.budget_mb, a.log)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
