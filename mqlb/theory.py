"""Closed-form queueing results that the simulations are checked against.

Every function here is pure, takes plain numbers and validates them: a
non-number raises ``TypeError`` and an out-of-range value (a negative rate, an
unstable queue) raises ``ValueError``; both messages name the parameter, the
value received and what is allowed.

Units: rates are jobs per second, sizes and times are seconds, lengths (L, Lq)
are numbers of jobs. ``rho`` is the utilisation of one server.

The formulas follow M. Harchol-Balter, *Performance Modeling and Design of
Computer Systems: Queueing Theory in Action*, Cambridge University Press, 2013
(M/M/1, M/M/k and Erlang C, M/G/1 and processor sharing, GI/M/1, scale-up vs
scale-out), and L. Kleinrock, *Queueing Systems, Volume 1: Theory*, Wiley,
1975 (Erlang B, Pollaczek-Khinchine, Little's law). The supermarket model is
from M. Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
IEEE TPDS 12(10), 2001. Non-preemptive priorities are from A. Cobham,
"Priority Assignment in Waiting Line Problems", Operations Research 2(1), 1954
(Harchol-Balter ch. 31).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _checks

__all__ = [
    "QueueMetrics",
    "ScaleUpVsOut",
    "erlang_b",
    "erlang_c",
    "gi_m1_round_robin",
    "little_L",
    "little_W",
    "mg1",
    "mg1_priority",
    "mg1_ps",
    "mm1",
    "mm1_random_split",
    "mm1_speed",
    "mmc",
    "mmc_wait_quantile",
    "scale_up_vs_out",
    "supermarket",
]


def _stable(rho: float, detail: str) -> None:
    """Raise ValueError unless the per-server utilisation is below 1."""
    if not rho < 1.0:
        raise ValueError(
            f"rho must be < 1 for a stable queue, got {detail} (rho={rho:.4g})"
        )


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state means of one queueing system fed at ``arrival_rate``.

    Lengths count jobs in the whole system (all servers), so Little's law
    ``L == arrival_rate * W`` holds for every instance.
    """

    arrival_rate: float  # jobs/s entering the system
    rho: float  # utilisation of one server, in [0, 1)
    p_wait: float  # probability an arriving job has to wait, in [0, 1]
    W: float  # mean response time (wait + service), s
    Wq: float  # mean waiting time before service starts, s
    L: float  # mean number of jobs in the system
    Lq: float  # mean number of jobs waiting (not in service)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {self.rho!r}")
        if not 0.0 <= self.p_wait <= 1.0:
            raise ValueError(f"p_wait must be in [0, 1], got {self.p_wait!r}")
        if not 0.0 <= self.Wq <= self.W:
            raise ValueError(f"need 0 <= Wq <= W, got Wq={self.Wq!r}, W={self.W!r}")


def _metrics(lam: float, rho: float, p_wait: float, W: float, Wq: float) -> QueueMetrics:
    """Fill in L and Lq from W and Wq by Little's law."""
    return QueueMetrics(
        arrival_rate=lam, rho=rho, p_wait=p_wait, W=W, Wq=Wq, L=lam * W, Lq=lam * Wq
    )


@dataclass(frozen=True)
class ScaleUpVsOut:
    """One fast server against k slow ones with the same total capacity."""

    scale_up: QueueMetrics  # one server of rate mu_total (M/M/1)
    scale_out: QueueMetrics  # k servers of rate mu_total / k, one queue (M/M/k)

    @property
    def ratio(self) -> float:
        """Mean response of scale-out divided by that of scale-up (> 1: up wins)."""
        return self.scale_out.W / self.scale_up.W


# --------------------------------------------------------------------------
# Little's law
# --------------------------------------------------------------------------


def little_L(lam: float, W: float) -> float:
    """Mean number in system L = lam * W (lam in jobs/s, W in s)."""
    return _checks.non_negative("lam", lam) * _checks.non_negative("W", W)


def little_W(L: float, lam: float) -> float:
    """Mean time in system W = L / lam, in seconds."""
    return _checks.non_negative("L", L) / _checks.positive("lam", lam)


# --------------------------------------------------------------------------
# Markovian queues
# --------------------------------------------------------------------------


def mm1(lam: float, mu: float) -> QueueMetrics:
    """M/M/1: Poisson arrivals at ``lam``/s, one exponential server at ``mu``/s."""
    lam = _checks.positive("lam", lam)
    mu = _checks.positive("mu", mu)
    rho = lam / mu
    _stable(rho, f"lam={lam!r}, mu={mu!r}")
    W = 1.0 / (mu - lam)
    return _metrics(lam, rho, p_wait=rho, W=W, Wq=rho * W)


def mm1_speed(lam: float, mu: float, speed: float) -> QueueMetrics:
    """One server ``speed`` times faster than rate ``mu``: M/M/1 with mu * speed."""
    mu = _checks.positive("mu", mu)
    speed = _checks.positive("speed", speed)
    return mm1(lam, mu * speed)


