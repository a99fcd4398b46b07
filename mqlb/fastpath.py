"""The fast path: the same result as the event engine, by recursion.

Many of the systems the book runs need no event engine at all. When nothing
can crash, time out, expire, overflow or be polled for, a first-come,
first-served server starts a job at ``max(arrival, the time a slot frees)``
and finishes it ``size / speed`` seconds later: the Lindley recursion for one
server, and its generalisation with a heap of slot-free times for several
(Kiefer and Wolfowitz). :func:`try_simulate` recognises those systems and
computes their :class:`~mqlb.result.Result` that way, tens of times faster;
for anything else it returns None and :func:`mqlb.simulate` runs its events.
The two loops the book runs most, a shared queue of equal consumers and
least connections to single-slot servers of equal weight, are compiled with
Numba (:mod:`mqlb._kernels`); the others are Python.

Eligible (see :func:`why_not` for the exact rules):

- a shared FCFS queue: a :class:`MessageQueue` with one queue that receives
  every job, prefetch 1, no length limit, delivery limit or TTL, and push
  delivery (the four hop latencies are constants: a message reaches the
  queue ``publish_latency`` after it is sent, a consumer holds it from the
  delivery until its ack is back); or a :class:`LoadBalancer` with
  ``max_conns=1`` and ``on_full="queue"`` (its policy picks among the idle
  servers, as the balancer does);
- a :class:`LoadBalancer` without ``max_conns`` pushing to FCFS servers with
  an unlimited backlog, one balancer instance with current counts, under
  the policies registered with ``fastpath=True``: round robin, weighted round robin
  and random dispatch do not look at the servers' state (one Lindley
  recursion per server); least connections and power of two choices read each
  server's open connections, which a heap of departures gives at every
  arrival. Random choices come from the same stream the balancer draws from.

Always required: at least one job, job memory 0 (memory is summed in event
order), FCFS servers with a finite number of slots, no injected failures, a
client that never retries (a finite client timeout is allowed where the
client's answer is only judged when it comes back).

Identical results. The records, the timeline and the server statistics equal
the event engine's field for field and bit for bit: every time is computed
with the same floating-point operations in the same order (the arrival clock
``now + (t - now)``, ``start + size / speed``, ``done + latency``, the
sampler's ``now + sample_every``). The one thing a recursion does not know is
the order in which SimPy processes *simultaneous* events, which depends on
when each event was scheduled. So after computing, the fast path checks that
no two event times coincide that could be processed in either order (an
arrival and a departure, two departures, a sample and any event); if any do,
it returns None and the event engine decides. Exact coincidences need
deterministic sizes or arrivals; with continuous distributions they do not
happen in practice.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array

import numpy as np

from . import _checks
from . import policies
from .degradations import DEGRADATIONS
from .loadbalancer import LoadBalancer
from .messagequeue import MessageQueue
from .result import COMPLETED, RECORD_DTYPE, TIMED_OUT, Result, ServerStats, Timeline

ENGINES = ("auto", "events", "recursion")
"""``simulate(engine=...)``: "auto" takes the fast path when it can, "events"
always runs the SimPy model, "recursion" insists on the fast path (ValueError
if the configuration is not eligible)."""

_SHARED, _DISPATCH = "shared queue", "dispatch"


class _Ineligible(Exception):
    """The computed run would differ from the event engine's (a tie, a limit)."""


