"""Simulated vs measured: the lab's scenarios rebuilt in ``mqlb``.

``calibration(record)`` reads the numbers the simulator needs from a lab record
(measured service time, the balancer's per-request overhead, the broker hops);
``compare(record)`` runs each lab scenario in ``mqlb`` on the same arrivals and
returns rows of measured vs simulated figures. Needs only the recorded JSON and
``mqlb`` (no services), so the book can call it at build time.

Mapping of outcome names (lab -> mqlb): ok -> completed, rejected -> rejected,
failed (reached a worker that then crashed) -> lost, timed_out -> timed_out.

Modelling choices, stated once:
- The lab's HTTP worker holds a job's memory from the moment it accepts the
  request (a buffered upload) and serves 4 at a time. In mqlb memory is held by
  jobs *in service*, so a worker behind an uncapped nginx is modelled with
  unlimited slots (every accepted job is in service, as it is in memory). Behind
  ``max_conns``/``maxconn`` 4 nothing changes: at most 4 jobs reach a worker.
- The lab's consumer process shares one memory budget among its 4 consumers; in
  mqlb each consumer gets a quarter of it.
- The balancer's overhead (client -> worker -> client minus the job) is one
  ``LoadBalancer.latency``; the broker's is split into publish/deliver/reply.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .loadgen import poisson_schedule

OUTCOME_MAP = {"ok": "completed", "rejected": "rejected", "failed": "lost",
               "timed_out": "timed_out"}


def load(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _f(x, default=0.0):
    return default if x is None else float(x)


def calibration(record: dict) -> dict:
    """Simulator parameters measured in the lab (seconds)."""
    light = record["experiments"]["light"]["results"]
    lb_rows = [r for k, r in light.items() if r["arch"] in ("nginx", "haproxy")]
    mq = light["rabbitmq_prefetch1"]
    hop_in = _f(mq["hop_in_ms_p50"]) / 1000
    gap = _f(mq.get("ack_to_next_delivery_ms_p50"), hop_in * 1000) / 1000
    gap = min(gap, hop_in)
    burst = record["experiments"]["burst"]
    bp = burst["params"]
    waves = bp["n"] / (bp["servers"] * bp["slots"])
    # A heavy job costs more than its 500 ms of work: accepting it, allocating and
    # touching its memory, answering, and the balancer or broker handing the slot
    # the next job. Measure the whole cycle where the workers were never idle (the
    # queued burst, long patience): time from the first start to the last end,
    # divided by the number of waves of jobs.
    long = burst["results"]["long"]["results"]
    cycles = [(long[k]["last_end_ms"] - long[k]["first_start_ms"]) / waves / 1000
              for k in ("haproxy_queue", "rabbitmq_prefetch1")
              if k in long and long[k].get("last_end_ms") is not None]
    return {
        "light_service_s": float(np.median([r["service_ms_p50"] for r in light.values()])) / 1000,
        "heavy_service_s": float(np.median(cycles)) if cycles else bp["ms"] / 1000,
        "lb_latency_s": float(np.median([r["overhead_ms_p50"] for r in lb_rows])) / 1000,
        "broker_publish_s": hop_in - gap,
        "broker_deliver_s": gap,
        "broker_reply_s": _f(mq["hop_out_ms_p50"]) / 1000,
        "broker_ack_s": 0.0,
    }


def _systems(mqlb, cal: dict, kind: str, params: dict, budget_mb=None, restart_s=5.0):
    """The lab's four architectures as mqlb systems."""
    servers, slots = params["servers"], params["slots"]
    mem = float("inf") if budget_mb is None else budget_mb
    Server = mqlb.Server
    capped = Server(slots=slots, memory_mb=mem, restart_s=restart_s)
    uncapped = Server(slots=None, memory_mb=mem, restart_s=restart_s)  # see module doc
    lat = cal["lb_latency_s"]
    broker = mqlb.Broker(publish_latency=cal["broker_publish_s"],
                         deliver_latency=cal["broker_deliver_s"],
                         ack_latency=cal["broker_ack_s"], reply_latency=cal["broker_reply_s"])
    consumer = Server(slots=1, memory_mb=mem / slots if budget_mb else float("inf"),
                      restart_s=restart_s)
    mq = mqlb.MessageQueue(consumers=[consumer] * (servers * slots), prefetch=1, broker=broker)
    if kind == "light":
        return {
            "nginx_round_robin": mqlb.LoadBalancer([capped] * servers, policy="round_robin",
                                                   latency=lat),
            "nginx_least_conn": mqlb.LoadBalancer([capped] * servers, policy="least_connections",
                                                  latency=lat),
            "haproxy_roundrobin": mqlb.LoadBalancer([capped] * servers, policy="round_robin",
                                                    max_conns=slots, on_full="queue", latency=lat),
            "rabbitmq_prefetch1": mq,
        }
    haproxy = mqlb.LoadBalancer([capped] * servers, policy="round_robin", max_conns=slots,
                                on_full="queue", queue_timeout=30.0, latency=lat)
    return {
        "nginx_push": mqlb.LoadBalancer([uncapped] * servers, policy="round_robin", latency=lat),
        "nginx_max_conns": mqlb.LoadBalancer([capped] * servers, policy="round_robin",
                                             max_conns=slots, on_full="reject", latency=lat),
        # By default HAProxy still forwards a queued request whose client has gone;
        # with `option abortonclose` it drops it. mqlb models both.
        "haproxy_queue": haproxy,
        "haproxy_queue_abortonclose": dataclasses.replace(haproxy, abort_on_close=True),
        "rabbitmq_prefetch1": mq,
    }


