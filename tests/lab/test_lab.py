"""The real-systems lab: RabbitMQ, nginx and HAProxy on 127.0.0.1.

Runs the three lab experiments once (about a minute) and checks outcome classes,
zero loss, redelivery, the ordering of architectures and that nothing listened
beyond loopback. Latency is only checked loosely: the machine is shared and small.
Skipped (with the way to enable it) when the programs are missing.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.services import missing_binaries  # noqa: E402

HOW_TO = ("lab needs RabbitMQ, nginx, HAProxy and pika: as root run "
          "`apt-get install rabbitmq-server nginx haproxy` and `pip install pika`")


def _need_services():
    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; {HOW_TO}")


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    _need_services()
    from lab.experiments import run_lab
    workdir = tmp_path_factory.mktemp("lab")
    rec = run_lab(workdir, log=lambda *a: None, which=("light", "burst", "kill"))  # priority: test_priority.py
    json.dumps(rec)  # the record must be JSON as it is
    return rec


# ---------------------------------------------------------------- no services needed

def test_free_ports_are_distinct_and_bindable():
    import socket
    from lab.procs import free_port
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    for p in list(ports)[:3]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_worker_dies_over_memory_budget_and_group_stops_on_error(tmp_path):
    """A real HTTP worker: a job over the budget kills it; an exception stops the rest."""
    import http.client
    from lab.procs import ProcessGroup, listening_sockets
    from lab.workers import WorkerPool
    pids = []
    with pytest.raises(RuntimeError, match="experiment failed"):
        with ProcessGroup(tmp_path) as g:
            pool = WorkerPool(g, restart_s=None)
            a = pool.add_http("a", 2, 30.0, tmp_path / "a.log")
            b = pool.add_http("b", 2, 30.0, tmp_path / "b.log")
            pool.wait_ready()
            pids = [a.proc.pid, b.proc.pid]
            socks = listening_sockets(pids)
            assert {s["port"] for s in socks} == {a.port, b.port}
            assert all(s["addr"] == "127.0.0.1" for s in socks)
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
            conn.request("POST", "/job?id=ok&ms=5&mb=10")
            assert conn.getresponse().status == 200
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
            with pytest.raises((http.client.HTTPException, OSError)):
                conn.request("POST", "/job?id=big&ms=5&mb=40")
                conn.getresponse()
            a.proc.popen.wait(5)
            assert a.proc.popen.returncode == 86
            assert pool.crash_count() == 1
            assert "crash big" in (tmp_path / "a.log").read_text()
            raise RuntimeError("experiment failed")
    time.sleep(0.1)
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} still runs"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_cli_check_reports():
    out = subprocess.run([sys.executable, "-m", "lab", "check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 1)
    assert ("lab ready" in out.stdout) or ("apt-get install" in out.stdout)


# ---------------------------------------------------------------- the live lab

def test_record_has_versions_and_machine(record):
    v = record["versions"]
    for k in ("rabbitmq", "nginx", "haproxy", "erlang_otp", "python", "pika"):
        assert v[k], k
    assert record["machine"]["cores"] >= 1
    assert record["machine"]["memory_gib"] > 0
    assert record["duration_s"] < 240


def test_light_requests_all_answered(record):
    res = record["experiments"]["light"]["results"]
    n = record["experiments"]["light"]["params"]["n"]
    job_ms = record["experiments"]["light"]["params"]["ms"]
    assert set(res) >= {"nginx_round_robin", "nginx_least_conn", "haproxy_roundrobin",
                        "rabbitmq_prefetch1"}
    for name, r in res.items():
        assert r["outcomes"]["ok"] == n, name
        # at least the job time, and far from a queueing collapse
        assert job_ms <= r["p50_ms"] < 20 * job_ms, name
        assert r["p50_ms"] <= r["p99_ms"], name
    assert res["rabbitmq_prefetch1"]["messages_lost"] == 0


def test_burst_ordering_of_architectures(record):
    b = record["experiments"]["burst"]
    n = b["params"]["n"]
    res = b["results"]["long"]["results"]
    push, capped = res["nginx_push"], res["nginx_max_conns"]
    hap, mq = res["haproxy_queue"], res["rabbitmq_prefetch1"]
    # nginx with max_conns has no queue: over the cap it rejects at once, no crash
    assert capped["outcomes"]["rejected"] > 0
    assert capped["outcomes"]["ok"] < n
    assert capped["worker_crashes"] == 0
    # nginx without a cap pushes everything: workers over their memory budget die
    assert push["worker_crashes"] >= 1
    assert push["outcomes"]["ok"] < n
    # HAProxy queues in the balancer and answers every request
    assert hap["outcomes"]["ok"] == n
    assert hap["worker_crashes"] == 0
    # RabbitMQ with prefetch 1: every job acked and answered, nothing lost
    assert mq["outcomes"]["ok"] == n
    assert mq["acked"] == n
    assert mq["messages_lost"] == 0
    assert mq["worker_crashes"] == 0
    assert mq["depth_after_publish"] > 0  # the burst waited in the broker
    assert hap["outcomes"]["ok"] > capped["outcomes"]["ok"] > push["outcomes"]["ok"] - 1


def test_burst_short_patience_wastes_work_unless_messages_expire(record):
    res = record["experiments"]["burst"]["results"]["short"]["results"]
    hap, mq, ttl = res["haproxy_queue"], res["rabbitmq_prefetch1"], res["rabbitmq_prefetch1_ttl"]
    assert hap["outcomes"]["timed_out"] > 0
    assert mq["outcomes"]["timed_out"] > 0
    # without a TTL the consumers still do every job, also for clients who left
    assert mq["acked"] == mq["n"]
    assert mq["wasted_jobs"] > 0
    # with a per-message TTL equal to the patience the broker drops stale jobs
    assert ttl["expired_unprocessed"] > 0
    assert ttl["wasted_jobs"] < mq["wasted_jobs"]
    for r in (mq, ttl):
        assert r["messages_lost"] == 0
    # HAProxy forwards queued requests whose client left, unless abortonclose
    abort = res["haproxy_queue_abortonclose"]
    assert abort["wasted_jobs"] < hap["wasted_jobs"]


def test_killed_consumer_message_redelivered_nothing_lost(record):
    k = record["experiments"]["kill"]
    assert k["acked"] == k["published"]
    assert k["messages_lost"] == 0
    assert k["redelivered_count"] >= 1
    assert set(k["killed"]["holding"]) <= set(k["redelivered"])


def test_nothing_listens_beyond_loopback(record):
    socks = record["listening_sockets"]
    comms = {s["comm"] for s in socks}
    # the audit really saw our processes
    assert {"beam.smp", "nginx", "haproxy"} <= comms
    for s in socks:
        if s["comm"] == "epmd":
            # epmd always adds the loopback of each family: 127.0.0.1 and ::1
            assert s["addr"] in ("127.0.0.1", "::1"), s
        else:
            assert s["addr"] == "127.0.0.1", s


def test_every_started_process_is_gone(record):
    pids = {s["pid"] for s in record["listening_sockets"]} | {record["experiments"]["kill"]["killed"]["pid"]}
    time.sleep(0.2)
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
    assert not alive, alive
