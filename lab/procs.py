"""Process bookkeeping for the lab: free ports, start/stop by PID, socket audit.

Every process the lab starts is registered in a :class:`ProcessGroup`. The group
stops its processes (by PID, never by name) when its ``with`` block ends, when
the interpreter exits (``atexit``) and on SIGTERM/SIGINT, also when an
experiment raises.

A SIGKILL of the lab runs none of that, so every process is also announced to
a watchdog (:func:`_watchdog`): a small process that outlives the lab only to
kill, when the lab's end of a pipe closes, every process the lab had not
stopped yet, with whatever those started themselves (nginx's workers,
Erlang's helpers), also the ones that left their parent's session.

The audit (psutil) lists the listening sockets of the lab's processes and their
descendants, once (:func:`listening_sockets`) or continuously
(:class:`SocketWatch`, e.g. during the broker's start-up).
"""
from __future__ import annotations

import atexit
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"

# Ports handed out in this interpreter, so two quick calls never return the same one.
_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (bind to port 0 and ask)."""
    with _port_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free port on 127.0.0.1")


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 10.0, proc=None, what: str = "") -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    proc = getattr(proc, "popen", proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or proc.args!r} exited with {proc.returncode} "
                               f"before listening on port {port}")
        time.sleep(0.02)
    raise TimeoutError(f"{what or 'process'} did not listen on 127.0.0.1:{port} "
                       f"within {timeout} s")


# --------------------------------------------------------------------------- watchdog

# Reads "+PID" / "-PID" lines (a process started / stopped by the lab). Every
# 0.2 s it notes the descendants of each started process, because some of them
# leave its session and, once their parent is gone, its tree (Erlang's
# erl_child_setup and the helpers it runs). When the pipe closes (the lab ended,
# however) it kills every process it noted that still runs (psutil checks the
# creation time, so a reused PID is never hit) and the current descendants.
_WATCHDOG_CODE = """
import sys, threading
import psutil
trees = {}          # started pid -> {pid: psutil.Process} of it and every descendant seen
lock = threading.Lock()
closed = threading.Event()

def read():
    for line in sys.stdin:
        pid = int(line[1:])
        with lock:
            if line[0] == "-":
                trees.pop(pid, None)
                continue
            try:
                trees[pid] = {pid: psutil.Process(pid)}
            except psutil.Error:
                pass
    closed.set()

def note():
    with lock:
        for tree in trees.values():
            for root in list(tree.values()):
                try:
                    for child in root.children(recursive=True):
                        tree.setdefault(child.pid, child)
                except psutil.Error:
                    pass

threading.Thread(target=read, daemon=True).start()
while not closed.wait(0.2):
    note()
note()
doomed = [p for tree in trees.values() for p in tree.values()]
for proc in doomed:
    try:
        proc.kill()
    except psutil.Error:
        pass
psutil.wait_procs(doomed, timeout=2)
"""


class _Watchdog:
    """The lab's end of the pipe to the watchdog process (see the module notes)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.popen = subprocess.Popen([sys.executable, "-c", _WATCHDOG_CODE], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, text=True, bufsize=1,
                                      start_new_session=True)  # not in the lab's group: it outlives it

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self.popen.stdin.write(line + "\n")
                self.popen.stdin.flush()
            except (BrokenPipeError, ValueError):  # the watchdog is gone: nothing to tell
                pass

    def watch(self, pid: int) -> None:
        self._send(f"+{pid}")

    def forget(self, pid: int) -> None:
        self._send(f"-{pid}")


_watchdog_instance: _Watchdog | None = None
_watchdog_lock = threading.Lock()


def _watchdog() -> _Watchdog:
    """The watchdog of this interpreter, started on first use."""
    global _watchdog_instance
    with _watchdog_lock:
        if _watchdog_instance is None or _watchdog_instance.popen.poll() is not None:
            _watchdog_instance = _Watchdog()
        return _watchdog_instance


# --------------------------------------------------------------------------- groups

_live_groups: list["ProcessGroup"] = []
_handlers_installed = False


def _stop_all_groups() -> None:
    for g in list(_live_groups):
        g.stop_all()


