"""The post's six claims, each stated once and judged by replicated experiments.

The post (Kim 2022) argues six claims, C1–C6, in a sentence or two each. Here
every claim becomes an *operational* statement: which designs it compares, on
which measure, at which settings, and what "holds", "holds with nuance" and
"does not hold" mean for it. Every chapter that gives a verdict prints it from
here, so two chapters cannot disagree.

How a claim is judged:

- Every quantity a rule reads is measured on ``seeds`` independent job streams
  (10 by default) and given with a 95 % confidence interval (Student's t over
  the seeds). Designs are compared on the *same* stream, seed by seed, so a
  ratio's interval is that of the paired ratios.
- A rule only says "holds" or "does not hold" when the interval clears its
  threshold; when a deciding interval straddles a threshold the verdict is
  "within noise".
- A claim that compares designs is judged against the other side's *best
  ordinary* setting as well as its naive one (a balancer with least
  connections and one with a connection cap and a queue, not only round
  robin; a queue with prefetch 1 and with a larger prefetch, not only
  unlimited), and the verdict names the setting it was judged against.
- Each claim's settings are a small frozen dataclass; a counter-configuration
  (where the claim must not hold) is the same dataclass with other values, so
  the tests can show that every rule flips.

    >>> from mqlb import claims
    >>> v = claims.judge("C6", claims.CoupledSetting(load=0.6), seeds=3)   # doctest: +SKIP
    >>> v.verdict                                                          # doctest: +SKIP
    'does not hold'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from . import _checks, scenarios
from .arrivals import Poisson
from .distributions import Exponential, with_c2
from .client import Client
from .loadbalancer import LoadBalancer
from .messagequeue import Broker, MessageQueue
from .server import Server
from .simulate import simulate
from .sweep import sweep
from .workload import make_workload

__all__ = ["CLAIMS", "CONFIDENCE", "SEEDS", "VERDICTS", "Claim", "CoupledSetting", "Estimate", "LightSetting",
           "Quantity", "ScaleSetting", "SurgeSetting", "Verdict", "judge", "judge_all", "markdown_table"]

#: The possible verdicts.
VERDICTS = ("holds", "holds with nuance", "does not hold", "within noise")
#: Independent job streams behind every quantity.
SEEDS = 10
#: Confidence level of every interval.
CONFIDENCE = 0.95
#: Bounds of a share's interval.
SHARE = (0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Estimates with confidence intervals

@dataclass(frozen=True)
class Estimate:
    """A mean over independent replications with its confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples, bounds=(-math.inf, math.inf)) -> "Estimate":
        """Mean and Student-t interval (level :data:`CONFIDENCE`) of ``samples``,
        the interval cut to ``bounds`` (e.g. 0 and 1 for a share)."""
        x = np.asarray(samples, dtype=float)
        if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
            raise ValueError(f"samples must be at least 2 finite numbers, got {samples!r}")
        mean = float(x.mean())
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
        return cls(mean, max(mean - half, bounds[0]), min(mean + half, bounds[1]), len(x))

    def side(self, threshold: float) -> int:
        """+1 if the whole interval is above ``threshold``, -1 if at or below it,
        0 if it straddles it (the evidence is within noise)."""
        if self.low > threshold:
            return 1
        if self.high <= threshold:
            return -1
        return 0

    def text(self, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        """``mean (low – high) unit``, each value times ``scale`` (a zero never prints as "-0";
        no brackets, which a page would show like a list). An interval that rounds to one value
        (every run gave it) prints as that value alone."""
        f = _number_format(scale, digits)
        low, high = f(self.low), f(self.high)
        interval = "" if low == high else f" ({low} – {high})"
        return f"{f(self.mean)}{interval}{' ' + unit if unit else ''}"


def _number_format(scale: float, digits: int):
    def f(v):
        s = f"{v * scale:.{digits}f}"
        return s.lstrip("-") if float(s) == 0 else s
    return f


@dataclass(frozen=True)
class Quantity:
    """An estimate as a verdict shows it: scaled, rounded, with its unit."""

    estimate: Estimate
    scale: float = 1.0
    digits: int = 2
    unit: str = ""

    def __str__(self) -> str:
        return self.estimate.text(self.scale, self.digits, self.unit)

    @property
    def mean(self) -> str:
        """The mean with its unit."""
        return f"{_number_format(self.scale, self.digits)(self.estimate.mean)}{' ' + self.unit if self.unit else ''}"

    @property
    def interval(self) -> str:
        """The interval, ``low – high unit``."""
        f = _number_format(self.scale, self.digits)
        return f"{f(self.estimate.low)} – {f(self.estimate.high)}{' ' + self.unit if self.unit else ''}"


# --------------------------------------------------------------------------------------------
# Settings: what each claim is judged on (a counter-configuration is the same class)

@dataclass(frozen=True)
class SurgeSetting:
    """C1 and C4: a surge of light requests and heavy, memory-hungry jobs.

    Four machines of speed 1 start a thread per request (processor sharing) and
    crash when the jobs they hold need more than ``server_memory_mb``; clients
    wait patiently, so a failed job is one that a crash destroyed.
    """

    base: float = 10.0                  # jobs/s before and after the surge
    peak: float = 25.0                  # jobs/s during the surge (136 % of capacity)
    surge_s: tuple = (60.0, 120.0)      # s: start and end of the surge
    duration: float = 240.0             # s of arrivals
    n_servers: int = 4
    server_memory_mb: float = 2000.0    # MB per machine
    heavy_memory_mb: float = 500.0      # MB a heavy job holds
    heavy_size_s: float = 2.0           # mean work of a heavy job (s); light requests take 20 ms
    mq_prefetches: tuple = (1, 4)       # the queue's ordinary settings (None = unlimited)
    lb_cap: int = 4                     # the capped balancer's connections per server (maxconn)

    def __post_init__(self):
        for name in ("base", "peak", "duration", "server_memory_mb", "heavy_size_s"):
            _checks.positive(name, getattr(self, name))
        _checks.non_negative("heavy_memory_mb", self.heavy_memory_mb)
        _checks.count("n_servers", self.n_servers)
        _checks.count("lb_cap", self.lb_cap)
        if not self.mq_prefetches:
            raise ValueError("mq_prefetches must name at least one prefetch (None = unlimited)")
        for p in self.mq_prefetches:
            _checks.count("mq_prefetches", p, allow_none=True)


@dataclass(frozen=True)
class LightSetting:
    """C2 and C3: short requests at moderate load, behind a balancer or a broker.

    Poisson arrivals at ``load`` on ``n_servers`` FCFS servers, exponential job
    sizes; the balancer adds ``proxy_s`` to each answer, the broker ``hop_s``
    per hop (publish, deliver, ack, reply).
    """

    sizes_ms: tuple = (2.0, 5.0, 10.0, 20.0, 50.0, 100.0)   # mean job sizes (ms)
    light_ms: float = 20.0             # C3: requests up to this size are "light"
    load: float = 0.7
    n_servers: int = 4
    hop_s: float = 0.001               # one broker hop (s)
    proxy_s: float = 0.0005            # the balancer's round trip (s)
    mq_prefetches: tuple = (1, 4)      # the queue's ordinary settings
    n_jobs: int = 2000
    slower: float = 1.1                # "slower" = p99 more than 10 % above the other's

    def __post_init__(self):
        if not self.sizes_ms or any(_checks.positive("sizes_ms", s) <= 0 for s in self.sizes_ms):
            raise ValueError(f"sizes_ms must be positive sizes in ms, got {self.sizes_ms!r}")
        if list(self.sizes_ms) != sorted(self.sizes_ms):
            raise ValueError(f"sizes_ms must be in increasing order, got {self.sizes_ms!r}")
        if not 0 < _checks.number("load", self.load) < 1:
            raise ValueError(f"load must be between 0 and 1 (a stable system), got {self.load!r}")
        _checks.non_negative("hop_s", self.hop_s)
        _checks.non_negative("proxy_s", self.proxy_s)
        _checks.count("n_jobs", self.n_jobs, minimum=100)
        for p in self.mq_prefetches:
            _checks.count("mq_prefetches", p)


@dataclass(frozen=True)
class ScaleSetting:
    """C5: one server ``k`` times as fast, or ``k`` servers behind one queue (equal capacity)."""

    c2s: tuple = (1.0, 20.0)           # job-size variabilities compared (C²)
    load: float = 0.7
    k: int = 4
    n_jobs: int = 4000
    margin: float = 1.1                # "wins" = mean response 10 % lower than the other's

    def __post_init__(self):
        for c in self.c2s:
            _checks.non_negative("c2s", c)
        if not 0 < _checks.number("load", self.load) < 1:
            raise ValueError(f"load must be between 0 and 1 (a stable system), got {self.load!r}")
        _checks.count("k", self.k, minimum=2)


@dataclass(frozen=True)
class CoupledSetting:
    """C6: a pool of ``slots`` workers called directly, or the same workers behind a broker.

    Clients give up after ``patience_s``; jobs take ``size_s`` on average
    (exponential). The bounded settings hold at most ``bound`` waiting requests
    (a thread pool's backlog; a queue's ``x-max-length`` with reject-publish).
    """

    load: float = 1.2                  # offered load (1 = capacity)
    slots: int = 8
    size_s: float = 0.5
    patience_s: float = 5.0
    bound: int = 50
    n_jobs: int = 3000
    stands: float = 0.8                # "standing" = answers at least 80 % of what was possible

    def __post_init__(self):
        _checks.positive("load", self.load)
        _checks.count("slots", self.slots)
        _checks.positive("size_s", self.size_s)
        _checks.positive("patience_s", self.patience_s)
        _checks.count("bound", self.bound, minimum=0)


# --------------------------------------------------------------------------------------------
# One replication of one design (module-level, so worker processes can run it)

def _threaded(setting: SurgeSetting) -> Server:
    return Server(slots=None, discipline="ps", memory_mb=setting.server_memory_mb, restart_s=10.0)


def _surge_systems(s: SurgeSetting) -> dict:
    machines = [_threaded(s)] * s.n_servers
    systems = {"LB push": LoadBalancer(machines, policy="least_connections"),
               f"LB, maxconn {s.lb_cap} + queue": LoadBalancer(machines, policy="least_connections",
                                                               max_conns=s.lb_cap, on_full="queue")}
    for p in s.mq_prefetches:
        systems[_prefetch_name(p)] = MessageQueue(consumers=machines, prefetch=p)
    return systems


def _prefetch_name(p) -> str:
    return "MQ, no prefetch limit" if p is None else f"MQ, prefetch {p}"


def _light_systems(s: LightSetting) -> dict:
    servers = [Server()] * s.n_servers
    hop = s.hop_s
    broker = Broker(publish_latency=hop, deliver_latency=hop, ack_latency=hop, reply_latency=hop)
    systems = {"LB round robin": LoadBalancer(servers, policy="round_robin", latency=s.proxy_s),
               "LB least connections": LoadBalancer(servers, policy="least_connections", latency=s.proxy_s),
               "LB, maxconn 1 + queue": LoadBalancer(servers, policy="least_connections", latency=s.proxy_s,
                                                     max_conns=1, on_full="queue")}
    for p in s.mq_prefetches:
        systems[_prefetch_name(p)] = MessageQueue(consumers=servers, prefetch=p, broker=broker)
    return systems


def _coupled_systems(s: CoupledSetting) -> dict:
    workers = [Server()] * s.slots
    return {"direct, unbounded backlog": LoadBalancer([Server(slots=s.slots)]),
            f"direct, backlog {s.bound}": LoadBalancer([Server(slots=s.slots, backlog=s.bound)]),
            "broker, unbounded queue": MessageQueue(consumers=workers),
            f"broker, max-length {s.bound}, reject-publish": MessageQueue(consumers=workers, max_length=s.bound,
                                                                         overflow="reject_publish")}


def _replicate(kind: str, setting, seed: int) -> dict:
    """Every design of one experiment on one job stream: a dict of numbers per design."""
    if kind == "surge":
        start, end = setting.surge_s
        wl = scenarios.surge_workload(seed=seed, base=setting.base, peak=setting.peak, surge_start=start,
                                      surge_end=end, duration=setting.duration, heavy_size_s=setting.heavy_size_s,
                                      heavy_memory_mb=setting.heavy_memory_mb)
        out = {}
        for name, system in _surge_systems(setting).items():
            res = simulate(system, wl, seed=seed)
            heavy = res.summary(kind="heavy")
            out[name] = {"heavy_failed": 1.0 - heavy.completed / heavy.jobs}
        return out
    if kind == "light":
        out = {}
        for size_ms in setting.sizes_ms:
            size = size_ms / 1000
            wl = make_workload(Poisson(rate=setting.load * setting.n_servers / size), Exponential(size),
                               n_jobs=setting.n_jobs, seed=seed)
            out[size_ms] = {name: simulate(system, wl, seed=seed).summary().p99_response
                            for name, system in _light_systems(setting).items()}
        return out
    if kind == "scale":
        out = {}
        for c2 in setting.c2s:
            wl = make_workload(Poisson(rate=setting.load * setting.k), with_c2(1.0, c2), n_jobs=setting.n_jobs,
                               seed=seed)
            up = LoadBalancer([Server(speed=float(setting.k))])
            out_ = LoadBalancer([Server()] * setting.k, policy="least_connections", max_conns=1, on_full="queue")
            out[c2] = {"up": simulate(up, wl, seed=seed).summary().mean_response,
                       "out": simulate(out_, wl, seed=seed).summary().mean_response}
        return out
    if kind == "coupled":
        rate = setting.load * setting.slots / setting.size_s
        wl = make_workload(Poisson(rate=rate), Exponential(setting.size_s), n_jobs=setting.n_jobs, seed=seed)
        possible = setting.n_jobs * min(1.0, 1.0 / setting.load)      # answers the capacity allows
        client = Client(timeout=setting.patience_s)
        return {name: simulate(system, wl, client=client, seed=seed).summary().completed / possible
                for name, system in _coupled_systems(setting).items()}
    raise ValueError(f"unknown experiment {kind!r}")


# --------------------------------------------------------------------------------------------
# Verdicts

@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim, with everything it rests on."""

    claim: str                  # "C1" … "C6"
    verdict: str                # one of VERDICTS
    reason: str                 # one sentence, with the deciding numbers
    judged_against: str         # which settings of the other side were compared
    quantities: dict            # name -> Quantity (the numbers behind the verdict)
    covers: str                 # the settings this verdict covers
    setting: object             # the setting dataclass it was judged on
    seeds: int
    detail: dict = field(default_factory=dict)   # derived numbers the prose may quote (e.g. a crossover)

    @property
    def statement(self) -> str:
        return CLAIMS[self.claim].statement


@dataclass(frozen=True)
class Claim:
    """A claim of the post and the rule that judges it."""

    code: str
    post: str                   # what the post says (paraphrased)
    statement: str              # short name for tables
    rule: str                   # the operational statement, in one paragraph
    experiment: str             # which replicated experiment it reads
    default: object = field(repr=False)


CLAIMS = {
    "C1": Claim("C1", "A message queue suits heavy work, because each server takes only what it can handle.",
                "A message queue suits heavy work",
                "In a surge of heavy, memory-hungry jobs, a queue at its ordinary settings (prefetch 1, and a "
                "prefetch that fits the consumer's memory) loses no heavy job (at most 1 %), and does better "
                "than the balancers. Holds: it loses none and every ordinary balancer loses some. Holds with "
                "nuance: it loses none, but so does a balancer with a connection cap and a queue. Does not "
                "hold: the queue loses heavy jobs.",
                "surge", SurgeSetting()),
    "C2": Claim("C2", "A message queue answers slowly, because work waits until a server fetches it.",
                "A message queue answers slowly",
                "For Poisson requests at 70 % load, the 99th percentile of the response time through the queue "
                "at its best ordinary prefetch is more than 10 % above that through the best ordinary balancer, "
                "on the same requests. Holds: at every job size. Holds with nuance: for the shortest jobs "
                "but not the longest. Does not hold: not even for the shortest jobs.",
                "light", LightSetting()),
    "C3": Claim("C3", "A load balancer suits work that needs fast responses, because it hands work over at once.",
                "A load balancer suits fast responses",
                "For light requests (up to 20 ms) at 70 % load, the best ordinary balancer's 99th percentile "
                "response time is more than 10 % below the best ordinary queue's, on the same requests. Holds: "
                "at every light size. Holds with nuance: for the shortest requests only. Does not hold: not "
                "even for the shortest.",
                "light", LightSetting()),
    "C4": Claim("C4", "A load balancer is unsuitable for heavy work: it forwards work even when every server is busy.",
                "A load balancer is unsafe for heavy work",
                "In the same surge as C1, a balancer loses heavy jobs (more than 1 %). Holds: the pushing "
                "balancer and the balancer with a connection cap and a queue both lose some. Holds with "
                "nuance: only the pushing balancer does. Does not hold: even the pushing balancer loses none.",
                "surge", SurgeSetting()),
    "C5": Claim("C5", "Scale-up and scale-out are the two ways to grow; a load balancer is a scale-out tool.",
                "Scale-up and scale-out are the two ways to grow",
                "At equal total capacity and 70 % load, one server k times as fast (scale-up) and k servers "
                "behind a balancer with one queue (scale-out) are compared on mean response time, for evenly "
                "and very unevenly sized jobs. Holds: neither wins by more than 10 % anywhere (the choice is "
                "a matter of framing). Holds with nuance: each wins somewhere. Does not hold: one wins everywhere.",
                "scale", ScaleSetting()),
    "C6": Claim("C6", "Directly coupled producers and consumers slow down or fall over as load grows; a broker "
                "decouples them.",
                "Directly coupled services fall over; a broker decouples",
                "Past capacity (120 % load, clients that give up after 5 s), a service falls over when it "
                "answers less than 80 % of what its capacity allows. Holds: the directly coupled pool falls over "
                "even with a bounded backlog, and the broker at its best ordinary setting stands. Holds with "
                "nuance: the coupled pool falls over only with an unbounded backlog, and the bound, which "
                "either design can have, is what keeps it standing. Does not hold: the coupled pool stands even "
                "without a bound, or the broker does worse than the coupled pool.",
                "coupled", CoupledSetting()),
}


def _best(samples: dict, names) -> str:
    """The name among ``names`` with the lowest mean (the best ordinary setting)."""
    return min(names, key=lambda n: float(np.mean(samples[n])))


def judge(claim: str, setting=None, *, seeds: int = SEEDS, executor=None) -> Verdict:
    """The verdict on ``claim`` ("C1" … "C6") at ``setting`` (default: the book's)."""
    return judge_all([claim], {claim: setting} if setting is not None else None, seeds=seeds,
                     executor=executor)[claim]


def judge_all(claims=tuple(CLAIMS), settings: dict | None = None, *, seeds: int = SEEDS, executor=None) -> dict:
    """Verdicts on several claims; experiments they share are run once, in one parallel sweep.

    settings: claim -> setting for claims judged elsewhere than the book's defaults.
    executor: where to run the replications (default: :func:`mqlb.shared_pool`, one worker per core).
    """
    claims = list(claims)
    for c in claims:
        _checks.choice("claim", c, tuple(CLAIMS))
    settings = dict(settings or {})
    seeds = _checks.count("seeds", seeds, minimum=2)
    chosen = {c: settings.get(c, CLAIMS[c].default) for c in claims}
    for c, s in chosen.items():
        _checks.instance("settings", s, type(CLAIMS[c].default), f"a {type(CLAIMS[c].default).__name__} for {c}")
    jobs = {(CLAIMS[c].experiment, s) for c, s in chosen.items()}
    grid = [{"kind": kind, "setting": s, "seed": seed} for kind, s in sorted(jobs, key=repr)
            for seed in range(1, seeds + 1)]
    runs: dict = {}
    for params, out in sweep(_replicate, grid, executor=executor, progress=False):
        runs.setdefault((params["kind"], params["setting"]), []).append(out)
    return {c: _RULES[c](runs[(CLAIMS[c].experiment, s)], s, seeds) for c, s in chosen.items()}


# ---- C1 and C4: the surge

_MAX_FAILED = 0.01       # "loses none": at most 1 % of heavy jobs


def _surge_estimates(reps, s: SurgeSetting):
    names = list(reps[0])
    failed = {n: [r[n]["heavy_failed"] for r in reps] for n in names}
    return names, failed, {n: Estimate.of(failed[n], SHARE) for n in names}


def _loses(e: Estimate) -> int:
    """+1 loses heavy jobs, -1 loses none (at most 1 %), 0 within noise."""
    return e.side(_MAX_FAILED)


def _pct(e: Estimate) -> Quantity:
    return Quantity(e, 100, 1, "%")


def _surge_covers(s: SurgeSetting) -> str:
    return (f"surge from {s.base:g} to {s.peak:g} jobs/s on {s.n_servers} machines of {s.server_memory_mb:g} MB; "
            f"10 % heavy jobs of {s.heavy_size_s:g} s and {s.heavy_memory_mb:g} MB; patient clients")


def _judge_c1(reps, s: SurgeSetting, seeds: int) -> Verdict:
    names, failed, est = _surge_estimates(reps, s)
    push, capped = names[0], names[1]
    mq = _best(failed, names[2:])
    q = {f"heavy jobs lost, {n}": _pct(est[n]) for n in names}
    mq_side, push_side, cap_side = _loses(est[mq]), _loses(est[push]), _loses(est[capped])
    if mq_side == 1:
        v, why = "does not hold", f"the queue at its best setting ({mq}) lost {_pct(est[mq]).mean} of the heavy jobs"
    elif 0 in (mq_side, push_side, cap_side):
        v, why = "within noise", "an interval straddles the 1 % line"
    elif push_side == 1 and cap_side == 1:
        v, why = "holds", f"{mq} lost none; every ordinary balancer lost some"
    else:
        v = "holds with nuance"
        why = (f"{mq} lost none ({_pct(est[mq]).mean}), but so did the balancer with a cap and a queue "
               f"({_pct(est[capped]).mean}): the limit protects the servers, not the broker as such"
               if cap_side == -1 else f"{mq} lost none, but neither did the pushing balancer")
        unlimited = "MQ, no prefetch limit"
        if unlimited in est and _loses(est[unlimited]) == 1:
            why += f"; without a prefetch limit the queue lost {_pct(est[unlimited]).mean}"
    return Verdict("C1", v, why, f"{push} (naive) and {capped} (best ordinary); queue judged at {mq}", q,
                   _surge_covers(s), s, seeds)


def _judge_c4(reps, s: SurgeSetting, seeds: int) -> Verdict:
    names, failed, est = _surge_estimates(reps, s)
    push, capped = names[0], names[1]
    q = {f"heavy jobs lost, {n}": _pct(est[n]) for n in names[:2]}
    push_side, cap_side = _loses(est[push]), _loses(est[capped])
    if push_side == -1:
        v, why = "does not hold", f"even the pushing balancer lost no heavy job ({_pct(est[push]).mean})"
    elif 0 in (push_side, cap_side):
        v, why = "within noise", "an interval straddles the 1 % line"
    elif cap_side == 1:
        v, why = "holds", (f"the pushing balancer lost {_pct(est[push]).mean} and the capped one "
                           f"{_pct(est[capped]).mean} of the heavy jobs")
    else:
        v, why = "holds with nuance", (f"the pushing balancer lost {_pct(est[push]).mean} of the heavy jobs; with a "
                                       f"cap of {s.lb_cap} connections and a queue it lost none ({_pct(est[capped]).mean})")
    return Verdict("C4", v, why, f"{push} (naive) and {capped} (best ordinary)", q, _surge_covers(s), s, seeds)


# ---- C2 and C3: light requests

def _light_ratios(reps, s: LightSetting):
    """Per size: (best balancer, best queue, Estimate of the paired p99 ratio queue / balancer)."""
    out = {}
    for size in s.sizes_ms:
        p99 = {n: [r[size][n] for r in reps] for n in reps[0][size]}
        lb = _best(p99, [n for n in p99 if n.startswith("LB")])
        mq = _best(p99, [n for n in p99 if n.startswith("MQ")])
        out[size] = (lb, mq, Estimate.of(np.divide(p99[mq], p99[lb])))
    return out


def _crossover(ratios: dict, threshold: float) -> float:
    """Job size (ms) where the mean ratio first falls to ``threshold`` (log-log interpolation); nan if never."""
    sizes = list(ratios)
    r = [ratios[x][2].mean for x in sizes]
    for i in range(1, len(sizes)):
        if r[i - 1] > threshold >= r[i]:
            return float(np.exp(np.interp(math.log(threshold), [math.log(r[i]), math.log(r[i - 1])],
                                          [math.log(sizes[i]), math.log(sizes[i - 1])])))
    return math.nan


def _light_covers(s: LightSetting) -> str:
    return (f"Poisson requests at {s.load:.0%} load on {s.n_servers} servers, exponential sizes of "
            f"{s.sizes_ms[0]:g}–{s.sizes_ms[-1]:g} ms; broker hops {s.hop_s * 1000:g} ms, balancer "
            f"{s.proxy_s * 1000:g} ms")


def _light_against(ratios: dict) -> str:
    lbs = sorted({v[0] for v in ratios.values()})
    mqs = sorted({v[1] for v in ratios.values()})
    return (f"the best of round robin, least connections and maxconn 1 + queue at each size (here "
            f"{' or '.join(lbs)}); the queue at its better prefetch ({' or '.join(mqs)})")


def _judge_c2(reps, s: LightSetting, seeds: int) -> Verdict:
    ratios = _light_ratios(reps, s)
    q = {f"p99 queue / balancer, {x:g} ms jobs": Quantity(ratios[x][2]) for x in s.sizes_ms}
    first, last = ratios[s.sizes_ms[0]][2].side(s.slower), ratios[s.sizes_ms[-1]][2].side(s.slower)
    cross = _crossover(ratios, s.slower)
    if first == -1:
        v, why = "does not hold", f"even for {s.sizes_ms[0]:g} ms jobs the queue is not more than 10 % slower"
    elif 0 in (first, last):
        v, why = "within noise", "an interval straddles the 10 % line"
    elif last == 1:
        v, why = "holds", f"the queue is more than 10 % slower at every size up to {s.sizes_ms[-1]:g} ms"
    else:
        v, why = "holds with nuance", (f"the queue is slower only for short jobs: its p99 is within 10 % of the "
                                       f"balancer's from about {cross:.0f} ms per job")
    return Verdict("C2", v, why, _light_against(ratios), q, _light_covers(s), s, seeds, {"crossover_ms": cross})


def _judge_c3(reps, s: LightSetting, seeds: int) -> Verdict:
    ratios = _light_ratios(reps, s)
    light = [x for x in s.sizes_ms if x <= s.light_ms] or [s.sizes_ms[0]]
    q = {f"p99 queue / balancer, {x:g} ms requests": Quantity(ratios[x][2]) for x in light}
    sides = [ratios[x][2].side(s.slower) for x in light]
    lead = next((i for i, side in enumerate(sides) if side != 1), len(sides))   # sizes clearly faster, from the shortest
    if sides[0] == -1:
        v, why = "does not hold", f"even for {light[0]:g} ms requests the balancer is not more than 10 % faster"
    elif lead == 0:
        v, why = "within noise", f"for {light[0]:g} ms requests the interval straddles the 10 % line"
    elif lead == len(light):
        v, why = "holds", f"the balancer is more than 10 % faster for every light size up to {light[-1]:g} ms"
    else:
        v, why = "holds with nuance", (f"the balancer is more than 10 % faster only for requests up to "
                                       f"{light[lead - 1]:g} ms; from {light[lead]:g} ms on the difference is not "
                                       f"clearly above 10 %")
    covers = _light_covers(replace(s, sizes_ms=tuple(light)))
    return Verdict("C3", v, why, _light_against(ratios), q, covers, s, seeds)


# ---- C5: scale-up or scale-out

def _judge_c5(reps, s: ScaleSetting, seeds: int) -> Verdict:
    ratio = {c2: Estimate.of([r[c2]["out"] / r[c2]["up"] for r in reps]) for c2 in s.c2s}
    q = {f"mean response scale-out / scale-up, C² = {c2:g}": Quantity(ratio[c2]) for c2 in s.c2s}
    # +1 scale-up wins (out more than 10 % slower), -1 scale-out wins, 0 neither by 10 %, None within noise
    winner = {}
    for c2, e in ratio.items():
        up, out = e.side(s.margin), e.side(1 / s.margin)
        winner[c2] = 1 if up == 1 else -1 if out == -1 else 0 if (up == -1 and out == 1) else None
    w = list(winner.values())
    if None in w:
        v, why = "within noise", "an interval straddles a 10 % line"
    elif 1 in w and -1 in w:
        v, why = "holds with nuance", ("scale-up wins for " + ", ".join(f"C² = {c:g}" for c in s.c2s if winner[c] == 1)
                                       + "; scale-out for " + ", ".join(f"C² = {c:g}" for c in s.c2s if winner[c] == -1))
    elif all(x == 0 for x in w):
        v, why = "holds", "neither way to grow wins by more than 10 % at any variability tried"
    else:
        side = "scale-up" if 1 in w else "scale-out"
        v, why = "does not hold", f"{side} wins or ties at every variability tried: the two are not alternatives here"
    return Verdict("C5", v, why, f"scale-out behind a balancer with maxconn 1 + queue (one shared queue) on {s.k} "
                   f"servers", q, f"Poisson arrivals at {s.load:.0%} load, k = {s.k}, C² = "
                   + ", ".join(f"{c:g}" for c in s.c2s), s, seeds)


# ---- C6: coupled or decoupled

def _judge_c6(reps, s: CoupledSetting, seeds: int) -> Verdict:
    names = list(reps[0])
    share = {n: [r[n] for r in reps] for n in names}
    est = {n: Estimate.of(share[n], SHARE) for n in names}
    q = {f"answered of possible, {n}": _pct(est[n]) for n in names}
    direct_naive, direct_bounded, broker_naive, broker_bounded = names
    direct_best = _best({n: -np.asarray(share[n]) for n in names[:2]}, names[:2])
    broker_best = _best({n: -np.asarray(share[n]) for n in names[2:]}, names[2:])
    stands = {n: est[n].side(s.stands) for n in names}      # +1 stands, -1 falls over, 0 within noise
    diff = Estimate.of(np.subtract(share[broker_best], share[direct_best]))
    q["broker − coupled (best settings)"] = Quantity(diff, 100, 1, "points")
    if stands[direct_naive] == 1:
        v, why = "does not hold", f"the coupled pool stands even without a bound ({_pct(est[direct_naive]).mean} answered)"
    elif diff.high < -0.02:
        v, why = "does not hold", "the broker at its best setting answers less than the coupled pool at its best"
    elif 0 in (stands[direct_naive], stands[direct_best], stands[broker_best]):
        v, why = "within noise", "an interval straddles the 80 % line"
    elif stands[direct_best] == -1 and stands[broker_best] == 1:
        v, why = "holds", f"the coupled pool falls over even with a bounded backlog; the broker stands ({broker_best})"
    elif stands[direct_best] == 1:
        v, why = "holds with nuance", (f"the coupled pool falls over only without a bound "
                                       f"({_pct(est[direct_naive]).mean} answered); with a backlog of {s.bound} it "
                                       f"answers {_pct(est[direct_bounded]).mean}, as the broker does with the same "
                                       f"bound ({_pct(est[broker_bounded]).mean}); an unbounded broker falls over too "
                                       f"({_pct(est[broker_naive]).mean})")
    else:
        v, why = "does not hold", "neither design stands at its best setting: a broker adds no capacity"
    return Verdict("C6", v, why, f"{direct_naive} (naive) and {direct_bounded}; broker judged at {broker_best}", q,
                   f"{s.slots} workers, exponential jobs of {s.size_s:g} s at {s.load:.0%} load, clients who "
                   f"give up after {s.patience_s:g} s", s, seeds)


_RULES = {"C1": _judge_c1, "C2": _judge_c2, "C3": _judge_c3, "C4": _judge_c4, "C5": _judge_c5, "C6": _judge_c6}


def markdown_table(verdicts) -> str:
    """The verdicts as MyST Markdown: a table (claim, verdict, why), then a folded
    section with every quantity behind them (mean and 95 % interval), what each
    claim was judged against and the settings it covers."""
    verdicts = list(verdicts.values()) if isinstance(verdicts, dict) else list(verdicts)
    lines = ["| claim | verdict | why |", "|---|---|---|"]
    lines += [f"| **{v.claim}** {v.statement} | **{v.verdict}** | {v.reason} |" for v in verdicts]
    seeds = sorted({v.seeds for v in verdicts})
    lines += ["", f":::{{dropdown}} The numbers behind {'this verdict' if len(verdicts) == 1 else 'these verdicts'} "
              f"(means over {', '.join(map(str, seeds))} job streams, {CONFIDENCE * 100:.0f} % confidence intervals)"]
    for v in verdicts:
        lines += ["", f"**{v.claim}**, judged against {v.judged_against}. Covers: {v.covers}.", "",
                  "| quantity | mean | 95 % interval |", "|---|---|---|"]
        lines += [f"| {name} | {q.mean} | {q.interval} |" for name, q in v.quantities.items()]
    lines += [":::"]
    return "\n".join(lines)
