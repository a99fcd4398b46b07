"""Argument checks shared by every public constructor.

Each check raises a ``ValueError`` or ``TypeError`` that names the parameter, the
value received and what is allowed, so a bad configuration fails before a
simulation starts instead of producing a silent wrong result.
"""

from __future__ import annotations

import math
import numbers


def number(name: str, value) -> float:
    """Return ``value`` as a float, or raise TypeError/ValueError (NaN is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    return value


def positive(name: str, value, *, allow_inf: bool = False) -> float:
    """A number > 0 (finite unless ``allow_inf``)."""
    value = number(name, value)
    if not value > 0 or (math.isinf(value) and not allow_inf):
        allowed = "> 0" if allow_inf else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def non_negative(name: str, value, *, allow_inf: bool = False) -> float:
    """A number >= 0 (finite unless ``allow_inf``)."""
    value = number(name, value)
    if value < 0 or (math.isinf(value) and not allow_inf):
        allowed = ">= 0" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def count(name: str, value, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """A whole number >= ``minimum`` (or None when ``allow_none``, meaning unlimited)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        extra = " or None (unlimited)" if allow_none else ""
        raise TypeError(f"{name} must be a whole number >= {minimum}{extra}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        extra = " or None (unlimited)" if allow_none else ""
        raise ValueError(f"{name} must be a whole number >= {minimum}{extra}, got {value!r}")
    return int(value)


def short(value, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + " ...]"


def choice(name: str, value, allowed) -> str:
    """One of the strings in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def instance(name: str, value, kind, what: str):
    """``value`` must be an instance of ``kind``; ``what`` describes it for the message."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    return value


# -- bounds on the work one run may take -------------------------------------------
# Each is far above what a chapter or a benchmark needs and far below what
# would exhaust a laptop's memory or take hours: an input beyond one is refused
# up front with a message that gives the expected size.
MAX_JOBS = 2_000_000          # jobs in one workload (arrays of 4 numbers each, and a record each)
MAX_ATTEMPTS = 20_000_000     # records × (1 + retries): the most sends a run may need
MAX_SAMPLES = 500_000         # timeline samples (the spacing doubles beyond; see Timeline) ...
MAX_TIMELINE_VALUES = 10_000_000   # ... and at most this many numbers in the timeline's arrays (80 MB)
MAX_SECONDS = 1e12            # any time span or job size (s): about 31 700 years


def seconds(name: str, value, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """A time span in seconds: > 0 (or >= 0), at most ``MAX_SECONDS`` (or inf if allowed)."""
    value = non_negative(name, value, allow_inf=allow_inf) if allow_zero else \
        positive(name, value, allow_inf=allow_inf)
    if MAX_SECONDS < value < math.inf:
        raise ValueError(f"{name} must be at most {MAX_SECONDS:g} s (about 31 700 years), got {value!r}")
    return value


def max_samples(servers: int, queues: int) -> int:
    """Most timeline samples for a system of ``servers`` and ``queues``: each
    sample holds five numbers per server, one per queue, and the time and count."""
    return max(2, min(MAX_SAMPLES, MAX_TIMELINE_VALUES // (5 * servers + queues + 2)))


def jobs(name: str, expected: float, hint: str = "") -> None:
    """Refuse a stream of about ``expected`` jobs when it exceeds ``MAX_JOBS``."""
    if not expected <= MAX_JOBS:
        raise ValueError(f"{name} would give about {expected:.3g} jobs (about {expected * 32 / 1e9:.3g} GB of arrays "
                         f"before the simulation); at most {MAX_JOBS:,} jobs per workload{hint}")
