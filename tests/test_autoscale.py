"""Autoscaled consumers: a hand-checked case, the bounds, the cost, and the fast path's refusal."""

import numpy as np
import pytest

import mqlb
from mqlb import Autoscaler, MessageQueue, Queue, Server, fastpath


def _burst(n=10, size=9.5):
    """``n`` jobs of ``size`` s arriving at 0.001, 0.002, ... s."""
    return mqlb.make_workload(mqlb.Constant(rate=1000.0), mqlb.Deterministic(size), n_jobs=n, seed=0)


def _scaled(**kwargs):
    spec = dict(metric="backlog", threshold=3, interval_s=1.0, start_s=2.0, max_consumers=3)
    return MessageQueue(queues=[Queue("jobs", [Server()], autoscaler=Autoscaler(**{**spec, **kwargs}))])


def test_consumers_are_added_and_removed_at_the_times_worked_out_by_hand():
    # Ten 9.5 s jobs at t ~ 0; one consumer; read the backlog every 1 s, scale out above 3.
    # t=1: 9 ready > 3 -> launch consumer 1 (takes messages at t=3); t=2: 9 > 3 -> consumer 2 (t=4);
    # t=3: the cap of 3 is reached. Consumer 0 serves jobs 0, 3, 6, 9 from 0.001 (done 38.001);
    # consumer 1 jobs 1, 4, 7 from 3 (done 31.5); consumer 2 jobs 2, 5, 8 from 4 (done 32.5).
    # Scale-in at the first reading with the queue empty and a consumer idle: t=32 stops
    # consumer 1 (up 32 - 1 = 31 s), t=33 consumer 2 (33 - 2 = 31 s); consumer 0 stays (the floor).
    res = mqlb.simulate(_scaled(), _burst())
    r = res.records
    assert res.engine == "events"
    np.testing.assert_array_equal(r["server"], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_allclose(r["start"][:3], [0.001, 3.0, 4.0])
    np.testing.assert_allclose(r["done"][[7, 8, 9]], [31.5, 32.5, 38.001])
    np.testing.assert_allclose(res.servers.up_s, [38.001, 31.0, 31.0])
    assert res.servers.machine_seconds == pytest.approx(100.001)


def test_a_stopped_consumer_takes_nothing_more():
    # The burst of the hand case, then three more jobs at t = 50 s, after consumers 1 and 2 were stopped.
    burst = _burst()
    wl = mqlb.Workload(np.r_[burst.arrival, [50.0, 50.1, 50.2]], np.r_[burst.size, [1.0, 1.0, 1.0]], np.zeros(13),
                       np.zeros(13, dtype=burst.kind.dtype), burst.kinds)
    res = mqlb.simulate(_scaled(), wl)
    np.testing.assert_array_equal(res.records["server"][10:], [0, 0, 0])
    np.testing.assert_allclose(res.records["end"][10:], [51.0, 52.0, 53.0])
    np.testing.assert_allclose(res.servers.up_s, [53.0, 31.0, 31.0])


def test_a_longer_start_up_delays_the_new_consumers_and_the_drain():
    fast, slow = (mqlb.simulate(_scaled(start_s=s), _burst()) for s in (2.0, 6.0))
    assert slow.records["start"][1] == pytest.approx(7.0)      # launched at 1, taking messages 6 s later
    assert slow.records["end"].max() >= fast.records["end"].max()


def test_the_age_metric_scales_out_once_the_oldest_message_is_old_enough():
    # The oldest ready message arrived at 0.002; above 2.5 s of age first at the reading at t=3.
    res = mqlb.simulate(_scaled(metric="age", threshold=2.5, start_s=0.0), _burst())
    assert res.records["start"][1] == pytest.approx(3.0)


def test_no_scaling_without_a_backlog_and_the_cap_is_kept():
    calm = mqlb.simulate(_scaled(threshold=100), _burst())
    np.testing.assert_allclose(calm.servers.up_s[1:], 0.0)      # never launched: costs nothing
    assert set(calm.records["server"].tolist()) == {0}
    capped = mqlb.simulate(_scaled(threshold=0, max_consumers=2), _burst())
    assert set(capped.records["server"].tolist()) == {0, 1}


def test_the_cooldown_spaces_the_launches():
    res = mqlb.simulate(_scaled(cooldown_s=3.0, start_s=0.0), _burst())
    np.testing.assert_allclose(res.records["start"][1:3], [1.0, 4.0])    # launches at 1 and 1 + 3


def test_fixed_consumers_cost_the_whole_run():
    res = mqlb.simulate(MessageQueue(consumers=[Server()] * 3), _burst(), engine="events")
    np.testing.assert_allclose(res.servers.up_s, res.records["end"].max())
    fast = mqlb.simulate(MessageQueue(consumers=[Server()] * 3), _burst())
    assert fast.engine == "recursion" and fast.servers.up_s.tolist() == res.servers.up_s.tolist()


def test_the_fast_path_refuses_autoscaling():
    reason = fastpath.why_not(_scaled(), _burst(), mqlb.Client())
    assert reason is not None and "autoscal" in reason
    assert fastpath.why_not(MessageQueue(consumers=[Server()]), _burst(), mqlb.Client()) is None
    with pytest.raises(ValueError, match="autoscal"):
        mqlb.simulate(_scaled(), _burst(), engine="recursion")


def test_the_path_split_is_refused_by_the_fast_path_and_routes_by_class():
    wl = mqlb.make_workload(mqlb.Poisson(2.0), classes=[mqlb.JobClass("light", mqlb.Exponential(0.1)),
                                                       mqlb.JobClass("heavy", mqlb.Exponential(2.0), share=0.3)],
                            n_jobs=200, seed=3)
    split = mqlb.PathSplit(pools={"api": mqlb.LoadBalancer([Server()]),
                                  "jobs": mqlb.LoadBalancer([Server()] * 2, max_conns=1, on_full="queue")},
                           routes={"heavy": "jobs"}, default="api")
    assert fastpath.why_not(split, wl, mqlb.Client()) is not None
    res = mqlb.simulate(split, wl)
    heavy = res.records["kind"] == wl.kind_index("heavy")
    assert np.all(res.records["queue"][heavy] == 1) and np.all(res.records["queue"][~heavy] == 0)
    assert set(res.records["server"][heavy].tolist()) <= {1, 2} and set(res.records["server"][~heavy]) == {0}
    assert res.servers.names == ("api[0]", "jobs[0]", "jobs[1]") and res.queues == ("api", "jobs")
    assert res.summary().completed == len(wl)
    with pytest.raises(ValueError, match="'heavy' has no route"):
        mqlb.simulate(mqlb.PathSplit(pools=split.pools, routes={"light": "api"}), wl)
