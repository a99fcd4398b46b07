"""Clients that back off: retry budget, adaptive throttling, circuit breaker.

Every check here is on a case small enough to work out by hand, or on a
counter-configuration that must make the chapter's claim false."""


import numpy as np
import pytest

import mqlb
from mqlb import CircuitBreaker, Client, LoadBalancer, RetryBudget, Server, fastpath, measures, retrystorm
from mqlb.client import Holdback

OUT = {name: i for i, name in enumerate(mqlb.OUTCOMES)}


def _busy_then_down(n: int, busy_s: float = 1e6) -> tuple:
    """One server that takes no queue, busy with a first job of ``busy_s`` s from
    t = 0; then a request every second from t = 1 to t = n. While the first job
    runs, every request is rejected at once; after it, each takes 0.1 s."""
    arrival = np.arange(n + 1, dtype=float)
    size = np.full(n + 1, 0.1)
    size[0] = busy_s
    wl = mqlb.Workload(arrival, size, np.zeros(n + 1), np.zeros(n + 1, dtype=np.int64))
    return LoadBalancer([Server(slots=1)], max_conns=1, on_full="reject"), wl


# -- adaptive throttling ----------------------------------------------------------------

def test_the_throttle_probability_is_the_formula_on_a_hand_case():
    state = Holdback(Client(throttle_k=2.0, throttle_window=10.0), rng=None)
    state.requests.extend([2.0] * 10)
    state.accepts.extend([1.0] * 2)
    assert state.throttle_probability(5.0) == pytest.approx((10 - 2 * 2) / (10 + 1))
    state.accepts.extend([2.0] * 3)                         # K·accepts > requests: never refuse
    assert state.throttle_probability(5.0) == 0.0
    state.accepts.clear()
    state.accepts.extend([1.0] * 5)
    assert state.throttle_probability(11.5) == pytest.approx(10 / 11)   # the accepts at t = 1 left the window ...
    assert state.throttle_probability(12.5) == 0.0                      # ... then everything did


def test_the_throttle_refuses_as_often_as_the_formula_says():
    """Every attempt fails, so accepts = 0; with a request a second and a 5 s window,
    four earlier requests are in the window: p = 4 / 5 once the window is full."""
    lb, wl = _busy_then_down(4000)
    res = mqlb.simulate(lb, wl, client=Client(throttle_k=2.0, throttle_window=5.0), until=4000.5, seed=1)
    r = res.records[6:]                                     # from t = 6 the window holds four requests
    refused = float((r["outcome"] == OUT["refused_locally"]).mean())
    # Binomial: sd = sqrt(0.8 · 0.2 / 3995) = 0.0063; four sd.
    assert abs(refused - 0.8) < 4 * 0.0063
    _, quick = _busy_then_down(4000, busy_s=0.1)            # every request answered: accepts = requests
    healthy = mqlb.simulate(LoadBalancer([Server(slots=None)]), quick, client=Client(throttle_k=1.0))
    assert healthy.summary().refused_locally == 0           # a healthy backend is never throttled


def test_a_refused_request_never_reaches_a_server():
    lb, wl = _busy_then_down(200)
    res = mqlb.simulate(lb, wl, client=Client(throttle_k=2.0), until=200.5)
    r = res.records[res.records["outcome"] == OUT["refused_locally"]]
    assert len(r) > 100
    assert np.all(r["attempts"] == 0) and np.all(r["starts"] == 0) and np.all(r["work"] == 0)
    assert np.all(r["end"] == r["arrival"]) and np.all(np.isnan(r["start"])) and np.all(r["server"] == -1)
    s = res.summary()
    assert s.refused_locally == len(r) and s.jobs == len(wl) and s.not_sent == 0
    assert measures.failed_jobs(s) == s.rejected + s.refused_locally


def test_the_same_seed_gives_the_same_refusals_and_another_seed_others():
    lb, wl = _busy_then_down(300)
    client = Client(throttle_k=2.0, throttle_window=5.0)
    a, b, c = (mqlb.simulate(lb, wl, client=client, until=300.5, seed=s) for s in (4, 4, 5))
    assert a.records.tobytes() == b.records.tobytes()
    assert a.records.tobytes() != c.records.tobytes()


# -- retry budget -----------------------------------------------------------------------

