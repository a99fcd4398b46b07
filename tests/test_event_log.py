"""Exact event logs of tiny scenarios, worked out by hand.

Each test states the story in its docstring; the asserted times follow from it.
"""

import math

import numpy as np
import pytest

import mqlb
from mqlb import Broker, Client, LoadBalancer, MessageQueue, Queue, Server, simulate


def jobs(times, sizes, memory=0.0):
    """A workload with explicit arrival times (s) and sizes (s of work)."""
    classes = [mqlb.JobClass("job", mqlb.Deterministic(1.0), memory)]
    wl = mqlb.make_workload(times, classes=classes, seed=0)
    return mqlb.Workload(wl.arrival, np.asarray(sizes, float), wl.memory_mb.copy(), wl.kind.copy(), wl.kinds)


def log(result, *fields):
    return [tuple(None if isinstance(v, float) and math.isnan(v) else
                  (round(float(v), 9) if isinstance(v, (float, np.floating)) else
                   (mqlb.OUTCOMES[v] if f == "outcome" else int(v)))
                  for f, v in zip(fields, (r[f] for f in fields)))
            for r in result.records]


def test_one_server_fcfs():
    """Jobs of 2 s arrive at 0, 1, 2 on one server: they queue and leave at 2, 4, 6."""
    r = simulate(LoadBalancer([Server()]), jobs([0, 1, 2], [2, 2, 2]))
    assert log(r, "start", "end", "server", "outcome") == [
        (0, 2, 0, "completed"), (2, 4, 0, "completed"), (4, 6, 0, "completed")]


def test_round_robin_two_servers():
    """Round robin alternates servers whatever their load: the third job waits
    on server 0 although server 1 will be free sooner or later."""
    r = simulate(LoadBalancer([Server(), Server()], policy="round_robin"), jobs([0, 0.5, 1, 1.5], [1.5] * 4))
    assert log(r, "start", "end", "server") == [(0, 1.5, 0), (0.5, 2, 1), (1.5, 3, 0), (2, 3.5, 1)]


def test_least_connections_prefers_idle_server():
    """Job 2 arrives when server 0 holds one job and server 1 none."""
    r = simulate(LoadBalancer([Server(), Server()], policy="least_connections"), jobs([0, 0.1, 0.2], [1, 0.05, 1]))
    assert log(r, "server") == [(0,), (1,), (1,)]


def test_broker_hops_and_prefetch_one():
    """Three 1 s jobs at t=0, two consumers with prefetch 1. Publish 0.01 s,
    deliver 0.1 s, ack 0.2 s, reply 0.05 s. The third message waits until the
    first consumer's ack reaches the broker at 1.31, then travels 0.1 s."""
    mq = MessageQueue(consumers=[Server(), Server()], prefetch=1,
                      broker=Broker(publish_latency=0.01, deliver_latency=0.1, ack_latency=0.2, reply_latency=0.05))
    r = simulate(mq, jobs([0, 0, 0], [1, 1, 1]))
    assert log(r, "start", "done", "end", "server") == [
        (0.11, 1.11, 1.16, 0), (0.11, 1.11, 1.16, 1), (1.41, 2.41, 2.46, 0)]


def test_unlimited_prefetch_deals_round_robin():
    """Without a prefetch limit the broker deals messages out in turn: the long
    job's consumer gets every other message and they wait behind it."""
    r = simulate(MessageQueue(consumers=[Server(), Server()], prefetch=None), jobs([0, 0.1, 0.2, 0.3], [10, 0.1, 0.1, 0.1]))
    assert log(r, "server", "start") == [(0, 0), (1, 0.1), (0, 10), (1, 0.3)]
    r1 = simulate(MessageQueue(consumers=[Server(), Server()], prefetch=1), jobs([0, 0.1, 0.2, 0.3], [10, 0.1, 0.1, 0.1]))
    assert log(r1, "server", "start") == [(0, 0), (1, 0.1), (1, 0.2), (1, 0.3)]


