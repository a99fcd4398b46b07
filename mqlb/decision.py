"""The decision guide's flowchart, as data: questions a reader answers from a few
numbers about their service, ending at one of the four architectures of
:mod:`mqlb.scenarios` (or at "add machines first").

The same tree draws the flowchart of the decision-guide chapter
(:func:`mqlb.present.diagrams.flowchart`) and is checked against the chapter's advisor,
which simulates the four architectures: every leaf carries a representative
:class:`Setting` that reaches it, and :func:`disagreements` lists the leaves
where the advisor recommends something else. A flowchart is a summary, so it is
checked on those settings, not on every workload; the chapter shows where, near
a boundary, the two differ.

    >>> from mqlb import decision
    >>> decision.follow(decision.Setting(surge_factor=1.0)).answer
    'LB push'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Union

from . import _checks
from .scenarios import ARCHITECTURES

__all__ = ["FLOWCHART", "Leaf", "Question", "Setting", "disagreements", "follow", "leaves", "path"]


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

    def __post_init__(self):
        for name in ("rate", "heavy_size_s", "heavy_memory_mb", "latency_target_s", "server_memory_mb",
                     "light_size_s"):
            _checks.positive(name, getattr(self, name))
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
        """The advisor's six parameters."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("n_servers", "server_memory_mb", "light_size_s")}


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

