"""Benchmark: mqlb's two engines against a hand-written SimPy model and ciw, on identical jobs.

Three cases with four servers, Poisson arrivals at 3.2 jobs/s and exponential
sizes of mean 1 s (rho = 0.8), 100 000 jobs by default:

- shared queue: a message queue with four consumers at prefetch 1 (M/M/4);
- random: a load balancer sending each job to a random server;
- least connections: a load balancer sending each job to the server holding
  the fewest jobs.

Four engines per case, timed in one process, alternately, one repetition
after another (the table keeps the median):

- fast path: ``mqlb.simulate(..., engine="recursion")`` (mqlb/fastpath.py);
- events: ``mqlb.simulate(..., engine="events")``, the SimPy model;
- SimPy by hand: ``handwritten_mm4.py``, the smallest honest SimPy model;
- ciw: the same systems in ciw (skipped, with a message, if ciw is missing:
  ``pip install ciw``; it is not a requirement of the book).

All get the same arrival times and sizes where the system allows it (the
mqlb workload's arrays); ciw's least-connections case draws its own sizes
(its join-the-shortest-queue router decides at run time, so sizes cannot be
handed to servers in advance). The mean response times must agree (exactly
when the sample path is the same, within noise otherwise) or the comparison
is void.

    python bench/bench_engine.py                  # 100 000 jobs, 5 repetitions
    python bench/bench_engine.py --jobs 20000 --repeats 3
    python bench/bench_engine.py --check          # exit 1 if a target is missed
    python bench/bench_engine.py --profile        # where the fast path spends its time
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import handwritten_mm4 as baseline  # noqa: E402
import mqlb  # noqa: E402

try:
    import ciw
except ImportError:  # an optional benchmark dependency
    ciw = None

ARRIVAL_RATE = 3.2  # jobs/s
MEAN_SIZE = 1.0  # s of work per job
SERVERS = 4
SEED = 1
EVENTS_OVER_BASELINE = 1.3  # target: the event engine's jobs/s over the hand-written model's
FAST_OVER_EVENTS = {"shared queue": 20.0, "least connections": 10.0}  # target: fast path over events
ENGINES = ("fast path", "events", "SimPy by hand", "ciw")


def ciw_shared_queue(arrival, size):
    """M/M/4 in ciw on the given jobs: one node, four servers, FIFO."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Sequential(_gaps(arrival))],
        service_distributions=[ciw.dists.Sequential(size.tolist())],
        number_of_servers=[SERVERS])
    return _ciw_responses(network, arrival)


def ciw_random_split(arrival, size, choices):
    """Four one-server nodes, each fed the jobs that the random split sends it."""
    mine = [choices == k for k in range(SERVERS)]
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Sequential(_gaps(arrival[m])) for m in mine],
        service_distributions=[ciw.dists.Sequential(size[m].tolist()) for m in mine],
        number_of_servers=[1] * SERVERS,
        routing=[[0.0] * SERVERS for _ in range(SERVERS)])       # every job leaves after service
    return _ciw_responses(network, arrival)


def ciw_least_connections(arrival, size):
    """A zero-time dispatcher node routing each job to the one-server node
    holding the fewest jobs (ciw's LoadBalancing router); sizes drawn by ciw."""
    nodes = range(2, SERVERS + 2)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Sequential(_gaps(arrival))] + [None] * SERVERS,
        service_distributions=[ciw.dists.Deterministic(0.0)] + [ciw.dists.Exponential(1.0 / MEAN_SIZE)] * SERVERS,
        number_of_servers=[float("inf")] + [1] * SERVERS,
        routing=ciw.routing.NetworkRouting(
            routers=[ciw.routing.LoadBalancing(destinations=list(nodes), tie_break="order")]
            + [ciw.routing.Leave()] * SERVERS))
    return _ciw_responses(network, arrival, nodes=set(nodes))


def _gaps(arrival):
    """Inter-arrival times for ciw's Sequential, then one gap beyond the run."""
    return np.diff(arrival, prepend=0.0).tolist() + [1e12]


