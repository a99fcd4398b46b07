"""How clients behave: how long they wait, whether they try again, and how
they hold back when the servers struggle.

Three client-side controls, all off by default:

- :class:`RetryBudget`: a token bucket for retries; each retry spends a
  token, each answer in time refills ``ratio`` of one (Brooker, "Fixing
  retries with token buckets and circuit breakers", 2022; the SRE book's
  per-client retry budget).
- ``Client(throttle_k=...)``: adaptive throttling (the SRE book, "Handling
  Overload"): before each attempt the client refuses it locally with
  probability ``max(0, (requests - K·accepts) / (requests + 1))``, counted
  over the last ``throttle_window`` seconds.
- :class:`CircuitBreaker`: after ``failures`` failed attempts in a row the
  client refuses every attempt for ``open_s`` seconds, then lets
  ``half_open_probes`` through and closes again if they all succeed.

An attempt the client refuses is never sent; the job ends ``refused_locally``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from . import _checks


@dataclass(frozen=True)
class RetryBudget:
    """A token bucket that retries spend and answers refill.

    ratio: tokens an answer in time adds (0.1: about one retry per ten answers).
    tokens: the bucket's size, and what it holds at the start of a run.
    A retry needs one whole token; without one the job ends with the outcome
    of its last attempt.
    """

    ratio: float = 0.1
    tokens: float = 10.0

    def __post_init__(self):
        ratio = _checks.number("retry_budget ratio", self.ratio)
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"retry_budget ratio must be between 0 and 1 (tokens per answer), got {ratio!r}")
        object.__setattr__(self, "ratio", ratio)
        tokens = _checks.number("retry_budget tokens", self.tokens)
        if not 0.0 <= tokens <= _MAX_TOKENS:
            raise ValueError(f"retry_budget tokens must be between 0 and {_MAX_TOKENS:g} (retries in the bucket), "
                             f"got {tokens!r}")
        object.__setattr__(self, "tokens", tokens)


@dataclass(frozen=True)
class CircuitBreaker:
    """A circuit breaker on the client's side.

    failures: failed attempts in a row (rejected, timed out or lost) that open it.
    open_s: seconds it stays open, refusing every attempt.
    half_open_probes: attempts it then lets through; if all of them are
        answered in time it closes, if one fails it opens again.
    """

    failures: int = 5
    open_s: float = 5.0
    half_open_probes: int = 1

    def __post_init__(self):
        object.__setattr__(self, "failures", _checks.count("breaker failures", self.failures, minimum=1))
        object.__setattr__(self, "open_s", _checks.seconds("breaker open_s", self.open_s))
        object.__setattr__(self, "half_open_probes",
                           _checks.count("breaker half_open_probes", self.half_open_probes, minimum=1))


_MAX_TOKENS = 1e9


@dataclass(frozen=True)
class Client:
    """The clients sending the jobs.

    timeout: seconds a client waits for the answer; a later answer is a failure
        (``timed_out``), and whatever the servers still do for it is wasted.
    retries: times a client sends a failed job again (rejected, timed out or lost).
    backoff: seconds before the first retry; each further retry waits
        ``backoff_multiplier`` times longer. 0 = retry at once (naive).
    jitter: draw each wait uniformly between 0 and the backoff ("full jitter").
    retry_budget: a :class:`RetryBudget` every retry must pay from (None: no budget).
    throttle_k: adaptive throttling's K (the SRE book uses 2): refuse an
        attempt locally with probability max(0, (requests - K·accepts) /
        (requests + 1)), where requests are the attempts the client made
        (refused ones too) and accepts the attempts answered in time, both
        over the last ``throttle_window`` seconds. None: no throttling.
    throttle_window: seconds of history the throttle counts (the SRE book: 2 minutes).
    breaker: a :class:`CircuitBreaker` (None: no breaker).
    """

    timeout: float = math.inf
    retries: int = 0
    backoff: float = 0.0
    backoff_multiplier: float = 2.0
    jitter: bool = False
    retry_budget: RetryBudget | None = None
    throttle_k: float | None = None
    throttle_window: float = 120.0
    breaker: CircuitBreaker | None = None

    def __post_init__(self):
        object.__setattr__(self, "timeout", _checks.seconds("timeout", self.timeout, allow_inf=True))
        object.__setattr__(self, "retries", _checks.count("retries", self.retries, minimum=0))
        object.__setattr__(self, "backoff", _checks.seconds("backoff", self.backoff, allow_zero=True))
        multiplier = _checks.number("backoff_multiplier", self.backoff_multiplier)
        if not 1.0 <= multiplier < math.inf:
            raise ValueError(f"backoff_multiplier must be a finite number >= 1, got {multiplier!r}")
        object.__setattr__(self, "backoff_multiplier", multiplier)
        if self.backoff > 0 and self.retries > 1 and \
                math.log(self.backoff) + (self.retries - 1) * math.log(multiplier) > math.log(_checks.MAX_SECONDS):
            raise ValueError(
                f"the last retry would wait backoff × backoff_multiplier**(retries - 1) = {self.backoff:g} × "
                f"{multiplier:g}**{self.retries - 1} s, more than {_checks.MAX_SECONDS:g} s: lower retries, backoff "
                f"or backoff_multiplier")
        if not isinstance(self.jitter, bool):
            raise TypeError(f"jitter must be True or False, got {self.jitter!r}")
        if self.retry_budget is not None:
            _checks.instance("retry_budget", self.retry_budget, RetryBudget, "a RetryBudget or None")
        if self.throttle_k is not None:
            k = _checks.number("throttle_k", self.throttle_k)
            if not 1.0 <= k < math.inf:
                raise ValueError(f"throttle_k must be a finite number >= 1 (the SRE book uses 2) or None, got {k!r}")
            object.__setattr__(self, "throttle_k", k)
        object.__setattr__(self, "throttle_window", _checks.seconds("throttle_window", self.throttle_window))
        if self.breaker is not None:
            _checks.instance("breaker", self.breaker, CircuitBreaker, "a CircuitBreaker or None")

    @property
    def holds_back(self) -> bool:
        """True if the client may refuse attempts itself (throttle or breaker)."""
        return self.throttle_k is not None or self.breaker is not None

    def wait_before(self, attempt: int, u: float) -> float:
        """Seconds to wait before sending ``attempt`` (2, 3, ...); ``u`` is a
        uniform random number in [0, 1) used for jitter."""
        if self.backoff == 0:
            return 0.0
        wait = self.backoff * self.backoff_multiplier ** (attempt - 2)
        return wait * u if self.jitter else wait


class Holdback:
    """One run's state of a client's retry budget, throttle and breaker.

    The simulation asks :meth:`allow` before it sends any attempt and
    :meth:`may_retry` before it schedules a retry, and reports every attempt's
    result (:meth:`answered`, :meth:`failed`). Times are the simulation's (s);
    ``rng`` is the run's seeded random source, drawn only when the throttle's
    probability is above 0.
    """

    _EPS = 1e-9      # tokens added in steps of ``ratio`` may miss a whole token by rounding

    def __init__(self, client: Client, rng):
        self.client, self.rng = client, rng
        budget = client.retry_budget
        self.tokens = budget.tokens if budget is not None else math.inf
        self.requests: deque = deque()       # times of the attempts the client made (refused ones too)
        self.accepts: deque = deque()        # times of the attempts answered in time
        self.state = "closed"                # the breaker: closed, open or half_open
        self.in_a_row = 0                    # failed attempts in a row while closed
        self.opened_at = -math.inf
        self.probes: set = set()             # (rec, attempt) let through while half-open
        self.probes_sent = self.probes_ok = 0

    def throttle_probability(self, now: float) -> float:
        """The chance the throttle refuses an attempt now: max(0, (requests - K·accepts) / (requests + 1))."""
        horizon = now - self.client.throttle_window
        for times in (self.requests, self.accepts):
            while times and times[0] <= horizon:
                times.popleft()
        requests, accepts = len(self.requests), len(self.accepts)
        return max(0.0, (requests - self.client.throttle_k * accepts) / (requests + 1))

    def allow(self, rec: int, attempt: int, now: float) -> bool:
        """May the client send this attempt now? (False: it refuses it locally.)"""
        if self.client.throttle_k is not None:
            p = self.throttle_probability(now)
            self.requests.append(now)
            if p > 0 and self.rng.random() < p:
                return False
        breaker = self.client.breaker
        if breaker is None:
            return True
        if self.state == "open" and now >= self.opened_at + breaker.open_s:
            self.state, self.probes_sent, self.probes_ok = "half_open", 0, 0
        if self.state == "open":
            return False
        if self.state == "half_open":
            if self.probes_sent >= breaker.half_open_probes:
                return False
            self.probes_sent += 1
            self.probes.add((rec, attempt))
        return True

    def may_retry(self) -> bool:
        """Spend a token for a retry if the budget has one."""
        if self.tokens >= 1.0 - self._EPS:
            self.tokens -= 1.0
            return True
        return False

    def answered(self, rec: int, attempt: int, now: float) -> None:
        """The attempt was answered in time."""
        budget = self.client.retry_budget
        if budget is not None:
            self.tokens = min(budget.tokens, self.tokens + budget.ratio)
        if self.client.throttle_k is not None:
            self.accepts.append(now)
        if (rec, attempt) in self.probes:
            self.probes.discard((rec, attempt))
            self.probes_ok += 1
            if self.probes_ok >= self.client.breaker.half_open_probes:
                self.state, self.in_a_row = "closed", 0
        elif self.state == "closed":
            self.in_a_row = 0

    def failed(self, rec: int, attempt: int, now: float) -> None:
        """The attempt failed (rejected, timed out or lost)."""
        breaker = self.client.breaker
        if breaker is None:
            return
        if (rec, attempt) in self.probes or self.state == "closed" and self.in_a_row + 1 >= breaker.failures:
            self.state, self.opened_at, self.in_a_row = "open", now, 0
            self.probes.clear()
        elif self.state == "closed":
            self.in_a_row += 1
