"""Job-size and memory distributions.

A job's *size* is the seconds of work it needs on a server of speed 1. Each
distribution is a small frozen record with its analytic ``mean`` and squared
coefficient of variation ``c2`` (variance / mean²), and draws samples from a
caller-supplied ``numpy.random.Generator`` so that randomness is always seeded
explicitly. C² is the number that decides how much queues hurt: 0 for identical
jobs, 1 for exponential, far above 1 for "mostly small, a few huge" workloads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _checks


MAX_GAMMA_C2 = 100.0     # shape >= 0.01: fewer than 1 draw in 1000 rounds to 0
MAX_HYPER_C2 = 1e6       # the long phase still has probability > 2.5e-7
MIN_PARETO_LOW = 1e-9    # s: keeps low**alpha and the moments far from underflow


class Distribution:
    """Base class: a non-negative random quantity with attributes ``mean`` and
    ``c2`` (its squared coefficient of variation) and ``sample(rng, n)``."""

    mean: float
    c2: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Deterministic(Distribution):
    """Every job has exactly ``value`` (C² = 0)."""

    value: float

    def __post_init__(self):
        object.__setattr__(self, "value", _checks.seconds("value", self.value, allow_zero=True))

    @property
    def mean(self) -> float:
        return self.value

    @property
    def c2(self) -> float:
        return 0.0

    def sample(self, rng, n):
        return np.full(n, self.value)


@dataclass(frozen=True)
class Exponential(Distribution):
    """Memoryless sizes with the given ``mean`` (C² = 1): the M in M/M/c."""

    mean: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _checks.seconds("mean", self.mean))

    @property
    def c2(self) -> float:
        return 1.0

    def sample(self, rng, n):
        return rng.exponential(self.mean, n)


@dataclass(frozen=True)
class Gamma(Distribution):
    """Gamma sizes with a chosen ``mean`` and ``c2`` > 0 (shape 1/c2).

    C² < 1 gives more regular jobs than exponential (an Erlang for c2 = 1/k),
    C² > 1 more variable ones.
    """

    mean: float
    c2: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _checks.seconds("mean", self.mean))
        c2 = _checks.positive("c2", self.c2)
        if c2 > MAX_GAMMA_C2:
            raise ValueError(f"c2 must be at most {MAX_GAMMA_C2:g} for a gamma, got {c2!r} (its shape 1/c2 would be so "
                             f"small that most draws round to 0; use HyperExponential or BoundedPareto)")
        object.__setattr__(self, "c2", c2)

    def sample(self, rng, n):
        return rng.gamma(1.0 / self.c2, self.mean * self.c2, n)


@dataclass(frozen=True)
class HyperExponential(Distribution):
    """Two-phase hyperexponential with a chosen ``mean`` and ``c2`` >= 1.

    Uses balanced means: with probability p a job is exponential with mean
    mean/(2p), otherwise with mean mean/(2(1-p)), where
    p = (1 + sqrt((c2-1)/(c2+1)))/2. Mostly short jobs and a few long ones.
    """

    mean: float
    c2: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _checks.seconds("mean", self.mean))
        c2 = _checks.number("c2", self.c2)
        if not 1.0 <= c2 < math.inf:
            raise ValueError(f"c2 must be a finite number >= 1 for a hyperexponential, got {c2!r} (use Gamma for c2 < 1)")
        if c2 > MAX_HYPER_C2:
            raise ValueError(f"c2 must be at most {MAX_HYPER_C2:g} for a hyperexponential, got {c2!r} (beyond, fewer "
                             f"than one job in four million is long, so no workload a run allows would show the mean)")
        object.__setattr__(self, "c2", c2)

    def _phases(self):
        p = 0.5 * (1.0 + math.sqrt((self.c2 - 1.0) / (self.c2 + 1.0)))   # < 1 - 2.4e-7 (c2 <= MAX_HYPER_C2)
        return p, self.mean / (2 * p), self.mean / (2 * (1 - p))

    def sample(self, rng, n):
        p, m1, m2 = self._phases()
        short = rng.random(n) < p
        return np.where(short, m1, m2) * rng.exponential(1.0, n)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal sizes with a chosen ``mean`` and ``c2`` > 0 (sigma² = ln(1 + c2))."""

    mean: float
    c2: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _checks.seconds("mean", self.mean))
        object.__setattr__(self, "c2", _checks.positive("c2", self.c2))

    def sample(self, rng, n):
        sigma2 = math.log1p(self.c2)
        mu = math.log(self.mean) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class BoundedPareto(Distribution):
    """Heavy-tailed sizes between ``low`` and ``high`` with tail index ``alpha``.

    The classic model of web and compute job sizes (Harchol-Balter 2013, ch. 20):
    a tiny fraction of jobs carries a large fraction of the work.
    """

    alpha: float
    low: float
    high: float

    def __post_init__(self):
        object.__setattr__(self, "alpha", _checks.positive("alpha", self.alpha))
        low = _checks.seconds("low", self.low)
        if low < MIN_PARETO_LOW:
            raise ValueError(f"low must be at least {MIN_PARETO_LOW:g} s (a nanosecond), got {low!r}")
        object.__setattr__(self, "low", low)
        high = _checks.seconds("high", self.high)
        if not high > self.low:
            raise ValueError(f"high must be > low, got low={self.low!r}, high={high!r}")
        object.__setattr__(self, "high", high)

    def _moment(self, k: int) -> float:
        a, lo, hi = self.alpha, self.low, self.high
        norm = a * lo**a / (1 - (lo / hi) ** a)
        if math.isclose(a, k):
            return norm * math.log(hi / lo)
        return norm * (hi ** (k - a) - lo ** (k - a)) / (k - a)

    @property
    def mean(self) -> float:
        return self._moment(1)

    @property
    def c2(self) -> float:
        m1 = self._moment(1)
        return self._moment(2) / m1**2 - 1.0

    def sample(self, rng, n):
        a, lo, hi = self.alpha, self.low, self.high
        u = rng.random(n)
        return lo * (1 - u * (1 - (lo / hi) ** a)) ** (-1 / a)


def with_c2(mean: float, c2: float) -> Distribution:
    """A size distribution with the given mean and C²: deterministic for 0,
    gamma below 1, exponential at 1, hyperexponential above 1."""
    mean = _checks.positive("mean", mean)
    c2 = _checks.non_negative("c2", c2)
    if c2 == 0:
        return Deterministic(mean)
    if c2 < 1:
        return Gamma(mean, c2)
    if c2 == 1:
        return Exponential(mean)
    return HyperExponential(mean, c2)
