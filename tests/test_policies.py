"""Balancer policies: the registry, stale information, join-idle-queue, peak EWMA,
and the policies against queueing theory."""

import numpy as np
import pytest

import mqlb
from mqlb import LoadBalancer, Server, fastpath, policies, theory
from mqlb.measures import pile_up


def _mean(lb, wl, **options):
    return mqlb.simulate(lb, wl, **options).summary().mean_response


# -- the registry ---------------------------------------------------------------------

def test_every_registered_policy_runs_and_ends_every_job_once():
    wl = mqlb.make_workload(mqlb.Poisson(3.0), mqlb.Exponential(1.0), n_jobs=400, seed=2)
    for name in policies.names():
        res = mqlb.simulate(LoadBalancer([Server()] * 4, policy=name), wl, engine="events")
        assert res.summary().completed == len(wl), name
        assert policies.label(name)


def test_a_new_policy_is_one_registered_function():
    @policies.register("lowest_index_test", label="lowest index")
    def lowest_index(view):
        return view.first_from(0)
    try:
        assert "lowest_index_test" in policies.names()
        wl = mqlb.make_workload(mqlb.Poisson(1.0), mqlb.Exponential(1.0), n_jobs=50, seed=1)
        res = mqlb.simulate(LoadBalancer([Server(slots=None)] * 3, policy="lowest_index_test"), wl)
        assert res.engine == "events"                   # not one the fast path re-implements
        assert set(res.records["server"]) == {0}        # server 0 is always eligible
        with pytest.raises(ValueError, match="already registered"):
            policies.register("lowest_index_test", label="again")(lowest_index)
    finally:
        del policies._REGISTRY["lowest_index_test"]


def test_an_unknown_policy_names_the_registered_ones():
    with pytest.raises(ValueError, match="policy must be one of .*'join_idle_queue'.*got 'nope'"):
        LoadBalancer([Server()], policy="nope")


def test_the_fast_path_takes_only_the_policies_it_re_implements():
    wl = mqlb.make_workload(mqlb.Poisson(2.0), mqlb.Exponential(1.0), n_jobs=100, seed=1)
    client = mqlb.Client()
    assert set(policies.names(fastpath=True)) == {"round_robin", "random", "least_connections", "power_of_two",
                                                  "weighted_round_robin"}
    for name in policies.names():
        reason = fastpath.why_not(LoadBalancer([Server()] * 3, policy=name), wl, client)
        assert (reason is None) == policies.get(name).fastpath, (name, reason)
    for options in ({"balancers": 2}, {"info_delay": 0.5}):
        lb = LoadBalancer([Server()] * 3, policy="least_connections", **options)
        assert "several balancer instances or stale" in fastpath.why_not(lb, wl, client)
        assert mqlb.simulate(lb, wl).engine == "events"


def test_one_current_balancer_chooses_as_before_the_options_existed():
    """balancers=1 and info_delay=0 are the defaults: the same records, bit for bit,
    whether the option is given or not, and info_delay shorter than any gap
    between events changes nothing either."""
    wl = mqlb.make_workload(mqlb.Poisson(3.5), mqlb.Exponential(1.0), n_jobs=600, seed=4)
    for name in ("least_connections", "power_of_two", "join_idle_queue", "peak_ewma"):
        plain = mqlb.simulate(LoadBalancer([Server()] * 4, policy=name), wl, engine="events")
        given = mqlb.simulate(LoadBalancer([Server()] * 4, policy=name, balancers=1, info_delay=0.0), wl,
                              engine="events")
        tiny = mqlb.simulate(LoadBalancer([Server()] * 4, policy=name, info_delay=1e-9), wl, engine="events")
        assert plain.records.tobytes() == given.records.tobytes() == tiny.records.tobytes(), name


# -- validation against theory ----------------------------------------------------------------

