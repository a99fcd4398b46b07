"""A workload: one seeded stream of jobs, generated once into arrays.

Generating the stream up front (arrival times, sizes, memory, class) lets two
architectures be compared on the *identical* jobs: any difference in the
results comes from the architecture, not from luck.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks
from .arrivals import ArrivalProcess
from .distributions import Deterministic, Distribution


@dataclass(frozen=True)
class JobClass:
    """One kind of job in a mix, e.g. light API requests or heavy video jobs.

    ``name`` is also the message's routing key in a message queue (dots
    separate words for topic exchanges). ``size`` is seconds of work at speed 1;
    ``memory_mb`` the memory a job holds while a server works on it (MB), a
    number or a distribution; ``share`` the relative frequency of the class.
    """

    name: str
    size: Distribution
    memory_mb: float | Distribution = 0.0
    share: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"name must be a non-empty string without spaces, got {_checks.short(self.name)}")
        size = len(self.name.encode("utf-8"))
        if size > 255:        # it is the routing key in a message queue: RabbitMQ's limit
            raise ValueError(f"name must be at most 255 bytes (it is the message's routing key), got {size} bytes: "
                             f"{_checks.short(self.name)}")
        _checks.instance("size", self.size, Distribution, "a Distribution such as Exponential(1.0)")
        if not isinstance(self.memory_mb, Distribution):
            object.__setattr__(self, "memory_mb", _checks.non_negative("memory_mb", self.memory_mb))
        object.__setattr__(self, "share", _checks.positive("share", self.share))


@dataclass(frozen=True, eq=False)
class Workload:
    """A generated job stream. Arrays are indexed by job id (0, 1, ...).

    ``arrival`` (s, sorted), ``size`` (s of work at speed 1), ``memory_mb`` (MB)
    and ``kind`` (index into ``kinds``, the class names).
    """

    arrival: np.ndarray
    size: np.ndarray
    memory_mb: np.ndarray
    kind: np.ndarray
    kinds: tuple = ("job",)
    description: str = field(default="", compare=False)

    def __post_init__(self):
        for name in ("arrival", "size", "memory_mb", "kind"):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.ndim != 1:
                raise TypeError(f"{name} must be a one-dimensional NumPy array, got {a!r}")
            integer = name == "kind"
            if not (np.issubdtype(a.dtype, np.integer) if integer else np.issubdtype(a.dtype, np.number)) \
                    or np.issubdtype(a.dtype, np.complexfloating) or a.dtype == bool:
                raise TypeError(f"{name} must be an array of {'whole numbers (indices into kinds)' if integer else 'real numbers'}, "
                                f"got dtype {a.dtype}")
        if not isinstance(self.kinds, tuple) or not self.kinds or not all(isinstance(k, str) and k for k in self.kinds):
            raise TypeError(f"kinds must be a non-empty tuple of class names, got {self.kinds!r}")
        n = len(self.arrival)
        _checks.jobs(f"arrival with {n:,} entries", n)
        for name in ("size", "memory_mb", "kind"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries but arrival has {n}")
        if n and (np.any(np.diff(self.arrival) < 0) or self.arrival[0] < 0 or not np.all(np.isfinite(self.arrival))):
            raise ValueError("arrival must be finite, >= 0 and sorted")
        if np.any(~np.isfinite(self.size)) or np.any(self.size < 0):
            raise ValueError("size must be finite and >= 0")
        if np.any(~np.isfinite(self.memory_mb)) or np.any(self.memory_mb < 0):
            raise ValueError("memory_mb must be finite and >= 0")
        if n and (self.kind.min() < 0 or self.kind.max() >= len(self.kinds)):
            raise ValueError(f"kind must index kinds (0..{len(self.kinds) - 1})")
        for a in (self.arrival, self.size, self.memory_mb, self.kind):
            a.setflags(write=False)

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def n_jobs(self) -> int:
        return len(self.arrival)

    @property
    def mean_rate(self) -> float:
        """Observed arrival rate over the stream (jobs/s)."""
        return len(self) / self.arrival[-1] if len(self) and self.arrival[-1] > 0 else float("nan")

    @property
    def total_work(self) -> float:
        """Seconds of work at speed 1 that the whole stream needs."""
        return float(self.size.sum())

    def kind_index(self, name: str) -> int:
        if name not in self.kinds:
            raise ValueError(f"kind must be one of {', '.join(map(repr, self.kinds))}; got {name!r}")
        return self.kinds.index(name)

    def __repr__(self):
        return f"Workload({len(self)} jobs, kinds={self.kinds}{', ' + self.description if self.description else ''})"


def make_workload(arrivals, size: Distribution | None = None, *, classes=None, memory_mb=0.0,
                  n_jobs: int | None = None, duration: float | None = None, seed) -> Workload:
    """Generate a job stream.

    ``arrivals`` is an :class:`~mqlb.arrivals.ArrivalProcess` (give ``n_jobs`` or
    ``duration`` in seconds) or an explicit sorted sequence of arrival times (s).
    Either one ``size`` distribution (with ``memory_mb`` per job) or a list of
    :class:`JobClass` for a mix. ``seed`` (an int) fixes every random draw:
    the same arguments give the same stream, bit for bit.
    """
    _checks.count("seed", seed, minimum=0)
    arrival_ss, kind_ss, size_ss = np.random.SeedSequence(seed).spawn(3)
    if isinstance(arrivals, ArrivalProcess):
        times = np.asarray(arrivals.times(np.random.default_rng(arrival_ss), n_jobs, duration), dtype=float)
        description = repr(arrivals)
    elif isinstance(arrivals, (list, tuple, np.ndarray)):
        if n_jobs is not None or duration is not None:
            raise ValueError("n_jobs and duration apply to an arrival process, not to explicit arrival times")
        try:
            times = np.array(arrivals, dtype=float)
        except (TypeError, ValueError) as error:
            raise TypeError(f"arrivals must be a flat sequence of times in seconds (numbers), got "
                            f"{_checks.short(arrivals)} ({error})") from None
        if times.ndim != 1:
            raise ValueError(f"arrivals must be one-dimensional, got shape {times.shape}")
        if len(times) and not times[-1] <= _checks.MAX_SECONDS:
            raise ValueError(f"arrival times must be at most {_checks.MAX_SECONDS:g} s, got {times[-1]!r}")
        description = "explicit arrivals"
    else:
        raise TypeError(f"arrivals must be an ArrivalProcess (e.g. Poisson(rate=2.0)) or a sequence of times, got {arrivals!r}")

    if classes is None:
        if size is None:
            raise ValueError("give a size distribution, or classes=[JobClass(...), ...]")
        classes = [JobClass("job", size, memory_mb)]
    else:
        if size is not None or (not isinstance(memory_mb, Distribution) and memory_mb != 0.0):
            raise ValueError("with classes, give size and memory_mb per JobClass, not to make_workload")
        classes = list(classes)
        if not classes:
            raise ValueError("classes must hold at least one JobClass")
        for c in classes:
            _checks.instance("classes", c, JobClass, "a list of JobClass")
        names = [c.name for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"class names must be unique, got {names}")

    n = len(times)
    shares = np.array([c.share for c in classes])
    kind_rng = np.random.default_rng(kind_ss)
    kind = (kind_rng.choice(len(classes), size=n, p=shares / shares.sum()) if len(classes) > 1
            else np.zeros(n, dtype=np.int64)).astype(np.int16)
    sizes, memory = np.empty(n), np.empty(n)
    for k, (cls, ss) in enumerate(zip(classes, size_ss.spawn(len(classes)))):
        mask = kind == k
        size_rng, memory_rng = (np.random.default_rng(s) for s in ss.spawn(2))
        sizes[mask] = cls.size.sample(size_rng, int(mask.sum()))
        mem = cls.memory_mb if isinstance(cls.memory_mb, Distribution) else Deterministic(cls.memory_mb)
        memory[mask] = mem.sample(memory_rng, int(mask.sum()))
    return Workload(times, sizes, memory, kind, tuple(c.name for c in classes), description)