@pytest.mark.parametrize("tokens, retries", [(3.0, 3), (3.999, 3), (4.0, 4), (0.0, 0)])
def test_a_budget_with_ratio_0_allows_only_its_initial_tokens(tokens, retries):
    lb, wl = _busy_then_down(50)
    res = mqlb.simulate(lb, wl, client=Client(retries=5, retry_budget=RetryBudget(ratio=0.0, tokens=tokens)),
                        until=50.5)
    r = res.records[1:]
    assert int((r["attempts"] - 1).sum()) == retries
    assert r["attempts"][0] == 1 + retries                  # retries go at once: the first request spends them all


def test_answers_refill_the_budget():
    """The busy job ends at 10.1 s; from t = 11 every request is answered and adds
    0.5 token, so every second answer pays for one more retry (once there are failures)."""
    lb, wl = _busy_then_down(40, busy_s=10.1)
    budget = RetryBudget(ratio=0.5, tokens=1.0)
    res = mqlb.simulate(lb, wl, client=Client(retries=1, retry_budget=budget))
    r = res.records
    assert int((r["attempts"][1:11] - 1).sum()) == 1         # one token at the start, no answer before 10.1 s
    assert np.all(r["outcome"][11:] == OUT["completed"])
    no_refill = mqlb.simulate(lb, wl, client=Client(retries=1, retry_budget=RetryBudget(ratio=0.0, tokens=1.0)))
    assert np.array_equal(no_refill.records["attempts"], r["attempts"])   # nothing failed after the refill
    state = Holdback(Client(retries=1, retry_budget=budget), rng=None)
    state.tokens = 0.0
    for i in range(2):
        state.answered(i, 1, float(i))
    assert state.may_retry() and not state.may_retry()      # two answers at 0.5 = one retry


# -- circuit breaker --------------------------------------------------------------------

def test_the_breaker_opens_after_n_failures_and_half_opens_after_open_s():
    """Failures at t = 1, 2, 3 open it at 3; it refuses 4..7, lets a probe through at
    8 (>= 3 + 5), which fails and opens it again; the next probe goes at 13, ..."""
    lb, wl = _busy_then_down(30)
    breaker = CircuitBreaker(failures=3, open_s=5.0, half_open_probes=1)
    r = mqlb.simulate(lb, wl, client=Client(breaker=breaker), until=30.5).records
    sent = r["arrival"][r["outcome"] == OUT["rejected"]].tolist()
    refused = r["arrival"][r["outcome"] == OUT["refused_locally"]].tolist()
    assert sent == [1, 2, 3, 8, 13, 18, 23, 28]
    assert refused == [t for t in range(4, 31) if t not in sent]


@pytest.mark.parametrize("probes, closed_from", [(1, 13), (2, 13)])
def test_the_breaker_closes_when_its_probes_are_answered(probes, closed_from):
    """The busy job ends at 10.5 s; the probe(s) from t = 13 are answered and the
    breaker closes: every later request is sent."""
    lb, wl = _busy_then_down(30, busy_s=10.5)
    breaker = CircuitBreaker(failures=3, open_s=5.0, half_open_probes=probes)
    r = mqlb.simulate(lb, wl, client=Client(breaker=breaker)).records
    assert r["arrival"][r["outcome"] == OUT["refused_locally"]].tolist() == [4, 5, 6, 7, 9, 10, 11, 12]
    assert np.all(r["outcome"][closed_from:] == OUT["completed"])


def test_a_timeout_counts_as_a_failure_when_it_happens():
    """A queue that never moves: each request times out 1 s after it was sent, and the
    third timeout (at t = 2) opens the breaker before the request of t = 3.5 is sent;
    a breaker that needs four failures sends it."""
    arrival = np.array([0.0, 0.5, 1.0, 3.5])
    size = np.array([1e6, 0.1, 0.1, 0.1])
    wl = mqlb.Workload(arrival, size, np.zeros(4), np.zeros(4, dtype=np.int64))
    lb = LoadBalancer([Server(slots=1)], max_conns=1, on_full="queue")
    client = Client(timeout=1.0, breaker=CircuitBreaker(failures=3, open_s=5.0))
    r = mqlb.simulate(lb, wl, client=client, until=20.0).records
    assert [mqlb.OUTCOMES[o] for o in r["outcome"]] == ["timed_out"] * 3 + ["refused_locally"]
    assert r["end"].tolist() == [1.0, 1.5, 2.0, 3.5]
    later = Client(timeout=1.0, breaker=CircuitBreaker(failures=4, open_s=5.0))
    assert mqlb.simulate(lb, wl, client=later, until=20.0).records["outcome"][3] == OUT["timed_out"]


