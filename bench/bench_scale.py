"""Benchmark: does a run cost in proportion to its work?

Two scale cliffs, each measured as a ratio within one run of this script:

- balancing policies: CPU seconds per job with 1 000 servers divided by CPU
  seconds per job with 10 servers (each server at utilisation 0.8, the same
  number of jobs). A choice that scans every server makes this ratio grow
  with the number of servers; an indexed choice keeps it near 1. Each policy
  runs twice: with the index (what ``LoadBalancer`` does from
  ``INDEX_FROM`` servers on) and forced to scan (what it did before), and
  the two runs' records must be identical, bit for bit.
- the timeline: 20 jobs on one consumer that is killed at 5 s and restarts
  after 1e5 s, against the same run with a 5 s restart. Sampling through the
  idle stretch made the long run cost about 4 000 times more (11 s and
  822 MB before); recording the stretch at once keeps the ratio small.

    python bench/bench_scale.py                 # 20 000 jobs per policy run
    python bench/bench_scale.py --jobs 5000     # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mqlb  # noqa: E402
from mqlb import loadbalancer  # noqa: E402

SMALL, LARGE = 10, 1000   # servers
LOAD = 0.8                # utilisation of each server


def cpu_per_job(policy: str, servers: int, n_jobs: int, indexed: bool):
    """(CPU seconds per job, records) of one run."""
    wl = mqlb.make_workload(mqlb.Poisson(LOAD * servers), mqlb.Exponential(1.0), n_jobs=n_jobs, seed=1)
    lb = mqlb.LoadBalancer([mqlb.Server()] * servers, policy=policy)
    saved = loadbalancer.INDEX_FROM
    loadbalancer.INDEX_FROM = 1 if indexed else 10**12
    try:
        start = time.process_time()
        res = mqlb.simulate(lb, wl, sample_every=float(wl.arrival[-1]))   # two samples: time the policy
        return (time.process_time() - start) / n_jobs, res.records
    finally:
        loadbalancer.INDEX_FROM = saved


def timeline_cost(restart_s: float):
    """(CPU seconds, peak MB traced, samples) of 20 jobs with one crash."""
    wl = mqlb.make_workload(mqlb.Poisson(1.0), mqlb.Exponential(1.0), n_jobs=20, seed=0)
    tracemalloc.start()
    start = time.process_time()
    res = mqlb.simulate(mqlb.MessageQueue(consumers=[mqlb.Server(restart_s=restart_s)]), wl, failures=[(5.0, 0)])
    cpu = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return cpu, peak, len(res.timeline.time)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per policy run (default 20000)")
    args = parser.parse_args(argv)

    print(f"policies: CPU µs per job, {args.jobs:,} jobs, each server at utilisation {LOAD}")
    header = f"{'policy':<22}{'mode':<8}{SMALL:>8} srv{LARGE:>9} srv{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for policy in ("round_robin", "random", "least_connections", "power_of_two"):
        records = {}
        for indexed in (False, True):
            small, _ = cpu_per_job(policy, SMALL, args.jobs, indexed)
            large, records[indexed] = cpu_per_job(policy, LARGE, args.jobs, indexed)
            print(f"{policy:<22}{'index' if indexed else 'scan':<8}{small * 1e6:>12.1f}{large * 1e6:>13.1f}"
                  f"{large / small:>8.2f}")
        if records[False].tobytes() != records[True].tobytes():
            print(f"  RECORDS DIFFER between scan and index for {policy}")
            return 1

    print("\ntimeline: 20 jobs, one consumer killed at 5 s")
    short = timeline_cost(5.0)
    long = timeline_cost(1e5)
    for name, (cpu, peak, samples) in (("restart 5 s", short), ("restart 1e5 s", long)):
        print(f"{name:<16}{cpu:>8.3f} s CPU{peak:>9.1f} MB peak{samples:>9,} samples")
    print(f"ratio (1e5 s / 5 s): {long[0] / short[0]:.1f} CPU, {long[1] / short[1]:.1f} memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
