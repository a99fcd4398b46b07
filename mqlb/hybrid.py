"""The hybrid architecture: a load balancer for fast requests, a message
queue for heavy jobs.

Light job classes go through the load balancer to the API servers and are
answered at once; heavy classes are accepted and published to the broker,
whose consumers work through them at their own pace (asynchronous
request-reply: the client gets the result when a consumer has produced it).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _checks
from .loadbalancer import LoadBalancer, LoadBalancerRun
from .messagequeue import MessageQueue, MessageQueueRun, expand_routes


@dataclass(frozen=True)
class Hybrid:
    """front: the load-balanced API tier; back: the broker and its workers;
    back_kinds: the job class names sent to the broker (the rest go to the front)."""

    front: LoadBalancer
    back: MessageQueue
    back_kinds: tuple

    def __post_init__(self):
        _checks.instance("front", self.front, LoadBalancer, "a LoadBalancer")
        _checks.instance("back", self.back, MessageQueue, "a MessageQueue")
        if not isinstance(self.back_kinds, str) and not hasattr(self.back_kinds, "__iter__"):
            raise TypeError(f"back_kinds must be a list of job class names, got {self.back_kinds!r}")
        kinds = (self.back_kinds,) if isinstance(self.back_kinds, str) else tuple(self.back_kinds)
        if not kinds or not all(isinstance(k, str) for k in kinds):
            raise ValueError(f"back_kinds must name at least one job class, got {self.back_kinds!r}")
        object.__setattr__(self, "back_kinds", kinds)

    @property
    def capacity(self) -> float:
        return self.front.capacity + self.back.capacity

    def _layout(self, workload):
        self.back.check_workload(workload, self.back_kinds)
        return (*self._routes(workload), ("balancer",) + tuple(q.name for q in self.back.queues))

    def _start(self, env, run, seed: int):
        return HybridRun(env, self, run, seed)

    def _routes(self, workload):
        """Front jobs: one record (queue 0); back jobs: one per broker queue
        reached (queue 1, 2, ...; -1 if none)."""
        for k in self.back_kinds:
            workload.kind_index(k)           # refuse unknown class names
        table = [[q + 1 for q in self.back.route(name)] or [-1] if name in self.back_kinds else [0]
                 for name in workload.kinds]
        return expand_routes(table, workload.kind)


class HybridRun:
    """Both tiers running in one simulation, sharing the clock and the books."""

    def __init__(self, env, spec: Hybrid, run, seed: int):
        self.front = LoadBalancerRun(env, spec.front, run, seed)
        self.back = MessageQueueRun(env, spec.back, run, first_number=len(self.front.nodes), queue_offset=1)
        self.run = run
        self.nodes = self.front.nodes + self.back.nodes
        self.specs = tuple(self.front.specs) + tuple(self.back.specs)
        self.node_names = tuple(f"api {i}" for i in range(len(self.front.nodes))) + self.back.node_names

    @property
    def queue_lengths(self):
        return self.front.queue_lengths + self.back.queue_lengths

    def in_transit(self, node) -> int:
        return node.owner.in_transit(node)

    def up_seconds(self, now: float) -> list:
        """Seconds each machine ran by ``now``: the API tier all along, the consumers as the broker says."""
        return [now] * len(self.front.nodes) + self.back.up_seconds(now)

    def send(self, task) -> None:
        (self.front if self.run.queue_of(task) == 0 else self.back).send(task)
