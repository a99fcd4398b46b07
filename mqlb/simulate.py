"""The one entry point: run a system on a workload and account for every job.

``simulate`` builds the SimPy environment, starts one arrival process that
sends the workload's jobs at their arrival times, lets the load balancer or
the broker do its work, samples the state for the timeline, and returns a
:class:`~mqlb.result.Result`. The bookkeeping class :class:`_Run` is the
single place where a job gets its outcome, exactly once.
"""

from __future__ import annotations

import dataclasses
import math
import random
import warnings

import numpy as np
import simpy

from . import _checks
from . import fastpath
from .budget import StoppedEarly, check_work, event_budget, expected_span, run_events
from .client import Client, Holdback
from .degradations import DEGRADATIONS, Slow
from .hybrid import Hybrid
from .loadbalancer import LoadBalancer, LoadBalancerRun
from .messagequeue import MessageQueue
from .pathsplit import PathSplit
from .result import (COMPLETED, EJECTION_DTYPE, IN_SYSTEM, LOST, NOT_SENT, RECORD_DTYPE, REFUSED_LOCALLY, TIMED_OUT,
                     Result,
                     ServerStats)
from .sampler import Sampler
from .server import Task
from .workload import Workload

_SAMPLES = 200   # default number of timeline samples over the arrival period


