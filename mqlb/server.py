"""A server (or an MQ consumer): worker slots, a local backlog, memory, crashes.

A server runs ``slots`` jobs at once at ``speed`` (a job of size s takes s/speed
seconds on a slot); further jobs wait in its local backlog. Each job in service
holds its memory; when the memory of the jobs in service exceeds ``memory_mb``
the server crashes (out of memory): every job it holds is handed back to its
owner — lost when a load balancer pushed it, requeued when it is an unacked
message — and the server restarts ``restart_s`` seconds later, empty.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import simpy

from . import _checks

DISCIPLINES = ("fcfs", "ps")


@dataclass(frozen=True)
class Server:
    """Configuration of one server or consumer.

    speed: work-seconds done per second (scale-up = a faster server).
    slots: jobs served at once (worker threads/processes); None = unlimited.
    backlog: jobs allowed to wait beyond the slots; None = unlimited, 0 = none.
    memory_mb: memory for jobs in service (MB); exceeding it crashes the server.
    restart_s: seconds a crashed server stays down.
    discipline: "fcfs" (first come, first served on each slot) or "ps"
        (processor sharing: the jobs in service share ``speed`` equally).
    """

    speed: float = 1.0
    slots: int | None = 1
    backlog: int | None = None
    memory_mb: float = math.inf
    restart_s: float = 5.0
    discipline: str = "fcfs"

    def __post_init__(self):
        object.__setattr__(self, "speed", _checks.positive("speed", self.speed))
        object.__setattr__(self, "slots", _checks.count("slots", self.slots, allow_none=True))
        object.__setattr__(self, "backlog", _checks.count("backlog", self.backlog, minimum=0, allow_none=True))
        object.__setattr__(self, "memory_mb", _checks.positive("memory_mb", self.memory_mb, allow_inf=True))
        object.__setattr__(self, "restart_s", _checks.non_negative("restart_s", self.restart_s))
        _checks.choice("discipline", self.discipline, DISCIPLINES)

    @property
    def capacity(self) -> float:
        """Work-seconds per second the server can do (inf with unlimited FCFS slots)."""
        if self.discipline == "ps":
            return self.speed
        return math.inf if self.slots is None else self.speed * self.slots


class Task:
    """One attempt at one job (record), travelling through the system."""

    __slots__ = ("rec", "attempt", "size", "memory", "sent", "ready_at", "queued", "started", "remaining",
                 "deliveries")

    def __init__(self, rec: int, attempt: int, size: float, memory: float, sent: float):
        self.rec = rec            # record index
        self.attempt = attempt    # client attempt number (1, 2, ...)
        self.size = size          # s of work at speed 1
        self.memory = memory      # MB held while in service
        self.sent = sent          # time this attempt was sent (s)
        self.ready_at = 0.0       # earliest time a server may start it (delivery in transit)
        self.queued = 0.0         # time it joined a load balancer's queue
        self.started = math.nan   # time service (re)started
        self.remaining = size     # work left (processor sharing)
        self.deliveries = 0       # times a broker delivered it


class Node:
    """A running server. ``owner`` is told about finishes, crashes and restarts:
    ``owner.on_start(node, task)``, ``owner.on_finish(node, task)``,
    ``owner.on_crash(node, tasks)``, ``owner.on_restart(node)``."""

    def __init__(self, env: simpy.Environment, index: int, spec: Server, owner, run, number: int | None = None):
        self.env, self.index, self.spec, self.owner, self.run = env, index, spec, owner, run
        self.number = index if number is None else number   # the server's id in records and timelines
        self.speed = spec.speed
        self.up = True
        self.buffer: deque[Task] = deque()   # accepted, not in service
        self.serving: dict[int, Task] = {}   # slot -> task (FCFS), or position -> task (PS)
        self.memory = 0.0
        self.max_in_service = 0
        self.max_memory = 0.0
        self.crashes = 0
        self._ps = spec.discipline == "ps"
        if not self._ps:
            n = spec.slots if spec.slots is not None else 0
            self._idle: list = []
            self._workers = [env.process(self._fcfs_worker(slot)) for slot in range(n)]
        else:
            self._ps_wake = None
            self._ps_began, self._ps_rate = 0.0, 0.0   # current step: start time, work/s per job
            self._ps_process = env.process(self._ps_loop())

    # -- what owners use ------------------------------------------------------
    @property
    def held(self) -> int:
        """Jobs at this server: waiting in its backlog or in service."""
        return len(self.buffer) + len(self.serving)

    def has_room(self) -> bool:
        """True if a new job can be accepted without exceeding slots + backlog."""
        slots, backlog = self.spec.slots, self.spec.backlog
        if slots is None or backlog is None:
            return True
        return self.held < slots + backlog

    def accept(self, task: Task) -> None:
        """Take a job into the backlog and wake a free worker."""
        self.buffer.append(task)
        if self._ps:
            self._ps_poke()
        elif self._idle:
            self._idle.pop().succeed()
        elif self.spec.slots is None:
            self._workers.append(self.env.process(self._fcfs_worker(len(self._workers))))

    # -- first come, first served on each slot -----------------------------------
    def _fcfs_worker(self, slot: int):
        env = self.env
        while True:
            while not self.buffer:
                wake = env.event()
                self._idle.append(wake)
                yield wake
            task = self.buffer.popleft()
            task.started = math.nan
            self.serving[slot] = task
            try:
                wait = task.ready_at - env.now
                if wait > 0:                          # a message still on its way
                    yield env.timeout(wait)
                if not self._start(task):
                    continue                          # this job crashed the server
                yield env.timeout(task.size / self.speed)
            except simpy.Interrupt:                   # the server crashed under us
                continue
            del self.serving[slot]
            self._finish(task, task.size)

    def _start(self, task: Task) -> bool:
        task.started = self.env.now
        self.run.started(task, self.number)
        if task.memory:
            self.memory += task.memory
            if self.memory > self.spec.memory_mb:
                self._crash()
                return False
            if self.memory > self.max_memory:
                self.max_memory = self.memory
        n = len(self.serving)
        if n > self.max_in_service:
            self.max_in_service = n
        return True

    def _finish(self, task: Task, work: float) -> None:
        if task.memory:
            self.memory = self.memory - task.memory if self.serving else 0.0   # no drift from float sums
        self.run.work[task.rec] += work
        self.owner.on_finish(self, task)

    # -- processor sharing -------------------------------------------------------
    def _ps_poke(self):
        if self._ps_wake is not None and not self._ps_wake.triggered:
            self._ps_wake.succeed()

    def _ps_loop(self):
        env, limit = self.env, self.spec.slots
        while True:
            while self.buffer and (limit is None or len(self.serving) < limit):
                task = self.buffer.popleft()
                task.started = math.nan
                self.serving[id(task)] = task
                task.remaining = task.size
                if not self._start(task):
                    break
            if not self.serving:
                self._ps_wake = env.event()
                yield self._ps_wake
                continue
            rate = self.speed / len(self.serving)
            first = min(self.serving.values(), key=lambda t: t.remaining)
            began = self._ps_began = env.now
            self._ps_rate = rate
            timer = env.timeout(first.remaining / rate)
            self._ps_wake = env.event()
            yield timer | self._ps_wake
            self._ps_rate = 0.0
            if not self.serving:
                continue                          # crashed during the step
            progress = (env.now - began) * rate
            if timer.processed:
                first.remaining = 0.0             # exact, whatever the clock's rounding
            for key, task in list(self.serving.items()):
                task.remaining -= progress
                if task.remaining <= 1e-9 * task.size:
                    del self.serving[key]
                    self._finish(task, task.size)

    # -- crash and restart --------------------------------------------------------
    def _crash(self):
        env = self.env
        self.up = False
        self.crashes += 1
        self.run.crashed(self)
        held = []
        # Work done so far on the jobs in service is lost with them.
        for key, task in list(self.serving.items()):
            if not math.isnan(task.started):
                if self._ps:
                    done = task.size - task.remaining + (env.now - self._ps_began) * self._ps_rate
                else:
                    done = (env.now - task.started) * self.speed
                self.run.add_work(task, min(max(done, 0.0), task.size))
            held.append(task)
            if not self._ps:
                worker = self._workers[key]
                if worker is not env.active_process:
                    worker.interrupt("crash")
        held.extend(self.buffer)
        self.serving.clear()
        self.buffer.clear()
        self.memory = 0.0
        if self._ps and self._ps_process is not env.active_process:
            self._ps_poke()
        self.owner.on_crash(self, held)
        env.timeout(self.spec.restart_s).callbacks.append(self._restart)

    def kill(self) -> None:
        """Crash the server now (an injected failure), unless it is already down."""
        if self.up:
            self._crash()

    def _restart(self, _event):
        self.up = True
        self.owner.on_restart(self)
