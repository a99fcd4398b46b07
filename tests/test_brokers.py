"""Other brokers from the model's parts (mqlb.brokers): a partitioned log (Kafka)
and the visibility timeout of a polled queue (SQS)."""
from __future__ import annotations

import numpy as np
import pytest

import mqlb
from mqlb import brokers, fastpath, theory


def test_partitioned_log_mean_wait_matches_mg1_per_partition():
    """Random keys split a Poisson stream into independent Poisson streams, one per
    partition, each an M/M/1 queue: the mean wait is Pollaczek-Khinchine's,
    weighted by each partition's share of the jobs. 60 000 jobs at a load of 0.7:
    across seeds the simulated mean lies within about 3 % of it; 8 % leaves room
    without hiding a wrong split (a hash that deals keys out round robin, as CRC-32
    does for consecutive numbers, gives 40 % less)."""
    partitions, rho, mean = 4, 0.7, 0.1
    lam = rho * partitions / mean
    wl = mqlb.make_workload(mqlb.Poisson(rate=lam), mqlb.Exponential(mean), n_jobs=60_000, seed=2)
    kw = brokers.keyed(wl, partitions)
    res = mqlb.simulate(brokers.partitioned_log(partitions), kw, seed=1)
    r = res.records
    assert res.summary().completed == len(wl)
    share = np.bincount(kw.kind, minlength=partitions) / len(kw)
    expected = sum(s * theory.mg1(lam * s, mean, 1.0).Wq for s in share)
    assert np.mean(r["start"] - r["arrival"]) == pytest.approx(expected, rel=0.08)


def test_a_heavy_message_blocks_its_partition_not_a_shared_queue():
    """Same job stream, 5 % heavy jobs of 0.5 s among 10 ms ones, load 0.5 on 8
    consumers: behind a heavy job every later message of its partition waits;
    a shared queue (prefetch 1, the same 8 consumers) sends them to idle consumers."""
    partitions = 8
    classes = [mqlb.JobClass("light", mqlb.Deterministic(0.01), share=0.95),
               mqlb.JobClass("heavy", mqlb.Deterministic(0.5), share=0.05)]
    lam = 0.5 * partitions / (0.95 * 0.01 + 0.05 * 0.5)
    wl = mqlb.make_workload(mqlb.Poisson(rate=lam), classes=classes, n_jobs=10_000, seed=3)
    log = mqlb.simulate(brokers.partitioned_log(partitions), brokers.keyed(wl, partitions), seed=1)
    shared = mqlb.simulate(mqlb.MessageQueue(consumers=[mqlb.Server(slots=1)] * partitions, prefetch=1),
                           wl, seed=1)
    light = wl.kind == wl.kinds.index("light")
    p99 = {name: np.percentile((res.records["end"] - res.records["arrival"])[light], 99)
           for name, res in (("log", log), ("shared", shared))}
    assert p99["log"] > 0.25 > 0.05 > p99["shared"]
    # within a partition, service is first in, first out
    r = log.records
    for p in range(partitions):
        mine = r[r["queue"] == p]
        assert np.all(np.diff(mine["start"][np.argsort(mine["arrival"], kind="stable")]) >= 0)


def test_keyed_keeps_the_job_stream_and_a_key_keeps_its_partition():
    wl = mqlb.make_workload(mqlb.Poisson(rate=5), mqlb.Exponential(0.1), n_jobs=500, seed=1)
    keys = [f"customer-{i % 7}" for i in range(len(wl))]
    kw = brokers.keyed(wl, 3, keys)
    assert np.array_equal(kw.arrival, wl.arrival) and np.array_equal(kw.size, wl.size)
    assert kw.kinds == ("p0", "p1", "p2")
    for i in range(7):
        assert len(set(kw.kind[i::7])) == 1          # one key, one partition
    assert np.array_equal(brokers.partition_of(keys, 3), kw.kind)


def test_partitioned_log_takes_the_event_engine_and_ends_every_job_once():
    wl = mqlb.make_workload(mqlb.Poisson(rate=30), mqlb.Exponential(0.1), n_jobs=300, seed=4)
    kw = brokers.keyed(wl, 4)
    assert fastpath.why_not(brokers.partitioned_log(4), kw, mqlb.Client())
    res = mqlb.simulate(brokers.partitioned_log(4), kw, client=mqlb.Client(timeout=0.5), seed=1)
    assert len(res.records) == len(wl)
    assert sorted(res.records["id"]) == list(range(len(wl)))
    counts = res.outcome_counts()
    assert counts["completed"] + counts["timed_out"] == len(wl) and counts["timed_out"] > 0


def test_visibility_expiries_count_whole_timeouts_passed_while_working():
    wl = mqlb.Workload(np.array([0.0, 0.0, 0.0]), np.array([10.0, 45.0, 95.0]), np.zeros(3),
                       np.zeros(3, dtype=np.int16))
    res = mqlb.simulate(mqlb.MessageQueue(consumers=[mqlb.Server(slots=1)] * 3), wl, seed=1)
    assert list(brokers.visibility_expiries(res, 30.0)) == [0, 1, 3]
    assert list(brokers.visibility_expiries(res, 30.0 * 4)) == [0, 0, 0]
    assert list(brokers.visibility_expiries(res, 10.0)) == [0, 4, 9]


def test_a_visibility_timeout_must_be_positive():
    """The other bad inputs of mqlb.brokers are cases in test_bad_input.py."""
    wl = mqlb.make_workload(mqlb.Poisson(rate=5), mqlb.Exponential(0.1), n_jobs=5, seed=1)
    res = mqlb.simulate(brokers.partitioned_log(1), brokers.keyed(wl, 1))
    with pytest.raises(ValueError, match="visibility_timeout must be a finite number > 0, got 0"):
        brokers.visibility_expiries(res, 0)
