"""The simulator against queueing theory.

Each case runs independent seeded replications on fresh workloads, drops a
warm-up, and checks that the closed-form value lies inside the replications'
99% confidence interval (Student t). Deterministic seeds make the outcome
repeatable; a model error of a few percent moves the estimate out of the
interval. Run this file as a script to print the validation table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from scipy import stats

import mqlb
from mqlb import LoadBalancer, MessageQueue, Server, theory

REPS = 16
JOBS = 40_000
WARMUP = 4_000
pytestmark = pytest.mark.slow


def mean_response(result) -> float:
    r = result.records[WARMUP:]
    return float((r["end"] - r["arrival"]).mean())


def mean_wait(result) -> float:
    r = result.records[WARMUP:]
    return float((r["start"] - r["arrival"]).mean())


def p_wait(result) -> float:
    r = result.records[WARMUP:]
    return float((r["start"] > r["arrival"]).mean())


def p_rejected(result) -> float:
    r = result.records[WARMUP:]
    return float((r["outcome"] == mqlb.OUTCOMES.index("rejected")).mean())


@dataclass(frozen=True)
class Case:
    name: str
    system: object
    arrivals: object
    size: object
    statistic: Callable
    theory: float


def _cases():
    exp = mqlb.Exponential(1.0)
    four = [Server()] * 4
    return [
        Case("M/M/1, rho=0.8: mean response", LoadBalancer([Server()]), mqlb.Poisson(0.8), exp,
             mean_response, theory.mm1(0.8, 1.0).W),
        Case("M/M/4 (MQ prefetch 1), lambda=3.2: mean response", MessageQueue(consumers=four, prefetch=1),
             mqlb.Poisson(3.2), exp, mean_response, theory.mmc(3.2, 1.0, 4).W),
        Case("M/M/4 (MQ prefetch 1), lambda=3.2: P(wait)", MessageQueue(consumers=four, prefetch=1),
             mqlb.Poisson(3.2), exp, p_wait, theory.mmc(3.2, 1.0, 4).p_wait),
        Case("M/D/1, rho=0.8: mean wait", LoadBalancer([Server()]), mqlb.Poisson(0.8), mqlb.Deterministic(1.0),
             mean_wait, theory.mg1(0.8, 1.0, 0.0).Wq),
        Case("M/G/1 (gamma, C2=0.5), rho=0.8: mean response", LoadBalancer([Server()]), mqlb.Poisson(0.8),
             mqlb.Gamma(1.0, 0.5), mean_response, theory.mg1(0.8, 1.0, 0.5).W),
        Case("LB random split to 4 servers, lambda=3.2: mean response", LoadBalancer(four, policy="random"),
             mqlb.Poisson(3.2), exp, mean_response, theory.mm1(0.8, 1.0).W),
        Case("LB round robin to 4 servers (E4/M/1), lambda=3.2: mean response",
             LoadBalancer(four, policy="round_robin"), mqlb.Poisson(3.2), exp, mean_response,
             theory.gi_m1_round_robin(3.2, 1.0, 4).W),
        Case("one server of speed 4, lambda=3.2: mean response", LoadBalancer([Server(speed=4)]),
             mqlb.Poisson(3.2), exp, mean_response, theory.mm1_speed(3.2, 1.0, 4).W),
        Case("M/G/1-PS (hyperexp., C2=4), rho=0.7: mean response",
             LoadBalancer([Server(slots=None, discipline="ps")]), mqlb.Poisson(0.7),
             mqlb.HyperExponential(1.0, 4.0), mean_response, theory.mg1_ps(0.7, 1.0)),
        Case("5 servers, no queue (Erlang B), load 2.5: P(rejected)",
             LoadBalancer([Server(backlog=0)] * 5, policy="least_connections", max_conns=1),
             mqlb.Poisson(2.5), mqlb.LogNormal(1.0, 2.0), p_rejected, theory.erlang_b(2.5, 5)),
    ]


CASES = _cases()


def replication(case: Case, rep: int) -> float:
    """One independent run: its own workload seed and system seed."""
    wl = mqlb.make_workload(case.arrivals, case.size, n_jobs=JOBS, seed=1000 + rep)
    return case.statistic(mqlb.simulate(case.system, wl, seed=rep))


def _replicate(case: Case) -> np.ndarray:
    runs = mqlb.sweep(replication, {"case": [case], "rep": range(REPS)}, progress=False)
    return np.array([value for _, value in runs])


def confidence_interval(values: np.ndarray, level: float = 0.99) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval."""
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(half)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_simulation_matches_theory(case):
    mean, half = confidence_interval(_replicate(case))
    assert abs(mean - case.theory) <= half, f"{case.name}: simulated {mean:.4f} ± {half:.4f}, theory {case.theory:.4f}"
    assert half < 0.05 * abs(case.theory) + 0.005, f"{case.name}: interval too wide to mean anything (± {half:.4f})"


