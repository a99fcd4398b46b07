"""A parameter sweep runs unchanged on a Dask ``distributed`` cluster.

``mqlb.sweep`` accepts any ``concurrent.futures.Executor``. The grid here is
the traffic-surge comparison of chapters 8 and 9 (four architectures, two
surge sizes), small enough for a few seconds of work. It must give the very
same results, bit for bit, on the default process pool and on a local Dask
cluster of two worker processes: the results depend only on the parameters
and the seeds, never on where or in which order the runs happen.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import mqlb
from mqlb import scenarios

distributed = pytest.importorskip("dask.distributed")

GRID = {"architecture": list(scenarios.ARCHITECTURES), "peak": [15.0, 30.0]}


def surge_run(architecture, peak):
    """One architecture on a short surge; returns plain, comparable values."""
    workload = scenarios.surge_workload(seed=4, base=8.0, peak=peak, surge_start=20.0, surge_end=50.0,
                                        duration=90.0)
    res = mqlb.simulate(scenarios.architectures(n_servers=4)[architecture], workload, seed=3)
    return {
        "summary": res.summary().as_dict(),
        "records": res.records.tobytes(),
        "crashes": res.servers.crashes.tolist(),
        "in_system": res.timeline.in_system.tobytes(),
    }


@pytest.fixture(scope="module")
def dask_executor():
    import cloudpickle

    # Dask's worker processes are spawned and may not find this test module by
    # name; ship the sweep function by value instead.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_sweep_on_dask_matches_process_pool(dask_executor):
    local = mqlb.sweep(surge_run, GRID, progress=False)
    remote = mqlb.sweep(surge_run, GRID, executor=dask_executor, progress=False)

    assert [p for p, _ in remote] == [p for p, _ in local] == mqlb.grid_points(GRID)   # grid order kept
    for (params, a), (_, b) in zip(local, remote):
        assert a["records"] == b["records"], params                 # every job's record, bit for bit
        assert a["in_system"] == b["in_system"], params
        assert a["crashes"] == b["crashes"], params
        assert a["summary"].keys() == b["summary"].keys()
        for key, value in a["summary"].items():
            other = b["summary"][key]
            assert value == other or (np.isnan(value) and np.isnan(other)), (params, key)


def test_the_grid_is_not_trivial(dask_executor):
    """The comparison must be able to fail: the runs differ from each other."""
    results = mqlb.sweep(surge_run, GRID, executor=dask_executor, progress=False)
    by = {(p["architecture"], p["peak"]): r for p, r in results}
    for arch in GRID["architecture"]:
        assert by[(arch, 15.0)]["records"] != by[(arch, 30.0)]["records"], arch
    assert len({by[(arch, 30.0)]["records"] for arch in GRID["architecture"]}) == len(GRID["architecture"])
    assert sum(by[("LB push", 30.0)]["crashes"]) > 0           # the naive balancer crashes in the big surge
    assert sum(by[("MQ", 30.0)]["crashes"]) == 0