def _row(experiment: str, scenario: str, measured: dict, sim, n: int) -> dict:
    s = sim.summary()
    sim_counts = {k: getattr(s, k) for k in ("completed", "rejected", "timed_out", "lost",
                                              "dead_lettered", "in_system")}
    meas_counts = {OUTCOME_MAP.get(k, k): v for k, v in measured["outcomes"].items()}
    ms = lambda x: None if x is None or not np.isfinite(x) else round(1000 * float(x), 2)
    return {
        "experiment": experiment, "scenario": scenario, "n": n,
        "measured": {**meas_counts,
                     "p50_ms": measured.get("p50_ms"), "p99_ms": measured.get("p99_ms"),
                     "wasted_work_s": round(_f(measured.get("wasted_work_s")) +
                                            _f(measured.get("killed_work_s")), 3),
                     "crashes": measured.get("worker_crashes", 0)},
        "simulated": {**sim_counts, "p50_ms": ms(s.p50_response), "p99_ms": ms(s.p99_response),
                      "wasted_work_s": round(float(s.wasted_work), 3),
                      "crashes": int(sim.servers.crashes.sum())},
    }


def compare(record: dict) -> list[dict]:
    """One row per lab scenario with measured and simulated figures."""
    import mqlb

    cal = calibration(record)
    rows = []
    exps = record["experiments"]
    if "light" in exps:
        p = exps["light"]["params"]
        arrivals = poisson_schedule(p["rate"], p["n"], np.random.default_rng(p["seed"]))
        wl = mqlb.make_workload(np.asarray(arrivals), mqlb.Deterministic(cal["light_service_s"]),
                                seed=0)
        client = mqlb.Client(timeout=p["timeout"])
        for name, system in _systems(mqlb, cal, "light", p).items():
            if name in exps["light"]["results"]:
                sim = mqlb.simulate(system, wl, client=client, seed=1)
                rows.append(_row("light", name, exps["light"]["results"][name], sim, p["n"]))
    if "burst" in exps:
        p = exps["burst"]["params"]

        def burst_workload(measured: dict):
            # The burst is "all at once", but the lab's clients really sent their
            # requests over tens of milliseconds: use those send times as arrivals.
            offs = measured.get("send_offsets_ms") or [0.0] * p["n"]
            arr = np.sort(np.asarray(offs, dtype=float)) / 1000.0
            return mqlb.make_workload(arr - arr[0], mqlb.Deterministic(cal["heavy_service_s"]),
                                      memory_mb=p["mb"], seed=0)
        for tag, block in exps["burst"]["results"].items():
            client = mqlb.Client(timeout=block["patience_s"])
            systems = _systems(mqlb, cal, "burst", p, budget_mb=p["budget_mb"],
                               restart_s=p["restart_s"])
            for name, system in systems.items():
                if name in block["results"]:
                    wl = burst_workload(block["results"][name])
                    sim = mqlb.simulate(system, wl, client=client, seed=1)
                    rows.append(_row(f"burst-{tag}", name, block["results"][name], sim, p["n"]))
    if "kill" in exps:
        rows.append(kill_row(mqlb, cal, exps["kill"]))
    return rows


