"""Consumers autoscaled on a queue's backlog or the age of its oldest message.

Every ``interval_s`` seconds the autoscaler reads one metric of its queue:

- ``"backlog"``: ready messages in the queue (KEDA's RabbitMQ scaler, mode
  ``QueueLength``, reads the same);
- ``"age"``: seconds the oldest ready message has waited (0 when the queue is
  empty).

Above ``threshold`` it launches one more consumer (up to ``max_consumers``),
which starts taking messages ``start_s`` seconds later (a machine booting);
with the queue empty it stops one idle consumer (down to ``min_consumers``).
After each change it waits ``cooldown_s`` before the next. A consumer costs
from its launch to its stop: the machine-seconds are in
``Result.servers.up_s``. Every consumer that may be launched has its column
in the results from the start (named ``queue[k]`` after the queue's own); one
not running shows as up and idle in the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _checks

METRICS = ("backlog", "age")


@dataclass(frozen=True)
class Autoscaler:
    """How a queue's consumers are scaled (see the module docstring).

    metric: "backlog" (ready messages) or "age" (s the oldest has waited).
    threshold: scale out when the metric is above it (messages or s).
    interval_s: seconds between two readings of the metric.
    start_s: seconds from a launch until the new consumer takes messages.
    max_consumers: most consumers, running or starting.
    min_consumers: fewest consumers left running when scaling in
        (None = the queue's own consumers, the ones running at time 0).
    cooldown_s: seconds after a change before the next one.
    New consumers are copies of the queue's last consumer.
    """

    metric: str = "backlog"
    threshold: float = 10.0
    interval_s: float = 5.0
    start_s: float = 30.0
    max_consumers: int = 8
    min_consumers: int | None = None
    cooldown_s: float = 0.0

    def __post_init__(self):
        _checks.choice("metric", self.metric, METRICS)
        object.__setattr__(self, "threshold", _checks.non_negative("threshold", self.threshold))
        object.__setattr__(self, "interval_s", _checks.positive("interval_s", self.interval_s))
        object.__setattr__(self, "start_s", _checks.non_negative("start_s", self.start_s))
        object.__setattr__(self, "max_consumers", _checks.count("max_consumers", self.max_consumers))
        object.__setattr__(self, "min_consumers", _checks.count("min_consumers", self.min_consumers,
                                                                allow_none=True))
        object.__setattr__(self, "cooldown_s", _checks.non_negative("cooldown_s", self.cooldown_s))

    def check_queue(self, queue_name: str, n_consumers: int) -> None:
        """Refuse bounds that contradict the queue's ``n_consumers`` consumers at time 0."""
        if self.max_consumers < n_consumers:
            raise ValueError(f"max_consumers must be at least the {n_consumers} consumers queue {queue_name!r} "
                             f"starts with, got {self.max_consumers}")
        if self.min_consumers is not None and self.min_consumers > n_consumers:
            raise ValueError(f"min_consumers must be at most the {n_consumers} consumers queue {queue_name!r} "
                             f"starts with, got {self.min_consumers}")


class AutoscalerRun:
    """An autoscaler at work on one running queue (``broker``: its MessageQueueRun)."""

    def __init__(self, env, spec: Autoscaler, broker, queue):
        self.env, self.spec, self.broker, self.queue = env, spec, broker, queue
        self.floor = len(queue.spec.consumers) if spec.min_consumers is None else spec.min_consumers
        self.last_change = -math.inf

    def metric(self) -> float:
        ready = self.queue.ready
        if self.spec.metric == "backlog":
            return float(len(ready))
        return self.env.now - ready[0].queued if ready else 0.0

    def process(self):
        spec, q = self.spec, self.queue
        while True:
            yield self.env.timeout(spec.interval_s)
            now = self.env.now
            if now - self.last_change < spec.cooldown_s:
                continue
            launched = [c for c in q.consumers if c.launched is not None]
            if self.metric() > spec.threshold:
                parked = [c for c in q.consumers if c.launched is None]
                if parked and len(launched) < spec.max_consumers:
                    self.broker.launch(parked[0], spec.start_s)
                    self.last_change = now
            elif not q.ready and len(launched) > self.floor:
                idle = [c for c in launched if c.active and c.unacked == 0]
                if idle:
                    self.broker.stop(idle[-1])
                    self.last_change = now
