"""How clients behave: how long they wait, and whether they try again."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _checks


@dataclass(frozen=True)
class Client:
    """The clients sending the jobs.

    timeout: seconds a client waits for the answer; a later answer is a failure
        (``timed_out``), and whatever the servers still do for it is wasted.
    retries: times a client sends a failed job again (rejected, timed out or lost).
    backoff: seconds before the first retry; each further retry waits
        ``backoff_multiplier`` times longer. 0 = retry at once (naive).
    jitter: draw each wait uniformly between 0 and the backoff ("full jitter").
    """

    timeout: float = math.inf
    retries: int = 0
    backoff: float = 0.0
    backoff_multiplier: float = 2.0
    jitter: bool = False

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

    def wait_before(self, attempt: int, u: float) -> float:
        """Seconds to wait before sending ``attempt`` (2, 3, ...); ``u`` is a
        uniform random number in [0, 1) used for jitter."""
        if self.backoff == 0:
            return 0.0
        wait = self.backoff * self.backoff_multiplier ** (attempt - 2)
        return wait * u if self.jitter else wait
