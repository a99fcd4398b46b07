"""Process bookkeeping for the lab: free ports, start/stop by PID, socket audit.

Every process the lab starts is registered in a :class:`ProcessGroup`. The group
stops its processes (by PID, never by name) when its ``with`` block ends, when
the interpreter exits (``atexit``) and on SIGTERM/SIGINT, also when an
experiment raises.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

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
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     cwd=str(cwd) if cwd else None,
                                     start_new_session=True)
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

def _children(pid: int) -> list[int]:
    out = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return out
    for t in tasks:
        try:
            out += [int(x) for x in (t / "children").read_text().split()]
        except OSError:
            pass
    return out


def descendants(pids: list[int]) -> set[int]:
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        p = stack.pop()
        if p in seen or not Path(f"/proc/{p}").exists():
            continue
        seen.add(p)
        stack += _children(p)
    return seen


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _decode_addr(hexaddr: str, v6: bool) -> tuple[str, int]:
    ip_hex, port_hex = hexaddr.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(ip_hex)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), port
    # /proc stores IPv6 as four little-endian 32-bit words
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), port


def listening_sockets(pids: list[int]) -> list[dict]:
    """Listening TCP sockets (v4 and v6) owned by these PIDs and their descendants."""
    owner: dict[str, int] = {}
    for pid in descendants(pids):
        for ino in _socket_inodes(pid):
            owner[ino] = pid
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":  # 0A = LISTEN
                continue
            inode = parts[9]
            if inode in owner:
                addr, port = _decode_addr(parts[1], v6)
                pid = owner[inode]
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    comm = "?"
                found.append({"pid": pid, "comm": comm, "addr": addr, "port": port})
    return found


def non_loopback(sockets: list[dict]) -> list[dict]:
    return [s for s in sockets if s["addr"] not in ("127.0.0.1", "::ffff:127.0.0.1")]