def kill_row(mqlb, cal: dict, k: dict) -> dict:
    """The killed consumer, in mqlb: the first consumer is killed at the lab's
    kill time (an injected failure) and never comes back; its unacked message
    goes back to the queue."""
    p = k["params"]
    n, size = p["n"], p["ms"] / 1000
    kill_at = k["killed"]["after_s"] - (k.get("first_start_s") or 0.0)
    wl = mqlb.Workload(np.zeros(n), np.full(n, size), np.zeros(n), np.zeros(n, dtype=np.int16))
    broker = mqlb.Broker(publish_latency=cal["broker_publish_s"], deliver_latency=cal["broker_deliver_s"],
                         reply_latency=cal["broker_reply_s"])
    victim = mqlb.Server(slots=1, restart_s=1e6)
    others = [mqlb.Server(slots=1)] * (p["consumers"] - 1)
    mq = mqlb.MessageQueue(consumers=[victim, *others], prefetch=p["prefetch"], broker=broker)
    sim = mqlb.simulate(mq, wl, seed=1, failures=[(kill_at, 0)])
    s = sim.summary()
    done = sim.records["done"]
    return {
        "experiment": "kill", "scenario": "rabbitmq_prefetch1", "n": n,
        "measured": {"completed": k["acked"], "lost": k["messages_lost"],
                     "redelivered": k["redelivered_count"], "crashes": 1,
                     "last_end_s": k.get("last_end_s")},
        "simulated": {"completed": s.completed, "lost": s.lost + s.dead_lettered,
                      "redelivered": s.redelivered, "crashes": int(sim.servers.crashes.sum()),
                      "last_end_s": round(float(np.nanmax(done)), 3)},
    }


