"""The lab never listens beyond loopback, not even for a moment, and leaves
nothing running when it is killed with SIGKILL.

The broker tests start the real RabbitMQ (about 7 s each) while a psutil
watch samples every listening socket of its processes and their children.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.procs import ProcessGroup, SocketWatch, is_loopback, non_loopback  # noqa: E402
from lab.services import missing_binaries  # noqa: E402

BROKER_STARTS = 3

# A child that starts a grandchild listening on every interface for half a second.
BRIEF_WILDCARD = ("import socket, subprocess, sys, time; "
                  "subprocess.run([sys.executable, '-c', "
                  "\"import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen(); time.sleep(0.5)\"]); "
                  "time.sleep(30)")


def _need_services():
    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; as root: apt-get install rabbitmq-server nginx haproxy")


def test_loopback_means_loopback():
    assert all(is_loopback(a) for a in ("127.0.0.1", "127.0.1.1", "::1", "::ffff:127.0.0.1"))
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "192.168.1.2", "::ffff:10.0.0.1"))


def test_the_watch_catches_a_brief_wildcard_listener_of_a_grandchild(tmp_path):
    """The counter-case the broker test relies on: a listener on 0.0.0.0 that
    lives half a second, in a process the lab did not start itself, is seen."""
    with ProcessGroup(tmp_path) as group:
        with SocketWatch(lambda: group.pids(), interval=0.02, where="test") as watch:
            group.start("wildcard", [sys.executable, "-c", BRIEF_WILDCARD])
            time.sleep(1.5)
    outside = non_loopback(watch.sockets)
    assert [s["addr"] for s in outside] == ["0.0.0.0"], watch.sockets


def _helper_node_listeners(tmp_path, erl_flags: str) -> list[str]:
    """Addresses an `erl -sname epmd-starter-N` node (what RabbitMQ's prelaunch
    runs) listens on, with this ERL_FLAGS in its environment."""
    import shutil
    from lab.procs import free_port, listening_sockets, wait_port
    from lab.services import LOOPBACK, epmd_path
    erl = shutil.which("erl")
    if not erl or not epmd_path():
        pytest.skip("erl/epmd missing; as root: apt-get install rabbitmq-server")
    port = free_port()
    env = {"HOME": str(tmp_path), "ERL_EPMD_PORT": str(port), "ERL_FLAGS": erl_flags}
    with ProcessGroup(tmp_path) as group:
        epmd = group.start("epmd", [epmd_path(), "-address", LOOPBACK, "-port", str(port)], env=env)
        wait_port(port, 5, epmd, "epmd")
        node = group.start("node", [erl, "-boot", "no_dot_erlang", "-sname", f"epmd-starter-{port}", "-noinput",
                                    "-eval", "timer:sleep(20000), halt()."], env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = [s["addr"] for s in listening_sockets([node.pid])]
            if found:
                return found
            time.sleep(0.05)
    return []


def test_erl_flags_put_a_helper_node_s_distribution_on_loopback(tmp_path):
    from lab.services import DIST_ARGS
    assert _helper_node_listeners(tmp_path / "bare", "") == ["0.0.0.0"]          # the counter-case
    assert _helper_node_listeners(tmp_path / "flags", DIST_ARGS) == ["127.0.0.1"]


@pytest.mark.parametrize("attempt", range(BROKER_STARTS))
def test_broker_start_up_listens_only_on_loopback(tmp_path, attempt):
    """RabbitMQ's prelaunch runs a short-lived Erlang node (epmd-starter) that
    listened on 0.0.0.0 in some start-ups; every start is watched throughout."""
    _need_services()
    from lab.services import start_rabbitmq
    with ProcessGroup(tmp_path) as group:
        rabbit = start_rabbitmq(group)   # raises if the watch saw a listener beyond loopback
    seen = rabbit.startup_sockets
    assert {"epmd", "beam.smp"} <= {s["comm"] for s in seen}, seen    # the watch saw the broker's own
    assert rabbit.port in {s["port"] for s in seen}
    assert rabbit.startup_samples >= 10
    assert non_loopback(seen) == []


LAB_SCRIPT = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from lab.procs import ProcessGroup
from lab.services import start_nginx, start_rabbitmq
from lab.workers import WorkerPool
group = ProcessGroup(Path(tempfile.mkdtemp(prefix="mqlb-kill-")))
rabbit = start_rabbitmq(group)
pool = WorkerPool(group, restart_s=None)
worker = pool.add_http("w", 2, None, group.workdir / "w.log")
pool.wait_ready()
start_nginx(group, "lb", [worker.port])
print("ready", flush=True)
time.sleep(300)
"""


def test_sigkill_of_the_lab_leaves_nothing_running(tmp_path):
    """SIGKILL runs no handler of the lab: its watchdog must still stop the
    broker, epmd, nginx (master and workers), the worker and their helpers."""
    _need_services()
    script = tmp_path / "lab_run.py"
    script.write_text(LAB_SCRIPT)
    lab = subprocess.Popen([sys.executable, str(script), str(ROOT)], stdout=subprocess.PIPE, text=True)
    started: list[psutil.Process] = []
    try:
        assert lab.stdout.readline().strip() == "ready"
        time.sleep(0.5)   # nginx's master forks its worker after it listens
        watchdogs = [c for c in psutil.Process(lab.pid).children() if c.cmdline()[1:2] == ["-c"]]
        assert len(watchdogs) == 1
        started = [c for c in psutil.Process(lab.pid).children(recursive=True) if c not in watchdogs]
        names = {p.name() for p in started}
        assert {"epmd", "beam.smp", "nginx"} <= names, names
        assert sum(p.name() == "nginx" for p in started) >= 2   # master and worker
        os.kill(lab.pid, signal.SIGKILL)
        lab.wait(10)
        gone, alive = psutil.wait_procs(started, timeout=15)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        if lab.poll() is None:
            lab.kill()
        for p in started:                      # never leave anything behind, also when the test fails
            try:
                p.kill()
            except psutil.Error:
                pass
