"""Benchmark: mqlb against a hand-written SimPy model on identical jobs.

Three cases with four servers, Poisson arrivals at 3.2 jobs/s and exponential
sizes of mean 1 s (rho = 0.8), 100 000 jobs by default:

- shared queue: a message queue with four consumers at prefetch 1 (M/M/4);
- random: a load balancer sending each job to a random server;
- least connections: a load balancer sending each job to the server holding
  the fewest jobs.

Both sides get the same arrival times and sizes (the mqlb workload's arrays).
Each repetition times the baseline and then mqlb in the same process, and the
table reports the median over repetitions. The mean response times must agree
(exactly for the shared queue, within noise for the random split, whose
random choices differ) or the comparison is void.

    python bench/bench_engine.py                  # 100 000 jobs, 5 repetitions
    python bench/bench_engine.py --jobs 20000 --repeats 3
    python bench/bench_engine.py --check          # exit 1 if a ratio is below target
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import handwritten_mm4 as baseline  # noqa: E402

ARRIVAL_RATE = 3.2  # jobs/s
MEAN_SIZE = 1.0  # s of work per job
SERVERS = 4
SEED = 1
TARGET_RATIO = 1.3  # mqlb jobs/s divided by baseline jobs/s

ENGINE_NAMES = ("simulate", "MessageQueue", "LoadBalancer", "Server", "make_workload",
                "Poisson", "Exponential")


def engine_or_none():
    """The mqlb package if it exports the engine API, else None (and why)."""
    try:
        import mqlb
    except ImportError as error:
        return None, f"cannot import mqlb ({error})"
    missing = [name for name in ENGINE_NAMES if not hasattr(mqlb, name)]
    if missing:
        return None, f"mqlb does not export {', '.join(missing)} yet"
    return mqlb, ""


def make_jobs(mqlb, n_jobs):
    """Arrival times and sizes: the mqlb workload's arrays, or baseline draws."""
    if mqlb is None:
        arrival, size = baseline.draw_jobs(n_jobs, ARRIVAL_RATE, 1.0 / MEAN_SIZE, SEED)
        return None, arrival, size
    workload = mqlb.make_workload(
        arrivals=mqlb.Poisson(ARRIVAL_RATE), size=mqlb.Exponential(MEAN_SIZE),
        n_jobs=n_jobs, seed=SEED,
    )
    return workload, np.asarray(workload.arrival), np.asarray(workload.size)


def cases(mqlb, workload, arrival, size):
    """(name, baseline run, mqlb run or None, tolerance) per case.

    Each run returns the mean response (s); ``tolerance`` is how far apart
    (relative) the two means may be: none when both follow the same sample
    path, statistical noise when their random choices differ.
    """
    choices = baseline.draw_choices(len(arrival), SERVERS, SEED)

    def engine(system):
        if mqlb is None:
            return None
        return lambda: float(mqlb.simulate(system(), workload).summary().mean_response)

    return [
        ("shared queue (MQ, prefetch 1)",
         lambda: float(np.mean(baseline.shared_queue(arrival, size, SERVERS))),
         engine(lambda: mqlb.MessageQueue(consumers=[mqlb.Server()] * SERVERS, prefetch=1)),
         1e-9),
        ("random (LB)",
         lambda: float(np.mean(baseline.random_split(arrival, size, choices, SERVERS))),
         engine(lambda: mqlb.LoadBalancer(servers=[mqlb.Server()] * SERVERS, policy="random")),
         0.10),
        ("least connections (LB)",
         lambda: float(np.mean(baseline.least_connections(arrival, size, SERVERS))),
         engine(lambda: mqlb.LoadBalancer(servers=[mqlb.Server()] * SERVERS,
                                          policy="least_connections")),
         1e-9),
    ]


def timed(run):
    """(wall seconds, CPU seconds of this process, mean response) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    mean_response = run()
    return time.perf_counter() - wall, time.process_time() - cpu, mean_response


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per run (default 100000)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions, median kept (default 5)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if any ratio is below {TARGET_RATIO} or the means disagree")
    args = parser.parse_args(argv)
    if args.jobs < 1000 or args.repeats < 1:
        parser.error("need --jobs >= 1000 and --repeats >= 1")

    mqlb, why = engine_or_none()
    workload, arrival, size = make_jobs(mqlb, args.jobs)
    print(f"{args.jobs:,} jobs, lambda={ARRIVAL_RATE}/s, mean size {MEAN_SIZE} s, "
          f"{SERVERS} servers, median of {args.repeats} runs")
    if mqlb is None:
        print(f"NEEDS THE ENGINE: {why}; timing the baseline only.")

    header = (f"{'case':<32}{'baseline jobs/s':>16}{'mqlb jobs/s':>13}{'ratio':>7}{'cpu ratio':>10}"
              f"{'baseline E[T] s':>17}{'mqlb E[T] s':>13}")
    print(header)
    print("-" * len(header))
    failures = []
    for name, run_baseline, run_engine, tolerance in cases(mqlb, workload, arrival, size):
        base_wall, base_cpu, engine_wall, engine_cpu = [], [], [], []
        base_mean = engine_mean = None
        for _ in range(args.repeats):  # alternate so drift hits both sides alike
            wall, cpu, base_mean = timed(run_baseline)
            base_wall.append(wall)
            base_cpu.append(cpu)
            if run_engine is not None:
                wall, cpu, engine_mean = timed(run_engine)
                engine_wall.append(wall)
                engine_cpu.append(cpu)
        base_rate = args.jobs / statistics.median(base_wall)
        if run_engine is None:
            print(f"{name:<32}{base_rate:>16,.0f}{'-':>13}{'-':>7}{'-':>10}{base_mean:>17.4f}{'-':>13}")
            continue
        engine_rate = args.jobs / statistics.median(engine_wall)
        ratio = engine_rate / base_rate
        cpu_ratio = statistics.median(base_cpu) / statistics.median(engine_cpu)
        print(f"{name:<32}{base_rate:>16,.0f}{engine_rate:>13,.0f}{ratio:>7.2f}{cpu_ratio:>10.2f}"
              f"{base_mean:>17.4f}{engine_mean:>13.4f}")
        if ratio < TARGET_RATIO:
            failures.append(f"{name}: ratio {ratio:.2f} < {TARGET_RATIO}")
        if abs(engine_mean - base_mean) > tolerance * base_mean:
            failures.append(f"{name}: mean response {engine_mean:.4f} vs {base_mean:.4f}")
    print(f"target: mqlb/baseline >= {TARGET_RATIO} (ratio: wall time; cpu ratio: this process's "
          "CPU time,\nless disturbed by other load); theory E[T]: shared queue 1.7455 s, random 5.0 s")
    for failure in failures:
        print("BELOW TARGET OR DISAGREEING:", failure)
    if args.check and (failures or mqlb is None):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
