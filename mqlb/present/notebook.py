"""Notebook helpers every chapter uses: glue a value for the text, show a table.

    from mqlb.present import g, md_table, number
    g("mm1_util", summary.utilisation)           # then {glue:text}`mm1_util:.1%` in the text
    display(md_table(["load", "p99 (s)"], [[0.8, number(p99, ".2f")]]))

Values are glued as plain Python numbers (a NumPy scalar would not take a format
spec in ``{glue:text}``), and a zero never reads "-0": :func:`number` formats
a value and drops the sign of a result that rounds to zero, and :func:`g`
glues -0.0 as 0.0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
from IPython.display import Markdown, display
from myst_nb import glue

__all__ = ["g", "md_table", "number", "outcome_table", "show_table"]

_NEGATIVE_ZERO = re.compile(r"^-(?=[0.,]*(?:%|e[+-]?\d+)?$)")


def number(value, spec: str = "g") -> str:
    """``value`` formatted with the format ``spec``, never as "-0" or "-0.0".

    >>> number(-0.001, ".1f"), number(-0.2, ".1f"), number(float("nan"), ".1f")
    ('0.0', '-0.2', 'nan')
    """
    if isinstance(value, np.generic):
        value = value.item()
    text = format(value, spec)
    return _NEGATIVE_ZERO.sub("", text)


def g(name: str, value) -> None:
    """Glue ``value`` under ``name`` for ``{glue:text}`` in the prose, not shown here.

    NumPy scalars become Python numbers, so format specs apply; -0.0 becomes 0.0.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value == 0.0:
        value = 0.0
    glue(name, value, display=False)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Markdown:
    """A Markdown table with the column titles ``header``, one line per row.

    Cells are shown with ``str``; format numbers beforehand (see :func:`number`).
    """
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"md_table: a row has {len(cells)} cells for {len(header)} columns: {cells!r}")
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))


def show_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Display :func:`md_table` ``(header, rows)`` in the notebook."""
    display(md_table(header, rows))


def outcome_table(result) -> Markdown:
    """What became of a run's jobs, as a one-row table (completed, rejected, ...);
    ``not_sent`` (jobs after the run's end) only when there are any."""
    counts = {name: n for name, n in result.outcome_counts().items() if n or name != "not_sent"}
    return md_table([name.replace("_", " ") for name in counts], [list(counts.values())])
