"""The lab experiments on real RabbitMQ, nginx and HAProxy (loopback only).

``run_lab()`` starts one broker for the whole run and fresh workers and balancers
for every scenario, runs the experiments and returns a JSON-ready record. Every
process is stopped by PID when a scenario ends, also on errors.
"""
from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .facts import machine_facts, versions
from .loadgen import http_run, mq_rpc_run, poisson_schedule
from .procs import ProcessGroup, listening_sockets
from .services import haproxy_queue_max, start_haproxy, start_nginx, start_rabbitmq
from .workers import WorkerPool, read_log

# ----------------------------------------------------------------------------- settings
# Two "servers" with four slots each, for balancers and broker alike.
SERVERS = 2
SLOTS = 4

LIGHT = dict(rate=150.0, n=600, ms=10.0, mb=0.0, timeout=3.0, client_threads=16, seed=1)

# patience_short sits between the end of the 2nd and 3rd "wave" of 8 jobs
# (~1.1 s and ~1.7 s), so small timing noise does not move jobs across it.
BURST = dict(n=48, ms=500.0, mb=20.0, budget_mb=120.0, restart_s=1.0,
             patience_long=8.0, patience_short=1.5, drain_max_s=15.0)

KILL = dict(n=40, ms=200.0, consumers=4, prefetch=1, kill_after_s=0.7, max_wait_s=25.0)

# A backlog of heavy jobs at t=0 (five waves on the eight slots, ~1.25 s), light
# jobs arriving behind it during the first ~0.45 s. Light jobs get RabbitMQ
# message priority 5 (queue x-max-priority 10) or HAProxy priority class -1
# (heavy: 0 in both). The patience is far beyond the backlog: nothing times out.
PRIORITY = dict(heavy_n=40, heavy_ms=250.0, light_n=16, light_ms=10.0, light_first_s=0.05,
                light_gap_s=0.025, timeout=10.0, max_priority=10, light_priority=5,
                light_class=-1, light_path="/light/job", heavy_path="/heavy/job")


# ----------------------------------------------------------------------------- helpers

def _pct(xs, q):
    return float(np.percentile(xs, q)) if len(xs) else None


def _lat_summary(recs: list[dict]) -> dict:
    ok = [1000.0 * (r["t_done"] - r["t_sched"]) for r in recs if r["outcome"] == "ok"]
    return {"p50_ms": _pct(ok, 50), "p90_ms": _pct(ok, 90), "p99_ms": _pct(ok, 99),
            "mean_ms": float(np.mean(ok)) if ok else None,
            "max_ms": float(np.max(ok)) if ok else None}


def _events_by_job(log_paths: list[Path]) -> dict[str, dict]:
    jobs: dict[str, dict] = defaultdict(lambda: {"accept": [], "deliver": [], "start": [],
                                                 "end": [], "ack": [], "redelivered": [],
                                                 "workers": []})
    crashes = []
    for p in log_paths:
        for t, ev, jid, worker, extra in read_log(p):
            if ev == "crash":
                crashes.append({"t": t, "worker": worker, "job": jid, "info": extra})
                continue
            j = jobs[jid]
            if ev in j:
                j[ev].append(t)
            if ev == "deliver":
                j["redelivered"].append("redelivered=1" in extra)
            if ev in ("accept", "deliver"):
                j["workers"].append(worker)
    return {"jobs": dict(jobs), "crashes": crashes}


def _ack_to_next_delivery(log_paths: list[Path]) -> list[float]:
    """Per consumer: seconds from an ack to its next delivery, when the queue was
    not empty (the next message was already waiting). Measures the broker's
    ack + deliver round trip that prefetch 1 pays between two jobs."""
    gaps = []
    for p in log_paths:
        last_ack: dict[str, float] = {}
        for t, ev, _jid, worker, extra in read_log(p):
            k = next((x[2:] for x in extra.split() if x.startswith("k=")), None)
            if k is None:
                continue
            key = f"{worker}/{k}"
            if ev == "ack":
                last_ack[key] = t
            elif ev == "deliver" and key in last_ack:
                gaps.append(t - last_ack.pop(key))
    return gaps


def _crash_killed(job: dict, crashes: list[dict]) -> bool:
    """A job that reached a worker, never ended, and that worker crashed afterwards."""
    if job["end"]:
        return False
    arrived = (job["accept"] or job["deliver"] or [None])[0]
    worker = (job["workers"] or [None])[-1]
    return arrived is not None and any(c["worker"] == worker and c["t"] >= arrived
                                       for c in crashes)