def why_not(system, workload, client, failures=()) -> str | None:
    """None if the fast path can run this configuration, else the reason."""
    if not isinstance(system, (LoadBalancer, MessageQueue)):
        return "only a LoadBalancer or a MessageQueue"
    if not isinstance(failures, (list, tuple)) or failures:
        if isinstance(failures, (list, tuple)) and any(isinstance(f, DEGRADATIONS) for f in failures):
            return "degradations (slow or fail-fast servers) need the event engine"
        return "injected failures need the event engine"
    if isinstance(system, LoadBalancer) and system.ejection is not None:
        return "passive outlier ejection"
    if not len(workload):
        return "no jobs"
    if np.any(workload.memory_mb != 0):
        return "jobs hold memory (summed in event order)"
    if client.retries:
        return "clients retry"
    if client.holds_back or client.retry_budget is not None:
        return "clients hold back (a retry budget, adaptive throttling or a circuit breaker)"
    if isinstance(system, MessageQueue):
        if len(system.queues) != 1:
            return "more than one broker queue"
        q, broker = system.queues[0], system.broker
        if q.autoscaler is not None:
            return "autoscaled consumers (launched and stopped at run time)"
        if q.prefetch != 1:
            return "prefetch is not 1"
        if q.max_length is not None or q.delivery_limit is not None or q.message_ttl is not None:
            return "a queue length limit, delivery limit or message TTL"
        if broker.poll_interval > 0:
            return "consumers poll"
        if q.priorities is not None:
            return "message priorities"
        if math.isfinite(broker.memory_mb):
            return "a broker memory limit (its alarm blocks publishers)"
        if broker.persistent_write_s > 0:
            return "persistent messages (one disk writes them in turn)"
        if q.ack != "late":
            return "early acknowledgements (the credit comes back when the work starts)"
        servers = q.consumers
    else:
        servers = system.servers
        if not policies.get(system.policy).fastpath:
            return f"the policy {system.policy!r} (the fast path re-implements {', '.join(policies.names(fastpath=True))})"
        if system.balancers > 1 or system.info_delay > 0:
            return "several balancer instances or stale load information"
        if system.max_conns is None:
            if any(s.backlog is not None for s in servers):
                return "a server with a limited backlog (requests can be refused)"
        elif not (system.max_conns == 1 and system.on_full == "queue"):
            return "max_conns with rejection, or above 1"
        elif math.isfinite(client.timeout):
            return "a client timeout with the balancer's queue"
        elif system.orders_queue:
            return "priority classes, LIFO or CoDel in the balancer's queue"
    if any(s.discipline != "fcfs" for s in servers):
        return "processor sharing"
    if any(s.slots is None for s in servers):
        return "a server with unlimited slots"
    return None


def try_simulate(system, workload, client, seed: int, until, sample_every: float, failures,
                 engine: str = "auto", room: int | None = None) -> Result | None:
    """The result of ``simulate`` by recursion, or None when the event engine must run.

    Arguments as :func:`mqlb.simulate` received them (already checked);
    ``sample_every`` is the resolved sampling period (s) and ``room`` the most
    timeline samples the event engine keeps before it coarsens the timeline.
    """
    _checks.choice("engine", engine, ENGINES)
    if engine == "events":
        return None
    reason = why_not(system, workload, client, failures)
    result = None
    if reason is None:
        try:
            result = _simulate(system, workload, client, seed, until, sample_every, room)
        except _Ineligible as why:
            reason = str(why)
    if result is None and engine == "recursion":
        raise ValueError(f"engine='recursion' cannot run this configuration ({reason}); "
                         f"use engine='auto' or engine='events'")
    return result


# -- the arrival clock ----------------------------------------------------------------

