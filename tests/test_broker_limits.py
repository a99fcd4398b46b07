"""The broker's own limits (memory alarm, persistent writes), early acks and the
Celery presets, asynchronous request-reply polling: hand-computed cases and theory."""

import math

import numpy as np
import pytest

import mqlb
from mqlb import Broker, Client, MessageQueue, Queue, Server, asyncreply, fastpath, measures, presets
from mqlb.result import OUTCOMES

OUT = {name: i for i, name in enumerate(OUTCOMES)}
# Room for exactly two 1 KB messages: high_watermark × memory = 2 KB.
TWO = Broker(memory_mb=2 / 1024, high_watermark=1.0, message_kb=1.0)


def _steady(n=6, size=2.4):
    """Arrivals at 1, 2, ..., n s, every job ``size`` s of work (no ties with the finishes)."""
    return mqlb.make_workload(mqlb.Constant(rate=1.0), mqlb.Deterministic(size), n_jobs=n, seed=0)


def test_message_room_is_the_watermark_over_the_message_size():
    assert TWO.message_room == 2
    assert Broker(memory_mb=1024, message_kb=1024).message_room == math.ceil(0.4 * 1024)   # 409.6 → 410
    assert Broker().message_room == math.inf


def test_publishing_blocks_and_resumes_at_the_hand_computed_times():
    """One consumer (prefetch 1), room for two messages, a job every second, 2.4 s each.
    By hand: t=1 job 0 held (1) and served to 3.4; t=2 job 1 held (2); t=3 job 2 blocked;
    t=3.4 job 0 acked (1) → job 2 admitted (2), alarm over; t=4, 5, 6 jobs 3, 4, 5 blocked; each
    ack at 5.8, 8.2, 10.6 admits one, the last at 10.6. Blocking keeps the order: ends 3.4 + 2.4 k."""
    res = mqlb.simulate(MessageQueue(consumers=[Server()], broker=TWO), _steady())
    assert res.engine == "events"
    np.testing.assert_allclose(np.array(res.publish_blocked), [[3.0, 3.4], [4.0, 10.6]], rtol=1e-12)
    np.testing.assert_allclose(res.records["end"], 3.4 + 2.4 * np.arange(6), rtol=1e-12)
    assert measures.blocked_publishes(res) == 4          # jobs 2, 3, 4, 5


def test_blocked_clients_time_out_and_a_gone_client_withdraws_its_publish():
    """Same case, clients wait 4.5 s. By hand: job 2 (deadline 7.5) served 5.8–8.2: timed out at 7.5;
    job 3 (8.5) served 8.2–10.6: timed out at 8.5; job 4 (9.5) admitted at 8.2, starts at 10.6
    after its client left; job 5 (10.5) still blocked at 10.6: withdrawn, no work done."""
    res = mqlb.simulate(MessageQueue(consumers=[Server()], broker=TWO), _steady(), client=Client(timeout=4.5))
    r = res.records
    assert r["outcome"].tolist() == [OUT["completed"]] * 2 + [OUT["timed_out"]] * 4
    np.testing.assert_allclose(r["end"], [3.4, 5.8, 7.5, 8.5, 9.5, 10.5], rtol=1e-12)
    np.testing.assert_allclose(r["work"], [2.4] * 5 + [0.0])
    np.testing.assert_allclose(np.array(res.publish_blocked), [[3.0, 3.4], [4.0, 10.6]], rtol=1e-12)


def test_a_budget_never_reached_changes_nothing():
    wl = mqlb.make_workload(mqlb.Poisson(rate=3.0), mqlb.Exponential(1.0), n_jobs=300, seed=2)
    plain = mqlb.simulate(MessageQueue(consumers=[Server()] * 4), wl, engine="events")
    roomy = mqlb.simulate(MessageQueue(consumers=[Server()] * 4, broker=Broker(memory_mb=1e6)), wl)
    assert roomy.engine == "events" and roomy.publish_blocked == ()
    assert plain.records.tobytes() == roomy.records.tobytes()


def test_the_alarm_blocks_every_queue_not_only_the_full_one():
    """RabbitMQ blocks all publishing connections: a backlog of heavy jobs stops light ones too."""
    heavy = mqlb.JobClass("heavy", mqlb.Deterministic(5.0), share=0.5)
    light = mqlb.JobClass("light", mqlb.Deterministic(0.01), share=0.5)
    wl = mqlb.make_workload(mqlb.Constant(rate=4.0), classes=[heavy, light], n_jobs=200, seed=1)
    queues = [Queue("heavy", [Server()], bindings=["heavy"]), Queue("light", [Server()], bindings=["light"])]
    free = mqlb.simulate(MessageQueue(queues=queues), wl)
    tight = mqlb.simulate(MessageQueue(queues=queues, broker=Broker(memory_mb=10 / 1024, message_kb=1.0)), wl)
    assert free.summary(kind="light").p99_response < 0.05
    assert tight.publish_blocked and tight.summary(kind="light").p50_response > 10


def test_persistent_writes_take_turns_on_one_disk():
    """Three publishes at 1, 2, 3 s, 1.5 s to write each: written at 2.5, 4.0, 5.5; a 0.25 s job
    then ends 0.25 s later."""
    wl = _steady(n=3, size=0.25)
    res = mqlb.simulate(MessageQueue(consumers=[Server()], broker=Broker(persistent_write_s=1.5)), wl)
    np.testing.assert_allclose(res.records["start"], [2.5, 4.0, 5.5], rtol=1e-12)
    np.testing.assert_allclose(res.records["end"], [2.75, 4.25, 5.75], rtol=1e-12)


