"""Figures and tables several chapters draw, in the book's style.

- :func:`shade_surge`: the surge as a grey band behind a time axis;
- :func:`ecdf`: the points of an empirical distribution function;
- :func:`bar_pairs_axes` / :func:`show_bar_pairs`: two bars per group (e.g. mean
  and p99 of each server), built once and updated in place (an explorer's figure);
- :func:`surge_timeline_axes` / :func:`show_surge_timeline`: jobs in the system
  over time with the surge shaded and every crash marked, built once and
  updated in place (an explorer's figure);
- :func:`scorecard_table`: the head-to-head table of
  :func:`mqlb.measures.surge_scorecard` for several architectures.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from IPython.display import Markdown

from .notebook import md_table, number
from .style import ARCHITECTURE_COLOURS, COLOURS, decorate, fixed_axes

__all__ = ["SCORECARD_ROWS", "bar_pairs_axes", "ecdf", "scorecard_table", "shade_surge", "show_bar_pairs", "show_surge_timeline",
           "surge_timeline_axes"]


def shade_surge(ax, start: float, end: float, **style):
    """Shade the surge from ``start`` to ``end`` (s) behind everything on ``ax``."""
    return ax.axvspan(start, end, **{"color": "0.9", "zorder": 0, **style})


def ecdf(values) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the sorted values and the fraction of values at or below each."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, np.arange(1, len(x) + 1) / max(len(x), 1)


def bar_pairs_axes(groups: int, left_style: Mapping, right_style: Mapping, figsize, **margins):
    """Axes with a fixed layout (quick to redraw) and two bars per group, ``groups``
    groups: the left bars styled by ``left_style``, the right ones by ``right_style`` (keyword
    arguments of ``Axes.bar``: color, alpha, label). ``margins``: see
    :func:`~mqlb.present.style.fixed_axes`. Set the heights with :func:`show_bar_pairs`."""
    ax = fixed_axes(figsize, **margins)
    x = np.arange(groups)
    ax.bar(x - 0.2, np.ones(groups), 0.4, **left_style)
    ax.bar(x + 0.2, np.ones(groups), 0.4, **right_style)
    return ax


def show_bar_pairs(ax, left, right, labels):
    """Set the heights of the bars of :func:`bar_pairs_axes` (``left`` and ``right``,
    one value per group) and name the groups ``labels``; return ``ax``."""
    left_bars, right_bars = ax.containers[:2]
    if not len(left) == len(right) == len(labels) == len(left_bars):
        raise ValueError(f"show_bar_pairs: {len(left_bars)} groups need as many heights and labels, "
                         f"got {len(left)}, {len(right)} and {len(labels)}")
    for bars, heights in ((left_bars, left), (right_bars, right)):
        for bar, height in zip(bars, heights):
            bar.set_height(height)
    ax.set_xticks(range(len(labels)), labels)
    return ax


def surge_timeline_axes(surge_start: float, surge_end: float, figsize=(7, 3.4)):
    """Empty axes for :func:`show_surge_timeline`, with a fixed layout (quick to redraw)."""
    ax = fixed_axes(figsize, left=0.1, right=0.97, bottom=0.15, top=0.9)
    shade_surge(ax, surge_start, surge_end)
    ax.plot([], [], label="jobs in the system")
    ax.plot([], [], "x", color=COLOURS["theory"], ms=7, label="a crash")
    return decorate(ax, xlabel="time (s)", ylabel="jobs in the system", legend=False)


def show_surge_timeline(ax, result, architecture: str, title: str):
    """Draw ``result``'s jobs in the system and its crashes on ``ax`` (made by
    :func:`surge_timeline_axes`) in the colour of ``architecture``; return the figure."""
    tl = result.timeline
    jobs, crashes = ax.lines
    jobs.set_data(tl.time, tl.in_system)
    jobs.set_color(ARCHITECTURE_COLOURS[architecture])
    crash_at = np.searchsorted(tl.time, tl.crashes["time"]).clip(0, len(tl.time) - 1)
    crashes.set_data(tl.crashes["time"], tl.in_system[crash_at])
    ax.legend(handles=[jobs, crashes] if len(tl.crashes) else [jobs], loc="upper right")
    ax.relim()
    ax.autoscale_view()
    ax.set_title(title)
    return ax.figure


#: Rows of :func:`scorecard_table`: label, scorecard key, format spec, scale.
SCORECARD_ROWS = (
    ("lost in a crash", "lost", "d", 1), ("rejected", "rejected", "d", 1),
    ("timed out or dead-lettered", "other", "d", 1),
    ("failed light / heavy", ("failed_light", "failed_heavy"), "d", 1),
    ("light p50 (ms)", "light_p50", ".0f", 1000), ("light p99 (s)", "light_p99", ".2f", 1),
    ("heavy p50 (s)", "heavy_p50", ".1f", 1), ("heavy p99 (s)", "heavy_p99", ".1f", 1),
    ("goodput (jobs/s)", "goodput", ".2f", 1), ("wasted work (s)", "wasted", ".0f", 1),
    ("peak memory, one machine (MB)", "memory", ".0f", 1), ("out-of-memory crashes", "crashes", "d", 1),
    ("recovery after the surge (s)", "recovery", ".0f", 1),
)


def scorecard_table(cards: Mapping[str, Mapping], rows=SCORECARD_ROWS) -> Markdown:
    """A table with one column per architecture of ``cards`` (name -> scorecard)."""
    def cell(card, key, spec, scale):
        if isinstance(key, tuple):
            return " / ".join(number(card[k], spec) for k in key)
        return number(card[key] * scale if scale != 1 else card[key], spec)

    return md_table([""] + list(cards), [[label] + [cell(card, key, spec, scale) for card in cards.values()]
                                         for label, key, spec, scale in rows])
