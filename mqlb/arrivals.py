"""Arrival processes: when jobs reach the system.

Each process turns a seeded ``numpy.random.Generator`` into sorted arrival times
(seconds from 0), either a fixed number of jobs or every arrival before a
duration. Rates are in jobs per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _checks


class ArrivalProcess:
    """Base class: ``times(rng, n_jobs=None, duration=None)`` and ``mean_rate``."""

    mean_rate: float

    def times(self, rng: np.random.Generator, n_jobs: int | None = None, duration: float | None = None) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover


def _check_limits(n_jobs, duration, rate: float):
    """Refuse a bad ``n_jobs`` / ``duration``, or a stream of more than
    ``MAX_JOBS`` jobs (``rate``: the process's mean rate, jobs/s)."""
    if (n_jobs is None) == (duration is None):
        raise ValueError(f"give exactly one of n_jobs and duration, got n_jobs={n_jobs!r}, duration={duration!r}")
    if n_jobs is not None:
        _checks.count("n_jobs", n_jobs, minimum=0)
        _checks.jobs(f"n_jobs={n_jobs!r}", n_jobs)
    else:
        _checks.seconds("duration", duration)
        _checks.jobs(f"duration={duration!r} s at {rate:g} jobs/s", duration * rate,
                     f": use a duration of at most {_checks.MAX_JOBS / rate:.3g} s")


def _check_rate(name: str, rate: float) -> None:
    """A rate (jobs/s) whose gaps between jobs stay well above float resolution."""
    if rate > MAX_RATE:
        raise ValueError(f"{name} must be at most {MAX_RATE:g} jobs/s, got {rate!r}")


MAX_RATE = 1e9   # jobs/s: a nanosecond between jobs on average


@dataclass(frozen=True)
class _SteadyRate(ArrivalProcess):
    """Arrivals at one constant ``rate`` (jobs/s)."""

    rate: float

    def __post_init__(self):
        object.__setattr__(self, "rate", _checks.positive("rate", self.rate))
        _check_rate("rate", self.rate)

    @property
    def mean_rate(self) -> float:
        return self.rate


@dataclass(frozen=True)
class Poisson(_SteadyRate):
    """Independent arrivals at a constant ``rate`` (jobs/s): the M in M/M/c."""

    def times(self, rng, n_jobs=None, duration=None):
        _check_limits(n_jobs, duration, self.rate)
        return _Piecewise((0.0,), (self.rate,)).times(rng, n_jobs, duration)


@dataclass(frozen=True)
class Constant(_SteadyRate):
    """Perfectly regular arrivals, one every 1/``rate`` seconds (first at 1/rate)."""

    def times(self, rng, n_jobs=None, duration=None):
        _check_limits(n_jobs, duration, self.rate)
        if n_jobs is None:
            n_jobs = int(math.floor(duration * self.rate + 1e-9))
        return np.arange(1, n_jobs + 1) / self.rate


@dataclass(frozen=True)
class Spike(ArrivalProcess):
    """A traffic surge: Poisson at ``base`` jobs/s, ``peak`` jobs/s between
    ``start`` and ``end`` seconds, then ``base`` again (a customer's event)."""

    base: float
    peak: float
    start: float
    end: float

    def __post_init__(self):
        object.__setattr__(self, "base", _checks.non_negative("base", self.base))
        object.__setattr__(self, "peak", _checks.positive("peak", self.peak))
        _check_rate("base", self.base)
        _check_rate("peak", self.peak)
        object.__setattr__(self, "start", _checks.seconds("start", self.start, allow_zero=True))
        end = _checks.seconds("end", self.end)
        if not end > self.start:
            raise ValueError(f"end must be > start, got start={self.start!r}, end={end!r}")
        object.__setattr__(self, "end", end)

    @property
    def mean_rate(self) -> float:
        """The base rate: the long-run rate once the surge is over."""
        return self.base

    def rate_at(self, t):
        """Arrival rate (jobs/s) at time ``t`` (s); works on arrays."""
        t = np.asarray(t, dtype=float)
        return np.where((t >= self.start) & (t < self.end), self.peak, self.base)

    def times(self, rng, n_jobs=None, duration=None):
        if duration is not None and _checks.number("duration", duration) > 0:
            surge = max(0.0, min(self.end, duration) - self.start)
            _check_limits(n_jobs, duration, (self.base * duration + (self.peak - self.base) * surge) / duration)
        else:
            _check_limits(n_jobs, duration, self.peak)
        return _Piecewise((0.0, self.start, self.end), (self.base, self.peak, self.base)).times(rng, n_jobs, duration)


@dataclass(frozen=True)
class OnOff(ArrivalProcess):
    """Bursty traffic: a two-state Markov-modulated Poisson process (MMPP-2).

    The source alternates between an *on* state (Poisson at ``rate_on``) lasting
    an exponential time with mean ``mean_on`` seconds and an *off* state
    (``rate_off``, mean ``mean_off`` seconds). It starts in the off state.
    """

    rate_on: float
    rate_off: float
    mean_on: float
    mean_off: float

    def __post_init__(self):
        object.__setattr__(self, "rate_on", _checks.positive("rate_on", self.rate_on))
        object.__setattr__(self, "rate_off", _checks.non_negative("rate_off", self.rate_off))
        object.__setattr__(self, "mean_on", _checks.seconds("mean_on", self.mean_on))
        object.__setattr__(self, "mean_off", _checks.seconds("mean_off", self.mean_off))
        _check_rate("rate_on", self.rate_on)
        _check_rate("rate_off", self.rate_off)

    @property
    def mean_rate(self) -> float:
        return (self.rate_on * self.mean_on + self.rate_off * self.mean_off) / (self.mean_on + self.mean_off)

    def times(self, rng, n_jobs=None, duration=None):
        _check_limits(n_jobs, duration, self.mean_rate)
        cycle = self.mean_on + self.mean_off
        cycles = duration / cycle if n_jobs is None else n_jobs / (self.mean_rate * cycle)
        if cycles > _checks.MAX_JOBS:
            raise ValueError(
                f"mean_on={self.mean_on!r} s and mean_off={self.mean_off!r} s make the source switch about "
                f"{2 * cycles:.3g} times for this stream; at most {2 * _checks.MAX_JOBS:,}: use longer on and off "
                f"periods (a period much shorter than the gap between jobs makes it a Poisson source)")
        chunks, have, t, on = [], 0, 0.0, False
        while (n_jobs is not None and have < n_jobs) or (duration is not None and t < duration):
            length = rng.exponential(self.mean_on if on else self.mean_off)
            rate = self.rate_on if on else self.rate_off
            if rate > 0:
                k = rng.poisson(rate * length)
                chunks.append(t + np.sort(rng.random(k)) * length)
                have += k
            t += length
            on = not on
        out = np.concatenate(chunks) if chunks else np.empty(0)
        return out[:n_jobs] if n_jobs is not None else out[out < duration]


@dataclass(frozen=True)
class _Piecewise:
    """Poisson arrivals whose rate is constant between breakpoints.

    ``starts[i]`` (s) begins a stretch at ``rates[i]`` jobs/s; the last rate
    lasts forever. Generated exactly by mapping a unit-rate Poisson process
    through the inverse of the cumulative rate.
    """

    starts: tuple
    rates: tuple

    def times(self, rng, n_jobs=None, duration=None):
        starts = np.asarray(self.starts, dtype=float)
        rates = np.asarray(self.rates, dtype=float)
        cumulative = np.concatenate(([0.0], np.cumsum(np.diff(starts) * rates[:-1])))
        if n_jobs is not None:
            if rates[-1] == 0 and n_jobs > 0:
                raise ValueError("the arrival rate ends at 0 before n_jobs arrivals; give duration instead")
            unit = np.cumsum(rng.exponential(1.0, n_jobs))
        else:
            total = self._cumulative_at(duration, starts, rates, cumulative)
            unit = np.cumsum(rng.exponential(1.0, int(total + 10 * math.sqrt(total + 1) + 10)))
            while unit.size and unit[-1] < total:
                more = np.cumsum(rng.exponential(1.0, unit.size)) + unit[-1]
                unit = np.concatenate((unit, more))
            unit = unit[unit < total]
        piece = np.searchsorted(cumulative, unit, side="right") - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            return starts[piece] + (unit - cumulative[piece]) / rates[piece]

    @staticmethod
    def _cumulative_at(t, starts, rates, cumulative):
        i = np.searchsorted(starts, t, side="right") - 1
        return cumulative[i] + (t - starts[i]) * rates[i]
