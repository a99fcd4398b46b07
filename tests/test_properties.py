"""Invariants that must hold for every configuration (hypothesis draws them)."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mqlb
from mqlb import Broker, Client, LoadBalancer, MessageQueue, Server

OUT = {name: i for i, name in enumerate(mqlb.OUTCOMES)}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

servers = st.builds(
    Server,
    speed=st.sampled_from([0.5, 1.0, 2.0]),
    slots=st.sampled_from([1, 2, 3, None]),
    backlog=st.sampled_from([None, 0, 1, 5]),
    memory_mb=st.sampled_from([math.inf, 100.0, 250.0]),
    restart_s=st.sampled_from([0.01, 0.5, 3.0]),
    discipline=st.sampled_from(["fcfs", "ps"]),
)


@st.composite
def workloads(draw):
    n = draw(st.integers(0, 60))
    seed = draw(st.integers(0, 10_000))
    size = draw(st.sampled_from([mqlb.Exponential(1.0), mqlb.Deterministic(0.5), mqlb.HyperExponential(1.0, 8.0)]))
    classes = [mqlb.JobClass("light", size, memory_mb=draw(st.sampled_from([0.0, 40.0]))),
               mqlb.JobClass("heavy", mqlb.Exponential(2.0), memory_mb=draw(st.sampled_from([0.0, 90.0])), share=0.3)]
    rate = draw(st.sampled_from([0.5, 2.0, 8.0]))
    return mqlb.make_workload(mqlb.Poisson(rate), classes=classes, n_jobs=n, seed=seed) if n else \
        mqlb.make_workload([], classes=classes, seed=seed)


balancers = st.builds(
    LoadBalancer,
    servers=st.lists(servers, min_size=1, max_size=4),
    policy=st.sampled_from(mqlb.POLICIES),
    max_conns=st.sampled_from([None, 1, 3]),
    on_full=st.sampled_from(["reject", "queue"]),
    queue_timeout=st.sampled_from([math.inf, 1.0]),
    health_checks=st.booleans(),
    abort_on_close=st.booleans(),
)
brokers = st.builds(
    MessageQueue,
    consumers=st.lists(servers, min_size=1, max_size=4),
    prefetch=st.sampled_from([1, 2, 5, None]),
    max_length=st.sampled_from([None, 3, 20]),
    overflow=st.sampled_from(["drop_head", "reject_publish"]),
    delivery_limit=st.sampled_from([None, 2]),
    message_ttl=st.sampled_from([None, 4.0]),
    broker=st.builds(Broker, publish_latency=st.sampled_from([0.0, 0.01]), deliver_latency=st.sampled_from([0.0, 0.05]),
                     ack_latency=st.sampled_from([0.0, 0.05]), reply_latency=st.sampled_from([0.0, 0.02]),
                     poll_interval=st.sampled_from([0.0, 0.0, 0.3])),
)
# -- broker limits (memory alarm, persistent writes, early acks): the broker strategy draws them too --------
def _with_limits(system, memory_mb, write_s, ack):
    """``system`` with a broker memory budget (room for 1, 5 or 21 messages of 1 KB at the default
    watermark 0.4), persistent writes and early or late acks."""
    broker = dataclasses.replace(system.broker, memory_mb=memory_mb, persistent_write_s=write_s)
    return MessageQueue(queues=[dataclasses.replace(q, ack=ack) for q in system.queues], broker=broker)


brokers = st.builds(_with_limits, brokers, memory_mb=st.sampled_from([math.inf, 0.002, 0.01, 0.05]),
                    write_s=st.sampled_from([0.0, 0.0, 0.02]), ack=st.sampled_from(["late", "early"]))


@SETTINGS
@given(system=brokers, wl=st.deferred(lambda: workloads()), client=st.deferred(lambda: clients),
       seed=st.integers(0, 5))
def test_the_broker_holds_no_more_than_its_watermark_and_early_acks_bound_what_a_consumer_holds(
        system, wl, client, seed):
    system, res = _run(system, wl, client, seed)
    q, t = system.queues[0], res.timeline
    if q.ack == "late":      # every ready or unacked message is held; messages being written are held too
        assert np.all(t.queue.sum(axis=1) + t.in_flight.sum(axis=1) <= system.broker.message_room)
    elif q.prefetch is not None:   # early: prefetch unacked messages plus what is in service
        for i, c in enumerate(q.consumers):
            if c.slots is not None:
                assert np.all(t.in_flight[:, i] <= q.prefetch + c.slots)
    if math.isinf(system.broker.memory_mb):
        assert res.publish_blocked == ()
    for start, end in res.publish_blocked:
        assert start <= end
# -- end of broker limits ----------------------------------------------------------------------------------


# -- balancer policies: several balancer instances and stale load information ------------
stale_balancers = st.builds(
    LoadBalancer,
    servers=st.lists(servers, min_size=1, max_size=4),
    policy=st.sampled_from(mqlb.POLICIES),
    balancers=st.sampled_from([1, 2, 3]),
    info_delay=st.sampled_from([0.0, 0.3, 2.0]),
    health_checks=st.booleans(),
)
balancers = st.one_of(balancers, stale_balancers)
# -- end of balancer policies ----------------------------------------------------------------
clients = st.builds(Client, timeout=st.sampled_from([math.inf, 3.0]), retries=st.sampled_from([0, 2]),
                    backoff=st.sampled_from([0.0, 0.5]), jitter=st.booleans())
# -- clients that back off: retry budget, adaptive throttling, circuit breaker --------------
# Half the clients draw them; a refused job has attempts 0 only if its first attempt was refused.
clients = st.one_of(clients, st.builds(
    Client, timeout=st.sampled_from([math.inf, 3.0]), retries=st.sampled_from([0, 2]),
    backoff=st.sampled_from([0.0, 0.5]), jitter=st.booleans(),
    retry_budget=st.sampled_from([None, mqlb.RetryBudget(ratio=0.0, tokens=1.0), mqlb.RetryBudget()]),
    throttle_k=st.sampled_from([None, 1.0, 2.0]), throttle_window=st.sampled_from([5.0, 120.0]),
    breaker=st.sampled_from([None, mqlb.CircuitBreaker(failures=1, open_s=0.5),
                             mqlb.CircuitBreaker(failures=3, open_s=5.0, half_open_probes=2)])))
REFUSED = OUT["refused_locally"]


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_a_job_the_client_refused_ended_then_and_was_never_served_after(system, wl, client, seed):
    _, res = _run(system, wl, client, seed)
    r = res.records[res.records["outcome"] == REFUSED]
    if not client.holds_back:
        assert len(r) == 0
    assert np.all(r["end"] >= r["arrival"]) and np.all(np.isnan(r["start"]) & np.isnan(r["done"]))
    assert np.all(r["server"] == -1) and np.all(r["attempts"] <= client.retries)
    assert np.all(r["work"][r["attempts"] == 0] == 0) and np.all(r["starts"][r["attempts"] == 0] == 0)
# -- end of clients that back off ----------------------------------------------------------

# -- which work to save: priorities, LIFO, adaptive LIFO, CoDel (drawn into every invariant below) ----------
_PRIORITY_LEVELS = st.fixed_dictionaries({}, optional={"light": st.integers(-3, 3), "heavy": st.integers(-3, 3)})
_ordered_balancers = st.builds(
    LoadBalancer,
    servers=st.lists(servers, min_size=1, max_size=4),
    policy=st.sampled_from(mqlb.POLICIES),
    max_conns=st.sampled_from([1, 3]),
    on_full=st.just("queue"),
    queue_timeout=st.sampled_from([math.inf, 1.0]),
    health_checks=st.booleans(),
    abort_on_close=st.booleans(),
    priorities=st.one_of(st.none(), _PRIORITY_LEVELS),
    queue_order=st.sampled_from(mqlb.QUEUE_ORDERS),
    lifo_after_s=st.sampled_from([0.0, 0.5]),
    codel=st.sampled_from([None, mqlb.CoDel(0.05, 0.5)]),
)
_priority_brokers = st.builds(
    lambda consumers, prefetch, max_length, overflow, ttl, levels, broker: MessageQueue(
        queues=[mqlb.Queue("jobs", consumers, prefetch=prefetch, max_length=max_length, overflow=overflow,
                           delivery_limit=2, message_ttl=ttl, priorities={k: v + 3 for k, v in levels.items()})],
        broker=broker),
    consumers=st.lists(servers, min_size=1, max_size=4), prefetch=st.sampled_from([1, 2, None]),
    max_length=st.sampled_from([None, 3, 20]), overflow=st.sampled_from(["drop_head", "reject_publish"]),
    ttl=st.sampled_from([None, 4.0]), levels=_PRIORITY_LEVELS,
    broker=st.builds(Broker, deliver_latency=st.sampled_from([0.0, 0.05]), ack_latency=st.sampled_from([0.0, 0.05]),
                     poll_interval=st.sampled_from([0.0, 0.0, 0.3])),
)
balancers = st.one_of(balancers, _ordered_balancers)
brokers = st.one_of(brokers, _priority_brokers)
# -- end of which work to save --------------------------------------------------------------------------------


def _expected_records(system, wl):
    if isinstance(system, LoadBalancer):
        return len(wl)
    return sum(max(1, len(system.route(wl.kinds[k]))) for k in wl.kind)


def _run(system, wl, client, seed=0):
    big = max(wl.memory_mb.max(initial=0), 1.0)
    if isinstance(system, MessageQueue) and system.queues[0].delivery_limit is None \
            and max(c.memory_mb for c in system.queues[0].consumers) < big:
        system = MessageQueue(consumers=system.queues[0].consumers, prefetch=system.queues[0].prefetch,
                              delivery_limit=3, broker=system.broker, ack=system.queues[0].ack)
    return system, mqlb.simulate(system, wl, client=client, seed=seed, sample_every=0.05)


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_every_job_is_accounted_for_once_and_times_are_ordered(system, wl, client, seed):
    system, res = _run(system, wl, client, seed)
    r = res.records
    assert len(r) == _expected_records(system, wl)
    assert np.all((r["outcome"] >= 0) & (r["outcome"] < len(mqlb.OUTCOMES)))
    summary = res.summary()
    assert sum(getattr(summary, name) for name in mqlb.OUTCOMES) == len(r)
    ids = r["id"]
    assert np.all(np.diff(ids) >= 0) and (len(r) == 0 or set(ids.tolist()) == set(range(len(wl))))
    decided = r[r["outcome"] != OUT["in_system"]]
    assert np.all(decided["end"] >= decided["arrival"] - 1e-12)
    started = r[np.isfinite(r["start"])]
    assert np.all(started["start"] >= started["arrival"] - 1e-12)
    done = r[np.isfinite(r["done"])]
    assert np.all(done["done"] >= done["start"] - 1e-12)
    ok = r[r["outcome"] == OUT["completed"]]
    assert np.all(ok["work"] >= ok["size"] * (1 - 1e-9))
    assert np.all(r["work"] >= 0) and np.all((r["attempts"] >= 1) | (r["outcome"] == REFUSED))
    assert np.all(r["attempts"] <= client.retries + 1)
    if math.isinf(client.timeout):
        assert not np.any(r["outcome"] == OUT["timed_out"]) or isinstance(system, LoadBalancer)


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_capacity_limits_are_never_exceeded(system, wl, client, seed):
    system, res = _run(system, wl, client, seed)
    specs = system.servers if isinstance(system, LoadBalancer) else [c for q in system.queues for c in q.consumers]
    t = res.timeline
    for i, spec in enumerate(specs):
        if spec.slots is not None:
            assert res.servers.max_in_service[i] <= spec.slots
        assert np.all(t.memory_mb[:, i] <= spec.memory_mb + 1e-9)
        assert res.servers.max_memory_mb[i] <= spec.memory_mb + 1e-9
    if isinstance(system, MessageQueue) and system.queues[0].prefetch is not None and system.queues[0].ack == "late":
        assert np.all(t.in_flight <= system.queues[0].prefetch)
    if isinstance(system, LoadBalancer) and system.max_conns is not None:
        assert np.all(t.in_flight <= system.max_conns)
    assert len(t.crashes) == int(res.servers.crashes.sum())


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_same_inputs_give_identical_records(system, wl, client, seed):
    _, a = _run(system, wl, client, seed)
    _, b = _run(system, wl, client, seed)
    assert a.records.tobytes() == b.records.tobytes()
    assert a.timeline.in_flight.tobytes() == b.timeline.in_flight.tobytes()


@SETTINGS
@given(n_consumers=st.integers(1, 4), slots=st.integers(1, 2), wl=workloads(),
       latency=st.sampled_from([0.0, 0.02]))
def test_one_queue_starts_jobs_in_arrival_order(n_consumers, slots, wl, latency):
    """FIFO: with prefetch 1 and equal consumers, service begins in publish order."""
    mq = MessageQueue(consumers=[Server(slots=slots)] * n_consumers, prefetch=1,
                      broker=Broker(publish_latency=latency, deliver_latency=latency))
    res = mqlb.simulate(mq, mqlb.Workload(wl.arrival, wl.size, np.zeros(len(wl)), wl.kind, wl.kinds))
    starts = res.records["start"]
    assert np.all(np.diff(starts) >= -1e-12)
    assert res.summary().completed == len(wl)


@SETTINGS
@given(wl=workloads(), k=st.integers(1, 5))
def test_infinitely_many_servers_means_nobody_waits(wl, k):
    lb = LoadBalancer([Server(slots=None)] * k, policy="random")
    r = mqlb.simulate(lb, mqlb.Workload(wl.arrival, wl.size, np.zeros(len(wl)), wl.kind, wl.kinds)).records
    np.testing.assert_allclose(r["start"], r["arrival"])
    np.testing.assert_allclose(r["end"] - r["arrival"], r["size"], rtol=1e-9, atol=1e-12)


# -- the three record rules of issue 11 ------------------------------------------------

def _run_any(system, wl, client, seed, until=None, max_events=None):
    """Like ``_run``, with a stop time and an event budget; returns the warnings too."""
    system, _ = system, None
    big = max(wl.memory_mb.max(initial=0), 1.0)
    if isinstance(system, MessageQueue) and system.queues[0].delivery_limit is None \
            and max(c.memory_mb for c in system.queues[0].consumers) < big:
        system = MessageQueue(consumers=system.queues[0].consumers, prefetch=system.queues[0].prefetch,
                              delivery_limit=3, broker=system.broker, ack=system.queues[0].ack)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = mqlb.simulate(system, wl, client=client, seed=seed, until=until, max_events=max_events)
    return res, [w for w in caught if issubclass(w.category, mqlb.StoppedEarly)]


stops = st.sampled_from([None, None, 2.0, 5.0, 15.0])
budgets = st.sampled_from([None, None, None, 40, 400])


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5),
       until=stops, max_events=budgets)
def test_every_outcome_is_true_to_what_happened(system, wl, client, seed, until, max_events):
    res, _ = _run_any(system, wl, client, seed, until, max_events)
    r = res.records
    outcome = r["outcome"]
    # Never sent: exactly the records with no attempt, all after the stop, with no times.
    not_sent = outcome == OUT["not_sent"]
    assert np.array_equal(not_sent, (r["attempts"] == 0) & (outcome != REFUSED))
    if until is None and res.stopped_early is None:
        assert not not_sent.any()
    if until is not None and res.stopped_early is None:
        assert np.all(r["arrival"][not_sent] >= until)
    for f in ("start", "done", "end"):
        assert np.all(np.isnan(r[f][not_sent]))
    # Timed out: one rule whatever the retries; start/done only before the client gave up.
    gone = r[outcome == OUT["timed_out"]]
    assert np.all(np.isfinite(gone["end"]))
    assert not np.any(gone["start"] > gone["end"]) and not np.any(gone["done"] > gone["end"])
    assert np.array_equal(np.isnan(gone["start"]), gone["server"] == -1)
    # Completed: arrival <= start <= done <= end.
    ok = r[outcome == OUT["completed"]]
    assert np.all(ok["arrival"] <= ok["start"]) and np.all(ok["start"] <= ok["done"])
    assert np.all(ok["done"] <= ok["end"])
    # Summaries leave the never-sent jobs out of everything but their own count.
    s = res.summary()
    sent = r[~not_sent]
    assert s.not_sent == int(not_sent.sum()) and s.jobs == len(sent)
    assert s.jobs == sum(getattr(s, name) for name in mqlb.OUTCOMES if name != "not_sent")
    if len(sent) and np.isfinite(s.span) and s.span > 0:
        assert s.throughput == pytest.approx(np.isfinite(sent["done"]).sum() / s.span)
    assert res.timeline.in_system.max(initial=0) <= len(sent)


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5),
       until=stops, max_events=budgets)
def test_no_run_stops_early_without_saying_so(system, wl, client, seed, until, max_events):
    res, caught = _run_any(system, wl, client, seed, until, max_events)
    in_system = int((res.records["outcome"] == OUT["in_system"]).sum())
    assert (res.stopped_early is None) == (not caught)
    if res.stopped_early is not None:
        assert "max_events" in res.stopped_early and str(caught[0].message) == res.stopped_early
    elif until is None:
        assert in_system == 0                      # finished: every job has an outcome


@SETTINGS
@given(system=st.one_of(balancers, brokers), wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_a_long_run_keeps_an_evenly_spaced_bounded_timeline(system, wl, client, seed):
    """With room for only 40 samples the spacing doubles as often as needed."""
    from mqlb import _checks
    saved, room = _checks.MAX_SAMPLES, 40
    _checks.MAX_SAMPLES = room
    try:
        res, _ = _run_any(system, wl, client, seed)
    finally:
        _checks.MAX_SAMPLES = saved
    t = res.timeline.time
    assert 1 <= len(t) <= room and t[0] == 0.0
    if len(t) > 2:
        np.testing.assert_allclose(np.diff(t), t[1] - t[0], rtol=1e-9)


many_servers = st.builds(
    LoadBalancer,
    servers=st.lists(servers, min_size=1, max_size=6),
    policy=st.sampled_from([p for p in mqlb.POLICIES if p != "weighted_round_robin"]),
    weights=st.none(),
    max_conns=st.sampled_from([None, 1, 3]),
    on_full=st.sampled_from(["reject", "queue"]),
    health_checks=st.booleans(),
)


def _scan_and_index(lb, wl, client, seed, failures):
    """The same run with the balancer scanning its servers and with its index (any number of servers)."""
    from mqlb import loadbalancer
    saved = loadbalancer.INDEX_FROM
    try:
        loadbalancer.INDEX_FROM = 10**9
        scan = mqlb.simulate(lb, wl, client=client, seed=seed, failures=failures)
        loadbalancer.INDEX_FROM = 1
        index = mqlb.simulate(lb, wl, client=client, seed=seed, failures=failures)
    finally:
        loadbalancer.INDEX_FROM = saved
    return scan, index


@SETTINGS
@given(lb=many_servers, wl=workloads(), client=clients, seed=st.integers(0, 5), weighted=st.booleans())
def test_the_balancer_index_chooses_as_the_scan_does(lb, wl, client, seed, weighted):
    if weighted:
        lb = LoadBalancer(lb.servers, policy=lb.policy, weights=[1 + i % 3 for i in range(len(lb.servers))],
                          max_conns=lb.max_conns, on_full=lb.on_full, health_checks=lb.health_checks)
    failures = [(1.0, 0)] + ([(2.0, len(lb.servers) - 1)] if len(lb.servers) > 1 else [])
    scan, index = _scan_and_index(lb, wl, client, seed, failures)
    assert scan.records.tobytes() == index.records.tobytes()


# --- other brokers: a partitioned log (mqlb.brokers) ---
log_consumers = st.builds(Server, speed=st.sampled_from([0.5, 1.0, 2.0]), slots=st.just(1),
                          backlog=st.sampled_from([None, 0, 5]), discipline=st.sampled_from(["fcfs", "ps"]))


@SETTINGS
@given(partitions=st.integers(1, 5), consumer=log_consumers, wl=workloads(), client=clients,
       seed=st.integers(0, 5), keys=st.sampled_from(["job", "few"]))
def test_a_partitioned_log_accounts_for_every_job_once(partitions, consumer, wl, client, seed, keys):
    kw = mqlb.keyed(wl, partitions, None if keys == "job" else [i % 3 for i in range(len(wl))])
    res = mqlb.simulate(mqlb.partitioned_log(partitions, consumer), kw, client=client, seed=seed)
    r = res.records
    assert len(r) == len(wl) and sorted(r["id"].tolist()) == list(range(len(wl)))
    assert sum(getattr(res.summary(), name) for name in mqlb.OUTCOMES) == len(r)
    assert np.all(r["queue"] == kw.kind[r["id"]])          # each job in its key's partition
    assert np.all(r["server"][np.isfinite(r["start"])] == r["queue"][np.isfinite(r["start"])])
    decided = r[r["outcome"] != OUT["in_system"]]
    assert np.all(decided["end"] >= decided["arrival"] - 1e-12)
# -- the wider advisor: autoscaled consumers and the path-split balancer -----------------

autoscalers = st.builds(
    mqlb.Autoscaler,
    metric=st.sampled_from(["backlog", "age"]),
    threshold=st.sampled_from([0.0, 2.0, 5.0]),
    interval_s=st.sampled_from([0.5, 2.0]),
    start_s=st.sampled_from([0.0, 1.0, 4.0]),
    max_consumers=st.integers(4, 6),
    min_consumers=st.sampled_from([None, 1]),
    cooldown_s=st.sampled_from([0.0, 3.0]),
)


@st.composite
def autoscaled_brokers(draw):
    """A broker with one or two queues (split by class), the first autoscaled."""
    consumers = draw(st.lists(servers.filter(lambda s: s.slots is not None), min_size=1, max_size=4))
    scaler = draw(autoscalers)
    q = dict(prefetch=draw(st.sampled_from([1, 2, None])), message_ttl=draw(st.sampled_from([None, 4.0])),
             delivery_limit=2)
    if draw(st.booleans()):
        return MessageQueue(queues=[mqlb.Queue("jobs", consumers, autoscaler=scaler, **q)],
                            broker=Broker(poll_interval=draw(st.sampled_from([0.0, 0.3]))))
    return MessageQueue(queues=[mqlb.Queue("light", consumers, bindings=("light",), autoscaler=scaler, **q),
                                mqlb.Queue("heavy", [Server()], bindings=("heavy",), **q)])


path_splits = st.builds(
    lambda light, heavy, default: mqlb.PathSplit(pools={"api": light, "jobs": heavy}, routes={"heavy": "jobs"},
                                                 default=default),
    balancers, balancers, st.sampled_from(["api", "jobs"]))


@SETTINGS
@given(system=st.one_of(autoscaled_brokers(), path_splits), wl=workloads(), client=clients,
       seed=st.integers(0, 5), until=stops)
def test_autoscaled_and_path_split_runs_account_for_every_job_once(system, wl, client, seed, until):
    res, caught = _run_any(system, wl, client, seed, until)
    r = res.records
    n_queues = len(system.pools) if isinstance(system, mqlb.PathSplit) else len(system.queues)
    assert len(r) == len(wl) and np.array_equal(r["id"], np.arange(len(wl)))
    assert np.all((r["queue"] >= 0) & (r["queue"] < n_queues))
    s = res.summary()
    assert sum(getattr(s, name) for name in mqlb.OUTCOMES) == len(r)
    assert (res.stopped_early is None) == (not caught)
    if until is None and res.stopped_early is None:
        assert s.in_system == 0 and s.not_sent == 0
    ok = r[r["outcome"] == OUT["completed"]]
    assert np.all(ok["arrival"] <= ok["start"]) and np.all(ok["start"] <= ok["done"]) and np.all(ok["done"] <= ok["end"])
    # Machine-seconds: no machine runs longer than the run; at least the floor runs at every moment.
    up = res.servers.up_s
    assert np.all(up >= 0) and np.all(up <= up.max() + 1e-9)
    served = r["server"][r["server"] >= 0]
    assert np.all(up[served] > 0)                  # only machines that were launched serve
    if isinstance(system, MessageQueue):
        q = system.queues[0]
        first = len(q.consumers)
        floor = first if q.autoscaler.min_consumers is None else q.autoscaler.min_consumers
        # Scale-in stops any idle consumer, a first one too, but never runs fewer than the floor.
        assert up[:q.autoscaler.max_consumers].sum() >= floor * up.max() - 1e-9
        assert res.servers.names[first - 1] == f"{q.name}[{first - 1}]"
        assert len(up) == q.autoscaler.max_consumers + sum(len(x.consumers) for x in system.queues[1:])
        for i, spec in enumerate(q.consumers + (q.consumers[-1],) * (q.autoscaler.max_consumers - first)):
            assert res.servers.max_in_service[i] <= spec.slots
    else:
        assert np.all(up == up.max())
# -- slow and failing servers, passive outlier ejection (mqlb.degradations, mqlb.ejection) --------------

ejecting = st.builds(
    mqlb.Ejection, consecutive=st.sampled_from([1, 2, 5]), base_s=st.sampled_from([0.5, 3.0]),
    max_fraction=st.sampled_from([0.1, 0.5, 1.0]), max_s=st.sampled_from([3.0, 300.0]),
    slow_s=st.sampled_from([None, 1.0]))
ejections = st.one_of(st.none(), ejecting)


@st.composite
def degradations(draw, n_servers, fail_fast=True):
    """Crashes, slowdowns and (behind a balancer) fail-fast windows, possibly overlapping."""
    kinds = ["crash", "slow"] + (["fail_fast", "fail_fast_then_crash"] if fail_fast else [])
    out = []
    for _ in range(draw(st.integers(1, 4))):
        at, server = draw(st.sampled_from([0.0, 0.5, 2.0, 6.0])), draw(st.integers(0, n_servers - 1))
        duration = draw(st.sampled_from([1.0, 4.0, math.inf]))
        kind = draw(st.sampled_from(kinds))
        if kind == "crash":
            out.append((at, server))
        elif kind == "slow":
            out.append(mqlb.Slow(at, server, duration, factor=draw(st.sampled_from([0.05, 0.5]))))
        elif kind == "fail_fast":
            out.append(mqlb.FailFast(at, server, duration, error_s=draw(st.sampled_from([0.0, 0.01, 2.0]))))
        else:   # a crash while requests wait for their error answer
            out += [mqlb.FailFast(at, server, duration, error_s=3.0), (at + 1.0, server)]
    return out


def _assert_each_job_ends_once(res, wl, client):
    r = res.records
    assert len(r) == len(wl)
    assert sum(getattr(res.summary(), name) for name in mqlb.OUTCOMES) == len(r)
    assert not np.any(r["outcome"] == OUT["in_system"]) and not np.any(r["outcome"] == OUT["not_sent"])
    assert np.all(r["end"] >= r["arrival"] - 1e-12)
    ok = r[r["outcome"] == OUT["completed"]]
    assert np.all(ok["work"] >= ok["size"] * (1 - 1e-9)) and np.all(ok["start"] <= ok["done"])
    assert np.all(r["work"] >= 0) and np.all((r["attempts"] >= 1) | (r["outcome"] == REFUSED))
    assert np.all(r["attempts"] <= client.retries + 1)
    assert np.all(r["work"] <= r["size"] * np.maximum(r["starts"], 1) * (1 + 1e-9))


@SETTINGS
@given(data=st.data(), lb=balancers, ejection=ejections, wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_degraded_and_ejecting_balancers_end_every_job_once(data, lb, ejection, wl, client, seed):
    lb = LoadBalancer(lb.servers, policy=lb.policy, max_conns=lb.max_conns, on_full=lb.on_full,
                      queue_timeout=lb.queue_timeout, health_checks=lb.health_checks,
                      abort_on_close=lb.abort_on_close, ejection=ejection)
    failures = data.draw(degradations(len(lb.servers)))
    res = mqlb.simulate(lb, wl, client=client, seed=seed, failures=failures)
    assert res.stopped_early is None
    _assert_each_job_ends_once(res, wl, client)
    assert res.servers.errors.sum() <= sum(res.records["attempts"])
    ej = res.timeline.ejections
    if ejection is None:
        assert len(ej) == 0
    else:   # never more ejected at once than Envoy's rule allows
        allowed = max(1, math.ceil(ejection.max_fraction * len(lb.servers) - 1e-9))
        for t in ej["time"]:
            assert np.sum((ej["time"] <= t) & (t < ej["time"] + ej["duration"])) <= allowed


@SETTINGS
@given(data=st.data(), lb=many_servers, ejection=ejecting, wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_the_balancer_index_skips_ejected_servers_as_the_scan_does(data, lb, ejection, wl, client, seed):
    lb = LoadBalancer(lb.servers, policy=lb.policy, max_conns=lb.max_conns, on_full=lb.on_full,
                      health_checks=lb.health_checks, ejection=ejection)
    failures = data.draw(degradations(len(lb.servers)))
    scan, index = _scan_and_index(lb, wl, client, seed, failures)
    assert scan.records.tobytes() == index.records.tobytes()
    assert scan.timeline.ejections.tobytes() == index.timeline.ejections.tobytes()


@SETTINGS
@given(data=st.data(), mq=brokers, wl=workloads(), client=clients, seed=st.integers(0, 5))
def test_slow_consumers_end_every_message_once(data, mq, wl, client, seed):
    q = mq.queues[0]
    mq = MessageQueue(consumers=q.consumers, prefetch=q.prefetch, delivery_limit=3, broker=mq.broker)
    failures = data.draw(degradations(len(q.consumers), fail_fast=False))
    res = mqlb.simulate(mq, wl, client=client, seed=seed, failures=failures)
    assert res.stopped_early is None
    _assert_each_job_ends_once(res, wl, client)