def mm1_random_split(lam: float, mu: float, k: int) -> QueueMetrics:
    """Poisson stream split at random over ``k`` M/M/1 servers (no pooling).

    Each server sees a Poisson stream of rate lam / k, so every job has the
    M/M/1 response time of one server at utilisation lam / (k mu).
    """
    lam = _checks.positive("lam", lam)
    mu = _checks.positive("mu", mu)
    k = _checks.count("k", k)
    _stable(lam / (k * mu), f"lam={lam!r}, mu={mu!r}, k={k}")
    one = mm1(lam / k, mu)
    return _metrics(lam, one.rho, p_wait=one.p_wait, W=one.W, Wq=one.Wq)


def erlang_b(offered_load: float, c: int) -> float:
    """Erlang B: probability an arrival finds all ``c`` servers busy (no queue).

    ``offered_load`` is lam / mu in erlangs. Computed by the recursion
    B(0) = 1, B(n) = a B(n-1) / (n + a B(n-1)), stable for thousands of servers.
    """
    a = _checks.non_negative("offered_load", offered_load)
    c = _checks.count("c", c)
    blocking = 1.0
    for n in range(1, c + 1):
        blocking = a * blocking / (n + a * blocking)
    return blocking


def erlang_c(offered_load: float, c: int) -> float:
    """Erlang C: probability an arrival waits in M/M/c (needs offered_load < c).

    Derived from Erlang B: C = B / (1 - rho (1 - B)) with rho = offered_load / c.
    """
    a = _checks.non_negative("offered_load", offered_load)
    c = _checks.count("c", c)
    rho = a / c
    _stable(rho, f"offered_load={offered_load!r}, c={c}")
    blocking = erlang_b(a, c)
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc(lam: float, mu: float, c: int) -> QueueMetrics:
    """M/M/c: one shared FCFS queue in front of ``c`` servers of rate ``mu``/s."""
    lam = _checks.positive("lam", lam)
    mu = _checks.positive("mu", mu)
    c = _checks.count("c", c)
    rho = lam / (c * mu)
    _stable(rho, f"lam={lam!r}, mu={mu!r}, c={c}")
    p_wait = erlang_c(lam / mu, c)
    Wq = p_wait / (c * mu - lam)
    return _metrics(lam, rho, p_wait=p_wait, W=Wq + 1.0 / mu, Wq=Wq)


def mmc_wait_quantile(lam: float, mu: float, c: int, q: float) -> float:
    """The ``q``-quantile of the waiting time in M/M/c, in seconds.

    P(Wq > t) = C exp(-(c mu - lam) t), so the quantile is 0 when q <= 1 - C.
    """
    q = _checks.number("q", q)
    if not 0.0 <= q < 1.0:
        raise ValueError(f"q must be in [0, 1), got {q!r}")
    metrics = mmc(lam, mu, c)
    if q <= 1.0 - metrics.p_wait:
        return 0.0
    return math.log(metrics.p_wait / (1.0 - q)) / (c * float(mu) - float(lam))


def scale_up_vs_out(lam: float, mu_total: float, k: int) -> ScaleUpVsOut:
    """Compare one server of rate ``mu_total`` with ``k`` of rate mu_total / k.

    Both see Poisson arrivals at ``lam`` and exponential job sizes; scale-out
    shares one queue (M/M/k). With exponential sizes scale-up always wins.
    """
    mu_total = _checks.positive("mu_total", mu_total)
    k = _checks.count("k", k)
    return ScaleUpVsOut(scale_up=mm1(lam, mu_total), scale_out=mmc(lam, mu_total / k, k))


# --------------------------------------------------------------------------
# General job sizes
# --------------------------------------------------------------------------


def mg1(lam: float, mean_size: float, c2: float) -> QueueMetrics:
    """M/G/1 FCFS by Pollaczek-Khinchine.

    ``mean_size`` is E[S] in seconds and ``c2`` the squared coefficient of
    variation of the job size (0 deterministic, 1 exponential):
    W = E[S] + rho / (1 - rho) * E[S] * (1 + c2) / 2.
    """
    lam = _checks.positive("lam", lam)
    mean_size = _checks.positive("mean_size", mean_size)
    c2 = _checks.non_negative("c2", c2)
    rho = lam * mean_size
    _stable(rho, f"lam={lam!r}, mean_size={mean_size!r}")
    Wq = rho / (1.0 - rho) * mean_size * (1.0 + c2) / 2.0
    return _metrics(lam, rho, p_wait=rho, W=mean_size + Wq, Wq=Wq)