def test_reference_values_of_the_issue():
    """The closed forms used above give the textbook numbers."""
    assert theory.mm1(0.8, 1.0).W == pytest.approx(5.0)
    assert theory.mmc(3.2, 1.0, 4).W == pytest.approx(1.7455, abs=1e-4)
    assert theory.mmc(3.2, 1.0, 4).p_wait == pytest.approx(0.596, abs=1e-3)
    assert theory.mg1(0.8, 1.0, 0.0).Wq == pytest.approx(2.0)
    assert theory.mm1_speed(3.2, 1.0, 4).W == pytest.approx(1.25)


def test_littles_law_on_the_timeline():
    """L (time-average of jobs in the system, sampled live) = lambda * W."""
    wl = mqlb.make_workload(mqlb.Poisson(3.2), mqlb.Exponential(1.0), n_jobs=JOBS, seed=7)
    res = mqlb.simulate(MessageQueue(consumers=[Server()] * 4), wl, sample_every=0.05)
    t = res.timeline
    inside = t.time <= wl.arrival[-1]
    L = t.in_system[inside].mean()
    r = res.records
    lam = len(wl) / wl.arrival[-1]
    W = float((r["end"] - r["arrival"]).mean())
    assert L == pytest.approx(lam * W, rel=0.02)
    assert L == pytest.approx(theory.mmc(3.2, 1.0, 4).L, rel=0.06)


def test_prefetch_one_broker_is_the_shared_queue():
    """An MQ with prefetch 1 and no broker latency is one FCFS queue for all
    consumers: the same job stream gets exactly the response times of a
    balancer that queues every request centrally (maxconn 1 + queue)."""
    wl = mqlb.make_workload(mqlb.Poisson(3.2), mqlb.Exponential(1.0), n_jobs=20_000, seed=3)
    mq = mqlb.simulate(MessageQueue(consumers=[Server()] * 4, prefetch=1), wl)
    central = mqlb.simulate(LoadBalancer([Server()] * 4, max_conns=1, on_full="queue"), wl)
    np.testing.assert_allclose(mq.records["end"], central.records["end"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(mq.records["start"], central.records["start"], rtol=0, atol=1e-9)


def test_power_of_two_choices_beats_random_and_approaches_the_supermarket_model():
    """Two random choices cut the mean response far below random assignment
    (Mitzenmacher 2001); with 50 servers it is close to the n → ∞ value."""
    servers = [Server()] * 50
    wl = mqlb.make_workload(mqlb.Poisson(0.9 * 50), mqlb.Exponential(1.0), n_jobs=100_000, seed=11)
    two = mean_response(mqlb.simulate(LoadBalancer(servers, policy="power_of_two"), wl))
    rnd = mean_response(mqlb.simulate(LoadBalancer(servers, policy="random"), wl))
    assert rnd == pytest.approx(theory.mm1(0.9, 1.0).W, rel=0.15)
    assert two == pytest.approx(theory.supermarket(0.9, 2), rel=0.1)
    assert two < rnd / 2


if __name__ == "__main__":
    print(f"{'case':68s} {'theory':>8s} {'simulated':>10s} {'± 99% CI':>9s}")
    for case in CASES:
        mean, half = confidence_interval(_replicate(case))
        print(f"{case.name:68s} {case.theory:8.4f} {mean:10.4f} {half:9.4f}")
