"""A load balancer: it pushes each request to a server the moment it arrives.

The policy picks among the servers that are up (passive health checks) and
below ``max_conns`` open connections. When none is eligible, the balancer
either rejects the request at once (open-source nginx: 502) or holds it in its
own queue until a connection frees up or ``queue_timeout`` passes (HAProxy:
``maxconn`` + ``timeout queue``). Without ``max_conns`` it never holds back:
every request goes straight onto a server, however busy.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import _checks
from .ejection import Ejection, Outliers
from .result import REJECTED, TIMED_OUT, LOST
from .server import Node, Server

POLICIES = ("round_robin", "random", "least_connections", "power_of_two", "weighted_round_robin")
ON_FULL = ("reject", "queue")
INDEX_FROM = 16
"""From this many servers on, the balancer keeps its eligible servers in an
index (:class:`_Eligible`, and load buckets for least connections) so that a
choice costs O(log servers) instead of a scan. The choices are the same, bit
for bit (``tests/test_properties.py`` compares the two on random runs);
``weighted_round_robin`` still scans, as nginx's smooth algorithm does."""


class _Eligible:
    """A set of server indices (a Fenwick tree over 0..n-1): membership,
    the k-th member and the first member at or after an index, in O(log n)."""

    def __init__(self, n: int):
        self.n, self.tree, self.member, self.count = n, [0] * (n + 1), [False] * n, 0
        self.top = 1 << (n.bit_length() - 1) if n else 0

    def set(self, i: int, on: bool) -> None:
        if self.member[i] == on:
            return
        self.member[i] = on
        delta = 1 if on else -1
        self.count += delta
        i += 1
        while i <= self.n:
            self.tree[i] += delta
            i += i & -i

    def rank(self, i: int) -> int:
        """Members with an index below ``i``."""
        total = 0
        while i > 0:
            total += self.tree[i]
            i -= i & -i
        return total

    def kth(self, k: int) -> int:
        """The member with ``k`` members below it (0-based)."""
        pos, step, tree = 0, self.top, self.tree
        while step:
            nxt = pos + step
            if nxt <= self.n and tree[nxt] <= k:
                pos, k = nxt, k - tree[nxt]
            step >>= 1
        return pos

    def first_from(self, i: int):
        """The first member at or after ``i``, wrapping around; None if empty."""
        if not self.count:
            return None
        r = self.rank(i)
        return self.kth(r if r < self.count else 0)