def test_out_of_memory_crash_loses_pushed_jobs():
    """A 100 MB server gets two 60 MB jobs: at 0.5 s it runs out of memory and
    loses both; it is down for 5 s, so the job at 1 s is rejected."""
    lb = LoadBalancer([Server(slots=None, memory_mb=100, restart_s=5)])
    r = simulate(lb, jobs([0, 0.5, 1.0, 6.0], [2, 2, 2, 1], memory=60))
    assert log(r, "end", "outcome", "work") == [
        (0.5, "lost", 0.5), (0.5, "lost", 0), (1.0, "rejected", 0), (7.0, "completed", 1)]
    assert r.timeline.crashes.tolist() == [(0.5, 0)]
    assert r.servers.crashes.tolist() == [1]


def test_consumer_crash_requeues_unacked_messages():
    """Consumer A (2 slots) and B (1 slot), 100 MB each, prefetch 2; 60 MB jobs
    of 2 s at 0, 0.1, 0.2. A takes messages 0 and 2 and crashes at 0.2; both go
    back to the queue. B (one credit left) takes message 0 and runs it after
    message 1 (2.1 → 4.1); A restarts at 1.2 and runs message 2 (1.2 → 3.2)."""
    mq = MessageQueue(consumers=[Server(slots=2, memory_mb=100, restart_s=1), Server(memory_mb=100)], prefetch=2)
    r = simulate(mq, jobs([0, 0.1, 0.2], [2, 2, 2], memory=60))
    assert log(r, "server", "start", "end", "starts", "outcome", "work") == [
        (1, 2.1, 4.1, 2, "completed", 2.2), (1, 0.1, 2.1, 1, "completed", 2), (0, 1.2, 3.2, 2, "completed", 2)]
    assert r.summary().redelivered == 2
    assert r.summary().wasted_work == pytest.approx(0.2)


def test_delivery_limit_dead_letters_a_poison_message():
    """A 200 MB message crashes every 100 MB consumer; after 3 deliveries it is dead-lettered."""
    wl = jobs([0, 0.5], [1, 1])
    poison = mqlb.Workload(wl.arrival, wl.size.copy(), np.array([200.0, 10.0]), wl.kind.copy(), wl.kinds)
    mq = MessageQueue(consumers=[Server(memory_mb=100, restart_s=1)], delivery_limit=3)
    r = simulate(mq, poison)
    assert log(r, "outcome", "starts") == [("dead_lettered", 3), ("completed", 1)]
    with pytest.raises(ValueError, match="delivery_limit"):
        simulate(MessageQueue(consumers=[Server(memory_mb=100)]), poison)


def test_haproxy_queue_and_queue_timeout():
    """maxconn 1 with a queue: the second job waits for the first; the third
    waits 1.5 s in the balancer and gets a 503 (timed out)."""
    lb = LoadBalancer([Server()], max_conns=1, on_full="queue", queue_timeout=1.5)
    r = simulate(lb, jobs([0, 0, 0], [1, 1, 1]))
    assert log(r, "start", "end", "outcome") == [(0, 1, "completed"), (1, 2, "completed"), (None, 1.5, "timed_out")]


def test_nginx_max_conns_rejects_at_once():
    lb = LoadBalancer([Server()], max_conns=1, on_full="reject")
    r = simulate(lb, jobs([0, 0, 0], [1, 1, 1]))
    assert log(r, "end", "outcome") == [(1, "completed"), (0, "rejected"), (0, "rejected")]


def test_client_timeout_wastes_the_work():
    """The second job's answer would come at 4 s; its client gave up at 3 s,
    but the server still did its 2 s of work. The record keeps the start (2 s,
    before the client gave up), not the finish after it (the rule retries=1
    follows too: test_properties checks it on random configurations)."""
    r = simulate(LoadBalancer([Server()]), jobs([0, 0], [2, 2]), client=Client(timeout=3))
    assert log(r, "start", "done", "end", "outcome", "work") == [(0, 2, 2, "completed", 2), (2, None, 3, "timed_out", 2)]
    assert r.summary().wasted_work == pytest.approx(2)
    assert r.summary().throughput == pytest.approx(1 / 3)   # only the first job's service finished in time


