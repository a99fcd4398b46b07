"""Passive outlier ejection: a load balancer stops sending to a server that
keeps failing, for a time that grows with each ejection.

Modelled on Envoy's consecutive-5xx outlier detection: after ``consecutive``
failed answers in a row from one server, the balancer ejects it for
``base_s`` × (the number of times it has been ejected) seconds, at most
``max_s``; an ejected server gets no new requests (it finishes what it holds)
and is eligible again when its time is up. At most ``max_fraction`` of the
servers are ejected at once, except that one server may always be ejected
when none is. With ``slow_s`` set, an answer that took longer than ``slow_s``
seconds from the balancer's hand-off counts as a failure too.

A failure is an error answer (a fail-fast server), a request the server
refused or lost in a crash; an answer in time resets the count. nginx's
simpler ``max_fails=1 fail_timeout=10s`` is ``Ejection(consecutive=1,
base_s=10, max_s=10, max_fraction=1.0)``.

Simplifications: Envoy checks for the end of an ejection on its ``interval``
sweep (10 s by default) and lowers the multiplier again while a host stays
healthy; here a server returns exactly when its time is up and the
multiplier only grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _checks


@dataclass(frozen=True)
class Ejection:
    """Outlier ejection settings (Envoy's defaults: 5 in a row, 30 s, 10 %, 300 s).

    consecutive: failures in a row that eject a server.
    base_s: seconds of the first ejection; the k-th lasts k × base_s.
    max_fraction: the most servers ejected at once, as a fraction (0..1].
    max_s: the longest ejection (s).
    slow_s: an answer slower than this (s) counts as a failure (None: never).
    """

    consecutive: int = 5
    base_s: float = 30.0
    max_fraction: float = 0.1
    max_s: float = 300.0
    slow_s: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "consecutive", _checks.count("consecutive", self.consecutive))
        object.__setattr__(self, "base_s", _checks.seconds("base_s", self.base_s))
        fraction = _checks.positive("max_fraction", self.max_fraction)
        if fraction > 1:
            raise ValueError(f"max_fraction must be > 0 and <= 1 (a fraction of the servers), got {fraction!r}")
        object.__setattr__(self, "max_fraction", fraction)
        object.__setattr__(self, "max_s", _checks.seconds("max_s", self.max_s, allow_inf=True))
        if self.max_s < self.base_s:
            raise ValueError(f"max_s must be >= base_s ({self.base_s!r} s), got {self.max_s!r}")
        if self.slow_s is not None:
            object.__setattr__(self, "slow_s", _checks.seconds("slow_s", self.slow_s))

    def duration(self, times: int) -> float:
        """Seconds the ``times``-th ejection of a server lasts."""
        return min(self.base_s * times, self.max_s)

    def may_eject(self, ejected: int, servers: int) -> bool:
        """Envoy's rule: eject if none is ejected, or fewer than the fraction allows."""
        return ejected == 0 or ejected < self.max_fraction * servers


class Outliers:
    """The running state of ejection for one balancer's ``n`` servers."""

    def __init__(self, env, spec: Ejection, n: int, on_change, log: list, first_number: int):
        self.env, self.spec, self.on_change, self.log, self.first = env, spec, on_change, log, first_number
        self.ejected = [False] * n
        self.streak = [0] * n
        self.times = [0] * n
        self.n_ejected = 0

    def answered(self, i: int, took: float) -> None:
        """Server ``i`` answered after ``took`` seconds."""
        slow = self.spec.slow_s
        if slow is not None and took > slow:
            self.failed(i)
        else:
            self.streak[i] = 0

    def failed(self, i: int) -> None:
        """Server ``i`` failed a request."""
        self.streak[i] += 1
        if (self.streak[i] >= self.spec.consecutive and not self.ejected[i]
                and self.spec.may_eject(self.n_ejected, len(self.ejected))):
            self.ejected[i] = True
            self.n_ejected += 1
            self.times[i] += 1
            self.streak[i] = 0
            duration = self.spec.duration(self.times[i])
            self.log.append((self.env.now, self.first + i, duration))
            self.env.timeout(duration).callbacks.append(lambda _e: self._return(i))
            self.on_change(i)

    def _return(self, i: int) -> None:
        self.ejected[i] = False
        self.n_ejected -= 1
        self.streak[i] = 0
        self.on_change(i)