class _Run:
    """Per-record bookkeeping shared by every system: attempts, outcomes, work."""

    def __init__(self, env, workload: Workload, rec_job: np.ndarray, rec_queue: np.ndarray,
                 client: Client, rng: random.Random):
        n = len(rec_job)
        self.queue = rec_queue.tolist()
        self.env, self.client, self.rng = env, client, rng
        self.size = workload.size[rec_job].tolist()
        self.memory = workload.memory_mb[rec_job].tolist()
        self.kind = workload.kind[rec_job].tolist()      # job class of each record (an index into kinds)
        self.kinds = workload.kinds
        self.start = [math.nan] * n
        self.done = [math.nan] * n
        self.end = [math.nan] * n
        self.server = [-1] * n
        self.attempts = [0] * n
        self.starts = [0] * n
        self.deliveries = [0] * n
        self.outcome = [IN_SYSTEM] * n
        self.work = [0.0] * n
        self.live = [0] * n              # the attempt the client is waiting for
        self.sent = [0.0] * n            # when that attempt was sent (s)
        self.pending = n                 # records without an outcome
        self.tasks = 0                   # attempts still held somewhere in the system
        self.in_system = 0
        self.finished = env.event()
        self.crash_log: list = []
        self.ejection_log: list = []     # (time, server, duration) of each outlier ejection
        self.system = None
        controlled = client.holds_back or client.retry_budget is not None
        self.holdback = Holdback(client, rng) if controlled else None
        # A client that retries or holds back must learn of a timeout when it happens.
        self.deadline_events = (client.retries > 0 or controlled) and math.isfinite(client.timeout)

    # -- sending -----------------------------------------------------------------
    def arrive(self, rec: int) -> None:
        self.in_system += 1
        self.send(rec, 1)

    def unroutable(self, rec: int) -> None:
        """A message that matched no queue: the broker drops it silently."""
        self.in_system += 1
        self.sent[rec] = self.env.now
        self.attempts[rec] = self.live[rec] = 1
        self._finalize(rec, LOST, self.env.now)

    def send(self, rec: int, attempt: int) -> None:
        now = self.env.now
        if self.holdback is not None and not self.holdback.allow(rec, attempt, now):
            self._finalize(rec, REFUSED_LOCALLY, now)     # never sent: ``attempts`` stays attempt - 1
            return
        self.attempts[rec] = self.live[rec] = attempt
        self.sent[rec] = now
        task = Task(rec, attempt, self.size[rec], self.memory[rec], now)
        self.tasks += 1
        if self.deadline_events:
            self.env.timeout(self.client.timeout).callbacks.append(lambda _e: self._deadline(task))
        self.system.send(task)

    def queue_of(self, task: Task) -> int:
        """The broker queue a message is routed to."""
        return self.queue[task.rec]

    # -- what the systems report ------------------------------------------------
    def is_current(self, task: Task) -> bool:
        """Is a client still waiting for this attempt's answer?"""
        rec = task.rec
        return self.outcome[rec] == IN_SYSTEM and self.live[rec] == task.attempt

    def started(self, task: Task, server: int) -> None:
        rec = task.rec
        self.starts[rec] += 1
        if self.outcome[rec] == IN_SYSTEM and self.live[rec] == task.attempt:
            self.start[rec] = self.env.now
            self.server[rec] = server

    def add_work(self, task: Task, work: float) -> None:
        self.work[task.rec] += work

    def completed(self, task: Task, at: float) -> None:
        """Service finished now; the answer reaches the client at ``at``."""
        self.tasks -= 1
        rec = task.rec
        if self.outcome[rec] != IN_SYSTEM or self.live[rec] != task.attempt:
            self.check_finished()
            return                                   # an answer nobody waits for
        self.done[rec] = self.env.now
        deadline = task.sent + self.client.timeout
        if at > deadline:
            self._fail(rec, task.attempt, TIMED_OUT, deadline)
        else:
            if self.holdback is not None:
                self.holdback.answered(rec, task.attempt, self.env.now)
            self._finalize(rec, COMPLETED, at)

    def failed(self, task: Task, outcome: int, at: float | None = None) -> None:
        """The attempt failed with ``outcome`` at time ``at`` (default now)."""
        self.ended(task)
        if not self.is_current(task):
            return
        at = self.env.now if at is None else at
        deadline = task.sent + self.client.timeout
        if at > deadline:                            # the client had given up first
            outcome, at = TIMED_OUT, deadline
        self._fail(task.rec, task.attempt, outcome, at)

    def client_gone(self, task: Task) -> bool:
        """True if nobody waits for ``task`` any more (settling a lapsed timeout)."""
        if not self.is_current(task):
            return True
        deadline = task.sent + self.client.timeout
        if self.env.now > deadline:
            self._fail(task.rec, task.attempt, TIMED_OUT, deadline)
            return True
        return False

    def ended(self, task: Task) -> None:
        """``task`` has left the system (answered, failed or dropped)."""
        self.tasks -= 1
        self.check_finished()

    def revived(self, task: Task) -> None:
        """A processed message comes back (its ack was lost in a crash)."""
        self.tasks += 1

    def check_finished(self) -> None:
        if self.pending == 0 and self.tasks == 0 and not self.finished.triggered:
            self.finished.succeed()

    def crashed(self, node) -> None:
        self.crash_log.append((self.env.now, node.number))

    # -- outcomes ---------------------------------------------------------------
    def _deadline(self, task: Task) -> None:
        if self.is_current(task):
            self._fail(task.rec, task.attempt, TIMED_OUT, self.env.now)

    def _fail(self, rec: int, attempt: int, outcome: int, at: float) -> None:
        holdback = self.holdback
        if holdback is not None:
            holdback.failed(rec, attempt, self.env.now)
        if attempt <= self.client.retries and (holdback is None or holdback.may_retry()):
            self.live[rec] = attempt + 1             # the old attempt is abandoned, and with it
            self.start[rec] = self.done[rec] = math.nan   # its times: they describe the deciding attempt
            self.server[rec] = -1
            wait = self.client.wait_before(attempt + 1, self.rng.random())
            delay = max(at + wait - self.env.now, 0.0)
            self.env.timeout(delay).callbacks.append(lambda _e: self.send(rec, attempt + 1))
        else:
            self._finalize(rec, outcome, at)

    def _finalize(self, rec: int, outcome: int, at: float) -> None:
        self.outcome[rec] = outcome
        self.end[rec] = at
        if outcome == TIMED_OUT:
            self._forget_late_service(rec, at)
        self.pending -= 1
        self.in_system -= 1
        self.check_finished()

    def _forget_late_service(self, rec: int, gave_up: float) -> None:
        """The record rule: ``start`` and ``done`` only tell service that happened
        before the client gave up; later service is work for nobody."""
        if self.done[rec] > gave_up:
            self.done[rec] = math.nan
        if self.start[rec] > gave_up:
            self.start[rec] = math.nan
            self.server[rec] = -1

    def close(self) -> None:
        """At the end: settle lapsed timeouts; jobs never sent are ``not_sent``;
        the rest stays ``in_system``."""
        now = self.env.now
        for rec in range(len(self.outcome)):
            if self.outcome[rec] != IN_SYSTEM:
                continue
            if self.attempts[rec] == 0:
                self.outcome[rec] = NOT_SENT
            elif self.sent[rec] + self.client.timeout <= now and self.live[rec] == self.attempts[rec]:
                self.outcome[rec] = TIMED_OUT
                self.end[rec] = self.sent[rec] + self.client.timeout
                self._forget_late_service(rec, self.end[rec])


def _checked_failures(failures, n_servers: int) -> list:
    """Crashes as (time_s, server) pairs; degradations (Slow, FailFast) as they are."""
    what = "a list of (time_s, server) pairs (crashes), Slow or FailFast"
    if isinstance(failures, (str, bytes)) or not hasattr(failures, "__iter__"):
        raise TypeError(f"failures must be {what}, got {failures!r}")
    out = []
    for item in failures:
        if isinstance(item, DEGRADATIONS):
            if item.server >= n_servers:
                raise ValueError(f"{type(item).__name__} server must be a server index from 0 to "
                                 f"{n_servers - 1}, got {item.server}")
            out.append(item)
            continue
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"failures must be {what}, got {item!r}")
        when = _checks.seconds("failure time", item[0], allow_zero=True)
        server = _checks.count("failure server", item[1], minimum=0)
        if server >= n_servers:
            raise ValueError(f"failure server must be a server index from 0 to {n_servers - 1}, got {server}")
        out.append((when, server))
    return out


