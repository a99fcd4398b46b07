"""Which work to save: priorities, LIFO, adaptive LIFO and CoDel in the queues."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mqlb
from mqlb import CoDel, JobClass, LoadBalancer, MessageQueue, Queue, Server, fastpath, theory

OUT = {name: i for i, name in enumerate(mqlb.OUTCOMES)}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical records, bit for bit (NaN equal to NaN)."""
    return a.tobytes() == b.tobytes()


def _batch_mean(values: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Mean and its standard error from batch means (the waits of successive
    jobs are correlated, so the plain standard error would be too small)."""
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    return float(values.mean()), float(means.std(ddof=1) / math.sqrt(batches))


# -- priorities against Cobham's formula (non-preemptive priority M/G/1) ---------------------------
CLASSES = [JobClass("api", mqlb.Exponential(0.5), share=0.4), JobClass("batch", mqlb.Exponential(1.0), share=0.3),
           JobClass("report", mqlb.HyperExponential(2.0, 4.0), share=0.3)]
C2 = [1.0, 1.0, 4.0]
LAM = 0.6                     # jobs/s: rho = 0.6 × (0.4×0.5 + 0.3×1 + 0.3×2) = 0.66
PRIORITY_SYSTEMS = {          # one server (M/G/1); api before batch before report
    "balancer": LoadBalancer([Server()], max_conns=1, on_full="queue", priorities={"api": -5, "batch": 0, "report": 7}),
    "broker": MessageQueue(queues=[Queue("jobs", [Server()], priorities={"api": 9, "batch": 3})]),
}


@pytest.fixture(scope="module")
def mixed():
    return mqlb.make_workload(mqlb.Poisson(LAM), classes=CLASSES, n_jobs=100_000, seed=11)


def _cobham():
    shares = np.array([c.share for c in CLASSES]) / sum(c.share for c in CLASSES)
    return theory.mg1_priority(LAM * shares, [c.size.mean for c in CLASSES], C2)


def _class_waits(res, wl):
    rec = res.records
    return [(rec["start"] - rec["arrival"])[rec["kind"] == k] for k in range(len(wl.kinds))]


@pytest.mark.parametrize("name", PRIORITY_SYSTEMS)
def test_priority_waits_match_cobham(name, mixed):
    res = mqlb.simulate(PRIORITY_SYSTEMS[name], mixed)
    assert res.summary().completed == len(mixed)
    for k, (waits, expected) in enumerate(zip(_class_waits(res, mixed), _cobham())):
        mean, se = _batch_mean(waits)
        # 100 000 jobs give a standard error of at most 8 % of the mean (the heavy-tailed lowest class is the
        # worst; asserted, so the test keeps its power); allow four standard errors plus 2 % of slack for the
        # class shares, which the workload draws rather than fixes.
        assert se < 0.08 * expected, (name, k, se)
        assert abs(mean - expected) < 4 * se + 0.02 * expected, (name, mixed.kinds[k], mean, expected, se)


def test_without_priorities_the_classes_wait_alike(mixed):
    """The counter-check: the same single server without priorities is FCFS, and
    every class waits the Pollaczek-Khinchine mean, far from Cobham's split."""
    res = mqlb.simulate(LoadBalancer([Server()], max_conns=1, on_full="queue"), mixed)
    waits = _class_waits(res, mixed)
    cobham = _cobham()
    assert abs(waits[0].mean() - waits[2].mean()) < 0.1 * waits[0].mean()
    assert waits[0].mean() > 1.5 * cobham[0] and waits[2].mean() < 0.75 * cobham[2]


def test_cobham_reduces_to_pollaczek_khinchine_for_one_class():
    mg1 = theory.mg1(0.7, 1.0, 3.0)
    assert theory.mg1_priority([0.7], [1.0], [3.0])[0] == pytest.approx(mg1.Wq)
    # and conserves work (Kleinrock's conservation law): sum rho_k W_k equals the FCFS value
    lams, sizes, c2s = [0.2, 0.3, 0.1], [0.5, 1.0, 2.0], [1.0, 0.0, 4.0]
    waits = theory.mg1_priority(lams, sizes, c2s)
    rhos = [l * s for l, s in zip(lams, sizes)]
    residual = sum(l * s * s * (1 + c) for l, s, c in zip(lams, sizes, c2s)) / 2
    assert sum(r * w for r, w in zip(rhos, waits)) == pytest.approx(sum(rhos) * residual / (1 - sum(rhos)))


@pytest.mark.parametrize("bad, match", [
    (dict(lams=[0.5, 0.6], mean_sizes=[1.0, 1.0], c2s=[1, 1]), "rho must be < 1"),
    (dict(lams=[0.5], mean_sizes=[1.0, 1.0], c2s=[1, 1]), "one entry per class"),
    (dict(lams=0.5, mean_sizes=[1.0], c2s=[1]), "lams must be a sequence"),
    (dict(lams=[-0.5], mean_sizes=[1.0], c2s=[1]), "lams must be"),
])
def test_cobham_refuses_bad_input(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        theory.mg1_priority(**bad)


# -- the fast path leaves the new options to the event engine ----------------------------------------
@pytest.mark.parametrize("system", [
    LoadBalancer([Server()], max_conns=1, on_full="queue", priorities={"light": -1}),
    LoadBalancer([Server()], max_conns=1, on_full="queue", queue_order="lifo"),
    LoadBalancer([Server()], max_conns=1, on_full="queue", queue_order="adaptive_lifo"),
    LoadBalancer([Server()], max_conns=1, on_full="queue", codel=CoDel(0.005, 0.1)),
    MessageQueue(queues=[Queue("jobs", [Server()], priorities={"light": 1})]),
])
def test_fastpath_refuses_queue_orders(system):
    wl = mqlb.make_workload(mqlb.Poisson(0.8), mqlb.Exponential(1.0), n_jobs=50, seed=1)
    assert fastpath.why_not(system, wl, mqlb.Client()) is not None
    assert mqlb.simulate(system, wl).engine == "events"
    plain = LoadBalancer([Server()], max_conns=1, on_full="queue") if isinstance(system, LoadBalancer) else \
        MessageQueue(consumers=[Server()])
    assert fastpath.why_not(plain, wl, mqlb.Client()) is None      # the counter-case: plain FIFO takes the fast path


# -- LIFO against FIFO: the same mean, a different spread (work-conserving, size-blind, non-preemptive) -----------
def _one_server(order: str, **kw) -> LoadBalancer:
    return LoadBalancer([Server()], max_conns=1, on_full="queue", queue_order=order, **kw)


@pytest.fixture(scope="module")
def mm1_runs():
    wl = mqlb.make_workload(mqlb.Poisson(0.7), mqlb.Exponential(1.0), n_jobs=100_000, seed=5)
    return wl, {order: mqlb.simulate(_one_server(order), wl).response_times() for order in ("fifo", "lifo")}


def test_lifo_has_the_fifo_mean_and_a_longer_tail(mm1_runs):
    wl, resp = mm1_runs
    expected = theory.mm1(0.7, 1.0).W                         # 3.33 s, for either order
    for order, r in resp.items():
        mean, se = _batch_mean(r)
        # the batch-means standard error is a few % here (rho = 0.7 has long busy periods); four of them
        assert se < 0.05 * expected and abs(mean - expected) < 4 * se, (order, mean, expected, se)
    fifo, lifo = resp["fifo"], resp["lifo"]
    # M/M/1 FIFO: the response time is exponential with mean 1/(mu - lam), so its variance is the mean squared.
    assert fifo.var() == pytest.approx(expected ** 2, rel=0.1)
    # LIFO serves the newest first: most jobs wait less, a few (left behind in a busy period) much longer.
    assert np.median(lifo) < 0.8 * np.median(fifo)
    assert np.percentile(lifo, 99.9) > 1.5 * np.percentile(fifo, 99.9)
    assert lifo.var() > 2 * fifo.var()


def test_adaptive_lifo_is_fifo_or_lifo_at_its_extremes():
    wl = mqlb.make_workload(mqlb.Poisson(0.9), mqlb.Exponential(1.0), n_jobs=3000, seed=2)
    run = {name: mqlb.simulate(system, wl).records for name, system in {
        "fifo": _one_server("fifo"), "lifo": _one_server("lifo"),
        "never": _one_server("adaptive_lifo", lifo_after_s=1e9), "always": _one_server("adaptive_lifo", lifo_after_s=0),
        "between": _one_server("adaptive_lifo", lifo_after_s=2.0)}.items()}
    assert _same(run["never"], run["fifo"]) and _same(run["always"], run["lifo"])
    assert not _same(run["fifo"], run["lifo"])
    assert not _same(run["between"], run["fifo"]) and not _same(run["between"], run["lifo"])


def test_codel_bounds_the_wait_and_equals_a_queue_timeout_when_target_is_interval():
    wl = mqlb.make_workload(mqlb.Spike(base=0.5, peak=3.0, start=50, end=100), mqlb.Exponential(1.0),
                            duration=200, seed=4)
    codel = mqlb.simulate(_one_server("fifo", codel=CoDel(0.5, 2.0)), wl).records
    started = np.isfinite(codel["start"])
    assert np.all(codel["start"][started] - codel["arrival"][started] <= 2.0 + 1e-9)
    # at least one request joined a queue busy for longer than the interval and was held to the target
    assert np.any((codel["outcome"] == OUT["timed_out"]) & (codel["end"] - codel["arrival"] < 0.5 + 1e-9))
    same = mqlb.simulate(_one_server("fifo", codel=CoDel(1.0, 1.0)), wl).records
    assert _same(same, mqlb.simulate(_one_server("fifo", queue_timeout=1.0), wl).records)


# -- strict priority never serves a lower class while a higher one waits ------------------------------------
PRIO_CLASSES = [JobClass("a", mqlb.Exponential(0.5), share=0.5), JobClass("b", mqlb.Exponential(1.0), share=0.3),
                JobClass("c", mqlb.Deterministic(2.0), share=0.2)]


def _passed_over(rec, rank):
    """Pairs (i, j): j started while i, of a better rank (or the same rank and
    older, when ``rank`` is strict FIFO within a rank), waited."""
    bad = []
    started = np.flatnonzero(np.isfinite(rec["start"]))
    for j in started:
        s = rec["start"][j]
        waiting = (rec["arrival"] < s) & (rec["start"] > s)
        better = rank[rec["kind"]] < rank[rec["kind"][j]]
        if np.any(waiting & better):
            bad.append((int(np.flatnonzero(waiting & better)[0]), int(j)))
    return bad


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 120), seed=st.integers(0, 1000), servers=st.integers(1, 3),
       levels=st.lists(st.integers(-3, 3), min_size=3, max_size=3), broker=st.booleans(),
       order=st.sampled_from(mqlb.QUEUE_ORDERS), rate=st.sampled_from([1.0, 3.0]))