# -- the fast path and the remedies' claims ---------------------------------------------

@pytest.mark.parametrize("client", [Client(retry_budget=RetryBudget()), Client(throttle_k=2.0),
                                    Client(breaker=CircuitBreaker())])
def test_the_fast_path_leaves_clients_that_hold_back_to_the_events(client):
    lb = LoadBalancer([Server()] * 2, policy="round_robin")
    wl = mqlb.make_workload(mqlb.Poisson(1.0), mqlb.Exponential(1.0), n_jobs=50, seed=1)
    assert fastpath.why_not(lb, wl, Client()) is None
    assert "hold back" in fastpath.why_not(lb, wl, client)
    with pytest.raises(ValueError):
        mqlb.simulate(lb, wl, client=client, engine="recursion")
    assert mqlb.simulate(lb, wl, client=client).engine == "events"


def test_clients_that_never_hold_back_change_nothing():
    """A budget that never runs out and a breaker that never opens: the same records as without them."""
    wl = retrystorm.storm_workload(duration=80.0)
    lb = retrystorm.storm_balancer()
    plain = Client(timeout=2.0, retries=2)
    lax = Client(timeout=2.0, retries=2, retry_budget=RetryBudget(ratio=1.0, tokens=1e9),
                 breaker=CircuitBreaker(failures=10**9))
    assert mqlb.simulate(lb, wl, client=plain).records.tobytes() == mqlb.simulate(lb, wl, client=lax).records.tobytes()


AFTER_END = retrystorm.STORM["duration"] - retrystorm.STORM["surge_end"]


@pytest.mark.parametrize("remedy, counter", [
    ("retry budget", dict(budget=RetryBudget(ratio=1.0, tokens=1e9))),               # a budget that never runs out
    ("circuit breaker", dict(breaker=CircuitBreaker(failures=10**9))),               # a breaker that never opens
    ("adaptive throttling", dict(throttle_k=1e9, throttle_window=1e6)),              # the calm's accepts never leave
])
def test_each_remedy_claim_fails_on_a_counter_configuration(remedy, counter):
    """The chapter's claim "this remedy ends the metastable state" (recovery well before
    the traffic ends) holds for the chapter's setting and fails when the remedy is disarmed."""
    wl = retrystorm.storm_workload(seed=3)
    for options, ends in ((dict(), True), (counter, False)):
        system, client = retrystorm.remedies(**options)[remedy]
        card = retrystorm.scorecard(mqlb.simulate(system, wl, client=client))
        assert retrystorm.stays_down(card["recovery"]) is not ends, (remedy, options, card)
        assert (card["attempts"] < 1.5) is ends or remedy == "circuit breaker"


def test_backoff_alone_stays_down():
    wl = retrystorm.storm_workload(seed=3)
    for name in ("no remedy", "backoff + jitter"):
        system, client = retrystorm.remedies()[name]
        assert retrystorm.stays_down(retrystorm.scorecard(mqlb.simulate(system, wl, client=client))["recovery"])
    system, client = retrystorm.remedies(retries=0)["backoff + jitter"]       # no retries: it comes back
    assert not retrystorm.stays_down(retrystorm.scorecard(mqlb.simulate(system, wl, client=client))["recovery"])


def test_scorecard_and_replication_refuse_bad_input():
    with pytest.raises(TypeError, match="result"):
        retrystorm.scorecard("run")
    with pytest.raises(ValueError, match="at least 2 seeds"):
        retrystorm.replicated(retrystorm.remedies(), seeds=[3])
    with pytest.raises(TypeError, match="unknown settings"):
        retrystorm.storm_workload(peek=3)


def test_replication_gives_the_same_figures_in_a_pool():
    from concurrent.futures import ThreadPoolExecutor
    setups = {name: retrystorm.remedies()[name] for name in ("backoff + jitter", "circuit breaker")}
    here = retrystorm.replicated(setups, seeds=[3, 4], duration=90.0)
    with ThreadPoolExecutor(2) as pool:
        assert retrystorm.replicated(setups, seeds=[3, 4], duration=90.0, executor=pool) == here
    assert here["circuit breaker"]["refused"].mean > 0 == here["backoff + jitter"]["refused"].mean
