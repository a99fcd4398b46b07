"""Balancer policies: a registry, one small function per policy.

A policy is a function of a *view* (what one balancer knows) that returns the
index of an eligible server, or None when no server is eligible. The view
(built by :class:`mqlb.loadbalancer.LoadBalancerRun`) offers:

- ``n``: the number of servers; ``weights``: one per server;
- ``conns``: the open requests per server *as this balancer sees them* (its
  own, and possibly ``info_delay`` seconds old);
- ``rng``: the run's random stream; ``now``: the time (s);
- ``next``: the round-robin position (shared by round robin and least
  connections, as in nginx); ``memory``: the policy's own state, made by its
  ``memory`` function at the start of a run;
- ``members()``: the eligible servers, a sequence (``len`` and ``[k]``, in
  index order); ``ok(i)``: is server ``i`` eligible;
- ``initially_idle``: the servers that report idle to this balancer at the
  start (for ``memory`` to read; every server reports to one balancer);
- ``first_from(i)``: the first eligible server at or after ``i``, wrapping;
- ``least_from(i)``: the eligible server with the fewest connections per
  weight, ties going to the first at or after ``i``.

Eligibility (up, below ``max_conns``) is the balancer's business, not the
policy's. With many servers the view answers from an index in O(log n); the
answers are the same as a scan's, so a policy is written once.

Add one with :func:`register`::

    @register("first_eligible", label="first eligible")
    def first_eligible(view):
        return view.first_from(0)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Callable

from . import _checks

EWMA_DECAY_S = 10.0
"""Peak EWMA's decay time (s): an observation's weight falls by a factor e
every 10 s, Finagle's default."""


@dataclass(frozen=True)
class Policy:
    """A registered policy.

    choose: ``(view) -> server index or None``.
    label: how the book names it.
    common: offered by the common open-source balancers (nginx, HAProxy).
    indexed: may choose from the index of eligible servers (many servers);
        False: it always sees a scan.
    loads: calls ``view.least_from`` (the index then keeps load buckets).
    fastpath: :mod:`mqlb.fastpath` re-implements it (vectorised).
    memory: ``(view) -> state`` kept in ``view.memory`` for one run.
    answered: ``(view, server, seconds)``: a request this balancer sent was
        answered ``seconds`` after it reached the balancer.
    idle: ``(view, server)``: the server has no request left and reports to
        this balancer.
    """

    name: str
    choose: Callable
    label: str
    common: bool = False
    indexed: bool = True
    loads: bool = False
    fastpath: bool = False
    memory: Callable | None = None
    answered: Callable | None = None
    idle: Callable | None = None


_REGISTRY: dict[str, Policy] = {}


