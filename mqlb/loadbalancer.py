"""A load balancer: it pushes each request to a server the moment it arrives.

The policy picks among the servers that are up (passive health checks) and
below ``max_conns`` open connections. When none is eligible, the balancer
either rejects the request at once (open-source nginx: 502) or holds it in its
own queue until a connection frees up or ``queue_timeout`` passes (HAProxy:
``maxconn`` + ``timeout queue``). Without ``max_conns`` it never holds back:
every request goes straight onto a server, however busy.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import _checks
from .result import REJECTED, TIMED_OUT, LOST
from .server import Node, Server

POLICIES = ("round_robin", "random", "least_connections", "power_of_two", "weighted_round_robin")
ON_FULL = ("reject", "queue")


@dataclass(frozen=True)
class LoadBalancer:
    """Configuration of a load-balanced cluster.

    servers: the servers behind the balancer (a list of :class:`Server`).
    policy: one of ``POLICIES``.
    weights: relative weights for ``weighted_round_robin`` (default: each
        server's capacity) and ``least_connections`` (connections / weight).
    max_conns: most open requests per server (None = unlimited).
    on_full: what to do when every server is at ``max_conns``: "reject" at once
        or "queue" in the balancer.
    queue_timeout: seconds a request may wait in the balancer's queue.
    health_checks: True = a crashed server gets no requests until it is back;
        False = requests sent to it fail at once (rejected).
    latency: seconds the proxy hop adds to every answer (both ways together).
    abort_on_close: drop a queued request whose client has given up (HAProxy's
        ``option abortonclose``); by default it is still sent to a server,
        which then works for nobody.
    """

    servers: tuple
    policy: str = "round_robin"
    weights: tuple | None = None
    max_conns: int | None = None
    on_full: str = "reject"
    queue_timeout: float = math.inf
    health_checks: bool = True
    latency: float = 0.0
    abort_on_close: bool = False

    def __post_init__(self):
        servers = tuple(self.servers) if isinstance(self.servers, (list, tuple)) else self.servers
        if not isinstance(servers, tuple) or not servers:
            raise ValueError(f"servers must be a non-empty list of Server, got {self.servers!r}")
        for s in servers:
            _checks.instance("servers", s, Server, "a list of Server")
        object.__setattr__(self, "servers", servers)
        _checks.choice("policy", self.policy, POLICIES)
        if self.weights is not None:
            if isinstance(self.weights, (str, bytes)) or not hasattr(self.weights, "__iter__"):
                raise TypeError(f"weights must be a list of numbers > 0, one per server, or None, got {self.weights!r}")
            weights = tuple(_checks.positive("weights", w) for w in self.weights)
            if len(weights) != len(servers):
                raise ValueError(f"weights must have one entry per server ({len(servers)}), got {len(weights)}")
            object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "max_conns", _checks.count("max_conns", self.max_conns, allow_none=True))
        _checks.choice("on_full", self.on_full, ON_FULL)
        object.__setattr__(self, "queue_timeout", _checks.seconds("queue_timeout", self.queue_timeout, allow_inf=True))
        if not isinstance(self.health_checks, bool):
            raise TypeError(f"health_checks must be True or False, got {self.health_checks!r}")
        object.__setattr__(self, "latency", _checks.seconds("latency", self.latency, allow_zero=True))
        if not isinstance(self.abort_on_close, bool):
            raise TypeError(f"abort_on_close must be True or False, got {self.abort_on_close!r}")

    @property
    def capacity(self) -> float:
        """Work-seconds per second all servers together can do."""
        return sum(s.capacity for s in self.servers)

    def _layout(self, workload):
        """Records: one per job, all through the balancer (queue 0)."""
        return np.arange(len(workload)), np.zeros(len(workload), dtype=np.int16), ("balancer",)

    def _start(self, env, run, seed: int):
        return LoadBalancerRun(env, self, run, seed)


class LoadBalancerRun:
    """A running load balancer (created by :func:`mqlb.simulate`)."""

    def __init__(self, env, spec: LoadBalancer, run, seed: int, first_number: int = 0):
        self.env, self.spec, self.run = env, spec, run
        self.specs = spec.servers
        self.node_names = tuple(f"server {i}" for i in range(len(spec.servers)))
        self.nodes = [Node(env, i, s, self, run, first_number + i) for i, s in enumerate(spec.servers)]
        self.conns = [0] * len(self.nodes)
        self.queue: deque = deque()          # requests held by the balancer (oldest first)
        self.waiting = 0                     # of which still waiting (not yet timed out)
        self.rng = random.Random(seed)
        self.next = 0                        # round-robin position
        if spec.weights is not None:
            self.weights = list(spec.weights)
        elif spec.policy == "weighted_round_robin":
            self.weights = [s.capacity if math.isfinite(s.capacity) else s.speed for s in spec.servers]
        else:
            self.weights = [1.0] * len(self.nodes)
        self.current = [0.0] * len(self.nodes)   # smooth weighted round robin state
        self.choose = getattr(self, "_" + spec.policy)

    # -- state for the timeline ----------------------------------------------
    @property
    def queue_lengths(self):
        return (self.waiting,)

    def in_transit(self, node) -> int:
        return 0

    # -- requests arriving -----------------------------------------------------
    def send(self, task) -> None:
        """A client's request reaches the balancer."""
        i = self.choose()
        if i is not None:
            self._assign(i, task)
        elif self.spec.on_full == "queue" and self.spec.max_conns is not None and any(n.up for n in self.nodes):
            task.queued = self.env.now
            self.queue.append(task)
            self.waiting += 1
            if math.isfinite(self.spec.queue_timeout):
                self.env.timeout(self.spec.queue_timeout).callbacks.append(lambda _e: self._queue_timeout(task))
        else:
            self.run.failed(task, REJECTED)

    def _ok(self, i: int) -> bool:
        """May server ``i`` be given a request (up, or not checked, and below max_conns)?"""
        limit = self.spec.max_conns
        return (self.nodes[i].up or not self.spec.health_checks) and (limit is None or self.conns[i] < limit)

    def _eligible(self) -> list:
        limit, conns = self.spec.max_conns, self.conns
        if self.spec.health_checks:
            return [i for i, n in enumerate(self.nodes) if n.up and (limit is None or conns[i] < limit)]
        return [i for i in range(len(self.nodes)) if limit is None or conns[i] < limit]

    def _assign(self, i: int, task) -> None:
        node = self.nodes[i]
        if not node.up or not node.has_room():        # refused by the server itself
            self.run.failed(task, REJECTED)
            return
        self.conns[i] += 1
        node.accept(task)

    # -- server events -----------------------------------------------------------
    def on_finish(self, node, task) -> None:
        self.conns[node.index] -= 1
        self.run.completed(task, self.env.now + self.spec.latency)
        self._pull(node)

    def on_crash(self, node, tasks) -> None:
        self.conns[node.index] = 0
        for task in tasks:
            self.run.failed(task, LOST)

    def on_restart(self, node) -> None:
        self._pull(node)

    def _pull(self, node) -> None:
        """A connection on ``node`` freed up: hand it the oldest queued request."""
        limit, i = self.spec.max_conns, node.index
        while self.queue and node.up and (limit is None or self.conns[i] < limit):
            task = self.queue.popleft()
            if task.queued < 0:
                continue                               # already answered 503
            self.waiting -= 1
            task.queued = -1.0
            if self.run.client_gone(task) and self.spec.abort_on_close:
                self.run.ended(task)                   # nobody waits for it any more: dropped
                continue
            self._assign(i, task)

    def _queue_timeout(self, task) -> None:
        """HAProxy's ``timeout queue``: a request still queued gets a 503."""
        if task.queued >= 0:
            task.queued = -1.0
            self.waiting -= 1
            self.run.failed(task, TIMED_OUT)

    # -- policies: each returns an eligible server's index, or None ----------------
    def _round_robin(self):
        n = len(self.nodes)
        for k in range(n):
            i = (self.next + k) % n
            if self._ok(i):
                self.next = i + 1
                return i
        return None

    def _random(self):
        eligible = self._eligible()
        return eligible[int(self.rng.random() * len(eligible))] if eligible else None

    def _least_connections(self):
        # Fewest connections per weight, scanning from the round-robin position
        # so that ties go round robin and no server is favoured.
        nodes, conns, weights = self.nodes, self.conns, self.weights
        limit, checks, n = self.spec.max_conns, self.spec.health_checks, len(self.nodes)
        best, best_load, i = None, math.inf, self.next % n
        for _ in range(n):
            if (nodes[i].up or not checks) and (limit is None or conns[i] < limit):
                load = conns[i] / weights[i]
                if load < best_load:
                    best, best_load = i, load
            i = i + 1 if i + 1 < n else 0
        if best is not None:
            self.next = best + 1
        return best

    def _power_of_two(self):
        eligible = self._eligible()
        if len(eligible) < 2:
            return eligible[0] if eligible else None
        a, b = self.rng.sample(eligible, 2)
        return a if self.conns[a] / self.weights[a] <= self.conns[b] / self.weights[b] else b

    def _weighted_round_robin(self):
        # Smooth weighted round robin (as in nginx): deterministic and evenly spread.
        eligible = self._eligible()
        if not eligible:
            return None
        total, best = 0.0, eligible[0]
        for i in eligible:
            self.current[i] += self.weights[i]
            total += self.weights[i]
            if self.current[i] > self.current[best]:
                best = i
        self.current[best] -= total
        return best