def table(rows: list[dict]) -> str:
    """Plain-text table: measured / simulated per figure."""
    cols = ["completed", "rejected", "timed_out", "lost", "p50_ms", "p99_ms", "wasted_work_s",
            "crashes"]
    head = f"{'experiment':<12} {'scenario':<20} " + " ".join(f"{c:>17}" for c in cols)
    lines = [head, "-" * len(head)]

    def fmt(v):
        if v is None:
            return "-"
        return f"{v:.1f}" if isinstance(v, float) else str(v)
    for r in rows:
        cells = [f"{fmt(r['measured'].get(c, 0))}/{fmt(r['simulated'].get(c, 0))}" for c in cols]
        lines.append(f"{r['experiment']:<12} {r['scenario']:<20} " +
                     " ".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- priorities

def _light_before_last_heavy(order: str) -> int:
    """Light jobs that started before the last heavy one did (0 = FIFO behind the backlog)."""
    return order[:order.rfind("H")].count("L") if "H" in order else 0


def _priority_systems(mqlb, cal: dict, p: dict) -> dict:
    """The lab's four priority set-ups in mqlb: RabbitMQ with prefetch 1 on a queue
    with and without ``x-max-priority``; HAProxy ``maxconn`` with its queue, with
    and without ``set-priority-class``. Same priorities as the lab."""
    servers, slots = p["servers"], p["slots"]
    broker = mqlb.Broker(publish_latency=cal["broker_publish_s"],
                         deliver_latency=cal["broker_deliver_s"],
                         ack_latency=cal["broker_ack_s"], reply_latency=cal["broker_reply_s"])

    def mq(priorities):
        queue = mqlb.Queue("jobs", consumers=[mqlb.Server(slots=1)] * (servers * slots),
                           prefetch=1, priorities=priorities)
        return mqlb.MessageQueue(queues=[queue], broker=broker)

    def haproxy(priorities):
        return mqlb.LoadBalancer([mqlb.Server(slots=slots)] * servers, policy="round_robin",
                                 max_conns=slots, on_full="queue", latency=cal["lb_latency_s"],
                                 priorities=priorities)
    return {"rabbitmq_priority": mq({"light": p["light_priority"]}), "rabbitmq_fifo": mq(None),
            "haproxy_priority": haproxy({"light": p["light_class"]}), "haproxy_fifo": haproxy(None)}


def priority_workload(mqlb, record: dict):
    """The priority experiment's job stream, with each class's measured work time
    (median over the four set-ups of start to end in the workers' logs)."""
    from .experiments import priority_jobs
    exp = record["experiments"]["priority"]
    times, kinds = priority_jobs(exp["params"])
    size = {k: float(np.median([r[k]["work_ms_p50"] for r in exp["results"].values()])) / 1000
            for k in ("heavy", "light")}
    kind = np.array([0 if k == "heavy" else 1 for k in kinds], dtype=np.int16)
    return mqlb.Workload(np.asarray(times), np.array([size[k] for k in kinds]), np.zeros(len(kinds)),
                         kind, ("heavy", "light"))


def priority_rows(record: dict) -> list[dict]:
    """Measured vs simulated for the priority experiment: per set-up, completed jobs,
    light and heavy response p50/p95 (ms), and how many light jobs started before
    the last heavy one."""
    import mqlb

    cal = calibration(record)
    exp = record["experiments"]["priority"]
    wl = priority_workload(mqlb, record)
    client = mqlb.Client(timeout=exp["params"]["timeout"])
    rows = []
    for name, system in _priority_systems(mqlb, cal, exp["params"]).items():
        if name not in exp["results"]:
            continue
        m = exp["results"][name]
        sim = mqlb.simulate(system, wl, client=client, seed=1)
        rec = sim.records[np.argsort(sim.records["start"], kind="stable")]
        order = "".join("HL"[k] for k in rec["kind"][np.isfinite(rec["start"])])
        simulated = {"completed": sim.summary().completed,
                     "light_before_last_heavy": _light_before_last_heavy(order)}
        measured = {"completed": m["outcomes"]["ok"],
                    "light_before_last_heavy": _light_before_last_heavy(m["start_order"])}
        for kind in ("heavy", "light"):
            rt = 1000 * sim.response_times(kind)
            for q in (50, 95):
                simulated[f"{kind}_p{q}_ms"] = round(float(np.percentile(rt, q)), 1) if len(rt) else None
                measured[f"{kind}_p{q}_ms"] = None if m[kind][f"p{q}_ms"] is None \
                    else round(m[kind][f"p{q}_ms"], 1)
        rows.append({"experiment": "priority", "scenario": name, "n": m["n"],
                     "measured": measured, "simulated": simulated})
    return rows


def light_limit_ms(params: dict) -> float:
    """The light jobs' p95 bound that tells the outcome classes apart: two heavy
    jobs. With priorities a light job waits at most for a slot to free, i.e. for
    less than one heavy job (not preemptive); without, it waits behind the whole
    backlog (five heavy jobs per slot in the lab)."""
    return 2 * params["heavy_ms"]


def priority_classes(figures: dict, limit_ms: float) -> dict:
    """The outcome classes of one side (measured or simulated) of a priority row."""
    return {"light_p95_below_limit": figures["light_p95_ms"] < limit_ms,
            "light_ahead_of_heavy": figures["light_p50_ms"] < figures["heavy_p50_ms"],
            "light_jumped_the_backlog": figures["light_before_last_heavy"] > 0}


def priority_mismatches(record: dict, rows: list[dict]) -> list[str]:
    """Where the priority experiment's outcome classes differ between the lab and
    the model, or from what priorities should do (every class True with
    priorities, False without). Empty = they match."""
    limit = light_limit_ms(record["experiments"]["priority"]["params"])
    bad = []
    for r in rows:
        expect = r["scenario"].endswith("_priority")
        meas, sim = (priority_classes(r[side], limit) for side in ("measured", "simulated"))
        if not r["measured"]["completed"] == r["simulated"]["completed"] == r["n"]:
            bad.append(f"{r['scenario']}: completed {r['measured']['completed']} measured, "
                       f"{r['simulated']['completed']} simulated, of {r['n']}")
        for k in meas:
            if meas[k] != sim[k]:
                bad.append(f"{r['scenario']}: {k} is {meas[k]} measured, {sim[k]} simulated")
            elif meas[k] != expect:
                bad.append(f"{r['scenario']}: {k} is {meas[k]} in lab and model, expected {expect}")
    return bad