def register(name: str, *, label: str, common: bool = False, indexed: bool = True, loads: bool = False,
             fastpath: bool = False, memory: Callable | None = None, answered: Callable | None = None, idle: Callable | None = None):
    """Decorator: register ``choose`` as the policy ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a policy name must be an identifier, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"policy {name!r} is already registered")

    def add(choose: Callable) -> Callable:
        _REGISTRY[name] = Policy(name, choose, label, common, indexed, loads, fastpath, memory, answered, idle)
        return choose
    return add


def get(name: str) -> Policy:
    """The registered policy ``name`` (ValueError naming the registered ones if none)."""
    _checks.choice("policy", name, names())
    return _REGISTRY[name]


def names(*, common: bool | None = None, fastpath: bool | None = None) -> tuple:
    """Registered policy names, in registration order; ``common``/``fastpath``
    keep only those with that flag."""
    return tuple(p.name for p in _REGISTRY.values()
                 if (common is None or p.common == common) and (fastpath is None or p.fastpath == fastpath))


def label(name: str) -> str:
    """How the book names policy ``name``."""
    return get(name).label


# -- the policies ---------------------------------------------------------------------

@register("round_robin", label="round robin", common=True, fastpath=True)
def round_robin(view):
    """The servers take turns, skipping those not eligible."""
    i = view.first_from(view.next % view.n)
    if i is not None:
        view.next = i + 1
    return i


@register("random", label="random", common=True, fastpath=True)
def random_choice(view):
    """A server drawn uniformly among the eligible ones."""
    eligible = view.members()
    return eligible[int(view.rng.random() * len(eligible))] if len(eligible) else None


@register("least_connections", label="least connections", common=True, loads=True, fastpath=True)
def least_connections(view):
    """Fewest connections per weight; ties go round robin so no server is favoured."""
    best = view.least_from(view.next % view.n)
    if best is not None:
        view.next = best + 1
    return best


@register("power_of_two", label="power of two", common=True, fastpath=True)
def power_of_two(view):
    """Two eligible servers drawn at random; the one with fewer connections per weight."""
    eligible = view.members()
    if len(eligible) < 2:
        return eligible[0] if len(eligible) else None
    j, k = view.rng.sample(range(len(eligible)), 2)     # the same draws as sampling the list itself
    a, b = eligible[j], eligible[k]
    conns, weights = view.conns, view.weights
    return a if conns[a] / weights[a] <= conns[b] / weights[b] else b


@register("weighted_round_robin", label="weighted round robin", common=True, indexed=False, fastpath=True,
          memory=lambda view: [0.0] * view.n)
def weighted_round_robin(view):
    """Smooth weighted round robin (as in nginx): deterministic and evenly spread."""
    eligible = view.members()
    if not len(eligible):
        return None
    current, weights = view.memory, view.weights
    total, best = 0.0, eligible[0]
    for i in eligible:
        current[i] += weights[i]
        total += weights[i]
        if current[i] > current[best]:
            best = i
    current[best] -= total
    return best


# -- join the idle queue (Lu et al. 2011) ---------------------------------------------

class _IdleList:
    """Servers that reported idle to one balancer, oldest report first."""

    def __init__(self, n: int):
        self.order: deque = deque()
        self.listed = [False] * n

    def report(self, i: int) -> None:
        if not self.listed[i]:
            self.listed[i] = True
            self.order.append(i)


def _jiq_memory(view):
    idle = _IdleList(view.n)
    for i in view.initially_idle:
        idle.report(i)
    return idle


def _jiq_idle(view, i: int) -> None:
    view.memory.report(i)


@register("join_idle_queue", label="join-idle-queue", memory=_jiq_memory, idle=_jiq_idle)
def join_idle_queue(view):
    """A server from this balancer's idle list if one is listed (and eligible),
    else a random eligible server. Servers report when they run out of work."""
    idle = view.memory
    while idle.order:
        i = idle.order.popleft()
        idle.listed[i] = False
        if view.ok(i):
            return i
    return random_choice(view)


# -- peak EWMA (Finagle, Linkerd) -------------------------------------------------------

class _Ewma:
    """Per server: the peak-EWMA response time (s) and when it was last updated."""

    def __init__(self, n: int):
        self.cost = [0.0] * n
        self.at = [0.0] * n
        self.seen = [False] * n


def _ewma_answered(view, i: int, seconds: float) -> None:
    ewma = view.memory
    now = view.now
    if not ewma.seen[i] or seconds > ewma.cost[i]:
        ewma.cost[i] = seconds                         # the peak: a slower answer counts at once
    else:
        w = math.exp(-(now - ewma.at[i]) / EWMA_DECAY_S)
        ewma.cost[i] = ewma.cost[i] * w + seconds * (1.0 - w)
    ewma.seen[i] = True
    ewma.at[i] = now


@register("peak_ewma", label="peak EWMA", indexed=False, memory=lambda view: _Ewma(view.n),
          answered=_ewma_answered)
def peak_ewma(view):
    """Two eligible servers at random (as Linkerd and Finagle do); the lower
    cost = EWMA of observed response time × (open requests + 1). A server not
    yet heard from costs nothing while idle and more than any other once busy."""
    eligible = view.members()
    if len(eligible) < 2:
        return eligible[0] if len(eligible) else None
    j, k = view.rng.sample(range(len(eligible)), 2)
    a, b = eligible[j], eligible[k]
    ewma, conns = view.memory, view.conns

    def cost(i):
        if not ewma.seen[i]:
            return 0.0 if conns[i] == 0 else math.inf
        return ewma.cost[i] * (conns[i] + 1)
    return a if cost(a) <= cost(b) else b