def _on_signal(signum, frame):  # pragma: no cover - exercised by hand
    _stop_all_groups()
    raise SystemExit(128 + signum)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all_groups)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    signal.signal(sig, _on_signal)
            except (ValueError, OSError):
                pass


class Proc:
    """One started process, remembered with how to stop it."""

    def __init__(self, name: str, popen: subprocess.Popen, stop_signal: int,
                 stop_timeout: float, log_path: Path | None):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.log_path = log_path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            _watchdog().forget(self.pid)

    def _stop(self) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.kill(self.pid, self.stop_signal)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(5)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def log_tail(self, n: int = 20) -> str:
        if self.log_path and self.log_path.exists():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""


class ProcessGroup:
    """Start processes and make sure every one of them is stopped, by PID."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self._lock = threading.Lock()
        self._on_exit: list = []
        _install_handlers()

    def on_exit(self, fn) -> None:
        """Run fn after all processes are stopped (e.g. remove a temp dir)."""
        self._on_exit.append(fn)

    def __enter__(self) -> "ProcessGroup":
        _live_groups.append(self)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        if self in _live_groups:
            _live_groups.remove(self)

    def start(self, name: str, argv: list[str], env: dict | None = None,
              stop_signal: int = signal.SIGTERM, stop_timeout: float = 10.0,
              cwd: Path | None = None) -> Proc:
        log_path = self.workdir / f"{name}.out"
        watchdog = _watchdog()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     cwd=str(cwd) if cwd else None,
                                     start_new_session=True)
        watchdog.watch(popen.pid)
        p = Proc(name, popen, stop_signal, stop_timeout, log_path)
        with self._lock:
            self.procs.append(p)
        return p

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.alive()]

    def stop(self, proc: Proc) -> None:
        proc.stop()

    def stop_all(self) -> None:
        # Stop in reverse start order: clients/workers first, broker and epmd last.
        with self._lock:
            procs = list(reversed(self.procs))
        for p in procs:
            try:
                p.stop()
            except Exception:  # keep stopping the others
                pass
        while self._on_exit:
            try:
                self._on_exit.pop()()
            except Exception:
                pass


# --------------------------------------------------------------------------- audit

def descendants(pids: list[int]) -> set[int]:
    """These PIDs and all their descendants that are alive now."""
    seen: set[int] = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            seen.add(pid)
            seen.update(child.pid for child in proc.children(recursive=True))
        except psutil.Error:  # gone, or gone while we looked
            continue
    return seen


def listening_sockets(pids: list[int]) -> list[dict]:
    """Listening TCP sockets (v4 and v6) owned by these PIDs and their descendants."""
    found = []
    for pid in sorted(descendants(pids)):
        try:
            proc = psutil.Process(pid)
            comm = proc.name()
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        found += [{"pid": pid, "comm": comm, "addr": c.laddr.ip, "port": c.laddr.port}
                  for c in conns if c.status == psutil.CONN_LISTEN]
    return found


def is_loopback(addr: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback address."""
    ip = ipaddress.ip_address(addr.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def non_loopback(sockets: list[dict]) -> list[dict]:
    return [s for s in sockets if not is_loopback(s["addr"])]


class SocketWatch:
    """Sample the listening sockets of some processes every ``interval`` s, in a
    thread, while the ``with`` block runs; remember every distinct one seen.

    ``pids`` is a function returning the PIDs to watch now (their descendants
    are watched too), so processes started inside the block are covered. A
    listener that lives shorter than ``interval`` can be missed.
    """

    def __init__(self, pids, interval: float = 0.02, where: str = ""):
        self.pids = pids
        self.interval = interval
        self.where = where
        self.sockets: list[dict] = []
        self.samples = 0
        self._keys: set = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="socket-watch", daemon=True)

    def sample(self) -> None:
        for s in listening_sockets(self.pids()):
            key = (s["pid"], s["comm"], s["addr"], s["port"])
            if key not in self._keys:
                self._keys.add(key)
                self.sockets.append({**s, "where": self.where})
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def outside_loopback(self) -> list[dict]:
        return non_loopback(self.sockets)

    def __enter__(self) -> "SocketWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # one last look, after the block
