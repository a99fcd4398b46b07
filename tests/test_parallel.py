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


def test_the_pool_starts_its_workers_afresh_instead_of_forking_this_process():
    """A fork of a threaded process (a Jupyter kernel) may deadlock in the child:
    the shared pool's workers must be new programs, not copies of this one."""
    import os

    import psutil
    pool = mqlb.shared_pool()
    worker = pool.submit(os.getpid).result()
    assert worker != os.getpid()
    assert psutil.Process(worker).cmdline() != psutil.Process().cmdline()   # a fork keeps the parent's command line


NOTEBOOK = '''
import mqlb
mqlb.shared_pool().submit(abs, -1).result()          # the pool is already running ...
LOAD = 0.5

def cell_function(seed):                              # ... when the notebook defines this
    wl = mqlb.make_workload(mqlb.Poisson(rate=2 * LOAD), mqlb.Exponential(1.0), n_jobs=300, seed=seed)
    return mqlb.simulate(mqlb.LoadBalancer([mqlb.Server()] * 2), wl).records.tobytes()

remote = mqlb.sweep(cell_function, {"seed": [1, 2, 3]}, progress=False)
assert [r for _, r in remote] == [cell_function(s) for s in (1, 2, 3)]
lambdas = mqlb.sweep(lambda x: x * LOAD, {"x": [1, 2]}, progress=False)
assert [r for _, r in lambdas] == [0.5, 1.0]
print("ok")
'''


def test_functions_defined_in_a_notebook_run_in_the_pool(tmp_path):
    """Chapters hand sweep() functions defined in the kernel's __main__, after the
    shared pool started; they travel by value and give the same results."""
    import subprocess
    import sys
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


class CountingPool(ThreadPoolExecutor):
    """A thread pool that counts the tasks it was given."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_side_by_side_hands_simulate_each_its_pool_only_inside_the_block():
    pool, started = CountingPool(), []

    def start():
        started.append(1)
        return pool

    local = mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3)
    with mqlb.side_by_side(start):
        assert not started                                   # nothing ran yet: no pool started
        mqlb.simulate_each(dict(list(SYSTEMS.items())[:1]), WORKLOAD, seed=3)
        assert not started                                   # one system: no pool needed
        inside = mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3)
        mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3, executor=ThreadPoolExecutor(1))   # an explicit one wins
    assert pool.submitted == len(SYSTEMS) and len(started) == 1
    mqlb.simulate_each(SYSTEMS, WORKLOAD, seed=3)            # after the block: in this process again
    assert pool.submitted == len(SYSTEMS)
    for name in local:
        assert fingerprint(inside[name]) == fingerprint(local[name])