def test_a_job_after_the_stop_time_is_not_sent():
    """The issue's repro: jobs arriving at 50 and 60 s, after until=10, were
    recorded as timed out at 3 s and counted in the system."""
    r = simulate(LoadBalancer([Server()]), jobs([1, 2, 50, 60], [0.5] * 4), client=Client(timeout=3), until=10)
    assert log(r, "end", "outcome", "attempts") == [(1.5, "completed", 1), (2.5, "completed", 1),
                                                    (None, "not_sent", 0), (None, "not_sent", 0)]
    s = r.summary()
    assert (s.jobs, s.completed, s.timed_out, s.in_system, s.not_sent) == (2, 2, 0, 0, 2)
    assert s.success_rate == 1.0 and s.span == pytest.approx(1.5)


def test_retry_with_backoff():
    """Rejected at 0, retried 0.5 s later while the server is still busy:
    rejected again, and the client stops after its one retry."""
    lb = LoadBalancer([Server()], max_conns=1)
    r = simulate(lb, jobs([0, 0], [1, 1]), client=Client(retries=1, backoff=0.5))
    assert log(r, "end", "outcome", "attempts") == [(1, "completed", 1), (0.5, "rejected", 2)]
    r = simulate(lb, jobs([0, 0], [1, 1]), client=Client(retries=1, backoff=1.5))
    assert log(r, "start", "end", "outcome", "attempts") == [(0, 1, "completed", 1), (1.5, 2.5, "completed", 2)]


def test_a_retried_job_reports_the_times_of_its_last_attempt():
    """Job 0's first attempt is done at 2.9 s, but the answer (0.2 s through the
    proxy) comes after the client's 3 s deadline; the retry sent at 3 waits for
    job 1 and starts at 3.95, and at 6 the client gives up on it too. Its record
    must describe that last attempt: started at 3.95, never done (not the first
    attempt's 2.9, which would come before its start)."""
    lb = LoadBalancer([Server()], latency=0.2)
    r = simulate(lb, jobs([0, 2.95], [2.9, 1.0]), client=Client(timeout=3, retries=1))
    assert log(r, "start", "done", "end", "outcome", "attempts") == [
        (3.95, None, 6, "timed_out", 2), (2.95, 3.95, 4.15, "completed", 1)]


def test_processor_sharing():
    """Job 0 (2 s) runs alone for 1 s, then shares the server with job 1
    (0.5 s) at half speed each: job 1 leaves at 2, job 0 at 2.5."""
    r = simulate(LoadBalancer([Server(slots=None, discipline="ps")]), jobs([0, 1], [2, 0.5]))
    assert log(r, "end") == [(2.5,), (2,)]


def test_polling_consumer_waits_for_its_next_poll():
    """A consumer polls every 1 s: a message published at 0.3 s starts at 1 s."""
    r = simulate(MessageQueue(consumers=[Server()], broker=Broker(poll_interval=1.0)), jobs([0.3], [0.1]))
    assert log(r, "start", "end") == [(1, 1.1)]


def test_fanout_copies_to_every_queue_and_direct_drops_unroutable():
    classes = [mqlb.JobClass("image", mqlb.Deterministic(1.0)), mqlb.JobClass("video", mqlb.Deterministic(1.0))]
    wl = mqlb.make_workload([0, 1, 2, 3], classes=classes, seed=7)
    queues = [Queue("thumbs", [Server()], bindings=["image"]), Queue("archive", [Server()], bindings=["video"])]
    fan = simulate(MessageQueue(queues=queues, exchange="fanout"), wl)
    assert len(fan.records) == 8 and fan.summary().completed == 8
    direct = simulate(MessageQueue(queues=queues[:1], exchange="direct"), wl)
    kinds = [wl.kinds[k] for k in wl.kind]
    assert [mqlb.OUTCOMES[o] for o in direct.records["outcome"]] == [
        "completed" if k == "image" else "lost" for k in kinds]


