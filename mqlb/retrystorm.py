"""The retry storm of chapter 8 and the client-side remedies chapter 11 tries on it.

A plain stream of short API requests reaches four servers through a balancer
that queues (HAProxy with ``maxconn 1`` per server); a surge triples the
traffic for half a minute. Clients give up after 2 s and try again: the
servers end up working for clients who have left, and the system stays down
after the surge (a metastable failure). The builders here make that run, the
remedies, and its figures once, so the chapter and the tests cannot drift apart:

- :func:`storm_workload`, :func:`storm_balancer`: the job stream and the balancer;
- :func:`remedies`: name -> (balancer, client) for each remedy of :data:`REMEDIES`;
- :func:`scorecard`: one run's figures; :func:`replicated`: their means with
  confidence intervals over independent job streams.

    >>> from mqlb import retrystorm
    >>> setups = retrystorm.remedies()
    >>> list(setups) == list(retrystorm.REMEDIES)
    True
"""

from __future__ import annotations

import numpy as np

from . import _checks
from .arrivals import Spike
from .claims import Estimate
from .client import CircuitBreaker, Client, RetryBudget
from .distributions import Exponential
from .loadbalancer import LoadBalancer
from .result import NOT_SENT, Result
from .scenarios import recovery_time
from .server import Server
from .simulate import simulate
from .workload import Workload, make_workload

__all__ = ["BREAKER", "BUDGET", "FIGURES", "REMEDIES", "STORM", "remedies", "replicated", "scorecard", "stays_down", "storm_balancer",
           "storm_workload"]

#: The storm of chapter 8: jobs/s before and after the surge, during it, and its times (s).
STORM = dict(base=20.0, peak=60.0, surge_start=40.0, surge_end=70.0, duration=160.0)

#: The remedies, in the order the chapter discusses them.
REMEDIES = ("no remedy", "backoff + jitter", "stale work dropped", "retry budget", "adaptive throttling",
            "circuit breaker", "budget + stale work dropped")

#: The retry budget and the circuit breaker the remedies use by default.
BUDGET = RetryBudget(ratio=0.1, tokens=10.0)
BREAKER = CircuitBreaker(failures=5, open_s=5.0, half_open_probes=1)

#: The figures of :func:`scorecard`.
FIGURES = ("answered", "attempts", "wasted", "recovery", "refused")


def storm_workload(*, seed: int = 3, size_s: float = 0.1, **storm) -> Workload:
    """Requests of mean ``size_s`` seconds (exponential), Poisson at ``base``
    jobs/s, ``peak`` between ``surge_start`` and ``surge_end``, for ``duration``
    seconds (defaults: :data:`STORM`)."""
    unknown = set(storm) - set(STORM)
    if unknown:
        raise TypeError(f"storm_workload got unknown settings {sorted(unknown)}; allowed: {', '.join(STORM)}")
    s = {**STORM, **storm}
    return make_workload(Spike(base=s["base"], peak=s["peak"], start=s["surge_start"], end=s["surge_end"]),
                         Exponential(_checks.positive("size_s", size_s)), duration=s["duration"], seed=seed)


def storm_balancer(*, n_servers: int = 4, drop_stale: bool = False) -> LoadBalancer:
    """A balancer that queues, at most one request per server (HAProxy ``maxconn 1``).

    drop_stale: refuse a request that waited half a second in the queue
        (``timeout queue``) and drop one whose client has left (``option abortonclose``).
    """
    if not isinstance(drop_stale, bool):
        raise TypeError(f"drop_stale must be True or False, got {drop_stale!r}")
    stale = dict(queue_timeout=0.5, abort_on_close=True) if drop_stale else {}
    return LoadBalancer([Server()] * _checks.count("n_servers", n_servers), max_conns=1, on_full="queue", **stale)