def _inject(env, nodes, item) -> None:
    """Schedule one crash (time_s, server) or degradation (Slow, FailFast)."""
    if not isinstance(item, DEGRADATIONS):
        when, server = item
        env.timeout(when).callbacks.append(lambda _e, node=nodes[server]: node.kill())
        return
    node = nodes[item.server]
    if isinstance(item, Slow):
        change, value = node.slow_down, item.factor
    else:
        if not isinstance(node.owner, LoadBalancerRun):
            raise ValueError(f"FailFast server must be a server behind a load balancer; server {item.server} is "
                             f"a broker's consumer (use Slow, or a crash (time_s, server))")
        change, value = node.fail_fast, item.error_s
    env.timeout(item.at_s).callbacks.append(lambda _e: change(value, True))
    if math.isfinite(item.duration_s):
        env.timeout(item.at_s + item.duration_s).callbacks.append(lambda _e: change(value, False))


def _servers_and_queues(system) -> tuple:
    """(servers or consumers, queues) of a system, as its timeline has them."""
    if isinstance(system, LoadBalancer):
        return len(system.servers), 1
    if isinstance(system, MessageQueue):
        return sum((q.autoscaler.max_consumers if q.autoscaler else len(q.consumers)) for q in system.queues), \
            len(system.queues)
    if isinstance(system, PathSplit):
        return sum(len(p.servers) for p in system.pools.values()), len(system.pools)
    front, back = _servers_and_queues(system.front), _servers_and_queues(system.back)
    return front[0] + back[0], front[1] + back[1]