def mg1_priority(lams, mean_sizes, c2s) -> tuple:
    """Mean waiting times (s, before service) of the classes of a non-preemptive
    priority M/G/1 queue, highest priority first (Cobham 1954).

    Class k arrives at ``lams[k]`` jobs/s with sizes of mean ``mean_sizes[k]``
    (s) and squared coefficient of variation ``c2s[k]``. With rho_i = lam_i
    E[S_i] and sigma_k = rho_1 + ... + rho_k:
    E[W_k] = (sum_i lam_i E[S_i^2] / 2) / ((1 - sigma_{k-1}) (1 - sigma_k)).
    The response time of class k is E[W_k] + mean_sizes[k].
    """
    lams, mean_sizes, c2s = (tuple(_checks.number(name, x) for x in _sequence(name, v))
                             for name, v in (("lams", lams), ("mean_sizes", mean_sizes), ("c2s", c2s)))
    if not len(lams) == len(mean_sizes) == len(c2s) >= 1:
        raise ValueError(f"lams, mean_sizes and c2s must have one entry per class, got {len(lams)}, "
                         f"{len(mean_sizes)} and {len(c2s)}")
    for lam, size, c2 in zip(lams, mean_sizes, c2s):
        _checks.positive("lams", lam)
        _checks.positive("mean_sizes", size)
        _checks.non_negative("c2s", c2)
    rhos = [lam * size for lam, size in zip(lams, mean_sizes)]
    _stable(sum(rhos), f"lams={lams!r}, mean_sizes={mean_sizes!r}")
    residual = sum(lam * size * size * (1.0 + c2) for lam, size, c2 in zip(lams, mean_sizes, c2s)) / 2.0
    waits, sigma = [], 0.0
    for rho in rhos:
        waits.append(residual / ((1.0 - sigma) * (1.0 - sigma - rho)))
        sigma += rho
    return tuple(waits)


def _sequence(name: str, value) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers, one per class, got {value!r}")
    return tuple(value)


def mg1_ps(lam: float, mean_size: float) -> float:
    """Mean response time (s) of M/G/1 processor sharing: E[S] / (1 - rho).

    Insensitive to the job-size distribution beyond its mean.
    """
    lam = _checks.positive("lam", lam)
    mean_size = _checks.positive("mean_size", mean_size)
    rho = lam * mean_size
    _stable(rho, f"lam={lam!r}, mean_size={mean_size!r}")
    return mean_size / (1.0 - rho)


def gi_m1_round_robin(lam: float, mu: float, k: int) -> QueueMetrics:
    """Round-robin split of a Poisson stream over ``k`` exponential servers.

    Each server sees every k-th arrival, so Erlang-k interarrival times of
    mean k / lam: a GI/M/1 queue. Its key number sigma (the probability an
    arrival waits) is the root in (0, 1) of sigma = A*(mu (1 - sigma)), with
    A*(s) = (lam / (lam + s))^k the interarrival Laplace transform; then
    W = 1 / (mu (1 - sigma)). The fixed point is found by Newton's method
    from sigma = 0, which climbs monotonically to the smallest root.
    With k = 1 this is M/M/1.
    """
    lam = _checks.positive("lam", lam)
    mu = _checks.positive("mu", mu)
    k = _checks.count("k", k)
    rho = lam / (k * mu)
    _stable(rho, f"lam={lam!r}, mu={mu!r}, k={k}")
    sigma = _gi_m1_sigma_erlang(lam, mu, k)
    W = 1.0 / (mu * (1.0 - sigma))
    return _metrics(lam, rho, p_wait=sigma, W=W, Wq=sigma * W)


def _gi_m1_sigma_erlang(lam: float, mu: float, k: int) -> float:
    """Smallest root of sigma = (lam / (lam + mu (1 - sigma)))^k in (0, 1)."""
    sigma = 0.0
    for _ in range(200):
        base = lam / (lam + mu * (1.0 - sigma))
        transform = base**k
        slope = k * transform * mu / (lam + mu * (1.0 - sigma))
        step = (transform - sigma) / (1.0 - slope)
        sigma += step
        if abs(step) <= 1e-15 * max(sigma, 1e-300):
            break
    return min(sigma, math.nextafter(1.0, 0.0))


# --------------------------------------------------------------------------
# Power of d choices
# --------------------------------------------------------------------------


def supermarket(lam: float, d: int = 2, mu: float = 1.0) -> float:
    """Mean response time (s) in the supermarket model with ``d`` choices.

    Infinitely many FCFS servers of rate ``mu``, each fed at ``lam`` jobs/s
    on average (rho = lam / mu < 1); every job joins the shortest of ``d``
    queues picked at random. The fraction of queues holding at least i jobs
    is rho^((d^i - 1)/(d - 1)), so E[T] = (1/mu) * sum_{i>=1}
    rho^((d^i - d)/(d - 1)). With d = 1 this is M/M/1, 1 / (mu - lam).
    """
    lam = _checks.positive("lam", lam)
    d = _checks.count("d", d)
    mu = _checks.positive("mu", mu)
    rho = lam / mu
    _stable(rho, f"lam={lam!r}, mu={mu!r}")
    if d == 1:
        return 1.0 / (mu - lam)
    total = 0.0
    exponent = 0  # (d^i - d)/(d - 1) = d + d^2 + ... + d^(i-1), exact in ints
    while True:
        term = rho**exponent
        total += term
        if term < 1e-17 * total:
            return total / mu
        exponent = d * (exponent + 1)