def test_random_dispatch_is_k_independent_mm1_queues():
    # 8 servers at rho = 0.7: M/M/1 mean 1 / (1 - 0.7) = 3.33 s. 40 000 jobs, the mean
    # of a correlated series: its standard error is about 1 % here; 5 % allows for that.
    k, rho = 8, 0.7
    wl = mqlb.make_workload(mqlb.Poisson(rho * k), mqlb.Exponential(1.0), n_jobs=40_000, seed=11)
    sim = _mean(LoadBalancer([Server()] * k, policy="random"), wl)
    th = theory.mm1_random_split(rho * k, 1.0, k).W
    assert abs(sim - th) < 0.05 * th, (sim, th)


def test_power_of_two_meets_the_supermarket_model_and_random_does_not():
    # Mitzenmacher 2001: n -> infinity, rho = 0.9, d = 2: mean time 2.61 s (d = 1: 10 s).
    # 100 servers stand in for "large n" (the finite-n mean lies a few per cent above
    # the limit) and the run starts empty (its early jobs find short queues: a bias
    # below); 200 000 jobs make the noise well under 1 %. A 5 % band covers both biases
    # and still refuses d = 1 by a factor of almost four.
    n, rho = 100, 0.9
    wl = mqlb.make_workload(mqlb.Poisson(rho * n), mqlb.Exponential(1.0), n_jobs=200_000, seed=5)
    limit = theory.supermarket(rho, d=2)
    assert abs(limit - 2.61) < 0.01
    p2 = _mean(LoadBalancer([Server()] * n, policy="power_of_two"), wl)
    assert abs(p2 - limit) < 0.05 * limit, (p2, limit)
    rnd = _mean(LoadBalancer([Server()] * n, policy="random"), wl)
    assert not abs(rnd - limit) < 0.05 * limit           # the same band refuses d = 1
    assert abs(rnd - theory.supermarket(rho, d=1)) < 0.1 * theory.supermarket(rho, d=1)


# -- stale information --------------------------------------------------------------------

N, RHO = 20, 0.9
STALE_WL = dict(n_jobs=8000, seed=1)


def _stale_means(policy, **options):
    wl = mqlb.make_workload(mqlb.Poisson(RHO * N), mqlb.Exponential(1.0), **STALE_WL)
    return _mean(LoadBalancer([Server()] * N, policy=policy, **options), wl)


def test_least_connections_herds_on_stale_counts_and_power_of_two_does_not():
    wl = mqlb.make_workload(mqlb.Poisson(RHO * N), mqlb.Exponential(1.0), **STALE_WL)
    runs = {d: mqlb.simulate(LoadBalancer([Server()] * N, policy="least_connections", info_delay=d), wl,
                             sample_every=0.5)
            for d in (0.0, 1.0, 4.0)}
    pile = {d: pile_up(r) for d, r in runs.items()}
    # Current counts: every request joins a least loaded server, so the fullest one
    # stays about one request ahead of the average (2 allows for departures).
    assert pile[0.0] < 2
    assert pile[0.0] < pile[1.0] < pile[4.0]            # herding grows with the delay
    assert pile[1.0] > 2 * 2
    mean = {d: r.summary().mean_response for d, r in runs.items()}
    assert mean[0.0] < mean[1.0] < mean[4.0]
    random_mean = _stale_means("random")
    assert mean[4.0] > random_mean                      # worse than not looking at all
    p2 = _stale_means("power_of_two", info_delay=4.0)
    assert p2 < random_mean / 2                          # two choices stay robust
    assert p2 < mean[4.0] / 2


def test_several_balancers_each_counting_their_own_connections():
    one, many = _stale_means("least_connections"), _stale_means("least_connections", balancers=10)
    assert many > 1.5 * one
    wl = mqlb.make_workload(mqlb.Poisson(RHO * N), mqlb.Exponential(1.0), **STALE_WL)
    res = mqlb.simulate(LoadBalancer([Server()] * N, policy="least_connections", balancers=10), wl)
    assert res.summary().completed == len(wl)


