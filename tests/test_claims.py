"""The verdicts on the post's claims: every rule can fail.

Three layers:

1. Each rule on made-up replications, one per branch, so every verdict a rule
   can give (holds, holds with nuance, does not hold, within noise) is shown to
   be reachable: a rule that gave the same verdict for every input fails here.
2. Each claim on a real counter-configuration, where the claim must not hold
   (C1 with unlimited prefetch and small memory; C2 and C3 with broker hops of
   zero; C4 in a surge the servers can hold; C5 with evenly sized jobs only;
   C6 at a load the pool handles): the verdict must flip from the book's.
3. The intervals themselves.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mqlb import claims
from mqlb.claims import (CoupledSetting, Estimate, LightSetting, ScaleSetting, SurgeSetting, _judge_c1, _judge_c2,
                         _judge_c3, _judge_c4, _judge_c5, _judge_c6)

SEEDS = 10


# ---- 1. every branch of every rule, on made-up replications --------------------------------------------

def noisy(mean, spread, n=SEEDS, seed=0):
    """n samples around ``mean`` (spread 0: all equal)."""
    return mean + spread * np.random.default_rng(seed).standard_normal(n)


def surge_reps(push, capped, mq1, mq4, spread=0.0):
    names = ["LB push", "LB, maxconn 4 + queue", "MQ, prefetch 1", "MQ, prefetch 4"]
    cols = [np.clip(noisy(m, spread, seed=i), 0, 1) for i, m in enumerate((push, capped, mq1, mq4))]
    return [{n: {"heavy_failed": float(c[k])} for n, c in zip(names, cols)} for k in range(SEEDS)]


@pytest.mark.parametrize("push, capped, mq, spread, c1, c4", [
    (0.30, 0.20, 0.00, 0.0, "holds", "holds"),
    (0.30, 0.00, 0.00, 0.0, "holds with nuance", "holds with nuance"),
    (0.00, 0.00, 0.00, 0.0, "holds with nuance", "does not hold"),
    (0.30, 0.00, 0.20, 0.0, "does not hold", "holds with nuance"),
    (0.30, 0.01, 0.01, 0.01, "within noise", "within noise"),
])
def test_surge_rules_reach_every_verdict(push, capped, mq, spread, c1, c4):
    reps = surge_reps(push, capped, mq, mq, spread)
    assert _judge_c1(reps, SurgeSetting(), SEEDS).verdict == c1
    assert _judge_c4(reps, SurgeSetting(), SEEDS).verdict == c4


def light_reps(ratios, spread=0.0):
    """p99 of 1 s for every balancer; the queues' p99 is ``ratio`` times that, per size."""
    sizes = LightSetting().sizes_ms
    reps = []
    for k in range(SEEDS):
        out = {}
        for size, r in zip(sizes, ratios):
            mq = float(r + spread * np.random.default_rng(int(size * 10) + k).standard_normal())
            out[size] = {"LB round robin": 1.2, "LB least connections": 1.0, "LB, maxconn 1 + queue": 1.0,
                         "MQ, prefetch 1": mq, "MQ, prefetch 4": mq + 0.5}
        reps.append(out)
    return reps


@pytest.mark.parametrize("ratios, spread, c2, c3", [
    ((1.6, 1.5, 1.4, 1.3, 1.2, 1.2), 0.0, "holds", "holds"),
    ((1.6, 1.5, 1.4, 1.15, 1.05, 1.0), 0.0, "holds with nuance", "holds"),
    ((1.6, 1.5, 1.05, 1.0, 1.0, 1.0), 0.0, "holds with nuance", "holds with nuance"),
    ((0.9, 0.9, 0.9, 0.9, 0.9, 0.9), 0.0, "does not hold", "does not hold"),
    ((1.1, 1.1, 1.1, 1.1, 1.1, 1.1), 0.05, "within noise", "within noise"),
])
def test_light_rules_reach_every_verdict(ratios, spread, c2, c3):
    reps = light_reps(ratios, spread)
    assert _judge_c2(reps, LightSetting(), SEEDS).verdict == c2
    assert _judge_c3(reps, LightSetting(), SEEDS).verdict == c3


def test_light_rules_compare_the_best_settings_of_both_sides():
    """The balancer side is judged at its best setting (here least connections, not round robin),
    the queue side at its better prefetch, and the verdict names them."""
    v = _judge_c2(light_reps((1.6, 1.5, 1.4, 1.3, 1.2, 1.2)), LightSetting(), SEEDS)
    assert "LB least connections" in v.judged_against and "MQ, prefetch 1" in v.judged_against
    assert v.quantities["p99 queue / balancer, 2 ms jobs"].estimate.mean == pytest.approx(1.6)


def scale_reps(r1, r20, spread=0.0):
    return [{1.0: {"up": 1.0, "out": float(r1 + spread * np.random.default_rng(k).standard_normal())},
             20.0: {"up": 1.0, "out": float(r20 + spread * np.random.default_rng(50 + k).standard_normal())}}
            for k in range(SEEDS)]


