"""Several systems on one workload, side by side: the same results as one by one.

``simulate_each`` is how the book's interactive figures use both cores; the
figures must not change when they do, so the results from the shared process
pool must equal those of the same runs in this process, bit for bit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mqlb
from mqlb import scenarios

WORKLOAD = scenarios.surge_workload(seed=4, base=8.0, peak=20.0, surge_start=10.0, surge_end=30.0, duration=50.0)
SYSTEMS = scenarios.architectures(n_servers=4)


def fingerprint(result):
    return (result.records.tobytes(), result.timeline.in_system.tobytes(), result.servers.crashes.tobytes())


def test_each_system_runs_on_the_same_workload_in_its_order():
    results = mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3)
    assert list(results) == list(SYSTEMS)
    for name, system in SYSTEMS.items():
        assert fingerprint(results[name]) == fingerprint(mqlb.simulate(system, WORKLOAD, seed=3))
    # different architectures really differ on this surge (else the test above proves little)
    assert len({fingerprint(r) for r in results.values()}) == len(SYSTEMS)


def test_shared_pool_gives_the_same_results_bit_for_bit():
    local = mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3)
    pool = mqlb.shared_pool()
    assert mqlb.shared_pool() is pool                    # one pool for the session
    remote = mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3, executor=pool)
    assert list(remote) == list(local)
    for name in local:
        assert fingerprint(remote[name]) == fingerprint(local[name])


def test_any_executor_works():
    with ThreadPoolExecutor(max_workers=2) as threads:
        results = mqlb.simulate_each({"mq": SYSTEMS["MQ"]}, WORKLOAD, seed=3, executor=threads)
    assert fingerprint(results["mq"]) == fingerprint(mqlb.simulate(SYSTEMS["MQ"], WORKLOAD, seed=3))
