"""Injected degradations: servers that answer slowly or fail fast instead of dying.

Beside a crash (``simulate(failures=[(time_s, server)])``) a server can degrade
for a while and stay up, so passive health checks still see it as healthy:

- :class:`Slow` ("gray" failure): from ``at_s`` for ``duration_s`` seconds the
  server works at ``factor`` times its speed (a noisy neighbour, a failing
  disk, garbage collection). Work already in service continues at the new
  speed from that moment on.
- :class:`FailFast`: from ``at_s`` for ``duration_s`` seconds every request the
  server receives is answered with an error ``error_s`` seconds later, without
  being served (a broken dependency: the handler fails its first call). The
  attempt's outcome is ``rejected`` (an error answer, as a 5xx is), so the
  client's retries apply. Only servers behind a load balancer can fail fast.

Both go in the same ``failures`` list as crashes and may overlap; overlapping
slowdowns multiply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _checks


def _window(self) -> None:
    object.__setattr__(self, "at_s", _checks.seconds("at_s", self.at_s, allow_zero=True))
    object.__setattr__(self, "server", _checks.count("server", self.server, minimum=0))
    object.__setattr__(self, "duration_s", _checks.seconds("duration_s", self.duration_s, allow_inf=True))


@dataclass(frozen=True)
class Slow:
    """Server ``server`` runs at ``factor`` (0 < factor <= 1) times its speed
    from ``at_s`` (s) for ``duration_s`` (s; inf = to the end of the run)."""

    at_s: float
    server: int
    duration_s: float = math.inf
    factor: float = 0.1

    def __post_init__(self):
        _window(self)
        factor = _checks.positive("factor", self.factor)
        if factor > 1:
            raise ValueError(f"factor must be > 0 and <= 1 (a fraction of the server's speed), got {factor!r}")
        object.__setattr__(self, "factor", factor)


@dataclass(frozen=True)
class FailFast:
    """Server ``server`` answers every request it receives with an error
    ``error_s`` seconds later (outcome ``rejected``), from ``at_s`` (s) for
    ``duration_s`` (s; inf = to the end of the run)."""

    at_s: float
    server: int
    duration_s: float = math.inf
    error_s: float = 0.01

    def __post_init__(self):
        _window(self)
        object.__setattr__(self, "error_s", _checks.seconds("error_s", self.error_s, allow_zero=True))


DEGRADATIONS = (Slow, FailFast)
