"""A load balancer: it pushes each request to a server the moment it arrives.

The policy picks among the servers that are up (passive health checks) and
below ``max_conns`` open connections. When none is eligible, the balancer
either rejects the request at once (open-source nginx: 502) or holds it in its
own queue until a connection frees up or ``queue_timeout`` passes (HAProxy:
``maxconn`` + ``timeout queue``). Without ``max_conns`` it never holds back:
every request goes straight onto a server, however busy.

The policies themselves live in :mod:`mqlb.policies` (a registry); this
module gives each the view it needs: with several balancer instances
(``balancers``) each sees only its own connections, and with ``info_delay``
it sees them as they were at the last refresh.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
import random
from dataclasses import dataclass

import numpy as np

from . import _checks
from .queueorder import PRIORITY_CLASSES, QUEUE_ORDERS, BalancerQueue, CoDel, priorities
from . import policies as _policies
from .ejection import Ejection, Outliers
from .result import REJECTED, TIMED_OUT, LOST
from .server import Node, Server

POLICIES = _policies.names()
"""The registered policy names (see :mod:`mqlb.policies`)."""
ON_FULL = ("reject", "queue")
INDEX_FROM = 16
"""From this many servers on, the balancer keeps its eligible servers in an
index (:class:`_Eligible`, and load buckets for least connections) so that a
choice costs O(log servers) instead of a scan. The choices are the same, bit
for bit (``tests/test_properties.py`` compares the two on random runs).
Policies registered with ``indexed=False`` (``weighted_round_robin``, as
nginx's smooth algorithm does) still scan, and so does every policy with
``balancers > 1`` or ``info_delay > 0`` (the index holds true loads)."""


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

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> int:
        return self.kth(k)

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


class _View:
    """What one balancer instance knows, as a policy sees it (see
    :mod:`mqlb.policies`), found by scanning the servers."""

    def __init__(self, run, conns: list):
        self.run, self.n, self.weights, self.rng = run, len(run.nodes), run.weights, run.rng
        self.live = conns           # this instance's own open connections, now
        self.conns = conns          # what its policy sees (``live``, or a copy from the last refresh)
        self.next = 0               # round-robin position
        self.memory = None          # the policy's own state
        self.initially_idle: list = []

    @property
    def now(self) -> float:
        return self.run.env.now

    def ok(self, i: int) -> bool:
        return self.run._ok(i)

    def members(self):
        return self.run._eligible()

    def first_from(self, start: int):
        ok, n = self.run._ok, self.n
        for k in range(n):
            i = (start + k) % n
            if ok(i):
                return i
        return None

    def least_from(self, start: int):
        # The hot loop of least connections: ``run._ok(i)`` inlined, as in ``run._eligible``.
        run, conns, weights, n = self.run, self.conns, self.weights, self.n
        nodes, true_conns, limit, checks = run.nodes, run.conns, run.spec.max_conns, run.spec.health_checks
        ejected = run.ejected
        best, best_load, i = None, math.inf, start
        for _ in range(n):
            if (nodes[i].up or not checks) and (limit is None or true_conns[i] < limit) and not ejected[i]:
                load = conns[i] / weights[i]
                if load < best_load:
                    best, best_load = i, load
            i = i + 1 if i + 1 < n else 0
        return best


class _IndexedView(_View):
    """The same answers from the run's index (many servers, current loads)."""

    def members(self):
        return self.run.index

    def first_from(self, start: int):
        return self.run.index.first_from(start)

    def least_from(self, start: int):
        return self.run.loads.least_from(start)


@dataclass(frozen=True)
class LoadBalancer:
    """Configuration of a load-balanced cluster.

    servers: the servers behind the balancer (a list of :class:`Server`).
    policy: one of ``POLICIES`` (the names registered in :mod:`mqlb.policies`).
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

    Which queued request goes next (only with ``max_conns`` and
    ``on_full="queue"``; see :mod:`mqlb.queueorder`):

    priorities: job class name -> priority class, -2047..2047 (HAProxy's
        ``http-request set-priority-class``): the lowest class leaves first;
        classes not named are 0. None = one class.
    queue_order: within a class, "fifo" (oldest first), "lifo" (newest first)
        or "adaptive_lifo" (oldest first until the oldest has waited
        ``lifo_after_s`` seconds, then newest first).
    codel: a :class:`~mqlb.queueorder.CoDel` bounding the wait while the
        queue stays busy, or None.
    balancers: balancer instances in front of the servers; each request
        reaches one at random, and each counts only the connections it opened
        itself (nginx worker processes without a shared ``zone``). Needs
        ``max_conns=None`` (a limit per instance is not modelled).
    info_delay: seconds between refreshes of the connection counts the
        policy sees; 0 = always current. The counts seen are those at the last
        multiple of ``info_delay`` (Mitzenmacher's periodic bulletin board).
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
    priorities: dict | None = None
    queue_order: str = "fifo"
    lifo_after_s: float = 0.5
    codel: CoDel | None = None
    balancers: int = 1
    info_delay: float = 0.0
    ejection: Ejection | None = None

    def __post_init__(self):
        servers = tuple(self.servers) if isinstance(self.servers, (list, tuple)) else self.servers
        if not isinstance(servers, tuple) or not servers:
            raise ValueError(f"servers must be a non-empty list of Server, got {self.servers!r}")
        for s in servers:
            _checks.instance("servers", s, Server, "a list of Server")
        object.__setattr__(self, "servers", servers)
        _policies.get(self.policy)                      # ValueError naming the registered policies
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
        object.__setattr__(self, "priorities", priorities("priorities", self.priorities, PRIORITY_CLASSES))
        _checks.choice("queue_order", self.queue_order, QUEUE_ORDERS)
        object.__setattr__(self, "lifo_after_s", _checks.seconds("lifo_after_s", self.lifo_after_s, allow_zero=True))
        if self.codel is not None:
            _checks.instance("codel", self.codel, CoDel, "a CoDel(target_s, interval_s) or None")
        ordered = {"priorities": self.priorities is not None, "queue_order": self.queue_order != "fifo",
                   "codel": self.codel is not None}
        if any(ordered.values()) and (self.max_conns is None or self.on_full != "queue"):
            name = next(k for k, v in ordered.items() if v)
            raise ValueError(f"{name} orders the balancer's own queue, which needs max_conns and on_full='queue'; "
                             f"got max_conns={self.max_conns!r}, on_full={self.on_full!r}")
        object.__setattr__(self, "balancers", _checks.count("balancers", self.balancers))
        if self.balancers > 1 and self.max_conns is not None:
            raise ValueError(f"balancers={self.balancers} needs max_conns=None (each instance would keep its own "
                             f"limit), got max_conns={self.max_conns}")
        object.__setattr__(self, "info_delay", _checks.seconds("info_delay", self.info_delay, allow_zero=True))
        if self.ejection is not None:
            _checks.instance("ejection", self.ejection, Ejection, "an Ejection or None")

    @property
    def orders_queue(self) -> bool:
        """True if the balancer's queue is not plain first in, first out."""
        return self.priorities is not None or self.queue_order != "fifo" or self.codel is not None

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
        level = None
        if spec.priorities is not None:
            by_kind = [spec.priorities.get(name, 0) for name in run.kinds]
            level = [by_kind[k] for k in run.kind]
        self.queue = BalancerQueue(level, spec.queue_order, spec.lifo_after_s)   # requests held by the balancer
        self.waiting = 0                     # of which still waiting (not yet timed out)
        self.busy_since = 0.0                # when the queue last became non-empty (CoDel)
        self.rng = random.Random(seed)
        self.policy = policy = _policies.get(spec.policy)
        n = len(self.nodes)
        if spec.weights is not None:
            self.weights = list(spec.weights)
        elif spec.policy == "weighted_round_robin":
            self.weights = [s.capacity if math.isfinite(s.capacity) else s.speed for s in spec.servers]
        else:
            self.weights = [1.0] * n
        self.n_up = n
        self.outliers = None
        self.ejected = [False] * n
        if spec.ejection is not None:
            self.outliers = Outliers(env, spec.ejection, n, self._ejection_changed, run.ejection_log, first_number)
            self.ejected = self.outliers.ejected
        self.index = self.loads = None
        current = spec.balancers == 1 and spec.info_delay == 0    # the policy sees the true counts
        if current and n >= INDEX_FROM and policy.indexed:
            self.index = _Eligible(n)
            if policy.loads:
                self.loads = _LoadBuckets(n)
            for i in range(n):
                self._touch(i)
        view = _IndexedView if self.index is not None else _View
        self.views = [view(self, self.conns if spec.balancers == 1 else [0] * n) for _ in range(spec.balancers)]
        if policy.idle is not None:                      # every server starts idle and reports to one instance
            for i in range(n):
                self.views[self._any_view()].initially_idle.append(i)
        for v in self.views:
            if spec.info_delay > 0:
                v.conns = list(v.live)
            v.memory = policy.memory(v) if policy.memory is not None else None
        self.refresh_at = spec.info_delay                # next refresh of stale counts (s)
        self.sender: dict = {}                           # request -> the instance that sent it (several)
        self.chosen_by = self.views[0]
        self.news = not current or policy.answered is not None or policy.idle is not None
        self.choose = functools.partial(policy.choose, self.views[0]) if current else self._choose_stale

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
            now = task.queued = self.env.now
            limit = self.spec.queue_timeout
            if self.spec.codel is not None:
                limit = min(limit, self.spec.codel.limit(now - self.busy_since if self.waiting else 0.0))
            if not self.waiting:
                self.busy_since = now
            self.queue.append(task)
            self.waiting += 1
            if math.isfinite(limit):
                self.env.timeout(limit).callbacks.append(lambda _e: self._queue_timeout(task))
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
        if self.news:
            self._opened(i, task)
        task.handed = self.env.now
        self.conns[i] += 1
        self._touch(i)
        node.accept(task)

    # -- server events -----------------------------------------------------------
    def on_finish(self, node, task) -> None:
        if self.news:
            self._answered(node.index, task)
        self.conns[node.index] -= 1
        self._touch(node.index)
        if self.outliers is not None:
            self.outliers.answered(node.index, self.env.now - task.handed)
        self.run.completed(task, self.env.now + self.spec.latency)
        self._pull(node)

    def on_error(self, node, task) -> None:
        """A failing-fast server answered ``task`` with an error."""
        if self.news:
            self._answered(node.index, task)
        self.conns[node.index] -= 1
        self._touch(node.index)
        if self.outliers is not None:
            self.outliers.failed(node.index)
        self.run.failed(task, REJECTED, self.env.now + self.spec.latency)
        self._pull(node)

    def on_crash(self, node, tasks) -> None:
        if self.news:
            self._lost(node.index, tasks)
        self.conns[node.index] = 0
        self.n_up -= 1
        self._touch(node.index)
        for task in tasks:
            if self.outliers is not None:
                self.outliers.failed(node.index)
            self.run.failed(task, LOST)

    def on_restart(self, node) -> None:
        if self.policy.idle is not None:
            self.policy.idle(self.views[self._any_view()], node.index)
        self.n_up += 1
        self._touch(node.index)
        self._pull(node)

    def _ejection_changed(self, i: int) -> None:
        """Server ``i`` was ejected or came back."""
        self._touch(i)
        if not self.ejected[i]:
            self._pull(self.nodes[i])

    def _pull(self, node) -> None:
        """A connection on ``node`` freed up: hand it the next queued request."""
        limit, i = self.spec.max_conns, node.index
        while self.waiting and node.up and (limit is None or self.conns[i] < limit) and not self.ejected[i]:
            task = self.queue.pop(self.env.now)
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

    # -- what the policy learns: several instances, stale counts, answers -----------------
    def _any_view(self) -> int:
        """A balancer instance at random (no draw with one instance)."""
        return int(self.rng.random() * len(self.views)) if len(self.views) > 1 else 0

    def _choose_stale(self):
        """The choice of one instance, at random, from what it knows."""
        self._refresh()
        self.chosen_by = view = self.views[self._any_view()]
        return self.policy.choose(view)

    def _refresh(self) -> None:
        """Counts are seen as they were at the last multiple of ``info_delay``:
        called before any count changes, so a copy taken late is still exact."""
        delay, now = self.spec.info_delay, self.env.now
        if delay and now >= self.refresh_at:
            for v in self.views:
                v.conns[:] = v.live
            self.refresh_at = (math.floor(now / delay) + 1) * delay
            if self.refresh_at <= now:                  # rounding
                self.refresh_at += delay

    def _opened(self, i: int, task) -> None:
        self._refresh()
        view = self.chosen_by
        if view.live is not self.conns:
            view.live[i] += 1
            self.sender[task] = view

    def _answered(self, i: int, task) -> None:
        self._refresh()
        view = self.sender.pop(task) if len(self.views) > 1 else self.views[0]
        if view.live is not self.conns:
            view.live[i] -= 1
        policy = self.policy
        if policy.answered is not None:
            policy.answered(view, i, self.env.now - task.sent)
        if policy.idle is not None and self.conns[i] == 1:      # its last open request
            policy.idle(self.views[self._any_view()], i)

    def _lost(self, i: int, tasks) -> None:
        self._refresh()
        for task in tasks:
            self.sender.pop(task, None)
        for v in self.views:
            if v.live is not self.conns:
                v.live[i] = 0
