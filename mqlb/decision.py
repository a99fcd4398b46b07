"""The decision guide: the advisor, and its flowchart as data.

The advisor (:func:`advise`) runs seven architectures (:data:`ALL_ARCHITECTURES`)
on a surge built from a :class:`Setting` (workload, machines, clients, prefetch,
connection cap), ranks them by :data:`CRITERIA` and recommends the first if it
meets the latency target and loses nothing.

The flowchart is questions a reader answers from a few numbers about their
service, ending at one of the four architectures of :mod:`mqlb.scenarios` (or
at "add machines first"). The same tree draws the flowchart of the
decision-guide chapter (:func:`mqlb.present.diagrams.flowchart`) and is checked
against the advisor on those four architectures: every leaf carries a representative
:class:`Setting` that reaches it, and :func:`disagreements` lists the leaves
where the advisor recommends something else. A flowchart is a summary, so it is
checked on those settings, not on every workload; the chapter shows where, near
a boundary, the two differ.

    >>> from mqlb import decision
    >>> decision.follow(decision.Setting(surge_factor=1.0)).answer
    'LB push'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Union

from . import _checks
from .client import Client
from .measures import surge_scorecard
from .scenarios import (ARCHITECTURES, MORE_ARCHITECTURES, MOVING_PARTS, architectures, more_architectures,
                        surge_workload)
from .sweep import simulate_each

__all__ = ["ADVISOR_TIMING", "ALL_ARCHITECTURES", "CRITERIA", "COST_TOLERANCE", "FLOWCHART", "Advice", "Judged",
           "Leaf", "Question", "Setting", "advise", "candidates", "disagreements", "follow", "judge", "leaves",
           "path", "rank", "recommend"]


@dataclass(frozen=True)
class Setting:
    """A workload in the advisor's terms (the decision-guide chapter), on its
    machines: four of speed 1 with 2000 MB each, light requests of 20 ms."""

    rate: float = 10.0               # jobs/s before and after the surge
    light_share: float = 0.9         # fraction of jobs that are light requests
    heavy_size_s: float = 2.0        # mean work of a heavy job, s at speed 1
    heavy_memory_mb: float = 500.0   # MB a heavy job holds while served
    surge_factor: float = 2.5        # peak rate / normal rate
    latency_target_s: float = 0.5    # p99 response time light requests must meet (s)
    n_servers: int = 4               # machines
    server_memory_mb: float = 2000.0  # MB each machine has for jobs in service
    light_size_s: float = 0.02       # mean work of a light request, s at speed 1
    client_timeout_s: float = math.inf   # s a client waits for an answer before it gives up
    retries: int = 0                 # times a client that gave up or was refused tries again
    prefetch: int | None = 1         # the queues' prefetch (None = unlimited)
    conns_per_server: int | None = None   # the capped balancers' connections per machine (None: as many
    #                                       heavy jobs as fit in a machine's memory)

    def __post_init__(self):
        for name in ("rate", "heavy_size_s", "heavy_memory_mb", "latency_target_s", "server_memory_mb",
                     "light_size_s"):
            _checks.positive(name, getattr(self, name))
        _checks.positive("client_timeout_s", self.client_timeout_s, allow_inf=True)
        _checks.count("retries", self.retries, minimum=0)
        _checks.count("prefetch", self.prefetch, allow_none=True)
        _checks.count("conns_per_server", self.conns_per_server, allow_none=True)
        if not 0.0 < _checks.number("light_share", self.light_share) < 1.0:
            raise ValueError(f"light_share must be strictly between 0 and 1, got {self.light_share!r}")
        if _checks.number("surge_factor", self.surge_factor) < 1.0:
            raise ValueError(f"surge_factor must be >= 1 (the peak is at least the normal rate), "
                             f"got {self.surge_factor!r}")
        _checks.count("n_servers", self.n_servers)

    @property
    def mean_work_s(self) -> float:
        """Mean work of a job, s at speed 1."""
        return self.light_share * self.light_size_s + (1 - self.light_share) * self.heavy_size_s

    def load(self, factor: float = 1.0) -> float:
        """Fraction of the machines' capacity the traffic needs at ``factor`` × the normal rate."""
        return self.rate * factor * self.mean_work_s / self.n_servers

    def advisor_args(self) -> dict:
        """The first advisor's six parameters."""
        return {k: getattr(self, k) for k in ("rate", "light_share", "heavy_size_s", "heavy_memory_mb",
                                              "surge_factor", "latency_target_s")}

    @property
    def conns(self) -> int:
        """Connections per machine of the capped balancers: ``conns_per_server``, or as many heavy jobs as fit."""
        if self.conns_per_server is not None:
            return self.conns_per_server
        return max(1, int(self.server_memory_mb // self.heavy_memory_mb))

    @property
    def client(self) -> Client:
        return Client(timeout=self.client_timeout_s, retries=self.retries)


@dataclass(frozen=True)
class Leaf:
    """Where a path ends: the advisor's ``answer`` (an architecture of
    :data:`mqlb.scenarios.ARCHITECTURES`, or None where it refuses the workload),
    the advice as the flowchart shows it, the claims (``mqlb.claims``) behind it,
    and a representative setting that reaches it."""

    answer: str | None
    advice: str
    example: Setting
    claims: tuple = ()

    def __post_init__(self):
        if self.answer is not None:
            _checks.choice("answer", self.answer, ARCHITECTURES)


@dataclass(frozen=True)
class Question:
    """A yes/no question with the rule that answers it from a :class:`Setting`."""

    text: str
    rule: Callable[[Setting], bool] = field(repr=False)
    yes: Union["Question", Leaf]
    no: Union["Question", Leaf]


Node = Union[Question, Leaf]

_DEFAULT = Setting()

FLOWCHART = Question(
    "Does one heavy job fit in one machine's memory?",
    lambda s: s.heavy_memory_mb <= s.server_memory_mb,
    no=Leaf(None, "Bigger machines: no architecture can run a job that does not fit",
            replace(_DEFAULT, heavy_memory_mb=2500.0)),
    yes=Question(
        "Is the normal traffic below 90\u00a0% of the machines' capacity?",
        lambda s: s.load() < 0.9,
        no=Leaf(None, "Add machines first: nothing recovers from a surge on top of that",
                replace(_DEFAULT, rate=30.0)),
        yes=Question(
            "Does the surge's peak stay below 100\u00a0% of the capacity?",
            lambda s: s.load(s.surge_factor) < 1.0,
            yes=Leaf("LB push", "LB push: the simplest; nothing piles up",
                     replace(_DEFAULT, surge_factor=1.0), claims=("C3",)),
            no=Question(
                "May light requests wait as long as a heavy job takes?",
                lambda s: s.latency_target_s >= s.heavy_size_s,
                yes=Leaf("LB + queue", "LB + queue: cap connections so heavy jobs fit in memory, queue the rest "
                         "(a message queue with prefetch 1 does the same)",
                         replace(_DEFAULT, latency_target_s=2.0), claims=("C1", "C4")),
                no=Leaf("Hybrid", "Hybrid: a balancer answers light requests at once, a queue takes the heavy "
                        "jobs", _DEFAULT, claims=("C1", "C3", "C4")),
            ),
        ),
    ),
)
"""The decision guide's flowchart (root question)."""


def path(setting: Setting, root: Node = FLOWCHART) -> list:
    """The (question, answer) pairs from ``root`` to a leaf for ``setting``, then the leaf."""
    _checks.instance("setting", setting, Setting, "a decision.Setting")
    steps, node = [], root
    while isinstance(node, Question):
        answer = bool(node.rule(setting))
        steps.append((node, answer))
        node = node.yes if answer else node.no
    return steps + [node]


def follow(setting: Setting, root: Node = FLOWCHART) -> Leaf:
    """The leaf ``setting`` reaches."""
    return path(setting, root)[-1]


def leaves(root: Node = FLOWCHART) -> list:
    """Every leaf, yes-branches first."""
    if isinstance(root, Leaf):
        return [root]
    return leaves(root.yes) + leaves(root.no)


def disagreements(advisor: Callable[[Setting], str | None], root: Node = FLOWCHART) -> list:
    """Where the flowchart and ``advisor`` part ways: for each leaf, its example
    must reach it, and ``advisor(example)`` (an architecture's name, None when
    nothing qualifies; a ValueError counts as a refusal, None) must be its
    answer. Returns one sentence per disagreement; empty when they agree."""
    out = []
    for leaf in leaves(root):
        reached = follow(leaf.example, root)
        if reached is not leaf:
            out.append(f"{leaf.example} reaches {reached.advice!r}, not its own leaf {leaf.advice!r}")
            continue
        try:
            said = advisor(leaf.example)
        except ValueError:
            said = None
        if said != leaf.answer:
            out.append(f"{leaf.example}: the flowchart says {leaf.answer}, the advisor {said}")
    return out


# -- the advisor: every architecture simulated on the reader's surge, ranked ---------------

ALL_ARCHITECTURES = ARCHITECTURES + MORE_ARCHITECTURES
"""The seven architectures the wider advisor ranks."""

ADVISOR_TIMING = dict(surge_start=10.0, surge_end=40.0, duration=70.0)
"""The advisor's surge (s): short, so that it answers at once."""

COST_TOLERANCE = 0.10
"""Machine-seconds within this fraction of the cheapest architecture's count as equal."""

CRITERIA = (
    "meets the latency target: the light requests' p99 response time is within it",
    "loses nothing: fewest failed jobs (lost, rejected, timed out, dead-lettered) and out-of-memory crashes",
    f"machine-seconds: within {COST_TOLERANCE:.0%} of the cheapest count as equal",
    "moving parts: fewest (scenarios.MOVING_PARTS)",
)
"""The ranking's criteria, in order: each decides only between architectures equal on the ones before."""


@dataclass(frozen=True)
class Judged:
    """What the advisor reads from one architecture's run (times in s)."""

    name: str
    light_p99: float
    heavy_p50: float
    failed: int              # jobs that got no answer, any reason
    crashes: int             # out-of-memory crashes
    memory: float            # most memory one machine held (MB)
    machine_seconds: float   # the mean number of machines up in the run × the longest run of all (s)
    moving_parts: int        # rank in scenarios.MOVING_PARTS
    meets_target: bool

    @property
    def loses_nothing(self) -> bool:
        return self.failed == 0 and self.crashes == 0

    @property
    def qualifies(self) -> bool:
        return self.meets_target and self.loses_nothing


@dataclass(frozen=True)
class Advice:
    """The advisor's answer: ``choice`` (None if no architecture qualifies) and
    every architecture judged, in ranking order."""

    setting: Setting
    choice: str | None
    ranking: tuple           # Judged, best first

    def reasons(self, judged: Judged) -> list:
        """Why ``judged`` does not qualify (empty if it does)."""
        out = []
        if not judged.meets_target:
            out.append(f"light p99 {judged.light_p99:.2g} s > target")
        if judged.failed:
            out.append(f"{judged.failed} jobs failed")
        if judged.crashes:
            out.append(f"{judged.crashes} out-of-memory crashes")
        return out

    def text(self) -> str:
        """The recommendation, the criteria and the ranking, as plain text."""
        head = f"Recommended: {self.choice}" if self.choice else "No architecture qualifies"
        lines = [head, "Ranked by: " + "; then ".join(CRITERIA)]
        for k, j in enumerate(self.ranking, 1):
            why = "; ".join(self.reasons(j)) or "qualifies"
            lines.append(f"{k}. {j.name}: light p99 {j.light_p99:.2f} s, {j.failed} failed, {j.crashes} crashes, "
                         f"{j.machine_seconds:.0f} machine-s, moving parts {j.moving_parts}: {why}")
        return "\n".join(lines)


def _check_setting(setting: Setting) -> None:
    _checks.instance("setting", setting, Setting, "a decision.Setting")
    if setting.heavy_memory_mb > setting.server_memory_mb:
        raise ValueError(f"a heavy job of {setting.heavy_memory_mb:g} MB does not fit in a machine of "
                         f"{setting.server_memory_mb:g} MB: no architecture can run it")
    if setting.load() >= 0.9:
        raise ValueError(f"the normal traffic alone keeps the machines {setting.load():.0%} busy (the advisor "
                         f"needs below 90%); with a surge on top nothing recovers: add machines first")


def candidates(setting: Setting, names=ALL_ARCHITECTURES) -> dict:
    """The architectures ``names`` built for ``setting``'s machines and controls: the capped
    balancers get ``setting.conns`` connections per machine, the queues ``setting.prefetch``, and
    with clients that give up (a finite ``client_timeout_s``) every queue drops work older than that."""
    _check_setting(setting)
    for name in names:
        _checks.choice("names", name, ALL_ARCHITECTURES)
    stale = setting.client_timeout_s if math.isfinite(setting.client_timeout_s) else None
    machines = dict(n_servers=setting.n_servers, server_memory_mb=setting.server_memory_mb,
                    conns_per_server=setting.conns)
    built = {**architectures(**machines, prefetch=setting.prefetch, stale_after_s=stale),
             **more_architectures(**machines, prefetch=setting.prefetch, stale_after_s=stale)}
    return {name: built[name] for name in names}


def judge(setting: Setting, names=ALL_ARCHITECTURES, *, seed: int = 2, executor=None) -> dict:
    """Each architecture of ``names`` run on the surge built from ``setting`` (the same job
    stream for all, seeded), judged: a dict name -> :class:`Judged`."""
    systems = candidates(setting, names)
    wl = surge_workload(seed=seed, base=setting.rate, peak=setting.rate * setting.surge_factor, **ADVISOR_TIMING,
                        light_share=setting.light_share, light_size_s=setting.light_size_s,
                        heavy_size_s=setting.heavy_size_s, heavy_memory_mb=setting.heavy_memory_mb)
    # the most elaborate (slowest to simulate) first, so that parallel workers finish together
    results = simulate_each(dict(reversed(systems.items())), wl, seed=0, client=setting.client, executor=executor)
    # Each run lasts until its servers finished what they held; the machines that ran all along
    # (every architecture keeps its own n_servers up) were up that long.
    ends = {name: max(float(r.servers.up_s.max()), 1e-9) for name, r in results.items()}
    horizon = max(ends.values())
    out = {}
    for name in systems:
        r = results[name]
        card = surge_scorecard(r, ADVISOR_TIMING["surge_start"], ADVISOR_TIMING["surge_end"])
        mean_machines = r.servers.machine_seconds / ends[name]
        out[name] = Judged(name, card["light_p99"], card["heavy_p50"], card["failed"], card["crashes"],
                           card["memory"], mean_machines * horizon, MOVING_PARTS[name],
                           bool(card["light_p99"] <= setting.latency_target_s))
    return out


def rank(judged: dict, moving_parts: dict = MOVING_PARTS) -> list:
    """The architectures of ``judged`` (name -> :class:`Judged`), best first, by :data:`CRITERIA`:
    meets the target; then fewest failed jobs and crashes; then machine-seconds, where all within
    :data:`COST_TOLERANCE` of the cheapest are equal; then fewest moving parts (``moving_parts``)."""
    cheapest = min(j.machine_seconds for j in judged.values())

    def key(j):
        cost = 0.0 if j.machine_seconds <= (1 + COST_TOLERANCE) * cheapest else j.machine_seconds
        return (not j.meets_target, j.failed + j.crashes, cost, moving_parts[j.name], j.light_p99)
    return sorted(judged.values(), key=key)


def recommend(judged: dict, setting: Setting, moving_parts: dict = MOVING_PARTS) -> Advice:
    """The advice from runs already judged (:func:`judge`), against ``setting``'s latency target
    (which needs no new run): the ranking, and its first if it qualifies."""
    target = setting.latency_target_s
    judged = {name: replace(j, meets_target=bool(j.light_p99 <= target)) for name, j in judged.items()}
    ranking = rank(judged, moving_parts)
    return Advice(setting, ranking[0].name if ranking[0].qualifies else None, tuple(ranking))


def advise(setting: Setting, names=ALL_ARCHITECTURES, *, seed: int = 2, executor=None,
           moving_parts: dict = MOVING_PARTS) -> Advice:
    """The advisor: ``names`` judged on ``setting``'s surge and ranked; it recommends the first if it
    qualifies (meets the target and loses nothing). ValueError if ``setting`` cannot be served at all
    (a heavy job bigger than a machine; normal traffic at 90 % of capacity or more)."""
    return recommend(judge(setting, names, seed=seed, executor=executor), setting, moving_parts)