def test_topic_patterns():
    from mqlb.messagequeue import topic_matches
    assert topic_matches("video.*", "video.hd")
    assert not topic_matches("video.*", "video.hd.long")
    assert topic_matches("video.#", "video.hd.long") and topic_matches("video.#", "video")
    assert topic_matches("#", "anything.at.all") and topic_matches("*.hd", "video.hd")
    assert not topic_matches("image.*", "video.hd")


def test_queue_overflow():
    """Max length 1: with drop_head the older waiting message is dead-lettered,
    with reject_publish the newer one is refused."""
    wl = jobs([0, 0.1, 0.2], [1, 1, 1])
    drop = simulate(MessageQueue(consumers=[Server()], max_length=1, overflow="drop_head"), wl)
    assert log(drop, "outcome") == [("completed",), ("dead_lettered",), ("completed",)]
    rej = simulate(MessageQueue(consumers=[Server()], max_length=1, overflow="reject_publish"), wl)
    assert log(rej, "outcome") == [("completed",), ("completed",), ("rejected",)]


def test_stop_time_leaves_jobs_in_system():
    r = simulate(LoadBalancer([Server()]), jobs([0, 0, 0], [2, 2, 2]), until=3)
    assert log(r, "outcome") == [("completed",), ("in_system",), ("in_system",)]
    assert r.summary().in_system == 2


def test_injected_failure_of_a_consumer_redelivers():
    """Consumer 0 is killed at 0.5 s in the middle of a 1 s job; the message
    goes back to the queue and consumer 1 (free from 1 s) runs it 1 → 2."""
    mq = MessageQueue(consumers=[Server(restart_s=10), Server()], prefetch=1)
    r = simulate(mq, jobs([0, 0], [1, 1]), failures=[(0.5, 0)])
    assert log(r, "server", "start", "end", "starts", "work") == [(1, 1, 2, 2, 1.5), (1, 0, 1, 1, 1)]
    assert r.timeline.crashes.tolist() == [(0.5, 0)]


def test_injected_failure_behind_a_balancer_with_health_checks():
    """Server 0 dies at 0.5 s: its job is lost, and while it is down round robin
    sends everything to server 1."""
    lb = LoadBalancer([Server(restart_s=10), Server(slots=None)], policy="round_robin")
    r = simulate(lb, jobs([0, 1, 2, 3], [1, 0.5, 0.5, 0.5]), failures=[(0.5, 0)])
    assert log(r, "server", "outcome") == [(0, "lost"), (1, "completed"), (1, "completed"), (1, "completed")]
    off = simulate(LoadBalancer([Server(restart_s=10), Server(slots=None)], health_checks=False),
                   jobs([0, 1, 2, 3], [1, 0.5, 0.5, 0.5]), failures=[(0.5, 0)])
    assert log(off, "outcome") == [("lost",), ("completed",), ("rejected",), ("completed",)]


def test_injected_failure_of_a_processor_sharing_server_counts_partial_work():
    """Two 2 s jobs share a server from 0; killed at 1 s each has had 0.5 s of work."""
    r = simulate(LoadBalancer([Server(slots=None, discipline="ps")]), jobs([0, 0], [2, 2]), failures=[(1.0, 0)])
    assert log(r, "outcome", "work", "end") == [("lost", 0.5, 1), ("lost", 0.5, 1)]


def test_message_ttl_dead_letters_stale_messages():
    """TTL 1.5 s: the third message has waited 2 s when the consumer frees up."""
    r = simulate(MessageQueue(consumers=[Server()], message_ttl=1.5), jobs([0, 0, 0], [1, 1, 1]))
    assert log(r, "outcome", "end") == [("completed", 1), ("completed", 2), ("dead_lettered", 2)]