def test_strict_priority_never_passes_over_a_better_class(n, seed, servers, levels, broker, order, rate):
    wl = mqlb.make_workload(mqlb.Poisson(rate), classes=PRIO_CLASSES, n_jobs=n, seed=seed)
    names = [c.name for c in PRIO_CLASSES]
    if broker:       # RabbitMQ: the higher number first
        system = MessageQueue(queues=[Queue("q", [Server()] * servers,
                                            priorities={k: v + 3 for k, v in zip(names, levels)})])
        rank = -np.array(levels)
    else:            # HAProxy: the lower class first
        system = LoadBalancer([Server()] * servers, max_conns=1, on_full="queue", queue_order=order,
                              priorities=dict(zip(names, levels)))
        rank = np.array(levels)
    rec = mqlb.simulate(system, wl).records
    assert np.all(rec["outcome"] == OUT["completed"])
    assert _passed_over(rec, rank) == []
    # within one priority the broker (and a FIFO balancer) keeps arrival order
    if broker or order == "fifo":
        for k in range(3):
            same = rank[rec["kind"]] == rank[k]
            assert np.all(np.diff(rec["start"][same]) >= 0)


def test_the_priority_check_can_fail():
    """Without priorities, the check above finds a lower class served while a higher one waits."""
    wl = mqlb.make_workload(mqlb.Poisson(3.0), classes=PRIO_CLASSES, n_jobs=200, seed=1)
    rec = mqlb.simulate(LoadBalancer([Server()], max_conns=1, on_full="queue"), wl).records
    assert _passed_over(rec, np.array([0, 1, 2]))
    rec = mqlb.simulate(LoadBalancer([Server()], max_conns=1, on_full="queue",
                                     priorities={"a": 0, "b": 1, "c": 2}), wl).records
    assert _passed_over(rec, np.array([0, 1, 2])) == []
