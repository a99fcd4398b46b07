"""Which waiting request or message leaves a queue next.

A broker queue with message priorities (RabbitMQ's ``x-max-priority``) hands
out the highest priority first, first in first out within a priority. A
balancer's queue can order requests by priority class (HAProxy's
``http-request set-priority-class``: the lowest class first), and within a
class serve them oldest first (``"fifo"``), newest first (``"lifo"``), or
oldest first until the oldest has waited ``lifo_after_s`` and newest first
from then on (``"adaptive_lifo"``, Facebook's "Fail at Scale", ACM Queue
2015). :class:`CoDel` bounds how long a request may wait while the queue
stays busy (Nichols & Jacobson, "Controlling Queue Delay", ACM Queue 2012,
in the form of "Fail at Scale").
"""

from __future__ import annotations

import bisect
import numbers
from collections import deque
from dataclasses import dataclass

from . import _checks

QUEUE_ORDERS = ("fifo", "lifo", "adaptive_lifo")
MESSAGE_PRIORITIES = (0, 255)
"""Message priorities a RabbitMQ queue accepts (x-max-priority is at most 255)."""
PRIORITY_CLASSES = (-2047, 2047)
"""Priority classes HAProxy's ``set-priority-class`` accepts."""


def priorities(name: str, value, bounds: tuple[int, int]) -> dict | None:
    """Check a mapping of job class name -> whole number within ``bounds``."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise TypeError(f"{name} must be a dict of job class name -> whole number, or None, got {_checks.short(value)}")
    low, high = bounds
    for kind, level in value.items():
        if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not low <= level <= high:
            raise ValueError(f"{name}[{kind!r}] must be a whole number from {low} to {high}, got {level!r}")
    return {k: int(v) for k, v in value.items()}


@dataclass(frozen=True)
class CoDel:
    """Controlled delay for a balancer's queue, as "Fail at Scale" adapts it.

    A request that joins a queue which has not been empty for the last
    ``interval_s`` seconds may wait at most ``target_s`` seconds; otherwise it
    may wait ``interval_s``. A request that waits longer is refused (a 503,
    like HAProxy's ``timeout queue``). Facebook uses 5 ms and 100 ms.
    """

    target_s: float = 0.005
    interval_s: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "target_s", _checks.seconds("target_s", self.target_s))
        object.__setattr__(self, "interval_s", _checks.seconds("interval_s", self.interval_s))
        if self.target_s > self.interval_s:
            raise ValueError(f"target_s must be at most interval_s ({self.interval_s!r} s), got {self.target_s!r}")

    def limit(self, busy_for: float) -> float:
        """Seconds a request may wait, the queue having been non-empty for ``busy_for`` s."""
        return self.target_s if busy_for >= self.interval_s else self.interval_s


class PriorityReady:
    """A broker queue's ready messages by priority: the highest first, FIFO
    within one. The same methods as the ``deque`` a plain queue uses.
    ``level[rec]`` is the priority of record ``rec``."""

    def __init__(self, level: list):
        self.level = level
        self.lanes: dict = {}      # priority -> deque of tasks
        self.order: list = []      # priorities with a lane, ascending
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _lane(self, task) -> deque:
        p = self.level[task.rec]
        lane = self.lanes.get(p)
        if lane is None:
            lane = self.lanes[p] = deque()
            bisect.insort(self.order, p)
        return lane

    def append(self, task) -> None:
        self._lane(task).append(task)
        self.size += 1

    def appendleft(self, task) -> None:
        """A requeued message goes back to the head of its priority."""
        self._lane(task).appendleft(task)
        self.size += 1

    def popleft(self):
        """The oldest message of the highest priority."""
        for p in reversed(self.order):
            lane = self.lanes[p]
            if lane:
                self.size -= 1
                return lane.popleft()
        raise IndexError("pop from an empty queue")


class BalancerQueue:
    """Requests held by a balancer, by priority class (lowest first) and then
    in ``order`` within a class. Requests that left early (a queue timeout)
    are marked ``task.queued = -1`` and skipped when met."""

    def __init__(self, level: list | None, order: str, lifo_after_s: float):
        self.level, self.order, self.lifo_after_s = level, order, lifo_after_s
        self.lanes: dict = {}      # class -> deque of tasks, oldest first
        self.classes: list = []    # classes with a lane, ascending

    def append(self, task) -> None:
        c = 0 if self.level is None else self.level[task.rec]
        lane = self.lanes.get(c)
        if lane is None:
            lane = self.lanes[c] = deque()
            bisect.insort(self.classes, c)
        lane.append(task)

    def pop(self, now: float):
        """The request to serve next, or None if none is waiting."""
        for c in self.classes:
            lane = self.lanes[c]
            while lane and lane[0].queued < 0:
                lane.popleft()                     # left already (timed out)
            while lane and lane[-1].queued < 0:
                lane.pop()
            if not lane:
                continue
            newest = self.order == "lifo" or (
                self.order == "adaptive_lifo" and now - lane[0].queued > self.lifo_after_s)
            return lane.pop() if newest else lane.popleft()
        return None
