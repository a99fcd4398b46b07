"""A server (or an MQ consumer): worker slots, a local backlog, memory, crashes.

A server runs ``slots`` jobs at once at ``speed`` (a job of size s takes s/speed
seconds on a slot); further jobs wait in its local backlog. Each job in service
holds its memory; when the memory of the jobs in service exceeds ``memory_mb``
the server crashes (out of memory): every job it holds is handed back to its
owner — lost when a load balancer pushed it, requeued when it is an unacked
message — and the server restarts ``restart_s`` seconds later, empty.
"""

from __future__ import annotations

import heapq
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
    restart_s: seconds a crashed server stays down (> 0: a server that came back
        in no time could take the same messages again and crash forever at
        one instant).
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
        object.__setattr__(self, "restart_s", _checks.seconds("restart_s", self.restart_s))
        _checks.choice("discipline", self.discipline, DISCIPLINES)

    @property
    def capacity(self) -> float:
        """Work-seconds per second the server can do (inf with unlimited FCFS slots)."""
        if self.discipline == "ps":
            return self.speed
        return math.inf if self.slots is None else self.speed * self.slots


class Task:
    """One attempt at one job (record), travelling through the system."""

    __slots__ = ("rec", "attempt", "size", "memory", "sent", "ready_at", "queued", "started", "finish_v",
                 "deliveries", "resumed", "handed")

    def __init__(self, rec: int, attempt: int, size: float, memory: float, sent: float):
        self.rec = rec            # record index
        self.attempt = attempt    # client attempt number (1, 2, ...)
        self.size = size          # s of work at speed 1
        self.memory = memory      # MB held while in service
        self.sent = sent          # time this attempt was sent (s)
        self.ready_at = 0.0       # earliest time a server may start it (delivery in transit)
        self.queued = 0.0         # time it joined a load balancer's queue
        self.started = math.nan   # time service (re)started
        self.finish_v = 0.0       # processor sharing: the server's virtual time when it is done;
                                  # first come, first served: work done before ``resumed``
        self.resumed = 0.0        # first come, first served: when the server's speed last applied to it
        self.handed = 0.0         # time a load balancer handed it to a server
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
        self.serving: dict[int, Task] = {}   # slot -> task (FCFS), or id(task) -> task (PS)
        self.memory = 0.0
        self.max_in_service = 0
        self.max_memory = 0.0
        self.crashes = 0
        self.on_start = None                 # owner's hook when a job starts (a broker acking early)
        self.errors = 0                      # error answers it gave (failing fast)
        self.slow_factors: list = []         # active slowdowns (mqlb.degradations.Slow)
        self.failing = []                    # error_s of each active fail-fast window
        self.erroring: dict = {}             # id(task) -> task: requests awaiting their error answer
                                             # (they hold a balancer connection, not a slot: not in ``held``)
        self._ps = spec.discipline == "ps"
        if not self._ps:
            # First come, first served: callbacks, no processes. A crash voids every
            # timer set before it (each timer carries the epoch it was set in).
            # Slots are made when first needed (lowest number first), so a
            # server with a billion slots costs what it uses.
            self._free: list = []      # freed slots, next one last
            self._slots_made = 0
            self._epoch = 0
        else:
            # Processor sharing in virtual time: every job in service has received
            # the same work, ``_v`` work-seconds, since the server started; a job
            # admitted at virtual time v finishes when ``_v`` reaches v + its size.
            self._v, self._v_at, self._v_rate = 0.0, 0.0, 0.0   # work-s, at time s, work-s/s per job
            self._finishing: list = []   # heap of (finish_v, admission number, task)
            self._admitted = 0
            self._pending = None         # the one finish timer that counts; earlier ones are void
            self._in_step = False

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
        """Take a job into the backlog; it starts at once if a slot is free
        (failing fast: it is answered with an error ``error_s`` later instead)."""
        if self.failing:
            self.erroring[id(task)] = task
            self.env.timeout(self.failing[-1]).callbacks.append(lambda _e: self._error(task))
            return
        self.buffer.append(task)
        if self._ps:
            if not self._in_step:
                self._ps_admit()
        else:
            self._fcfs_fill()

    # -- first come, first served on each slot -----------------------------------
    def _fcfs_fill(self) -> None:
        """Put waiting jobs on free slots (a new slot if slots are unlimited)."""
        while self.buffer:
            if self._free:
                slot = self._free.pop()
            elif self.spec.slots is None or self._slots_made < self.spec.slots:
                slot, self._slots_made = self._slots_made, self._slots_made + 1
            else:
                return
            task = self.buffer.popleft()
            task.started = math.nan
            self.serving[slot] = task
            wait = task.ready_at - self.env.now
            if wait > 0:                              # a message still on its way
                self._after(wait, self._fcfs_begin, slot)
            else:
                self._fcfs_begin(slot)

    def _after(self, delay: float, action, slot: int) -> None:
        epoch = self._epoch
        self.env.timeout(delay).callbacks.append(
            lambda _event: action(slot) if epoch == self._epoch else None)

    def _fcfs_begin(self, slot: int) -> None:
        task = self.serving[slot]
        task.finish_v, task.resumed = 0.0, self.env.now
        if self._start(task):                         # else this job crashed the server
            self._after(task.size / self.speed, self._fcfs_done, slot)

    def _fcfs_done(self, slot: int) -> None:
        task = self.serving.pop(slot)
        self._free.append(slot)
        self._finish(task, task.size)
        self._fcfs_fill()

    def _start(self, task: Task) -> bool:
        task.started = self.env.now
        self.run.started(task, self.number)
        if self.on_start is not None:
            self.on_start(self, task)
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
    def _ps_advance(self) -> None:
        """Bring the virtual time up to now."""
        now = self.env.now
        self._v += (now - self._v_at) * self._v_rate
        self._v_at = now

    def _ps_admit(self) -> None:
        """Start what the slots allow, then time the next finish."""
        self._ps_advance()
        buffer, serving, finishing, limit = self.buffer, self.serving, self._finishing, self.spec.slots
        while buffer and self.up and (limit is None or len(serving) < limit):
            task = buffer.popleft()
            serving[id(task)] = task
            task.finish_v = self._v + task.size
            self._admitted += 1
            heapq.heappush(finishing, (task.finish_v, self._admitted, task))
            if not self._start(task):
                return                                 # this job crashed the server
        self._ps_schedule()

    def _ps_schedule(self) -> None:
        """Set a timer for the next finish (or none); any earlier timer is void."""
        n = len(self.serving)
        if not n:
            self._v_rate, self._pending = 0.0, None
            return
        self._v_rate = rate = self.speed / n
        delay = (self._finishing[0][0] - self._v) / rate
        self._pending = timer = self.env.timeout(delay if delay > 0.0 else 0.0)
        timer.callbacks.append(self._ps_step)

    def _ps_step(self, timer) -> None:
        """The job the timer was set for is done, with any that finish with it."""
        if timer is not self._pending:
            return                                     # the set of jobs changed since
        self._ps_advance()
        self._in_step = True
        finishing, serving, v = self._finishing, self.serving, self._v
        task = heapq.heappop(finishing)[2]
        while True:
            del serving[id(task)]
            self._finish(task, task.size)
            if not finishing or finishing[0][0] - v > 1e-9 * finishing[0][2].size:
                break
            task = heapq.heappop(finishing)[2]
        self._in_step = False
        if self.up:
            self._ps_admit()

    # -- crash and restart --------------------------------------------------------
    def _crash(self):
        env = self.env
        self.up = False
        self.crashes += 1
        self.run.crashed(self)
        held = []
        # Work done so far on the jobs in service is lost with them.
        for task in self.serving.values():
            if not math.isnan(task.started):
                if self._ps:
                    done = task.size - (task.finish_v - self._v - (env.now - self._v_at) * self._v_rate)
                else:
                    done = task.finish_v + (env.now - task.resumed) * self.speed
                self.run.add_work(task, min(max(done, 0.0), task.size))
            held.append(task)
        held.extend(self.buffer)
        held.extend(self.erroring.values())
        self.erroring.clear()
        self.serving.clear()
        self.buffer.clear()
        self.memory = 0.0
        if self._ps:
            self._finishing.clear()
            self._ps_schedule()                   # no job left: no finish to wait for
        else:
            self._epoch += 1
            self._free = list(range(self._slots_made - 1, -1, -1))
        self.owner.on_crash(self, held)
        env.timeout(self.spec.restart_s).callbacks.append(self._restart)

    def kill(self) -> None:
        """Crash the server now (an injected failure), unless it is already down."""
        if self.up:
            self._crash()

    def _restart(self, _event):
        self.up = True
        self.owner.on_restart(self)

    # -- degradations (mqlb.degradations) ---------------------------------------
    def slow_down(self, factor: float, on: bool) -> None:
        """A slowdown by ``factor`` begins (``on``) or ends; work in service
        continues at the new speed from now on."""
        if on:
            self.slow_factors.append(factor)
        else:
            self.slow_factors.remove(factor)
        speed = self.spec.speed
        for f in self.slow_factors:
            speed *= f
        if self._ps:
            self._ps_advance()
            self.speed = speed
            if self.up:
                self._ps_schedule()
            return
        old, now = self.speed, self.env.now
        self.speed = speed
        self._epoch += 1                              # void every timer; set them again below
        for slot, task in self.serving.items():
            if math.isnan(task.started):              # a message still on its way
                self._after(max(task.ready_at - now, 0.0), self._fcfs_begin, slot)
            else:
                task.finish_v += (now - task.resumed) * old
                task.resumed = now
                self._after(max(task.size - task.finish_v, 0.0) / speed, self._fcfs_done, slot)

    def fail_fast(self, error_s: float, on: bool) -> None:
        """A fail-fast window (errors after ``error_s`` seconds) begins or ends."""
        if on:
            self.failing.append(error_s)
        else:
            self.failing.remove(error_s)

    def _error(self, task: Task) -> None:
        if self.erroring.pop(id(task), None) is task:   # else a crash took it first
            self.errors += 1
            self.owner.on_error(self, task)