def remedies(*, timeout: float = 2.0, retries: int = 3, backoff: float = 1.0,
             budget: RetryBudget = BUDGET, throttle_k: float = 2.0, throttle_window: float = 120.0,
             breaker: CircuitBreaker = BREAKER) -> dict:
    """name -> (balancer, client) for every remedy of :data:`REMEDIES`.

    Every client gives up after ``timeout`` s and retries up to ``retries``
    times. "no remedy" retries at once; every other remedy keeps exponential
    backoff from ``backoff`` s with full jitter (the usual advice) and adds one
    thing: a balancer that drops stale work, a retry ``budget``, adaptive
    throttling with ``throttle_k`` over ``throttle_window`` s, a ``breaker``;
    the last combines the budget with the balancer that drops stale work.
    """
    plain, guarded = storm_balancer(), storm_balancer(drop_stale=True)
    backed_off = dict(timeout=timeout, retries=retries, backoff=backoff, jitter=True)
    return {
        "no remedy": (plain, Client(timeout=timeout, retries=retries)),
        "backoff + jitter": (plain, Client(**backed_off)),
        "stale work dropped": (guarded, Client(**backed_off)),
        "retry budget": (plain, Client(**backed_off, retry_budget=budget)),
        "adaptive throttling": (plain, Client(**backed_off, throttle_k=throttle_k, throttle_window=throttle_window)),
        "circuit breaker": (plain, Client(**backed_off, breaker=breaker)),
        "budget + stale work dropped": (guarded, Client(**backed_off, retry_budget=budget)),
    }


def scorecard(result: Result, surge_start: float = STORM["surge_start"],
              surge_end: float = STORM["surge_end"]) -> dict:
    """One run's figures: ``answered`` (share of requests answered in time),
    ``attempts`` (attempts sent per request), ``wasted`` (server-seconds that
    answered nobody), ``recovery`` (s after the surge until the jobs in the
    system are back to the calm level, :func:`~mqlb.scenarios.recovery_time`)
    and ``refused`` (share of requests the clients refused themselves)."""
    _checks.instance("result", result, Result, "a Result")
    s = result.summary()
    asked = result.records[result.records["outcome"] != NOT_SENT]
    return dict(answered=s.completed / s.jobs, attempts=float(asked["attempts"].mean()), wasted=s.wasted_work,
                recovery=recovery_time(result, surge_start, surge_end), refused=s.refused_locally / s.jobs)


def stays_down(recovery: float, duration: float = STORM["duration"], surge_end: float = STORM["surge_end"],
               margin_s: float = 10.0) -> bool:
    """The metastable verdict of chapter 8: True if the system was still not back
    to normal ``margin_s`` seconds before the traffic ended (``recovery`` from
    :func:`scorecard`, s after ``surge_end``), long after the surge itself."""
    return bool(_checks.number("recovery", recovery) > duration - surge_end - margin_s)


def replicated(setups: dict, seeds=range(3, 8), *, executor=None, **storm) -> dict:
    """name -> figure -> :class:`~mqlb.claims.Estimate` (mean and 95 % interval)
    of :func:`scorecard` over one storm per seed in ``seeds`` (every setup gets
    the same streams); ``storm`` overrides settings of :data:`STORM`.
    executor: run the simulations there (e.g. :func:`mqlb.shared_pool`); by
    default one after the other here. The figures are the same either way."""
    seeds = [_checks.count("seed", s, minimum=0) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds for an interval, got {seeds!r}")
    s = {**STORM, **storm}
    tasks = [(name, system, client, seed) for name, (system, client) in setups.items() for seed in seeds]
    if executor is None:
        cards = [_card(system, client, seed, s) for _, system, client, seed in tasks]
    else:
        futures = [executor.submit(_card, system, client, seed, s) for _, system, client, seed in tasks]
        cards = [f.result() for f in futures]
    by_name: dict = {name: [] for name in setups}
    for (name, *_), card in zip(tasks, cards):
        by_name[name].append(card)
    return {name: {key: Estimate.of([c[key] for c in runs],
                                    (0.0, 1.0) if key in ("answered", "refused") else (0.0, np.inf))
                   for key in FIGURES}
            for name, runs in by_name.items()}


def _card(system, client, seed: int, storm: dict) -> dict:
    """The scorecard of one setup on the storm of ``seed``."""
    result = simulate(system, storm_workload(seed=seed, **storm), client=client, seed=0)
    return scorecard(result, storm["surge_start"], storm["surge_end"])