def test_a_shared_queue_needs_no_load_information():
    wl = mqlb.make_workload(mqlb.Poisson(RHO * N), mqlb.Exponential(1.0), **STALE_WL)
    shared = _mean(mqlb.MessageQueue(consumers=[Server()] * N, prefetch=1), wl)
    assert shared < _stale_means("least_connections")
    assert abs(shared - theory.mmc(RHO * N, 1.0, N).W) < 0.1 * theory.mmc(RHO * N, 1.0, N).W


def _jobs(arrival, size):
    n = len(arrival)
    return mqlb.Workload(arrival=np.array(arrival, dtype=float), size=np.array(size, dtype=float),
                         memory_mb=np.zeros(n), kind=np.zeros(n, dtype=np.int16))


def test_stale_counts_are_those_at_the_last_refresh():
    """Server 0 holds a long request from t = 0; short ones follow every second.
    Current counts send them all to server 1; counts refreshed every 5 s still
    show server 0 idle until t = 5 (the board of t = 0), so the ties go round robin."""
    wl = _jobs([0, 1, 2, 3, 4, 5.5, 6.5, 7.5], [100] + [0.1] * 7)
    lb = dict(servers=[Server(slots=None)] * 2, policy="least_connections")
    fresh = mqlb.simulate(LoadBalancer(**lb), wl).records["server"].tolist()
    stale = mqlb.simulate(LoadBalancer(**lb, info_delay=5.0), wl).records["server"].tolist()
    assert fresh == [0, 1, 1, 1, 1, 1, 1, 1]
    assert stale == [0, 1, 0, 1, 0, 1, 1, 1]


# -- join-idle-queue and peak EWMA ------------------------------------------------------------

def test_join_idle_queue_beats_random_and_is_not_fooled_by_stale_counts():
    jiq = _stale_means("join_idle_queue")
    assert jiq < _stale_means("random") / 3
    assert _stale_means("join_idle_queue", info_delay=4.0) == jiq      # it reads no counts at all


def test_join_idle_queue_sends_to_an_idle_server_first():
    # Server 0 is busy with a long job; servers 1 and 2 are idle: the next requests go to them.
    wl = _jobs([0.0, 1.0, 1.1, 1.2], [5.0, 0.5, 0.5, 0.5])
    jiq = mqlb.simulate(LoadBalancer([Server()] * 3, policy="join_idle_queue"), wl).records["server"].tolist()
    assert jiq[0] == 0 and sorted(jiq[1:3]) == [1, 2]
    # Then nobody is idle: a random server. Server 1 (done at 1.5 s) reports again.
    wl = _jobs([0.0, 1.0, 1.1, 1.2, 2.0], [5.0, 0.5, 0.5, 0.5, 0.5])
    jiq = mqlb.simulate(LoadBalancer([Server()] * 3, policy="join_idle_queue"), wl).records["server"].tolist()
    assert jiq[4] == jiq[1]


def test_peak_ewma_learns_which_server_is_slow():
    # One server a tenth as fast as the other three: peak EWMA sends it fewer requests
    # than an even share, as least connections does, and far fewer than power of two
    # choices on connection counts alone.
    speeds = [0.1, 1.0, 1.0, 1.0]
    wl = mqlb.make_workload(mqlb.Poisson(0.6 * sum(speeds)), mqlb.Exponential(1.0), n_jobs=6000, seed=3)
    fleet = [Server(speed=s) for s in speeds]
    runs = {p: mqlb.simulate(LoadBalancer(fleet, policy=p), wl) for p in ("peak_ewma", "power_of_two")}
    slow_share = {p: float(np.mean(r.records["server"] == 0)) for p, r in runs.items()}
    assert slow_share["peak_ewma"] < 0.5 * slow_share["power_of_two"]
    assert runs["peak_ewma"].summary().mean_response < runs["power_of_two"].summary().mean_response