def test_balancer_queue_keeps_abandoned_requests_unless_abort_on_close():
    """Client timeout 1.5 s, maxconn 1: the second request leaves the queue at
    1 s after its client has... not yet gone (completed at 2 > 1.5: timed out);
    the third's client is gone when it would start at 2: served for nobody by
    default, dropped with abort_on_close."""
    wl = jobs([0, 0, 0], [1, 1, 1])
    keep = simulate(LoadBalancer([Server()], max_conns=1, on_full="queue"), wl, client=Client(timeout=1.5))
    assert log(keep, "outcome", "end", "work") == [("completed", 1, 1), ("timed_out", 1.5, 1), ("timed_out", 1.5, 1)]
    drop = simulate(LoadBalancer([Server()], max_conns=1, on_full="queue", abort_on_close=True), wl,
                    client=Client(timeout=1.5))
    assert log(drop, "outcome", "end", "work") == [("completed", 1, 1), ("timed_out", 1.5, 1), ("timed_out", 1.5, 0)]


def test_hybrid_sends_heavy_classes_to_the_broker():
    """API requests go to the balanced front, videos to the broker's workers."""
    classes = [mqlb.JobClass("api", mqlb.Deterministic(0.1)), mqlb.JobClass("video", mqlb.Deterministic(5.0))]
    wl = mqlb.make_workload([0, 0.5, 1, 1.5, 2, 2.5], classes=classes, seed=3)
    hybrid = mqlb.Hybrid(front=LoadBalancer([Server()]), back=MessageQueue(consumers=[Server()]), back_kinds=["video"])
    r = simulate(hybrid, wl)
    names = [wl.kinds[k] for k in wl.kind]
    assert r.queues == ("balancer", "jobs")
    assert [int(q) for q in r.records["queue"]] == [0 if n == "api" else 1 for n in names]
    assert [int(s) for s in r.records["server"]] == [0 if n == "api" else 1 for n in names]
    assert r.summary().completed == 6
    assert r.servers.names == ("api 0", "jobs[0]")
    with pytest.raises(ValueError, match="kind must be one of"):
        simulate(mqlb.Hybrid(LoadBalancer([Server()]), MessageQueue(consumers=[Server()]), ["nope"]), wl)


def test_unlimited_slots_finish_every_job():
    """The safety horizon used to stop this run with 239 of 300 jobs in the
    system (it took unlimited slots for infinite capacity, ignoring prefetch).
    Prefetch 1 lets the consumer hold one job at a time: the last ends at 300 s;
    without a prefetch limit all 300 run at once and end at 1 s."""
    for prefetch, last in ((1, 300.0), (None, 1.0)):
        r = simulate(MessageQueue(consumers=[Server(slots=None)], prefetch=prefetch), jobs([0.0] * 300, [1.0] * 300))
        assert r.stopped_early is None and r.summary().completed == 300
        assert log(r, "end")[-1] == (last,)


def test_a_crash_loop_with_a_delivery_limit_finishes():
    """Each 150 MB job crashes the 100 MB consumer; after three deliveries it is
    dead-lettered. The horizon used to leave 86 of 100 in the system."""
    r = simulate(MessageQueue(consumers=[Server(memory_mb=100)], delivery_limit=3),
                 jobs([0.0] * 100, [1.0] * 100, memory=150))
    assert r.stopped_early is None
    assert log(r, "outcome", "deliveries") == [("dead_lettered", 3)] * 100


def test_an_endless_crash_loop_says_it_stopped_early():
    """Two 60 MB jobs fit a 100 MB consumer one at a time but not together: with
    two slots and prefetch 2 they crash it together, for ever. The run stops at
    its event budget and says so; a larger budget lets it run longer."""
    mq = MessageQueue(consumers=[Server(slots=2, memory_mb=100, restart_s=1.0)], prefetch=2)
    wl = jobs([0.0, 0.0], [1.0, 1.0], memory=60)
    with pytest.warns(mqlb.StoppedEarly, match="max_events"):
        short = simulate(mq, wl, max_events=1000)
    with pytest.warns(mqlb.StoppedEarly):
        long = simulate(mq, wl, max_events=2000)
    assert "2 jobs still without an outcome" in short.stopped_early
    assert log(short, "outcome") == [("in_system",)] * 2
    assert long.servers.crashes[0] > short.servers.crashes[0] > 100