class _LoadBuckets:
    """Eligible servers grouped by load (connections / weight): the least
    loaded bucket from a heap, and in it the first server at or after a
    round-robin position, as the scan over all servers would find it."""

    def __init__(self, n: int):
        self.key = [None] * n          # each server's bucket (None: not eligible)
        self.buckets: dict = {}        # load -> sorted server indices
        self.heap: list = []           # loads, each at most once; stale ones dropped lazily
        self.in_heap: set = set()

    def place(self, i: int, load) -> None:
        old = self.key[i]
        if old == load and (old is not None):
            return
        if old is not None:
            bucket = self.buckets[old]
            del bucket[bisect.bisect_left(bucket, i)]
            if not bucket:
                del self.buckets[old]
        self.key[i] = load
        if load is not None:
            bucket = self.buckets.get(load)
            if bucket is None:
                self.buckets[load] = [i]
                if load not in self.in_heap:
                    self.in_heap.add(load)
                    heapq.heappush(self.heap, load)
            else:
                bisect.insort(bucket, i)

    def least_from(self, start: int):
        heap, buckets = self.heap, self.buckets
        while heap and heap[0] not in buckets:
            self.in_heap.discard(heapq.heappop(heap))
        if not heap:
            return None
        bucket = buckets[heap[0]]
        k = bisect.bisect_left(bucket, start)
        return bucket[k] if k < len(bucket) else bucket[0]


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
    ejection: passive outlier ejection (:class:`~mqlb.ejection.Ejection`):
        a server that fails ``consecutive`` requests in a row gets no new ones
        for a while; None (default) = never.
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
    ejection: Ejection | None = None

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
        if self.ejection is not None:
            _checks.instance("ejection", self.ejection, Ejection, "an Ejection or None")

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
        self.n_up = len(self.nodes)
        self.outliers = None
        self.ejected = [False] * len(self.nodes)
        if spec.ejection is not None:
            self.outliers = Outliers(env, spec.ejection, len(self.nodes), self._ejection_changed, run.ejection_log,
                                     first_number)
            self.ejected = self.outliers.ejected
        self.choose = getattr(self, "_" + spec.policy)
        self.index = self.loads = None
        if len(self.nodes) >= INDEX_FROM and spec.policy != "weighted_round_robin":
            self.index = _Eligible(len(self.nodes))
            if spec.policy == "least_connections":
                self.loads = _LoadBuckets(len(self.nodes))
            for i in range(len(self.nodes)):
                self._touch(i)
            self.choose = getattr(self, "_indexed_" + spec.policy)

    def _touch(self, i: int) -> None:
        """Server ``i``'s connections or health changed: update the index."""
        if self.index is None:
            return
        ok = self._ok(i)
        self.index.set(i, ok)
        if self.loads is not None:
            self.loads.place(i, self.conns[i] / self.weights[i] if ok else None)

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
        elif self.spec.on_full == "queue" and self.spec.max_conns is not None and self.n_up:
            task.queued = self.env.now
            self.queue.append(task)
            self.waiting += 1
            if math.isfinite(self.spec.queue_timeout):
                self.env.timeout(self.spec.queue_timeout).callbacks.append(lambda _e: self._queue_timeout(task))
        else:
            self.run.failed(task, REJECTED)

    def _ok(self, i: int) -> bool:
        """May server ``i`` be given a request (up, or not checked, below max_conns, not ejected)?"""
        limit = self.spec.max_conns
        return ((self.nodes[i].up or not self.spec.health_checks) and (limit is None or self.conns[i] < limit)
                and not self.ejected[i])

    def _eligible(self) -> list:
        limit, conns, ejected = self.spec.max_conns, self.conns, self.ejected
        if self.spec.health_checks:
            return [i for i, n in enumerate(self.nodes)
                    if n.up and (limit is None or conns[i] < limit) and not ejected[i]]
        return [i for i in range(len(self.nodes)) if (limit is None or conns[i] < limit) and not ejected[i]]

    def _assign(self, i: int, task) -> None:
        node = self.nodes[i]
        if not node.up or not node.has_room():        # refused by the server itself
            if self.outliers is not None:
                self.outliers.failed(i)
            self.run.failed(task, REJECTED)
            return
        task.handed = self.env.now
        self.conns[i] += 1
        self._touch(i)
        node.accept(task)

    # -- server events -----------------------------------------------------------
    def on_finish(self, node, task) -> None:
        self.conns[node.index] -= 1
        self._touch(node.index)
        if self.outliers is not None:
            self.outliers.answered(node.index, self.env.now - task.handed)
        self.run.completed(task, self.env.now + self.spec.latency)
        self._pull(node)

    def on_error(self, node, task) -> None:
        """A failing-fast server answered ``task`` with an error."""
        self.conns[node.index] -= 1
        self._touch(node.index)
        if self.outliers is not None:
            self.outliers.failed(node.index)
        self.run.failed(task, REJECTED, self.env.now + self.spec.latency)
        self._pull(node)

    def on_crash(self, node, tasks) -> None:
        self.conns[node.index] = 0
        self.n_up -= 1
        self._touch(node.index)
        for task in tasks:
            if self.outliers is not None:
                self.outliers.failed(node.index)
            self.run.failed(task, LOST)

    def on_restart(self, node) -> None:
        self.n_up += 1
        self._touch(node.index)
        self._pull(node)

    def _ejection_changed(self, i: int) -> None:
        """Server ``i`` was ejected or came back."""
        self._touch(i)
        if not self.ejected[i]:
            self._pull(self.nodes[i])

    def _pull(self, node) -> None:
        """A connection on ``node`` freed up: hand it the oldest queued request."""
        limit, i = self.spec.max_conns, node.index
        while self.queue and node.up and (limit is None or self.conns[i] < limit) and not self.ejected[i]:
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
        limit, checks, n, ejected = self.spec.max_conns, self.spec.health_checks, len(self.nodes), self.ejected
        best, best_load, i = None, math.inf, self.next % n
        for _ in range(n):
            if (nodes[i].up or not checks) and (limit is None or conns[i] < limit) and not ejected[i]:
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

    # -- the same choices from the index (many servers) -------------------------------
    def _indexed_round_robin(self):
        i = self.index.first_from(self.next % len(self.nodes))
        if i is not None:
            self.next = i + 1
        return i

    def _indexed_random(self):
        index = self.index
        return index.kth(int(self.rng.random() * index.count)) if index.count else None

    def _indexed_least_connections(self):
        best = self.loads.least_from(self.next % len(self.nodes))
        if best is not None:
            self.next = best + 1
        return best

    def _indexed_power_of_two(self):
        index = self.index
        if index.count < 2:
            return index.kth(0) if index.count else None
        j, k = self.rng.sample(range(index.count), 2)    # the same draws as sampling the eligible list
        a, b = index.kth(j), index.kth(k)
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
