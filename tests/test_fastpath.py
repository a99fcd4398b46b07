"""The fast path (mqlb.fastpath) gives the event engine's result, field for field.

Hypothesis draws eligible configurations (1-8 servers, speeds, slots, every
policy, arrival processes, size distributions, several job classes, constant
hop latencies) and compares the two engines bit for bit; configurations that
need events must never take the fast path.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mqlb
from mqlb import Broker, Client, Hybrid, JobClass, LoadBalancer, MessageQueue, Queue, Server, Workload, fastpath

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIMELINE = ("time", "queue", "in_flight", "in_service", "memory_mb", "up", "in_system", "crashes")
STATS = ("capacity", "max_in_service", "max_memory_mb", "crashes", "up_s")


def assert_identical(fast, slow):
    """Records, timeline and server statistics equal, bit for bit."""
    assert fast.records.dtype == slow.records.dtype
    for name in fast.records.dtype.names:
        assert fast.records[name].tobytes() == slow.records[name].tobytes(), f"records[{name!r}] differ"
    for name in TIMELINE:
        a, b = getattr(fast.timeline, name), getattr(slow.timeline, name)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"timeline.{name}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"timeline.{name} differs"
    assert fast.servers.names == slow.servers.names
    for name in STATS:
        a, b = getattr(fast.servers, name), getattr(slow.servers, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"servers.{name}: {a} vs {b}"
    assert (fast.kinds, fast.queues, fast.capacity) == (slow.kinds, slow.queues, slow.capacity)


sizes = st.sampled_from([
    mqlb.Exponential(1.0), mqlb.Gamma(1.0, 0.3), mqlb.HyperExponential(1.0, 6.0), mqlb.LogNormal(0.8, 2.0),
    mqlb.BoundedPareto(1.2, 0.1, 50.0), mqlb.Exponential(0.2), mqlb.Deterministic(1.0), mqlb.Deterministic(0.75),
])
arrival_shapes = st.sampled_from(["poisson", "constant", "onoff", "spike"])


@st.composite
def workloads(draw, capacity):
    """A workload whose load is ``rho`` times ``capacity`` on average."""
    n_classes = draw(st.integers(1, 3))
    classes = [JobClass(f"c{k}", draw(sizes), share=draw(st.sampled_from([1.0, 0.3, 2.0]))) for k in range(n_classes)]
    mean = sum(c.size.mean * c.share for c in classes) / sum(c.share for c in classes)
    rate = draw(st.sampled_from([0.3, 0.7, 0.95, 1.2])) * capacity / mean
    shape = draw(arrival_shapes)
    process = {"poisson": mqlb.Poisson(rate), "constant": mqlb.Constant(rate),
               "onoff": mqlb.OnOff(rate * 2.5, rate * 0.2, 3.0 / rate, 5.0 / rate),
               "spike": mqlb.Spike(rate * 0.5, rate * 3, 20.0 / rate, 60.0 / rate)}[shape]
    n = draw(st.integers(1, 300))
    return mqlb.make_workload(process, classes=classes, n_jobs=n, seed=draw(st.integers(0, 10_000)))


servers = st.builds(Server, speed=st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0]), slots=st.sampled_from([1, 1, 2, 3]),
                    memory_mb=st.sampled_from([math.inf, 100.0]))


@st.composite
def eligible_runs(draw):
    """(system, workload, options) that the fast path should compute."""
    pool = draw(st.lists(servers, min_size=1, max_size=8))
    shape = draw(st.sampled_from(["message queue", "balancer", "balancer with a queue"]))
    client = Client()
    if shape == "message queue":
        broker = Broker(publish_latency=draw(st.sampled_from([0.0, 0.0, 0.01, 0.003])),
                        deliver_latency=draw(st.sampled_from([0.0, 0.0, 0.005, 0.02])),
                        ack_latency=draw(st.sampled_from([0.0, 0.0, 0.01])),
                        reply_latency=draw(st.sampled_from([0.0, 0.02])))
        system = MessageQueue(consumers=pool, prefetch=1, broker=broker)
        client = draw(st.sampled_from([Client(), Client(timeout=4.0)]))
    else:
        policy = draw(st.sampled_from(mqlb.policies.names(fastpath=True)))
        weights = draw(st.sampled_from([None, "drawn"]))
        if weights == "drawn":
            weights = tuple(draw(st.sampled_from([1.0, 2.0, 0.5, 3.0])) for _ in pool)
        latency = draw(st.sampled_from([0.0, 0.01]))
        if shape == "balancer":
            system = LoadBalancer(pool, policy=policy, weights=weights, latency=latency)
            client = draw(st.sampled_from([Client(), Client(timeout=4.0)]))
        else:
            system = LoadBalancer(pool, policy=policy, weights=weights, latency=latency, max_conns=1,
                                  on_full="queue", queue_timeout=draw(st.sampled_from([math.inf, 30.0])))
    capacity = system.capacity if shape != "balancer with a queue" else sum(s.speed for s in pool)
    wl = draw(workloads(capacity))
    options = dict(client=client, seed=draw(st.integers(0, 5)),
                   sample_every=draw(st.sampled_from([None, 0.37, 2.0])),
                   until=draw(st.sampled_from([None, None, 500.0])))
    return system, wl, options


@SETTINGS
@given(eligible_runs())
def test_the_fast_path_gives_the_event_engines_result(run):
    system, wl, options = run
    assert fastpath.why_not(system, wl, options["client"]) is None
    slow = mqlb.simulate(system, wl, engine="events", **options)
    fast = mqlb.simulate(system, wl, **options)
    assert slow.engine == "events"
    event(f"{type(system).__name__}: {fast.engine}")
    if fast.engine != "recursion":
        # Only simultaneous events, a run cut short or a coarsened timeline send an eligible configuration back to the events.
        with pytest.raises(ValueError, match="instant|time limit|queue timeout|coarsened"):
            mqlb.simulate(system, wl, engine="recursion", **options)
    assert_identical(fast, slow)


def test_typical_configurations_take_the_fast_path():
    wl = mqlb.make_workload(mqlb.Poisson(3.2), mqlb.Exponential(1.0), n_jobs=2000, seed=3)
    systems = [MessageQueue(consumers=[Server()] * 4), LoadBalancer([Server()] * 4, max_conns=1, on_full="queue"),
               MessageQueue(consumers=[Server(), Server(speed=2.0)], broker=Broker(0.01, 0.02, 0.005, 0.01))]
    systems += [LoadBalancer([Server(), Server(speed=2.0), Server(slots=2)], policy=p) for p in mqlb.policies.names(fastpath=True)]
    for system in systems:
        fast = mqlb.simulate(system, wl)
        assert fast.engine == "recursion", system
        assert_identical(fast, mqlb.simulate(system, wl, engine="events"))


def test_a_hand_computed_shared_queue():
    """Two consumers, one FIFO queue: start = max(arrival, first free consumer)."""
    wl = mqlb.make_workload([0.0, 0.25, 0.5, 0.8], mqlb.Deterministic(1.0), seed=0)
    res = mqlb.simulate(MessageQueue(consumers=[Server(), Server(speed=2.0)]), wl, engine="recursion",
                        sample_every=0.3)
    r = res.records
    assert r["start"].tolist() == [0.0, 0.25, 0.75, 1.0]
    assert r["done"].tolist() == [1.0, 0.75, 1.25, 2.0]
    assert r["server"].tolist() == [0, 1, 1, 0]
    assert res.timeline.queue[:, 0].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert_identical(res, mqlb.simulate(MessageQueue(consumers=[Server(), Server(speed=2.0)]), wl,
                                        engine="events", sample_every=0.3))


# -- the compiled loops against plain references ----------------------------------------

def least_connections_reference(clock, size, speed):
    """Least connections by its definition, one job at a time: (done, server). A request is open
    on its server until its done time; at an arrival the fewest open ones win, ties going to the
    first server from the round-robin position on (wrapping), which then moves past the chosen one."""
    n, done, server, nxt = len(speed), [], [], 0
    for t, x in zip(clock, size):
        open_now = [sum(1 for d, k in zip(done, server) if k == i and d >= t) for i in range(n)]
        i = next(k % n for k in range(nxt, nxt + n) if open_now[k % n] == min(open_now))
        nxt = (i + 1) % n
        free = max((d for d, k in zip(done, server) if k == i), default=-math.inf)
        done.append(max(t, free) + x / speed[i])
        server.append(i)
    return done, server


def test_least_connections_breaks_ties_round_robin():
    """Three servers. Job 2 finds servers 0 and 2 idle and takes 2, the next from the round-robin
    position (the first idle server would be 0); job 4 finds only server 0 idle and wraps to it;
    job 5 finds one open request everywhere and takes server 1."""
    arrival, size = [0.0, 0.1, 1.5, 2.0, 3.5, 4.0], [1.0, 5.0, 5.0, 1.0, 1.0, 0.25]
    wl = Workload(np.array(arrival), np.array(size), np.zeros(6), np.zeros(6, dtype=np.int64))
    system = LoadBalancer([Server()] * 3, policy="least_connections")
    res = mqlb.simulate(system, wl, engine="recursion", sample_every=0.37)
    done, server = least_connections_reference(arrival, size, [1.0] * 3)
    assert server == [0, 1, 2, 0, 0, 1]
    assert res.records["server"].tolist() == server
    assert res.records["done"].tolist() == done
    assert_identical(res, mqlb.simulate(system, wl, engine="events", sample_every=0.37))


@pytest.mark.parametrize("speed", [[1.0] * 3, [1.0, 2.0, 0.5], [3.0] * 5])
def test_the_least_connections_loop_equals_its_definition(speed):
    """Light load, so most arrivals find several servers equally loaded: the tie-break decides."""
    wl = mqlb.make_workload(mqlb.Poisson(0.6 * sum(speed)), mqlb.Exponential(1.0), n_jobs=300, seed=4)
    done, server = fastpath._least_connections_plain(wl.arrival.copy(), wl.size.copy(), speed)
    want_done, want_server = least_connections_reference(wl.arrival.tolist(), wl.size.tolist(), speed)
    assert server.tolist() == want_server
    assert done.tolist() == want_done


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_the_shared_queue_loop_equals_its_definition(n):
    """Equal consumers: each job takes the consumer free earliest (the first n jobs take 0 .. n-1)
    and starts at max(arrival, free). Nine consumers make a heap three levels deep."""
    wl = mqlb.make_workload(mqlb.Poisson(0.9 * n), mqlb.Exponential(1.0), n_jobs=400, seed=n)
    start, done, server = fastpath._shared_queue_equal(wl.arrival.copy(), wl.size.copy(), 1.0, n)
    free, want = [-math.inf] * n, []
    for t, x in zip(wl.arrival.tolist(), wl.size.tolist()):
        i = free.index(min(free))
        s = max(t, free[i])
        free[i] = s + x
        want.append((s, s + x, i))
    assert list(zip(start.tolist(), done.tolist(), server.tolist())) == want


# -- what must take the event engine ------------------------------------------------

WL = mqlb.make_workload(mqlb.Poisson(1.5), mqlb.Exponential(1.0), n_jobs=200, seed=2)
HEAVY = mqlb.make_workload(mqlb.Poisson(1.5), mqlb.Exponential(1.0), memory_mb=10.0, n_jobs=200, seed=2)
FOUR = [Server()] * 4
TICKS = mqlb.make_workload(mqlb.Constant(1.0), mqlb.Deterministic(1.0), n_jobs=12, seed=0)   # ends meet starts
TWINS = mqlb.make_workload([0.0, 0.0, 5.0], mqlb.Deterministic(1.0), seed=0)   # two jobs end at one instant
NEEDS_EVENTS = {
    "injected crash": (MessageQueue(consumers=FOUR), WL, dict(failures=[(20.0, 1)])),
    "memory": (LoadBalancer(FOUR), HEAVY, {}),
    "retries": (LoadBalancer(FOUR), WL, dict(client=Client(timeout=2.0, retries=1))),
    "timeout behind the balancer's queue": (LoadBalancer(FOUR, max_conns=1, on_full="queue"), WL,
                                            dict(client=Client(timeout=2.0))),
    "message TTL": (MessageQueue(consumers=FOUR, message_ttl=5.0), WL, {}),
    "length limit": (MessageQueue(consumers=FOUR, max_length=3), WL, {}),
    "delivery limit": (MessageQueue(consumers=FOUR, delivery_limit=2), WL, {}),
    "processor sharing": (LoadBalancer([Server(discipline="ps")] * 4), WL, {}),
    "polling": (MessageQueue(consumers=FOUR, broker=Broker(poll_interval=0.2)), WL, {}),
    "prefetch 2": (MessageQueue(consumers=FOUR, prefetch=2), WL, {}),
    "two queues": (MessageQueue(queues=[Queue("a", FOUR), Queue("b", FOUR)], exchange="fanout"), WL, {}),
    "unroutable": (MessageQueue(queues=[Queue("a", FOUR, bindings=("other",))]), WL, {}),
    "max_conns that rejects": (LoadBalancer(FOUR, max_conns=1), WL, {}),
    "max_conns 2 with a queue": (LoadBalancer(FOUR, max_conns=2, on_full="queue"), WL, {}),
    "limited backlog": (LoadBalancer([Server(backlog=1)] * 4), WL, {}),
    "unlimited slots": (LoadBalancer([Server(slots=None)] * 4), WL, {}),
    "hybrid": (Hybrid(LoadBalancer(FOUR), MessageQueue(consumers=FOUR), ("job",)), WL, {}),
    "queue timeout reached": (LoadBalancer([Server()], max_conns=1, on_full="queue", queue_timeout=0.5), WL, {}),
    "cut short by until": (MessageQueue(consumers=FOUR), WL, dict(until=50.0)),
    "simultaneous events": (LoadBalancer([Server()] * 2, policy="power_of_two"), TICKS, dict(sample_every=0.7)),
    "two departures at one instant": (MessageQueue(consumers=[Server(speed=4.0), Server()]), mqlb.make_workload(
        [0.0, 0.5, 1.0, 1.2, 1.3, 1.4, 3.0, 3.1], mqlb.Deterministic(1.0), seed=0), dict(sample_every=0.33)),
    "two departures at one instant behind least connections": (
        LoadBalancer([Server()] * 2, policy="least_connections"), TWINS, dict(sample_every=0.33)),
}


@pytest.mark.parametrize("name", NEEDS_EVENTS)
def test_configurations_that_need_events_never_take_the_fast_path(name):
    system, wl, options = NEEDS_EVENTS[name]
    assert mqlb.simulate(system, wl, **options).engine == "events"
    with pytest.raises(ValueError, match="engine='recursion' cannot run this configuration"):
        mqlb.simulate(system, wl, engine="recursion", **options)


def test_simultaneous_events_are_left_to_the_event_engine(monkeypatch):
    """Each job ends when the next arrives: SimPy's order, not the recursion's, decides. Without
    the check for simultaneous events the recursion would return other records."""
    system, wl, options = NEEDS_EVENTS["simultaneous events"]
    slow = mqlb.simulate(system, wl, engine="events", **options)
    monkeypatch.setattr(fastpath, "_meets", lambda *_: False)
    naive = mqlb.simulate(system, wl, **options)
    assert naive.engine == "recursion"
    with pytest.raises(AssertionError, match="records"):
        assert_identical(naive, slow)


broad_servers = st.builds(Server, speed=st.sampled_from([0.5, 1.0]), slots=st.sampled_from([1, 2, None]),
                          backlog=st.sampled_from([None, 0, 2]), memory_mb=st.sampled_from([math.inf, 30.0]),
                          discipline=st.sampled_from(["fcfs", "ps"]))
broad_systems = st.one_of(
    st.builds(LoadBalancer, servers=st.lists(broad_servers, min_size=1, max_size=4),
              policy=st.sampled_from(mqlb.POLICIES), max_conns=st.sampled_from([None, 1, 2]),
              on_full=st.sampled_from(["reject", "queue"]), queue_timeout=st.sampled_from([math.inf, 1.0])),
    st.builds(MessageQueue, consumers=st.lists(broad_servers, min_size=1, max_size=4),
              prefetch=st.sampled_from([1, 2, None]), max_length=st.sampled_from([None, 5]),
              delivery_limit=st.sampled_from([None, 2]), message_ttl=st.sampled_from([None, 3.0]),
              broker=st.builds(Broker, deliver_latency=st.sampled_from([0.0, 0.05]),
                               ack_latency=st.sampled_from([0.0, 0.05]), poll_interval=st.sampled_from([0.0, 0.3]))),
)


@SETTINGS
@given(system=broad_systems, memory=st.sampled_from([0.0, 20.0]), n=st.integers(1, 60),
       client=st.sampled_from([Client(), Client(timeout=2.0), Client(retries=1), Client(timeout=2.0, retries=2)]),
       crash=st.booleans())
def test_a_configuration_the_rules_refuse_runs_its_events(system, memory, n, client, crash):
    wl = mqlb.make_workload(mqlb.Poisson(2.0), mqlb.Exponential(1.0), memory_mb=memory, n_jobs=n, seed=n)
    if isinstance(system, MessageQueue):
        system = MessageQueue(queues=[Queue("jobs", system.queues[0].consumers, None, system.queues[0].prefetch,
                                            system.queues[0].max_length, delivery_limit=2,
                                            message_ttl=system.queues[0].message_ttl)], broker=system.broker) \
            if memory and system.queues[0].delivery_limit is None else system
    failures = [(1.0, 0)] if crash else []
    res = mqlb.simulate(system, wl, client=client, failures=failures)
    if fastpath.why_not(system, wl, client, failures) is not None:
        assert res.engine == "events"
    else:
        assert_identical(res, mqlb.simulate(system, wl, client=client, failures=failures, engine="events"))


def test_engine_must_be_a_known_name():
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'events', 'recursion'; got 'fast'"):
        mqlb.simulate(MessageQueue(consumers=FOUR), WL, engine="fast")
