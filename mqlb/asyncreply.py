"""Asynchronous request-reply: answer 202 at once, let the client poll for the result.

The client sends a job and gets ``202 Accepted`` with a status URL at once;
it asks that URL every ``poll_s`` seconds until the job is done. The answer
is ready at the job's ``end`` in a :class:`~mqlb.result.Result`; the client
sees it at its first poll at or after that time. With the first poll at a
random phase (uniform in one interval after the 202), the answer is seen on
average ``poll_s / 2`` late, at most ``poll_s``, and a job whose answer takes
R seconds costs on average ``R / poll_s + 1`` polls (the last one finds it).

Model side: reads a Result; nothing here draws or formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _checks
from .result import COMPLETED, Result

__all__ = ["Polling", "polling"]


@dataclass(frozen=True, eq=False)
class Polling:
    """What polling costs, per completed job (arrays in job order, seconds)."""

    poll_s: float
    ready: np.ndarray        # the answer is ready, after the 202 (s): end - arrival
    seen: np.ndarray         # the client sees it, after the 202 (s)
    polls: np.ndarray        # status requests the client sent, the last one included

    @property
    def extra_latency(self) -> np.ndarray:
        """Seconds between the answer being ready and the client seeing it (0 <= x < poll_s)."""
        return self.seen - self.ready

    @property
    def mean_extra(self) -> float:
        return float(self.extra_latency.mean()) if len(self.ready) else math.nan

    @property
    def mean_polls(self) -> float:
        return float(self.polls.mean()) if len(self.ready) else math.nan

    @property
    def expected_extra(self) -> float:
        """Theory, random phase: poll_s / 2."""
        return self.poll_s / 2

    @property
    def expected_polls(self) -> float:
        """Theory, random phase: mean(R) / poll_s + 1."""
        return float(self.ready.mean()) / self.poll_s + 1 if len(self.ready) else math.nan


def polling(result: Result, poll_s: float, *, seed: int = 0) -> Polling:
    """Poll every ``poll_s`` seconds for each completed job of ``result``,
    the first poll at a random phase in ``[0, poll_s)`` after the 202 (seeded)."""
    _checks.instance("result", result, Result, "a Result from mqlb.simulate")
    poll_s = _checks.seconds("poll_s", poll_s)
    _checks.count("seed", seed, minimum=0)
    r = result.records[result.records["outcome"] == COMPLETED]
    ready = r["end"] - r["arrival"]
    phase = np.random.default_rng(seed).uniform(0.0, poll_s, size=len(r))
    # polls at phase + k poll_s, k = 0, 1, ...: the first at or after `ready`
    k = np.maximum(np.ceil((ready - phase) / poll_s), 0.0)
    k[phase + k * poll_s < ready] += 1.0          # a rounding error must not show the answer early
    return Polling(poll_s, ready, phase + k * poll_s, k + 1)