def _arrival_clock(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The simulation clock at each arrival instant, and each record's instant.

    ``simulate`` sends every record of one arrival time in one callback and
    then waits ``max(t_next - now, 0)``, so the clock reads
    ``now + (t_next - now)``, which is ``t_next`` but for the last bit now
    and then. Solved as a fixed point (each step fixes at least one more
    instant; in practice one or two steps).
    """
    new = np.empty(len(times), dtype=bool)
    new[0] = True
    np.not_equal(times[1:], times[:-1], out=new[1:])
    first = np.flatnonzero(new)
    t = times[first]
    clock = t.copy()
    clock[0] = 0.0 + t[0]
    for _ in range(64):
        nxt = np.empty_like(clock)
        nxt[0] = clock[0]
        nxt[1:] = clock[:-1] + np.maximum(t[1:] - clock[:-1], 0.0)
        if np.array_equal(nxt, clock):
            break
        clock = nxt
    else:                                           # a long chain of off-by-one-bit instants
        clock = t.copy()
        now = clock[0] = 0.0 + t[0]
        for g in range(1, len(t)):
            now = clock[g] = now + max(t[g] - now, 0.0)
    if len(clock) > 1 and not np.all(clock[1:] > clock[:-1]):
        raise _Ineligible("two arrival instants fall on one clock time")
    return clock, np.cumsum(new) - 1


# -- the recursions ---------------------------------------------------------------------

def _shared_queue_fifo(clock: np.ndarray, size: np.ndarray, speed: list):
    """One FIFO queue in front of consumers that each take one job at a time.

    Each job goes to the consumer free longest (the broker's round-robin list
    of consumers with credit is in the order they became free; unused ones
    first, by number) and starts at ``max(arrival, free)``. Two consumers
    free at the same instant would be a tie, which the caller refuses.
    """
    n = len(speed)
    if len(set(speed)) == 1:
        return _shared_queue_equal(clock, size, speed[0], n)
    free = [-math.inf] * n                          # when each consumer is next free (s)
    start, done, server = array("d"), array("d"), array("l")
    put_start, put_done, put_server = start.append, done.append, server.append
    earliest, find = min, free.index
    for t, x in zip(clock.tolist(), size.tolist()):
        f = earliest(free)
        i = find(f)
        s = t if t > f else f
        d = free[i] = s + x / speed[i]
        put_start(s)
        put_done(d)
        put_server(i)
    return np.frombuffer(start), np.frombuffer(done), np.frombuffer(server, dtype=np.int_)


def _shared_queue_hops(clock: np.ndarray, size: np.ndarray, speed: list, deliver: float, ack: float):
    """The shared queue with deliver and ack latencies (s): a consumer is taken
    when the broker delivers (``max(arrival, free)``), starts when the message
    arrives (``taken + deliver``, computed as SimPy's clock does: the timer is
    set for ``ready - now``), and is free again when its ack reaches the
    broker (``done + ack``). Returns taken, start, done, free again, consumer."""
    free = [-math.inf] * len(speed)
    taken, start, done, freed, server = array("d"), array("d"), array("d"), array("d"), array("l")
    earliest, find = min, free.index
    for t, x in zip(clock.tolist(), size.tolist()):
        f = earliest(free)
        i = find(f)
        tau = t if t > f else f
        b = tau + ((tau + deliver) - tau) if deliver > 0 else tau
        d = b + x / speed[i]
        a = free[i] = d + ack if ack > 0 else d
        taken.append(tau)
        start.append(b)
        done.append(d)
        freed.append(a)
        server.append(i)
    return tuple(np.frombuffer(v) for v in (taken, start, done, freed)) + (np.frombuffer(server, dtype=np.int_),)


def _shared_queue_equal(clock: np.ndarray, size: np.ndarray, speed: float, n: int):
    """Equal consumers: the Kiefer-Wolfowitz recursion on a heap of free times.

    The compiled loop (:func:`mqlb._kernels.shared_queue_found`) keeps only
    the free time each job found; start and done follow with the same
    arithmetic in NumPy, and each job's consumer is the one that finished the
    job whose done time it found (the first n jobs take consumers 0 .. n-1).
    """
    from . import _kernels                          # Numba: about a second, once per process, when first used
    work = size / speed
    found = _kernels.shared_queue_found(clock, work, n)
    start = np.where(clock > found, clock, found)
    done = start + work
    count = len(done)
    first = min(n, count)
    order = np.argsort(done, kind="stable")
    ranked = done[order]
    if np.any(ranked[1:] == ranked[:-1]):
        raise _Ineligible("two consumers become free at the same instant")
    before = np.arange(count, dtype=np.int32)      # the job each job follows on its consumer
    before[first:] = order[np.searchsorted(ranked, found[first:])]
    while before.max(initial=0) >= first:            # follow the chains back to the first n jobs
        before = before[before]
    return start, done, before


def _balancer_queue(clock: np.ndarray, size: np.ndarray, speed: list, spec: LoadBalancer, rng: random.Random,
                    weights: list):
    """A balancer with ``max_conns=1`` and a queue: the policy picks among the
    idle servers; when none is idle the request waits, and the first server
    to free up takes the oldest request."""
    n, count, policy = len(speed), len(clock), spec.policy
    clock, size = clock.tolist(), size.tolist()
    start, done, server = [0.0] * count, [0.0] * count, [0] * count
    free = [-math.inf] * n
    nxt = 0                                         # round-robin position (shared by rr and lc)
    current = [0.0] * n                             # smooth weighted round robin state
    everyone = range(n)
    for j in range(count):
        t = clock[j]
        idle = [i for i in everyone if free[i] < t]
        if not idle:
            f = min(free)
            i = free.index(f)
            s = f
        else:
            s = t
            if policy in ("round_robin", "least_connections"):
                i = nxt % n
                while free[i] >= t:
                    i = i + 1 if i + 1 < n else 0
                nxt = i + 1
            elif policy == "random":
                i = idle[int(rng.random() * len(idle))]
            elif policy == "power_of_two":
                i = idle[0] if len(idle) < 2 else rng.sample(idle, 2)[0]
            else:
                total, i = 0.0, idle[0]
                for k in idle:
                    current[k] += weights[k]
                    total += weights[k]
                    if current[k] > current[i]:
                        i = k
                current[i] -= total
        start[j] = s
        done[j] = free[i] = s + size[j] / speed[i]
        server[j] = i
    return np.array(start), np.array(done), np.array(server)


def _static_choices(policy: str, count: int, n: int, rng: random.Random, weights: list) -> list:
    """Servers chosen by a policy that ignores the servers' state, in job order."""
    if policy == "round_robin":
        return (np.arange(count) % n).tolist()
    if policy == "random":
        r = rng.random
        return [int(r() * n) for _ in range(count)]
    # Smooth weighted round robin: deterministic; once its state is back to all
    # zeros (exactly), the sequence repeats.
    current, out = [0.0] * n, []
    zero = [0.0] * n
    while len(out) < count:
        total, best = 0.0, 0
        for i in range(n):
            current[i] += weights[i]
            total += weights[i]
            if current[i] > current[best]:
                best = i
        current[best] -= total
        out.append(best)
        if current == zero:
            return (out * (count // len(out) + 1))[:count]
    return out


def _dispatch(clock: np.ndarray, size: np.ndarray, speed: list, slots: list, spec: LoadBalancer,
              rng: random.Random, weights: list):
    """A balancer without ``max_conns``: each request goes straight to a server
    chosen by the policy; each server serves its own FCFS queue on its slots."""
    n, count, policy = len(speed), len(clock), spec.policy
    if policy in ("round_robin", "random", "weighted_round_robin"):
        chosen = _static_choices(policy, count, n, rng, weights)
        server = np.array(chosen)
        work = (size / np.asarray(speed)[server]).tolist()
        if any(k != 1 for k in slots):
            start, done = [0.0] * count, [0.0] * count
            slot_free = [[-math.inf] * min(k, count) for k in slots]   # per server: slot-free times (a heap;
                                                                         # never more slots than jobs)
            replace = heapq.heapreplace
            for j, (t, x, i) in enumerate(zip(clock.tolist(), work, chosen)):
                heap = slot_free[i]
                f = heap[0]
                s = start[j] = t if t > f else f
                d = done[j] = s + x
                replace(heap, d)
            return np.array(start), np.array(done), server
        free, done = [-math.inf] * n, []            # a Lindley recursion per server
        put = done.append
        for t, x, i in zip(clock.tolist(), work, chosen):
            f = free[i]
            d = free[i] = (t if t > f else f) + x
            put(d)
        done = np.array(done)

    # Least connections and power of two choices read the open connections:
    # departures (one heap for all servers) are settled before each arrival.
    elif policy == "least_connections" and all(w == 1.0 for w in weights) and all(k == 1 for k in slots):
        done, server = _least_connections_plain(clock, size, speed)
    else:
        start, done, server = _connections_general(clock.tolist(), size.tolist(), speed, slots, policy, rng, weights)
        if start is not None:
            return start, done, server
    # One slot: a job starts when it arrives or when the job before it on its server is done.
    count = len(done)
    order = np.argsort(server.astype(np.int16), kind="stable")
    before = np.full(count, -math.inf)
    mine = done[order]
    follows = server[order][1:] == server[order][:-1]
    before[order[1:][follows]] = mine[:-1][follows]
    return np.where(clock > before, clock, before), done, server


def _least_connections_plain(clock: np.ndarray, size: np.ndarray, speed: list):
    """Least connections to single-slot servers of equal weight: (done, server).

    The compiled loop (:func:`mqlb._kernels.least_connections_done`): the
    fewest open requests, ties to the first from the round-robin position;
    departures strictly before an arrival settle first. Equal speeds use the
    work ``size / speed`` computed once, unequal ones divide per job. Two
    equal done times leave the order of departures open: :func:`_simulate`
    refuses them ("two jobs finish at the same instant").
    """
    from . import _kernels                          # Numba: about a second, once per process, when first used
    same = len(set(speed)) == 1
    work = size / speed[0] if same else size
    return _kernels.least_connections_done(clock, work, np.asarray(speed, dtype=float), not same)


def _connections_general(clock, size, speed, slots, policy, rng, weights):
    """Least connections (any weights and slots) or power of two choices:
    (start or None, done, server); start is None for single-slot servers."""
    n, count = len(speed), len(clock)
    slot_free = [[-math.inf] * min(k, count) for k in slots]   # never more slots than jobs
    replace = heapq.heapreplace
    conns = [0] * n
    unit = all(w == 1.0 for w in weights)
    load = conns if unit else [0.0] * n             # conns / weight, as the balancer computes it
    departures, owner = [math.inf], {}              # owner: done time -> server, in job order
    push, pop = heapq.heappush, heapq.heappop
    earliest, find = min, load.index
    everyone = list(range(n))
    nxt = 0                                         # round-robin position for ties
    lc = policy == "least_connections"
    single = all(k == 1 for k in slots)
    free = [-math.inf] * n                          # single-slot servers: when each is next free
    start = array("d")
    put_start = start.append
    for t, x in zip(clock, size):
        while departures[0] < t:
            k = owner[pop(departures)]
            conns[k] -= 1
            if not unit:
                load[k] = conns[k] / weights[k]
        if lc:                                      # fewest per weight, first from the round-robin position
            low = earliest(load)
            i = find(low)
            if i < nxt and low in load[nxt:]:
                i = find(low, nxt)
            nxt = i + 1 if i + 1 < n else 0
        elif n < 2:
            i = 0
        else:
            a, b = rng.sample(everyone, 2)
            i = a if load[a] <= load[b] else b
        conns[i] += 1
        if not unit:
            load[i] = conns[i] / weights[i]
        if single:
            f = free[i]
            d = free[i] = (t if t > f else f) + x / speed[i]
        else:
            heap = slot_free[i]
            f = heap[0]
            s = t if t > f else f
            put_start(s)
            d = s + x / speed[i]
            replace(heap, d)
        owner[d] = i
        push(departures, d)
    if len(owner) < count:                          # two departures at one instant
        raise _Ineligible("two jobs finish at the same instant")
    done = np.fromiter(owner.keys(), dtype=float, count=count)
    server = np.fromiter(owner.values(), dtype=np.int_, count=count)
    return (None if single else np.frombuffer(start)), done, server


# -- checks and bookkeeping ---------------------------------------------------------------

def _meets(sorted_times: np.ndarray, times: np.ndarray) -> bool:
    """Does any of ``times`` equal one of ``sorted_times`` exactly?"""
    if not len(sorted_times) or not len(times):
        return False
    at = np.minimum(np.searchsorted(sorted_times, times), len(sorted_times) - 1)
    return bool(np.any(sorted_times[at] == times))


def _at(sorted_times: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """How many of ``sorted_times`` are <= each sample time."""
    return np.searchsorted(sorted_times, samples, side="right")


def _simulate(system, workload, client, seed: int, until, sample_every: float, room: int | None) -> Result:
    if isinstance(system, MessageQueue) and (system.exchange == "fanout" or system.queues[0].bindings is None):
        count = len(workload)                        # one queue that takes every message
        rec_job, rec_queue, queue_names = np.arange(count), np.zeros(count, dtype=np.int16), (system.queues[0].name,)
    else:
        rec_job, rec_queue, queue_names = system._layout(workload)
    if len(rec_job) != len(workload) or np.any(rec_queue != 0):
        raise _Ineligible("a job is not routed to exactly one queue")
    is_mq = isinstance(system, MessageQueue)
    specs = system.queues[0].consumers if is_mq else system.servers
    n = len(specs)
    speed = [s.speed for s in specs]
    policy_seed, _client_seed = np.random.SeedSequence(seed).generate_state(2)

    arrival = workload.arrival
    instants, group = _arrival_clock(arrival)
    clock = instants[group]                          # each record's arrival on the clock
    sizes = np.array(workload.size, dtype=float)     # a copy: contiguous and writable, as the kernels take it
    taken = freed = None                             # delivered to / free again (hops only)
    if is_mq:
        broker = system.broker
        latency = broker.publish_latency
        enter = clock + latency if latency > 0 else clock   # when the message reaches the queue
        if broker.deliver_latency > 0 or broker.ack_latency > 0:
            taken, start, done, freed, server = _shared_queue_hops(
                enter, sizes, speed, broker.deliver_latency, broker.ack_latency)
        else:
            start, done, server = _shared_queue_fifo(enter, sizes, speed)
        kind = _SHARED
    else:
        rng = random.Random(int(policy_seed))
        if system.weights is not None:
            weights = list(system.weights)
        elif system.policy == "weighted_round_robin":
            weights = [s.capacity if math.isfinite(s.capacity) else s.speed for s in specs]
        else:
            weights = [1.0] * n
        enter = clock
        if system.max_conns == 1:
            start, done, server = _balancer_queue(clock, sizes, speed, system, rng, weights)
            kind = _SHARED
        else:
            start, done, server = _dispatch(clock, sizes, speed, [s.slots for s in specs],
                                            system, rng, weights)
            kind = _DISPATCH
    server = server.astype(np.int32)

    # Simultaneous events: the order SimPy would take them in is not known here.
    done_sorted = np.sort(done, kind="stable")
    if np.any(done_sorted[1:] == done_sorted[:-1]):
        raise _Ineligible("two jobs finish at the same instant")
    if _meets(done_sorted, instants):
        raise _Ineligible("a job finishes at an arrival instant")
    if enter is not clock and (_meets(done_sorted, enter) or _meets(np.sort(enter), instants)):
        raise _Ineligible("a message reaches the queue at another event's instant")
    hops = [times for times, latency in ((start, broker.deliver_latency), (freed, broker.ack_latency))
            if latency > 0] if taken is not None else []
    if hops:                                         # begin and ack events: none may meet another event
        every = np.sort(np.concatenate([instants, done] + ([np.unique(enter)] if enter is not clock else []) + hops))
        if np.any(every[1:] == every[:-1]):
            raise _Ineligible("a delivery or an ack falls on another event's instant")
    end_time = float(done_sorted[-1])               # the last event: the run stops here
    if until is not None and not end_time < until:
        raise _Ineligible("the run would reach its time limit (until)")
    if not is_mq and system.max_conns == 1 and math.isfinite(system.queue_timeout):
        waited = start > clock
        if np.any(start[waited] >= clock[waited] + system.queue_timeout):
            raise _Ineligible("a request would reach the balancer's queue timeout")

    samples, now = [], 0.0                           # the sampler's times: 0, then + sample_every each
    bound = _checks.max_samples(n, 1) if room is None else min(room, _checks.max_samples(n, 1))
    while now <= end_time:
        samples.append(now)
        now += sample_every
        if len(samples) > bound:
            raise _Ineligible("the timeline would be coarsened (more samples than the engine keeps)")
    sample_at = np.array(samples)
    later = sample_at[1:]                            # the first sample comes before anything at time 0
    if _meets(done_sorted, later) or _meets(instants, later) or \
            (enter is not clock and _meets(np.sort(enter), later)) or \
            any(_meets(np.sort(times), later) for times in hops):
        raise _Ineligible("a timeline sample falls on an event's instant")

    records = _records(system, workload, rec_job, rec_queue, clock, start, done, server, client, is_mq)
    timeline, busiest = _timeline(kind, n, sample_at, clock, enter, start, done, server, done_sorted,
                                  taken, freed)
    servers = ServerStats(
        names=tuple(f"{system.queues[0].name}[{k}]" for k in range(n)) if is_mq
        else tuple(f"server {i}" for i in range(n)),
        capacity=np.array([s.capacity for s in specs]),
        max_in_service=busiest,
        max_memory_mb=np.zeros(n),
        crashes=np.zeros(n, dtype=np.int64),
        up_s=np.full(n, end_time),
        errors=np.zeros(n, dtype=np.int64),
    )
    return Result(records, timeline, servers, workload.kinds, queue_names, system.capacity, engine="recursion")


def _records(system, workload, rec_job, rec_queue, clock, start, done, server, client, is_mq) -> np.ndarray:
    records = np.zeros(len(rec_job), dtype=RECORD_DTYPE)
    records["id"] = rec_job
    records["kind"] = workload.kind[rec_job]
    records["queue"] = rec_queue
    records["size"] = workload.size
    records["arrival"] = workload.arrival
    records["start"] = start
    records["done"] = done
    end = done + (system.broker.reply_latency if is_mq else system.latency)
    outcome = np.full(len(rec_job), COMPLETED, dtype=np.int8)
    if math.isfinite(client.timeout):               # judged when the answer comes back
        deadline = clock + client.timeout
        late = end > deadline
        outcome[late] = TIMED_OUT
        end = np.where(late, deadline, end)
        # The record rule: start and done only tell service before the client gave up.
        records["done"] = np.where(late & (done > deadline), np.nan, done)
        unstarted = late & (start > deadline)
        records["start"] = np.where(unstarted, np.nan, start)
        server = np.where(unstarted, -1, server)
    records["end"] = end
    records["server"] = server
    records["attempts"] = 1
    records["starts"] = 1
    records["deliveries"] = 1 if is_mq else 0
    records["outcome"] = outcome
    records["work"] = workload.size
    return records


def _timeline(kind, n, sample_at, clock, enter, start, done, server, done_sorted, taken=None, freed=None):
    """The sampled state and each server's most jobs in service at once.

    A shared queue's consumer holds a message from ``taken`` (delivered; it
    counts as in service while on its way) to ``freed`` (the ack is back);
    without hop latencies both are start and done."""
    taken = start if taken is None else taken
    freed = done if freed is None else freed
    m = len(sample_at)
    in_system = _at(clock, sample_at) - _at(done_sorted, sample_at)
    in_flight = np.zeros((m, n), dtype=np.int64)
    in_service = np.zeros((m, n), dtype=np.int64)
    busiest = np.zeros(n, dtype=np.int64)
    order = np.argsort(server.astype(np.int16), kind="stable")   # a radix sort
    bounds = np.searchsorted(server[order], np.arange(n + 1))
    for i in range(n):
        mine = order[bounds[i]:bounds[i + 1]]
        if not len(mine):
            continue
        starts = np.sort(start[mine], kind="stable")
        dones = np.sort(done[mine], kind="stable")
        finished = _at(dones, sample_at)
        if kind == _DISPATCH:
            in_service[:, i] = _at(starts, sample_at) - finished
            in_flight[:, i] = _at(clock[mine], sample_at) - finished
        else:
            held = _at(np.sort(taken[mine], kind="stable"), sample_at)
            in_service[:, i] = held - finished
            in_flight[:, i] = held - _at(np.sort(freed[mine], kind="stable"), sample_at)
        busiest[i] = int(np.max(np.arange(1, len(starts) + 1) - _at(dones, starts))) if kind == _DISPATCH else 1
    if kind == _SHARED:
        queue = _at(enter, sample_at) - _at(np.sort(taken, kind="stable"), sample_at)
    else:
        queue = np.zeros(m, dtype=np.int64)
    for row in (in_system, queue, in_flight, in_service):
        row[0] = 0                                   # the first sample precedes every event
    timeline = Timeline(
        time=sample_at,
        queue=queue.astype(np.int64).reshape(m, 1),
        in_flight=in_flight,
        in_service=in_service,
        memory_mb=np.zeros((m, n)),
        up=np.ones((m, n), dtype=bool),
        in_system=in_system.astype(np.int64),
        crashes=np.array([], dtype=[("time", float), ("server", np.int32)]),
    )
    return timeline, busiest