def _work_accounting(recs: list[dict], ev: dict, ms: float) -> dict:
    """Wasted work: jobs finished for clients who had already given up (or got an error)."""
    jobs, crashes = ev["jobs"], ev["crashes"]
    wasted_jobs, wasted_s = 0, 0.0
    killed_jobs, killed_s = 0, 0.0
    for r in recs:
        j = jobs.get(r["id"])
        if j is None:
            continue
        if r["outcome"] != "ok" and j["end"]:
            wasted_jobs += 1
            wasted_s += sum(e - s for s, e in zip(j["start"], j["end"]))
        if _crash_killed(j, crashes):
            killed_jobs += 1
            if j["start"]:
                ct = min(c["t"] for c in crashes if c["t"] >= j["start"][-1]) \
                    if any(c["t"] >= j["start"][-1] for c in crashes) else j["start"][-1]
                killed_s += max(0.0, ct - j["start"][-1])
    useful = sum(1 for r in recs if r["outcome"] == "ok")
    return {"wasted_jobs": wasted_jobs, "wasted_work_s": round(wasted_s, 3),
            "killed_in_crash_jobs": killed_jobs, "killed_work_s": round(killed_s, 3),
            "useful_work_s": round(useful * ms / 1000.0, 3)}


def _classify_http(recs: list[dict], ev: dict) -> None:
    """Split errors: 'rejected' never reached a worker, 'failed' did (crash)."""
    for r in recs:
        if r["outcome"] == "error":
            j = ev["jobs"].get(r["id"])
            r["outcome"] = "failed" if (j and (j["accept"] or j["start"])) else "rejected"


def _count(recs: list[dict]) -> dict:
    out = {"ok": 0, "rejected": 0, "failed": 0, "timed_out": 0}
    for r in recs:
        out[r["outcome"]] = out.get(r["outcome"], 0) + 1
    return out