def simulate(system, workload: Workload, *, client: Client = Client(), seed: int = 0,
             until: float | None = None, sample_every: float | None = None, failures=(),
             max_events: int | None = None, engine: str = "auto") -> Result:
    """Run ``system`` (a :class:`LoadBalancer`, :class:`MessageQueue` or
    :class:`Hybrid` or :class:`PathSplit`) on ``workload`` and return every job's record, a timeline
    and a summary.

    client: how clients wait and retry (:class:`Client`).
    seed: seeds the system's own random choices (random policies, jitter); the
        workload carries its own seed. Same inputs, same result, bit for bit.
    until: stop at this time (s). By default the run lasts until every job has
        an outcome and the servers have finished all the work they still hold
        (work for clients who gave up counts as wasted). Jobs still in the
        system when the run stops are reported as ``in_system``; jobs that
        would arrive after ``until`` as ``not_sent``.
    sample_every: seconds between timeline samples (default: about 200 samples
        over the arrival period or the time the servers need for all the work,
        whichever is longer, and at most 2 000 however long the run lasts; see
        :class:`~mqlb.result.Timeline` for long runs).
    max_events: the most simulation events the run may process (default: a
        hundred per job and attempt, plus the polls of idle consumers; enough
        for any run that is not stuck in a loop, such as consumers crashing
        on the same messages for ever). A run that reaches it stops, warns
        with :class:`StoppedEarly` and says why in ``Result.stopped_early``;
        pass a larger ``max_events`` to let it run longer.
    failures: injected crashes, a list of ``(time_s, server)``: the server (or
        consumer; numbered as in ``Result.servers.names``) crashes at that time
        and restarts after its ``restart_s``, as if it had run out of memory.
        The list may also hold degradations (:mod:`mqlb.degradations`):
        ``Slow(at_s, server, duration_s, factor)``, a server that works at a
        fraction of its speed for a while, and ``FailFast(at_s, server,
        duration_s, error_s)``, one that answers every request with an error
        (outcome ``rejected``) ``error_s`` after receiving it.
    engine: "auto" (default) computes the result by recursion when the
        configuration allows it (see :mod:`mqlb.fastpath`; the same records,
        bit for bit) and runs the events otherwise; "events" always runs the
        SimPy model; "recursion" insists on the fast path (ValueError if the
        configuration needs events). ``Result.engine`` says which one ran.
    """
    _checks.instance("system", system, (LoadBalancer, MessageQueue, Hybrid, PathSplit),
                     "a LoadBalancer, a MessageQueue, a Hybrid or a PathSplit")
    _checks.instance("workload", workload, Workload, "a Workload from make_workload")
    _checks.instance("client", client, Client, "a Client")
    _checks.count("seed", seed, minimum=0)
    if until is not None:
        until = _checks.seconds("until", until)
    last = float(workload.arrival[-1]) if len(workload) else 0.0
    span = expected_span(system, workload)
    room = None
    if sample_every is None:   # cover the arrivals and the time to drain the work, in about 200 samples
        room = 10 * _SAMPLES
        drain = workload.total_work / system.capacity if math.isfinite(system.capacity) else 0.0
        sample_every = max(last, drain, float(workload.size.mean()) if len(workload) else 1.0, 1e-6) / _SAMPLES
    else:
        sample_every = _checks.seconds("sample_every", sample_every)
        samples, length = min(span, until or math.inf) / sample_every, min(span, until or math.inf)
        room = _checks.max_samples(*_servers_and_queues(system))
        if samples > room:
            raise ValueError(
                f"sample_every={sample_every!r} s would take about {samples:.3g} timeline samples over the run's "
                f"{length:.3g} s or more; at most {room:,} for this system: use sample_every >= "
                f"{length / room:.2g} s (or leave it out)")
    if max_events is not None:
        max_events = _checks.count("max_events", max_events)
    fast = fastpath.try_simulate(system, workload, client, seed, until, sample_every, failures, engine, room)
    if fast is not None:
        return fast

    env = simpy.Environment()
    policy_seed, client_seed = np.random.SeedSequence(seed).generate_state(2)
    rec_job, rec_queue, queue_names = system._layout(workload)
    check_work(system, workload, len(rec_job), client, span)
    run = _Run(env, workload, rec_job, rec_queue, client, random.Random(int(client_seed)))
    net = run.system = system._start(env, run, int(policy_seed))
    for item in _checked_failures(failures, len(net.nodes)):
        _inject(env, net.nodes, item)
    run.check_finished()

    # Records are in job order (a job's copies, one per queue it is routed to, side by side).
    times = workload.arrival[rec_job].tolist()
    unroutable = (rec_queue < 0).tolist()
    n_recs, next_rec = len(times), 0

    def arrive(_event):
        """Send every record arriving now, then wait for the next arrival."""
        nonlocal next_rec
        rec = next_rec
        now = times[rec]
        while rec < n_recs and times[rec] == now:
            if unroutable[rec]:
                run.unroutable(rec)
            else:
                run.arrive(rec)
            rec += 1
        next_rec = rec
        if rec < n_recs:
            env.timeout(max(times[rec] - env.now, 0.0)).callbacks.append(arrive)

    sampler = Sampler(env, net, run, sample_every, room)
    if n_recs:
        env.timeout(times[0]).callbacks.append(arrive)
    env.process(sampler.process())
    stop = env.any_of([run.finished] + ([env.timeout(until)] if until is not None else []))
    budget = max_events if max_events is not None else event_budget(system, len(rec_job), client, span)
    stopped_early = None
    if not run_events(env, stop, budget):
        held = (f"{run.pending:,} jobs still without an outcome (reported as in_system) and {run.tasks:,} requests "
                f"or messages still held by the servers or queues (their further work is not counted)")
        if math.isinf(env.peek()):          # a bug: work left and nothing scheduled to do it
            stopped_early = f"stopped at t = {env.now:.6g} s with nothing left to happen but {held}"
        else:
            stopped_early = (
                f"stopped at t = {env.now:.6g} s after {budget:,} events with {held}, perhaps consumers crashing "
                f"on the same messages for ever; pass max_events= more than {budget:,} to let it run longer, or "
                f"until= to stop at a set time")
        warnings.warn(stopped_early, StoppedEarly, stacklevel=2)
    run.close()

    records = np.zeros(len(rec_job), dtype=RECORD_DTYPE)
    records["id"] = rec_job
    records["kind"] = workload.kind[rec_job]
    records["queue"] = rec_queue
    records["size"] = run.size
    records["arrival"] = workload.arrival[rec_job]
    for name in ("start", "done", "end", "server", "attempts", "starts", "deliveries", "outcome", "work"):
        records[name] = getattr(run, name)

    nodes = net.nodes
    timeline = sampler.timeline(run.crash_log)
    if run.ejection_log:
        timeline = dataclasses.replace(timeline, ejections=np.array(run.ejection_log, dtype=EJECTION_DTYPE))
    servers = ServerStats(
        names=net.node_names,
        capacity=np.array([s.capacity for s in net.specs]),
        max_in_service=np.array([n.max_in_service for n in nodes]),
        max_memory_mb=np.array([n.max_memory for n in nodes]),
        crashes=np.array([n.crashes for n in nodes]),
        up_s=np.array(net.up_seconds(env.now) if hasattr(net, "up_seconds") else [env.now] * len(nodes)),
        errors=np.array([n.errors for n in nodes], dtype=np.int64),
    )
    broker = getattr(net, "back", net)      # a Hybrid's broker is its back tier
    blocked = tuple((start, env.now if end is None else end) for start, end in getattr(broker, "alarms", ()))
    return Result(records, timeline, servers, workload.kinds, queue_names, system.capacity, stopped_early,
                  publish_blocked=blocked)