# -- early acks and the Celery presets ---------------------------------------------------------

def test_presets_are_celerys_numbers():
    d, c = presets.celery_default(workers=3, processes=2), presets.careful(workers=3, processes=2)
    assert (d.queues[0].prefetch, d.queues[0].ack) == (8, "early")
    assert (c.queues[0].prefetch, c.queues[0].ack) == (2, "late")
    assert all(s.slots == 2 for s in d.queues[0].consumers) and len(d.queues[0].consumers) == 3


def test_a_crash_loses_what_was_acked_early_and_requeues_the_rest():
    """One worker process, prefetch 4, five jobs of 10 s at t = 1..5: at t = 12 the worker runs
    job 1 (acked when it started at 11) and holds jobs 2, 3, 4 unacked. Killed: job 1 is lost;
    jobs 2–4 go back to the queue; job 0 had finished."""
    wl = _steady(n=5, size=10.0)
    early = mqlb.simulate(presets.celery_default(workers=1), wl, failures=[(12.0, 0)])
    late = mqlb.simulate(MessageQueue(consumers=[Server()], prefetch=4), wl, failures=[(12.0, 0)])
    assert early.records["outcome"].tolist() == [OUT["completed"], OUT["lost"]] + [OUT["completed"]] * 3
    assert early.records["deliveries"].tolist() == [1, 1, 2, 2, 2]
    assert late.outcome_counts()["lost"] == 0 and late.records["deliveries"].tolist() == [1, 2, 2, 2, 2]


def test_early_acks_let_a_consumer_hold_prefetch_plus_what_it_runs():
    wl = mqlb.make_workload(mqlb.Constant(rate=10.0), mqlb.Deterministic(5.0), n_jobs=20, seed=0)
    early = mqlb.simulate(MessageQueue(consumers=[Server()], prefetch=4, ack="early"), wl, sample_every=0.5)
    late = mqlb.simulate(MessageQueue(consumers=[Server()], prefetch=4, ack="late"), wl, sample_every=0.5)
    assert early.timeline.in_flight.max() == 5 and late.timeline.in_flight.max() == 4


def test_light_jobs_wait_behind_a_heavy_one_in_the_prefetch_buffer():
    """Two workers, one process each. A 30 s job, then light 0.1 s jobs: with Celery's prefetch 4 the
    worker running the heavy job has reserved light jobs that wait for it while the other worker idles;
    with prefetch 1 nothing waits behind it."""
    sizes = [30.0] + [0.1] * 9
    arrival = 0.01 * np.arange(1, 11)
    wl = mqlb.Workload(arrival, np.array(sizes), np.zeros(10), np.zeros(10, dtype=np.int16), ("job",))
    default = mqlb.simulate(presets.celery_default(workers=2), wl)
    careful = mqlb.simulate(presets.careful(workers=2), wl)
    light = slice(1, None)
    stuck = (default.records["end"][light] > 30).sum()
    assert stuck >= 3 and (careful.records["end"][light] < 5).all()


# -- asynchronous request-reply --------------------------------------------------------------

def test_polling_costs_half_an_interval_and_response_over_interval_plus_one_polls():
    """Random phase: extra latency is uniform on [0, poll_s): mean poll_s / 2, standard error
    poll_s / sqrt(12 n); polls per job average R / poll_s + 1 given R. n = 4000 jobs: 5 standard
    errors is 1.1 % of poll_s."""
    wl = mqlb.make_workload(mqlb.Poisson(rate=3.2), mqlb.Exponential(1.0), n_jobs=4000, seed=4)
    res = mqlb.simulate(MessageQueue(consumers=[Server()] * 4), wl)
    for poll in (0.5, 2.0, 10.0):
        p = asyncreply.polling(res, poll, seed=1)
        n = len(p.ready)
        assert (p.extra_latency >= 0).all() and (p.extra_latency < poll).all()
        assert abs(p.mean_extra - p.expected_extra) < 5 * poll / math.sqrt(12 * n)
        assert abs(p.mean_polls - p.expected_polls) < 5 * 0.5 / math.sqrt(n) + 1e-12   # sd of polls | R <= 1/2
    fixed = asyncreply.polling(res, 1e-3, seed=1)   # polling fast sees the answer almost at once
    assert fixed.mean_extra < 1e-3


# -- the fast path declines what it does not model ---------------------------------------------

@pytest.mark.parametrize("system, words", [
    (MessageQueue(consumers=[Server()], broker=Broker(memory_mb=100)), "memory limit"),
    (MessageQueue(consumers=[Server()], broker=Broker(persistent_write_s=0.01)), "persistent"),
    (MessageQueue(consumers=[Server()], ack="early"), "early"),
])
def test_fastpath_declines_broker_limits_and_early_acks(system, words):
    wl = _steady()
    reason = fastpath.why_not(system, wl, Client())
    assert reason is not None and words in reason
    assert mqlb.simulate(system, wl).engine == "events"
    with pytest.raises(ValueError, match=words):
        mqlb.simulate(system, wl, engine="recursion")