def _ciw_responses(network, arrival, nodes=None):
    ciw.seed(SEED)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(float(arrival[-1]) + 10_000.0)
    records = sim.get_all_records()
    return [r.exit_date - r.arrival_date for r in records if nodes is None or r.node in nodes]


def cases(workload, arrival, size):
    """(name, {engine: run}, tolerance) per case; each run returns a Result or a list of
    response times (s), read after the clock stops (see ``mean_response``).

    ``tolerance`` is how far apart (relative) the means of engines with
    different random choices may be; engines on the same sample path must
    agree to 1e-9.
    """
    choices = baseline.draw_choices(len(arrival), SERVERS, SEED)

    def mqlb_run(system, engine):
        return lambda: mqlb.simulate(system, workload, engine=engine)

    shared = mqlb.MessageQueue(consumers=[mqlb.Server()] * SERVERS, prefetch=1)
    random_lb = mqlb.LoadBalancer(servers=[mqlb.Server()] * SERVERS, policy="random")
    least = mqlb.LoadBalancer(servers=[mqlb.Server()] * SERVERS, policy="least_connections")
    out = [
        ("shared queue", {
            "fast path": mqlb_run(shared, "recursion"), "events": mqlb_run(shared, "events"),
            "SimPy by hand": lambda: baseline.shared_queue(arrival, size, SERVERS),
            "ciw": ciw and (lambda: ciw_shared_queue(arrival, size))}, 1e-9),
        ("random", {
            "fast path": mqlb_run(random_lb, "recursion"), "events": mqlb_run(random_lb, "events"),
            "SimPy by hand": lambda: baseline.random_split(arrival, size, choices, SERVERS),
            "ciw": ciw and (lambda: ciw_random_split(arrival, size, choices))}, 0.10),
        ("least connections", {
            "fast path": mqlb_run(least, "recursion"), "events": mqlb_run(least, "events"),
            "SimPy by hand": lambda: baseline.least_connections(arrival, size, SERVERS),
            "ciw": ciw and (lambda: ciw_least_connections(arrival, size))}, 0.10),
    ]
    return out


def timed(run):
    """(wall seconds, CPU seconds of this process, mean response) of one run; only
    the simulation is timed, not the reading of its mean."""
    wall, cpu = time.perf_counter(), time.process_time()
    product = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, mean_response(product)


def mean_response(product) -> float:
    """Mean response (s) of a Result or of a list of response times."""
    if isinstance(product, mqlb.Result):
        return float(product.summary().mean_response)
    return float(np.mean(product))