def _statuses(recs: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in recs:
        k = str(r["status"])
        out[k] = out.get(k, 0) + 1
    return out


def _span(recs: list[dict], ev: dict) -> dict:
    """When work began and ended, relative to the first scheduled arrival."""
    t0 = min(r["t_sched"] for r in recs)
    starts = [t for r in recs for t in (ev["jobs"].get(r["id"], {}).get("start") or [])]
    ends = [t for r in recs for t in (ev["jobs"].get(r["id"], {}).get("end") or [])]
    if not starts or not ends:
        return {"first_start_ms": None, "last_end_ms": None}
    return {"first_start_ms": round(1000 * (min(starts) - t0), 2),
            "last_end_ms": round(1000 * (max(ends) - t0), 2)}


def _hops(recs: list[dict], ev: dict, ms: float) -> dict:
    """Median time from send to job start (in) and from job end to answer (out)."""
    hin, hout, over = [], [], []
    for r in recs:
        j = ev["jobs"].get(r["id"])
        if r["outcome"] != "ok" or not j or not j["start"] or not j["end"]:
            continue
        hin.append(1000 * (j["start"][0] - r["t_send"]))
        hout.append(1000 * (r["t_done"] - j["end"][-1]))
        over.append(1000 * (r["t_done"] - r["t_send"]) - ms)
    return {"hop_in_ms_p50": _pct(hin, 50), "hop_out_ms_p50": _pct(hout, 50),
            "overhead_ms_p50": _pct(over, 50), "overhead_ms_p99": _pct(over, 99),
            "service_ms_p50": _pct([1000 * (j["end"][-1] - j["start"][0])
                                    for j in ev["jobs"].values() if j["start"] and j["end"]], 50)}


class Audit:
    """Collects the listening sockets of every process the lab started."""

    def __init__(self):
        self.sockets: list[dict] = []

    def check(self, group: ProcessGroup, where: str) -> None:
        self.add([{**s, "where": where} for s in listening_sockets(group.pids())])

    def add(self, sockets: list[dict]) -> None:
        for s in sockets:
            key = (s["comm"], s["addr"], s["port"])
            if key not in {(x["comm"], x["addr"], x["port"]) for x in self.sockets}:
                self.sockets.append(s)


def _wait_http_drain(logs: list[Path], max_s: float) -> None:
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        ev = _events_by_job(logs)
        open_jobs = [j for j in ev["jobs"].values()
                     if (j["accept"] or j["start"]) and not j["end"]
                     and not _crash_killed(j, ev["crashes"])]
        if not open_jobs:
            return
        time.sleep(0.1)


def _wait_mq_drain(rabbit, queue: str, logs: list[Path], max_s: float) -> int | None:
    import pika
    deadline = time.monotonic() + max_s
    depth = None
    conn = pika.BlockingConnection(rabbit.url_params())
    try:
        ch = conn.channel()
        while time.monotonic() < deadline:
            depth = ch.queue_declare(queue=queue, passive=True).method.message_count
            ev = _events_by_job(logs)
            busy = [j for j in ev["jobs"].values()
                    if len(j["deliver"]) > len(j["ack"]) and not _crash_killed(j, ev["crashes"])]
            if depth == 0 and not busy:
                break
            time.sleep(0.1)
    finally:
        conn.close()
    return depth


def _declare(rabbit, queue: str, durable: bool = False, arguments: dict | None = None) -> None:
    import pika
    conn = pika.BlockingConnection(rabbit.url_params())
    try:
        ch = conn.channel()
        ch.queue_delete(queue=queue)
        ch.queue_declare(queue=queue, durable=durable, arguments=arguments)
    finally:
        conn.close()


def _delete(rabbit, queue: str) -> None:
    import pika
    conn = pika.BlockingConnection(rabbit.url_params())
    try:
        conn.channel().queue_delete(queue=queue)
    finally:
        conn.close()


# ----------------------------------------------------------------------------- scenarios

def _http_scenario(root: Path, audit: Audit, name: str, lb: str, lb_opts: dict,
                   schedule: list[float], ms: float, mb: float, timeout: float,
                   threads: int, budget_mb: float | None, restart_s: float | None,
                   drain_max_s: float = 10.0) -> dict:
    wd = root / name
    with ProcessGroup(wd) as g:
        pool = WorkerPool(g, restart_s=restart_s)
        logs = []
        try:
            for k in range(SERVERS):
                log = wd / f"w{k}.log"
                logs.append(log)
                pool.add_http(f"{name}-w{k}", SLOTS, budget_mb, log)
            pool.wait_ready()
            ports = [s.port for s in pool.slots]
            if lb == "nginx":
                up = start_nginx(g, f"{name}-nginx", ports, **lb_opts)
            else:
                up = start_haproxy(g, f"{name}-haproxy", ports, **lb_opts)
            audit.check(g, name)
            t0 = time.time()
            recs = http_run(up.port, schedule, ms, mb, timeout, threads, name)
            elapsed = time.time() - t0
            lb_queue_max = haproxy_queue_max(up.extra["stats"]) if lb == "haproxy" else None
            _wait_http_drain(logs, drain_max_s)
            crashes = pool.crash_count()
            restarts = sum(s.restarts for s in pool.slots)
        finally:
            pool.stop()
    ev = _events_by_job(logs)
    _classify_http(recs, ev)
    return {"arch": lb, "lb": {k: v for k, v in up.extra.items() if k != "stats"},
            "n": len(recs), "outcomes": _count(recs), "statuses": _statuses(recs),
            **_lat_summary(recs), **_hops(recs, ev, ms), **_span(recs, ev),
            "lb_queue_max": lb_queue_max,
            "worker_crashes": crashes, "worker_restarts": restarts,
            "crash_events": len(ev["crashes"]),
            **_work_accounting(recs, ev, ms), "client_elapsed_s": round(elapsed, 3),
            "_recs": recs}


def _mq_scenario(root: Path, audit: Audit, rabbit, name: str, schedule: list[float],
                 ms: float, mb: float, timeout: float, prefetch: int,
                 budget_mb: float | None, ttl_ms: int | None = None,
                 drain_max_s: float = 10.0) -> dict:
    wd = root / name
    queue = f"q-{name}"
    _declare(rabbit, queue)
    with ProcessGroup(wd) as g:
        pool = WorkerPool(g, restart_s=BURST["restart_s"])
        logs = []
        try:
            for k in range(SERVERS):
                log = wd / f"c{k}.log"
                logs.append(log)
                pool.add_mq(f"{name}-c{k}", rabbit.port, queue, SLOTS, prefetch, budget_mb, log)
            pool.wait_ready()
            audit.check(g, name)
            t0 = time.time()
            out = mq_rpc_run(rabbit.url_params(), queue, schedule, ms, mb, timeout, name,
                             ttl_ms=ttl_ms)
            elapsed = time.time() - t0
            depth_end = _wait_mq_drain(rabbit, queue, logs, drain_max_s)
            crashes = pool.crash_count()
        finally:
            pool.stop()
    _delete(rabbit, queue)
    recs = out["records"]
    ev = _events_by_job(logs)
    acked = {jid for jid, j in ev["jobs"].items() if j["ack"]}
    published = {r["id"] for r in recs}
    redelivered = sum(1 for j in ev["jobs"].values() if any(j["redelivered"]))
    expired = len(published - acked) - (depth_end or 0) if ttl_ms else 0
    lost = len(published - acked) - (depth_end or 0) - expired
    gaps = _ack_to_next_delivery(logs)
    return {"arch": "rabbitmq", "prefetch": prefetch, "consumers": SERVERS * SLOTS,
            "ack_to_next_delivery_ms_p50": _pct([1000 * g for g in gaps], 50),
            "ttl_ms": ttl_ms, "n": len(recs), "outcomes": _count(recs),
            **_lat_summary(recs), **_hops(recs, ev, ms), **_span(recs, ev),
            "acked": len(acked & published), "depth_after_publish": out["depth_after_publish"],
            "depth_at_end": depth_end, "expired_unprocessed": expired,
            "messages_lost": lost, "redelivered_jobs": redelivered,
            "worker_crashes": crashes, "crash_events": len(ev["crashes"]),
            **_work_accounting(recs, ev, ms), "client_elapsed_s": round(elapsed, 3),
            "_recs": recs}


def _strip(res: dict, keep_samples: bool, keep_sends: bool = False) -> dict:
    recs = res.pop("_recs")
    if keep_sends:
        # when each request really left the client, relative to the scheduled burst
        # time: the simulator's arrivals for the same scenario
        t0 = min(r["t_sched"] for r in recs)
        res["send_offsets_ms"] = sorted(round(1000.0 * (r["t_send"] - t0), 2) for r in recs
                                        if r["t_send"] is not None)
    if keep_samples:
        res["samples_ms"] = [round(1000.0 * (r["t_done"] - r["t_sched"]), 2)
                             for r in recs if r["outcome"] == "ok"]
    return res


# ----------------------------------------------------------------------------- experiments

def exp_light(root: Path, audit: Audit, rabbit, log=print) -> dict:
    p = LIGHT
    rng = np.random.default_rng(p["seed"])
    sched = poisson_schedule(p["rate"], p["n"], rng)
    common = dict(schedule=sched, ms=p["ms"], mb=p["mb"], timeout=p["timeout"],
                  threads=p["client_threads"], budget_mb=None, restart_s=None)
    results = {}
    for name, lb, opts in [
        ("nginx_round_robin", "nginx", {"policy": "round_robin"}),
        ("nginx_least_conn", "nginx", {"policy": "least_conn"}),
        ("haproxy_roundrobin", "haproxy", {"maxconn": SLOTS, "balance": "roundrobin"}),
    ]:
        results[name] = _strip(_http_scenario(root, audit, f"light-{name}", lb, opts, **common), True)
        log(f"  light {name}: {results[name]['outcomes']} p50={results[name]['p50_ms']:.1f} "
            f"p99={results[name]['p99_ms']:.1f} ms")
    for pf in (1,):
        name = f"rabbitmq_prefetch{pf}"
        results[name] = _strip(_mq_scenario(root, audit, rabbit, f"light-{name}", sched, p["ms"],
                                            p["mb"], p["timeout"], pf, None), True)
        log(f"  light {name}: {results[name]['outcomes']} p50={results[name]['p50_ms']:.1f} "
            f"p99={results[name]['p99_ms']:.1f} ms")
    return {"params": {**p, "servers": SERVERS, "slots": SLOTS}, "results": results}


def exp_burst(root: Path, audit: Audit, rabbit, log=print) -> dict:
    p = BURST
    sched = [0.0] * p["n"]
    results: dict[str, dict] = {}
    for patience_key in ("patience_long", "patience_short"):
        patience = p[patience_key]
        tag = "long" if patience_key == "patience_long" else "short"
        common = dict(schedule=sched, ms=p["ms"], mb=p["mb"], timeout=patience,
                      threads=p["n"], budget_mb=p["budget_mb"], restart_s=p["restart_s"],
                      drain_max_s=p["drain_max_s"])
        lb_timeout = 60.0
        scen = [
            ("nginx_push", "nginx", {"policy": "round_robin", "read_timeout_s": lb_timeout}),
            ("nginx_max_conns", "nginx", {"policy": "round_robin", "max_conns": SLOTS,
                                          "read_timeout_s": lb_timeout}),
            ("haproxy_queue", "haproxy", {"maxconn": SLOTS, "queue_timeout_s": 30.0,
                                          "server_timeout_s": lb_timeout}),
        ]
        if tag == "short":
            # HAProxy forwards a queued request whose client has gone unless told
            # to drop it: the same burst with `option abortonclose`.
            scen.append(("haproxy_queue_abortonclose", "haproxy",
                         {"maxconn": SLOTS, "queue_timeout_s": 30.0,
                          "server_timeout_s": lb_timeout, "abortonclose": True}))
        res: dict[str, dict] = {}
        for name, lb, opts in scen:
            r = _http_scenario(root, audit, f"burst-{tag}-{name}", lb, opts, **common)
            res[name] = _strip(r, False, True)
            log(f"  burst[{tag} {patience}s] {name}: {r['outcomes']} crashes={r['worker_crashes']} "
                f"wasted={r['wasted_jobs']} killed={r['killed_in_crash_jobs']}")
        mq_variants = [("rabbitmq_prefetch1", None)]
        if tag == "short":
            mq_variants.append(("rabbitmq_prefetch1_ttl", int(patience * 1000)))
        for name, ttl in mq_variants:
            r = _mq_scenario(root, audit, rabbit, f"burst-{tag}-{name}", sched, p["ms"], p["mb"],
                             patience, 1, p["budget_mb"], ttl_ms=ttl, drain_max_s=p["drain_max_s"])
            res[name] = _strip(r, False, True)
            log(f"  burst[{tag} {patience}s] {name}: {r['outcomes']} acked={r['acked']} "
                f"lost={r['messages_lost']} wasted={r['wasted_jobs']} expired={r['expired_unprocessed']}")
        results[tag] = {"patience_s": patience, "results": res}
    return {"params": {**p, "servers": SERVERS, "slots": SLOTS}, "results": results}


def exp_kill(root: Path, audit: Audit, rabbit, log=print) -> dict:
    import pika
    p = KILL
    name = "kill"
    wd = root / name
    queue = "q-kill"
    _declare(rabbit, queue, durable=True)
    ids = [f"kill-{i}" for i in range(p["n"])]
    logs = []
    killed = None
    with ProcessGroup(wd) as g:
        pool = WorkerPool(g, restart_s=None)
        try:
            for k in range(p["consumers"]):
                log_k = wd / f"c{k}.log"
                logs.append(log_k)
                pool.add_mq(f"kill-c{k}", rabbit.port, queue, 1, p["prefetch"], None, log_k)
            pool.wait_ready()
            audit.check(g, name)
            conn = pika.BlockingConnection(rabbit.url_params())
            ch = conn.channel()
            ch.confirm_delivery()
            t0 = time.time()
            for jid in ids:
                ch.basic_publish(exchange="", routing_key=queue,
                                 body=('{"id": "%s", "ms": %s, "mb": 0}' % (jid, p["ms"])).encode(),
                                 properties=pika.BasicProperties(delivery_mode=2))
            conn.close()
            time.sleep(p["kill_after_s"])
            victim = pool.slots[0]
            # Kill it in the middle of a job: it holds an unacked message that it
            # started less than half a job ago, so it cannot ack before the signal.
            holding: list[str] = []
            for _ in range(600):                   # up to ~3 s: a loaded machine is slow
                ev = _events_by_job([logs[0]])
                now = time.time()
                holding = [jid for jid, j in ev["jobs"].items()
                           if len(j["deliver"]) > len(j["ack"]) and j["start"]
                           and now - j["start"][-1] < 0.5 * p["ms"] / 1000]
                if holding:
                    break
                time.sleep(0.005)
            t_kill = time.time()
            victim.proc.kill(signal.SIGKILL)
            victim.proc.popen.wait(5)
            killed = {"worker": victim.name, "pid": victim.proc.pid, "t": t_kill,
                      "holding": holding, "after_s": round(t_kill - t0, 3)}
            deadline = time.monotonic() + p["max_wait_s"]
            while time.monotonic() < deadline:
                ev = _events_by_job(logs)
                if all(ev["jobs"].get(j, {}).get("ack") for j in ids):
                    break
                time.sleep(0.1)
            elapsed = time.time() - t0
            depth_end = _wait_mq_drain(rabbit, queue, logs, 3.0)
        finally:
            pool.stop()
    _delete(rabbit, queue)
    ev = _events_by_job(logs)
    acked = [j for j in ids if ev["jobs"].get(j, {}).get("ack")]
    redelivered = sorted(j for j in ids if any(ev["jobs"].get(j, {}).get("redelivered", [])))
    ended_twice = sorted(j for j in ids if len(ev["jobs"].get(j, {}).get("end", [])) > 1)
    ends = [t for j in ids for t in ev["jobs"].get(j, {}).get("end", [])]
    starts = [t for j in ids for t in ev["jobs"].get(j, {}).get("start", [])]
    res = {"params": {**p}, "killed": killed, "published": len(ids), "acked": len(acked),
           "first_start_s": round(min(starts) - t0, 3) if starts else None,
           "last_end_s": round(max(ends) - t0, 3) if ends else None,
           "messages_lost": len(ids) - len(acked) - (depth_end or 0),
           "depth_at_end": depth_end, "redelivered": redelivered,
           "redelivered_count": len(redelivered), "processed_twice": ended_twice,
           "elapsed_s": round(elapsed, 3)}
    log(f"  kill: acked {len(acked)}/{len(ids)}, redelivered={redelivered}, "
        f"lost={res['messages_lost']}, twice={ended_twice}")
    return res


def priority_jobs(p: dict = PRIORITY) -> tuple[list[float], list[str]]:
    """The priority experiment's job stream: arrival offsets (s) and classes."""
    jobs = [(0.0, "heavy")] * p["heavy_n"] + [
        (p["light_first_s"] + i * p["light_gap_s"], "light") for i in range(p["light_n"])]
    return [t for t, _ in jobs], [k for _, k in jobs]


def _priority_summary(recs: list[dict], kinds: list[str], logs: list[Path]) -> dict:
    """Per class: outcomes, response p50/p95 (from the scheduled arrival), work time
    p50 (start to end in the worker's log); and the order in which jobs started."""
    ev = _events_by_job(logs)["jobs"]
    out: dict = {"n": len(recs), "outcomes": _count(recs)}
    for kind in ("heavy", "light"):
        mine = [r for r, k in zip(recs, kinds) if k == kind]
        ok = [1000.0 * (r["t_done"] - r["t_sched"]) for r in mine if r["outcome"] == "ok"]
        work = [1000.0 * (ev[r["id"]]["end"][-1] - ev[r["id"]]["start"][0]) for r in mine
                if ev.get(r["id"], {}).get("start") and ev[r["id"]]["end"]]
        out[kind] = {"n": len(mine), "ok": len(ok), "p50_ms": _pct(ok, 50), "p95_ms": _pct(ok, 95),
                     "max_ms": max(ok) if ok else None, "work_ms_p50": _pct(work, 50)}
    starts = sorted((ev[r["id"]]["start"][0], k[0].upper()) for r, k in zip(recs, kinds)
                    if ev.get(r["id"], {}).get("start"))
    order = "".join(k for _, k in starts)
    out["start_order"] = order
    # light jobs that started before the last heavy job did: 0 = strict FIFO behind the backlog
    out["light_before_last_heavy"] = order[:order.rfind("H")].count("L") if "H" in order else None
    return out


def _priority_http(root: Path, audit: Audit, name: str, classes: dict | None) -> dict:
    p = PRIORITY
    sched, kinds = priority_jobs(p)
    wd = root / name
    with ProcessGroup(wd) as g:
        pool = WorkerPool(g, restart_s=None)
        logs = [wd / f"w{k}.log" for k in range(SERVERS)]
        try:
            for k, log in enumerate(logs):
                pool.add_http(f"{name}-w{k}", SLOTS, None, log)
            pool.wait_ready()
            up = start_haproxy(g, f"{name}-haproxy", [s.port for s in pool.slots], maxconn=SLOTS,
                               priority_class_by_path=classes)
            audit.check(g, name)
            recs = http_run(up.port, sched, [p[f"{k}_ms"] for k in kinds], 0.0, p["timeout"],
                            len(sched), name, path=[p[f"{k}_path"] for k in kinds])
            queue_max = haproxy_queue_max(up.extra["stats"])
            _wait_http_drain(logs, 5.0)
        finally:
            pool.stop()
    _classify_http(recs, _events_by_job(logs))
    return {"arch": "haproxy", "maxconn": SLOTS, "priority_class_by_path": classes,
            "lb_queue_max": queue_max, **_priority_summary(recs, kinds, logs)}


def _priority_mq(root: Path, audit: Audit, rabbit, name: str, prioritised: bool) -> dict:
    p = PRIORITY
    sched, kinds = priority_jobs(p)
    wd = root / name
    queue = f"q-{name}"
    args = {"x-max-priority": p["max_priority"]} if prioritised else None
    _declare(rabbit, queue, arguments=args)
    with ProcessGroup(wd) as g:
        pool = WorkerPool(g, restart_s=None)
        logs = [wd / f"c{k}.log" for k in range(SERVERS)]
        try:
            for k, log in enumerate(logs):
                pool.add_mq(f"{name}-c{k}", rabbit.port, queue, SLOTS, 1, None, log)
            pool.wait_ready()
            audit.check(g, name)
            prio = [p["light_priority"] if (prioritised and k == "light") else None for k in kinds]
            out = mq_rpc_run(rabbit.url_params(), queue, sched, [p[f"{k}_ms"] for k in kinds], 0.0,
                             p["timeout"], name, priority=prio)
            depth_end = _wait_mq_drain(rabbit, queue, logs, 5.0)
        finally:
            pool.stop()
    _delete(rabbit, queue)
    acked = {jid for jid, j in _events_by_job(logs)["jobs"].items() if j["ack"]}
    return {"arch": "rabbitmq", "prefetch": 1, "consumers": SERVERS * SLOTS, "queue_arguments": args,
            "light_message_priority": p["light_priority"] if prioritised else None,
            "acked": len(acked), "depth_after_publish": out["depth_after_publish"],
            "depth_at_end": depth_end, **_priority_summary(out["records"], kinds, logs)}


def exp_priority(root: Path, audit: Audit, rabbit, log=print) -> dict:
    """Light jobs behind a backlog of heavy ones, with and without priorities."""
    p = PRIORITY
    results = {
        "rabbitmq_priority": _priority_mq(root, audit, rabbit, "prio-rabbitmq_priority", True),
        "rabbitmq_fifo": _priority_mq(root, audit, rabbit, "prio-rabbitmq_fifo", False),
        "haproxy_priority": _priority_http(root, audit, "prio-haproxy_priority",
                                           {p["light_path"].rsplit("/", 1)[0] + "/": p["light_class"]}),
        "haproxy_fifo": _priority_http(root, audit, "prio-haproxy_fifo", None),
    }
    for name, r in results.items():
        log(f"  priority {name}: {r['outcomes']} light p95={r['light']['p95_ms']:.0f} ms "
            f"heavy p95={r['heavy']['p95_ms']:.0f} ms order={r['start_order']}")
    return {"params": {**p, "servers": SERVERS, "slots": SLOTS}, "results": results}


def run_lab(workdir: Path, log=print, which: tuple[str, ...] = ("light", "burst", "kill", "priority")) -> dict:
    t_start = time.time()
    workdir = Path(workdir)
    audit = Audit()
    record: dict = {"schema": 1,
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
                    "machine": machine_facts(), "experiments": {}}
    with ProcessGroup(workdir / "broker") as g:
        rabbit = start_rabbitmq(g)
        log(f"rabbitmq up in {rabbit.startup_s:.1f} s on 127.0.0.1:{rabbit.port}")
        audit.add(rabbit.startup_sockets)
        audit.check(g, "broker")
        record["versions"] = versions(rabbit)
        record["rabbitmq_startup_s"] = round(rabbit.startup_s, 2)
        if "light" in which:
            record["experiments"]["light"] = exp_light(workdir, audit, rabbit, log)
        if "burst" in which:
            record["experiments"]["burst"] = exp_burst(workdir, audit, rabbit, log)
        if "kill" in which:
            record["experiments"]["kill"] = exp_kill(workdir, audit, rabbit, log)
        if "priority" in which:
            record["experiments"]["priority"] = exp_priority(workdir, audit, rabbit, log)
        audit.check(g, "broker-end")
    record["listening_sockets"] = audit.sockets
    record["outside_ipv4_loopback"] = [s for s in audit.sockets if s["addr"] != "127.0.0.1"]
    record["duration_s"] = round(time.time() - t_start, 1)
    return record