@pytest.mark.parametrize("r1, r20, spread, verdict", [
    (1.0, 1.0, 0.0, "holds"),
    (1.6, 0.6, 0.0, "holds with nuance"),
    (1.6, 1.3, 0.0, "does not hold"),
    (1.6, 1.0, 0.0, "does not hold"),
    (1.1, 0.6, 0.1, "within noise"),
])
def test_scale_rule_reaches_every_verdict(r1, r20, spread, verdict):
    assert _judge_c5(scale_reps(r1, r20, spread), ScaleSetting(), SEEDS).verdict == verdict


def coupled_reps(direct_naive, direct_bounded, broker_naive, broker_bounded, spread=0.0):
    names = ["direct, unbounded backlog", "direct, backlog 50", "broker, unbounded queue",
             "broker, max-length 50, reject-publish"]
    cols = [np.clip(noisy(m, spread, seed=i), 0, 1)
            for i, m in enumerate((direct_naive, direct_bounded, broker_naive, broker_bounded))]
    return [{n: float(c[k]) for n, c in zip(names, cols)} for k in range(SEEDS)]


@pytest.mark.parametrize("shares, spread, verdict", [
    ((0.2, 0.5, 0.2, 0.95), 0.0, "holds"),
    ((0.2, 0.95, 0.2, 0.95), 0.0, "holds with nuance"),
    ((0.95, 0.95, 0.2, 0.95), 0.0, "does not hold"),
    ((0.2, 0.95, 0.2, 0.6), 0.0, "does not hold"),
    ((0.8, 0.8, 0.8, 0.8), 0.05, "within noise"),
])
def test_coupled_rule_reaches_every_verdict(shares, spread, verdict):
    assert _judge_c6(coupled_reps(*shares, spread=spread), CoupledSetting(), SEEDS).verdict == verdict


# ---- 2. the book's settings against counter-configurations, on real runs --------------------------------

@pytest.fixture(scope="module")
def book():
    return claims.judge_all()


COUNTER = {
    # a queue without a prefetch limit on machines that hold two heavy jobs
    "C1": SurgeSetting(mq_prefetches=(None,), server_memory_mb=1000.0),
    # a broker as quick as the balancer: no hop costs anything
    "C2": LightSetting(hop_s=0.0, sizes_ms=(2.0, 100.0)),
    "C3": LightSetting(hop_s=0.0, sizes_ms=(2.0, 100.0)),
    # a surge the servers can hold: below capacity, with room for every job
    "C4": SurgeSetting(peak=12.0, server_memory_mb=20000.0),
    # only evenly sized jobs: one fast server wins everywhere
    "C5": ScaleSetting(c2s=(0.0, 1.0)),
    # a load the pool handles
    "C6": CoupledSetting(load=0.6),
}


@pytest.mark.slow
@pytest.mark.parametrize("claim", sorted(COUNTER))
def test_counter_configuration_flips_the_verdict(book, claim):
    counter = claims.judge(claim, COUNTER[claim])
    assert counter.verdict == "does not hold", (claim, counter.reason)
    assert book[claim].verdict != counter.verdict, (claim, book[claim].reason)


def test_every_book_verdict_rests_on_ten_seeds_with_intervals(book):
    for v in book.values():
        assert v.verdict in claims.VERDICTS
        assert v.seeds >= 10 and v.quantities
        for q in v.quantities.values():
            e = q.estimate
            assert e.n >= 10 and e.low <= e.mean <= e.high


def test_the_table_names_every_claim_and_setting(book):
    table = claims.markdown_table(book)
    for c, v in book.items():
        assert f"**{c}**" in table and v.verdict in table and v.judged_against in table
    assert not re.search(r"(?<![\w.])[-−]0(\.0+)?(?![\d.])", table)      # no "-0" anywhere


# ---- 3. intervals and input checks ---------------------------------------------------------------------

def test_interval_matches_students_t():
    x = [1.0, 2.0, 3.0, 4.0]
    e = Estimate.of(x)
    half = 3.182446305284263 * np.std(x, ddof=1) / 2            # t(0.975, 3) * s / sqrt(4)
    assert e.mean == 2.5 and math.isclose(e.high - e.mean, half) and math.isclose(e.mean - e.low, half)


def test_interval_coverage_is_about_95_percent():
    rng = np.random.default_rng(3)
    hits = sum(Estimate.of(rng.normal(5.0, 2.0, 10)).side(5.0) == 0 for _ in range(2000))
    assert 0.93 < hits / 2000 < 0.97


def test_side_and_text():
    e = Estimate(1.0, 0.9, 1.1, 10)
    assert (e.side(0.8), e.side(1.1), e.side(1.0)) == (1, -1, 0)
    assert Estimate(-0.0001, -0.0002, 0.0, 10).text(100, 1) == "0.0"
    assert Estimate(0.5, 0.4, 0.6, 10).text(100, 0, "%") == "50 (40 – 60) %"
    assert Estimate.of([0.99, 1.0, 1.0], claims.SHARE).high == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: claims.judge("C7"), "claim"),
    (lambda: claims.judge("C1", LightSetting()), "settings"),
    (lambda: claims.judge("C1", seeds=1), "seeds"),
    (lambda: Estimate.of([1.0]), "samples"),
    (lambda: LightSetting(load=1.2), "load"),
    (lambda: LightSetting(sizes_ms=(10.0, 2.0)), "sizes_ms"),
    (lambda: SurgeSetting(mq_prefetches=()), "mq_prefetches"),
])
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
