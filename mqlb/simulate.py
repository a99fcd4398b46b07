"""The one entry point: run a system on a workload and account for every job.

``simulate`` builds the SimPy environment, starts one arrival process that
sends the workload's jobs at their arrival times, lets the load balancer or
the broker do its work, samples the state for the timeline, and returns a
:class:`~mqlb.result.Result`. The bookkeeping class :class:`_Run` is the
single place where a job gets its outcome, exactly once.
"""

from __future__ import annotations

import math
import random

import numpy as np
import simpy

from . import _checks
from . import fastpath
from .client import Client
from .hybrid import Hybrid
from .loadbalancer import LoadBalancer
from .messagequeue import MessageQueue
from .result import (COMPLETED, IN_SYSTEM, LOST, RECORD_DTYPE, TIMED_OUT, Result, ServerStats,
                     Timeline)
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
        self.system = None
        self.deadline_events = client.retries > 0 and math.isfinite(client.timeout)

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
        if attempt <= self.client.retries:
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
        self.pending -= 1
        self.in_system -= 1
        self.check_finished()

    def close(self) -> None:
        """At the end: settle lapsed timeouts; the rest stays ``in_system``."""
        now = self.env.now
        for rec in range(len(self.outcome)):
            if self.outcome[rec] == IN_SYSTEM and self.sent[rec] + self.client.timeout <= now \
                    and self.live[rec] == self.attempts[rec]:
                self.outcome[rec] = TIMED_OUT
                self.end[rec] = self.sent[rec] + self.client.timeout


def _safety_horizon(system, workload: Workload, client: Client, specs) -> float:
    """A time far beyond any sensible run: arrivals, ten times the work the
    servers need, ten restarts and every client wait and backoff."""
    capacity = system.capacity
    drain = workload.total_work / capacity if math.isfinite(capacity) else float(workload.size.max(initial=0))
    restart = max(s.restart_s for s in specs)
    wait = client.timeout if math.isfinite(client.timeout) else 0.0
    backoff = client.backoff * client.backoff_multiplier ** client.retries
    last = float(workload.arrival[-1]) if len(workload) else 0.0
    return last + 10 * drain + 10 * restart + (client.retries + 1) * (wait + backoff) + 1.0


def _checked_failures(failures, n_servers: int) -> list:
    out = []
    for item in failures:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"failures must be a list of (time_s, server) pairs, got {item!r}")
        when = _checks.non_negative("failure time", item[0])
        server = _checks.count("failure server", item[1], minimum=0)
        if server >= n_servers:
            raise ValueError(f"failure server must be a server index from 0 to {n_servers - 1}, got {server}")
        out.append((when, server))
    return out


def simulate(system, workload: Workload, *, client: Client = Client(), seed: int = 0,
             until: float | None = None, sample_every: float | None = None, failures=(),
             engine: str = "auto") -> Result:
    """Run ``system`` (a :class:`LoadBalancer`, :class:`MessageQueue` or
    :class:`Hybrid`) on ``workload`` and return every job's record, a timeline
    and a summary.

    client: how clients wait and retry (:class:`Client`).
    seed: seeds the system's own random choices (random policies, jitter); the
        workload carries its own seed. Same inputs, same result, bit for bit.
    until: stop at this time (s). By default the run lasts until every job has
        an outcome and the servers have finished all the work they still hold
        (work for clients who gave up counts as wasted), bounded by a safety
        horizon (see ``_safety_horizon``). Jobs still in the system when the
        run stops are reported as ``in_system``.
    sample_every: seconds between timeline samples (default: about 200 samples
        over the arrival period or the time the servers need for all the work,
        whichever is longer).
    failures: injected crashes, a list of ``(time_s, server)``: the server (or
        consumer; numbered as in ``Result.servers.names``) crashes at that time
        and restarts after its ``restart_s``, as if it had run out of memory.
    engine: "auto" (default) computes the result by recursion when the
        configuration allows it (see :mod:`mqlb.fastpath`; the same records,
        bit for bit) and runs the events otherwise; "events" always runs the
        SimPy model; "recursion" insists on the fast path (ValueError if the
        configuration needs events). ``Result.engine`` says which one ran.
    """
    _checks.instance("system", system, (LoadBalancer, MessageQueue, Hybrid),
                     "a LoadBalancer, a MessageQueue or a Hybrid")
    _checks.instance("workload", workload, Workload, "a Workload from make_workload")
    _checks.instance("client", client, Client, "a Client")
    _checks.count("seed", seed, minimum=0)
    if until is not None:
        until = _checks.positive("until", until)
    last = float(workload.arrival[-1]) if len(workload) else 0.0
    if sample_every is None:   # cover the arrivals and the time to drain the work, in about 200 samples
        drain = workload.total_work / system.capacity if math.isfinite(system.capacity) else 0.0
        sample_every = max(last, drain, float(workload.size.mean()) if len(workload) else 1.0, 1e-6) / _SAMPLES
    sample_every = _checks.positive("sample_every", sample_every)
    fast = fastpath.try_simulate(system, workload, client, seed, until, sample_every, failures, engine)
    if fast is not None:
        return fast

    env = simpy.Environment()
    policy_seed, client_seed = np.random.SeedSequence(seed).generate_state(2)
    rec_job, rec_queue, queue_names = system._layout(workload)
    run = _Run(env, workload, rec_job, rec_queue, client, random.Random(int(client_seed)))
    net = run.system = system._start(env, run, int(policy_seed))
    for when, server in _checked_failures(failures, len(net.nodes)):
        env.timeout(when).callbacks.append(lambda _e, node=net.nodes[server]: node.kill())
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

    samples: list = []

    def sampler():
        nodes = net.nodes
        while True:
            samples.append((env.now, net.queue_lengths,
                            [n.held + net.in_transit(n) for n in nodes], [len(n.serving) for n in nodes],
                            [n.memory for n in nodes], [n.up for n in nodes], run.in_system))
            yield env.timeout(sample_every)

    if n_recs:
        env.timeout(times[0]).callbacks.append(arrive)
    env.process(sampler())
    horizon = env.timeout(until if until is not None else _safety_horizon(system, workload, client, net.specs))
    env.run(until=env.any_of([run.finished, horizon]))
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
    timeline = Timeline(
        time=np.array([s[0] for s in samples]),
        queue=np.array([s[1] for s in samples], dtype=np.int64).reshape(len(samples), -1),
        in_flight=np.array([s[2] for s in samples], dtype=np.int64).reshape(len(samples), len(nodes)),
        in_service=np.array([s[3] for s in samples], dtype=np.int64).reshape(len(samples), len(nodes)),
        memory_mb=np.array([s[4] for s in samples], dtype=float).reshape(len(samples), len(nodes)),
        up=np.array([s[5] for s in samples], dtype=bool).reshape(len(samples), len(nodes)),
        in_system=np.array([s[6] for s in samples], dtype=np.int64),
        crashes=np.array(run.crash_log, dtype=[("time", float), ("server", np.int32)]),
    )
    servers = ServerStats(
        names=net.node_names,
        capacity=np.array([s.capacity for s in net.specs]),
        max_in_service=np.array([n.max_in_service for n in nodes]),
        max_memory_mb=np.array([n.max_memory for n in nodes]),
        crashes=np.array([n.crashes for n in nodes]),
    )
    return Result(records, timeline, servers, workload.kinds, queue_names, system.capacity)