def profile(run, top=12) -> str:
    """cProfile's table of one run, by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in text.getvalue().splitlines() if line.strip())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per run (default 100000)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions, median kept (default 5)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed or the means disagree")
    parser.add_argument("--profile", action="store_true", help="print cProfile tables of the fast path")
    parser.add_argument("--skip-ciw", action="store_true", help="leave ciw out (it is the slowest by far)")
    args = parser.parse_args(argv)
    if args.jobs < 1000 or args.repeats < 1:
        parser.error("need --jobs >= 1000 and --repeats >= 1")

    workload = mqlb.make_workload(arrivals=mqlb.Poisson(ARRIVAL_RATE), size=mqlb.Exponential(MEAN_SIZE),
                                  n_jobs=args.jobs, seed=SEED)
    arrival, size = np.asarray(workload.arrival), np.asarray(workload.size)
    print(f"{args.jobs:,} jobs, lambda={ARRIVAL_RATE}/s, mean size {MEAN_SIZE} s, {SERVERS} servers, "
          f"median of {args.repeats} runs, engines alternating")
    if ciw is None:
        print("ciw is not installed: its column is skipped (pip install ciw to include it)")
    elif args.skip_ciw:
        print("ciw left out (--skip-ciw)")

    # The fast path's compiled loops cost once per process (importing Numba, loading or
    # compiling their machine code): timed here, once, and kept out of the runs below.
    warm = mqlb.make_workload(arrivals=mqlb.Poisson(ARRIVAL_RATE), size=mqlb.Exponential(MEAN_SIZE),
                              n_jobs=1000, seed=SEED)
    first_wall, first_cpu = time.perf_counter(), time.process_time()
    for _, runs, _ in cases(warm, warm.arrival, warm.size):
        runs["fast path"]()
    print(f"first fast-path runs in this process (Numba, compiled loops): "
          f"{time.perf_counter() - first_wall:.2f} s wall, {time.process_time() - first_cpu:.2f} s CPU")
    header = f"{'case':<19}" + "".join(f"{name + ' jobs/s':>22}" for name in ENGINES) + \
        f"{'fast/events':>12}{'(cpu)':>7}{'(best)':>7}{'events/hand':>12}{'(cpu)':>7}"
    print(header)
    print("-" * len(header))
    failures, means, tables = [], [], []
    for name, runs, tolerance in cases(workload, arrival, size):
        if args.skip_ciw:
            runs["ciw"] = None
        wall = {e: [] for e in ENGINES}
        cpu = {e: [] for e in ENGINES}
        mean = {}
        for _ in range(args.repeats):
            for engine in ENGINES:
                if runs[engine]:
                    w, c, mean[engine] = timed(runs[engine])
                    wall[engine].append(w)
                    cpu[engine].append(c)
        rate = {e: args.jobs / statistics.median(wall[e]) if wall[e] else None for e in ENGINES}
        ratio = lambda a, b, times: statistics.median(times[b]) / statistics.median(times[a])  # noqa: E731
        fast_events, fast_events_cpu = ratio("fast path", "events", wall), ratio("fast path", "events", cpu)
        events_hand, events_hand_cpu = ratio("events", "SimPy by hand", wall), ratio("events", "SimPy by hand", cpu)
        fast_events_best = min(cpu["events"]) / min(cpu["fast path"])
        print(f"{name:<19}" + "".join(f"{rate[e]:>22,.0f}" if rate[e] else f"{'skipped':>22}" for e in ENGINES)
              + f"{fast_events:>12.1f}{fast_events_cpu:>7.1f}{fast_events_best:>7.1f}"
              f"{events_hand:>12.2f}{events_hand_cpu:>7.2f}")
        means.append((name, mean))
        target = FAST_OVER_EVENTS.get(name)
        if target and fast_events < target:
            failures.append(f"{name}: fast path / events {fast_events:.1f} < {target}")
        if events_hand < EVENTS_OVER_BASELINE:
            failures.append(f"{name}: events / SimPy by hand {events_hand:.2f} < {EVENTS_OVER_BASELINE}")
        same_path = {"shared queue": ENGINES, "random": ("SimPy by hand", "ciw")}.get(
            name, ("fast path", "events", "SimPy by hand"))            # engines on one sample path
        same_path = [e for e in same_path if e in mean]
        if max(mean[e] for e in same_path) - min(mean[e] for e in same_path) > 1e-9 * mean[same_path[0]]:
            failures.append(f"{name}: mean responses differ on the same sample path: {mean}")
        for e, m in mean.items():
            if abs(m - mean["events"]) > tolerance * mean["events"]:
                failures.append(f"{name}: {e} mean response {m:.4f} vs events {mean['events']:.4f}")
        if args.profile:
            tables.append((name, profile(runs["fast path"])))

    print("\nmean response (s)  " + "".join(f"{e:>22}" for e in ENGINES))
    for name, mean in means:
        print(f"{name:<19}" + "".join(f"{mean[e]:>22.4f}" if e in mean else f"{'-':>22}" for e in ENGINES))
    print(f"\ntargets: fast/events >= {FAST_OVER_EVENTS['shared queue']:g} (shared queue) and "
          f">= {FAST_OVER_EVENTS['least connections']:g} (least connections); events/hand >= "
          f"{EVENTS_OVER_BASELINE}.\n(cpu): the same ratio in this process's CPU time, less disturbed by other "
          "load;\n(best): the ratio of the fastest runs' CPU times, the least disturbed of all.\n"
          "theory E[T]: shared queue 1.7455 s (M/M/4), random 5.0 s (four M/M/1 at 0.8)")
    for name, table in tables:
        print(f"\nfast path, {name}: cProfile, by own time\n{table}")
    for failure in failures:
        print("BELOW TARGET OR DISAGREEING:", failure)
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
