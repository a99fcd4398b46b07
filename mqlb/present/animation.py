"""Replays of simulated runs: jobs moving through the lines they wait in and the
servers that work on them, side by side for several runs of the same job stream.

:func:`replay` draws each frame from a :class:`~mqlb.result.Result`'s own
records and timeline and hands the frames to matplotlib's JavaScript player
(``Animation.to_jshtml``: play, pause, step, speed and a time slider, the frames
embedded as PNG). The page needs no kernel and no network, and the same HTML
plays in a live notebook.

What a frame shows, per run and per server:

- each job as a block whose width grows with its size (seconds of work) and
  whose colour is its age (time since it arrived); in service, the block
  shrinks as its work is done;
- the shared line (a broker's queue, a balancer's own queue) above the
  servers and each server's own line to its left. How many jobs wait in each
  is the timeline's count; which jobs are drawn there comes from the records
  (a job waits until the attempt that decided its outcome started);
- a memory meter beside each server, a grey server while it is down, a red
  flash when it crashes, and in red the jobs that failed since the previous
  frame (lost, refused, timed out, dead-lettered);
- the clock and the running counts: answered, failed (rejected, timed out,
  lost or dead-lettered) and still in the system, which at the last frame are
  the run's summary.

The model never imports this module.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import _checks
from .style import BOOK_RC, COLOURS
from ..result import (COMPLETED, DEAD_LETTERED, IN_SYSTEM, LOST, NOT_SENT, OUTCOMES, REFUSED_LOCALLY, REJECTED,
                      TIMED_OUT, Result)

__all__ = ["Replay", "counts_at", "replay"]

_FAILED = "failed"
_LANE_SLOTS = 5.6         # width of a waiting line, in block units
_BOX = (6.1, 3.3)         # x and width of a server's box
_AGE_MAP = mpl.colormaps["viridis_r"]
_FAILURE_WORDS = ((LOST, "lost"), (REJECTED, "refused"), (TIMED_OUT, "timed out"), (DEAD_LETTERED, "dead-lettered"),
                  (REFUSED_LOCALLY, "held back"))
# matplotlib's player uses Font Awesome 4 icons from a CDN; the book loads nothing from
# other hosts, so the buttons get characters every font has (the titles stay).
_ICONS = {"fa-minus": "\u2212", "fa-fast-backward": "\u25ae\u25c0\u25c0", "fa-step-backward": "\u25ae\u25c0",
          "fa-play fa-flip-horizontal": "\u25c0", "fa-pause": "\u275a\u275a", "fa-play": "\u25b6",
          "fa-step-forward": "\u25b6\u25ae", "fa-fast-forward": "\u25b6\u25b6\u25ae", "fa-plus": "+"}


def counts_at(result: Result, t: float) -> dict:
    """Jobs answered, failed and still in the system at time ``t`` (s), from the records.

    "Failed" is every outcome other than completed and in_system; jobs never sent
    (``not_sent``: they would have arrived after the run stopped) are not counted.
    After the last outcome these are the summary's ``completed``, the sum of its
    failures, and its ``in_system``.
    """
    r = result.records
    r = r[r["outcome"] != NOT_SENT]
    decided = np.isfinite(r["end"]) & (r["end"] <= t)
    ok = r["outcome"] == COMPLETED
    failed = (r["outcome"] != COMPLETED) & (r["outcome"] != IN_SYSTEM)
    return {"answered": int((decided & ok).sum()), _FAILED: int((decided & failed).sum()),
            "in_system": int(((r["arrival"] <= t) & ~decided).sum())}


def summary_counts(result: Result) -> dict:
    """The run's summary in the same three counts as :func:`counts_at`."""
    s = result.summary()
    return {"answered": s.completed, _FAILED: s.rejected + s.timed_out + s.lost + s.dead_lettered + s.refused_locally,
            "in_system": s.in_system}


@dataclass(frozen=True, eq=False)
class Replay:
    """An animation ready for a page: ``html`` (the player), the frame ``times``
    (s), the running ``counts`` per run and frame, and the run ``summaries``."""

    html: str
    times: np.ndarray
    counts: dict
    summaries: dict
    frames: int

    @property
    def bytes(self) -> int:
        """Size of the HTML (frames included), bytes."""
        return len(self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Replay: {self.frames} frames, {self.bytes / 1e6:.1f} MB of HTML>"


def _width(size):
    """A block's width for a job of ``size`` seconds of work (light 0.2, heavy up to 0.9)."""
    return 0.18 + 0.55 * np.sqrt(np.minimum(size, 4.0) / 2.0)


def _sample(result: Result, t: float) -> int:
    """Index of the last timeline sample at or before ``t``."""
    return max(int(np.searchsorted(result.timeline.time, t, side="right")) - 1, 0)


class _Panel:
    """One run drawn on one axes: the fixed parts once, the jobs and counts per frame."""

    def __init__(self, ax, name: str, result: Result, colour: str, memory_limit_mb: float | None):
        self.ax, self.name, self.result, self.colour = ax, name, result, colour
        r = self.r = result.records
        # When service ends in the picture: done, else the outcome (lost in a crash, the client gave up).
        self.stop = np.where(np.isfinite(r["done"]), r["done"], np.where(np.isfinite(r["end"]), r["end"], np.inf))
        self.width = _width(r["size"])
        self.n = n = len(result.servers.names)
        tl = result.timeline
        self.shared = tl.queue.shape[1] > 0 and tl.queue.max() > 0
        mem = tl.memory_mb
        self.memory_limit = memory_limit_mb or (float(mem.max()) if mem.size and mem.max() > 0 else 1.0)
        self.show_memory = memory_limit_mb is not None or bool(mem.size and mem.max() > 0)

        top = n + (1.0 if self.shared else 0.0)
        ax.set_xlim(-0.1, 10.2)
        ax.set_ylim(-0.6, top + 0.9)
        ax.axis("off")
        ax.text(0.0, top + 0.85, name, ha="left", va="top", fontsize=9, fontweight="bold", color=colour)
        self.counts = ax.text(0.0, top + 0.3, "", ha="left", va="top", fontsize=7.5, color="#222")
        self.failures = ax.text(10.2, top + 0.85, "", ha="right", va="top", fontsize=7, color="red")
        x0, w0 = _BOX
        self.more = {}
        if self.shared:
            y = n + 0.15
            ax.add_patch(Rectangle((0.0, y - 0.38), x0 + w0, 0.76, fill=False, lw=0.8, edgecolor=colour, ls="--"))
            self.shared_label = ax.text(0.05, y + 0.42, "", fontsize=7, va="bottom", color="#333")
            self.more["shared"] = ax.text(0.05, y, "", ha="left", va="center", fontsize=7, color="#333")
        self.boxes, self.down, self.crash, self.meters = [], [], [], []
        for s in range(n):
            y = self.row_y(s)
            self.boxes.append(ax.add_patch(Rectangle((x0, y - 0.38), w0, 0.76, lw=1.2, edgecolor=colour,
                                                     facecolor="white", zorder=1)))
            self.more[s] = ax.text(0.0, y, "", ha="left", va="center", fontsize=7, color="#333")
            cross, = ax.plot([x0, x0 + w0], [y - 0.38, y + 0.38], color=COLOURS["lb"], lw=1.2, zorder=3)
            label = ax.text(x0 + w0 / 2, y, "down", ha="center", va="center", fontsize=7, color=COLOURS["lb"],
                            zorder=4, bbox=dict(facecolor="#DDDDDD", edgecolor="none", pad=0.5))
            self.down.append((cross, label))
            flash = ax.add_patch(Rectangle((x0 - 0.08, y - 0.46), w0 + 0.16, 0.92, fill=False, lw=2.5,
                                           edgecolor="red", zorder=4))
            flash_text = ax.text(x0 - 0.15, y, "CRASH", ha="right", va="center", fontsize=7, color="red",
                                 fontweight="bold", zorder=4)
            self.crash.append((flash, flash_text))
            meter = Rectangle((x0 + w0 + 0.15, y - 0.38), 0.3, 0.0, lw=0, facecolor="#999999")
            if self.show_memory:
                ax.add_patch(Rectangle((x0 + w0 + 0.15, y - 0.38), 0.3, 0.76, fill=False, lw=0.6, edgecolor="#555"))
                ax.add_patch(meter)
            self.meters.append(meter)
        self.blocks = PolyCollection([], lw=0, zorder=2)
        ax.add_collection(self.blocks)

    def row_y(self, s: int) -> float:
        return self.n - 1 - s

    def draw(self, t: float, t_prev: float, age_norm: Normalize):
        r, tl = self.r, self.result.timeline
        i = _sample(self.result, t)
        in_flight, in_service, up = tl.in_flight[i], tl.in_service[i], tl.up[i]
        crashed_now = {int(c["server"]) for c in tl.crashes if t_prev < c["time"] <= t}

        arrived = r["arrival"] <= t
        started = np.isfinite(r["start"]) & (r["start"] <= t)
        decided = np.isfinite(r["end"]) & (r["end"] <= t)
        waiting = arrived & ~started & ~decided
        serving = started & (self.stop > t)

        # Waiting jobs: each server's own line holds the timeline's count of the oldest
        # jobs it ends up serving; the others wait in the shared line.
        wait_idx = np.flatnonzero(waiting)
        wait_idx = wait_idx[np.argsort(r["arrival"][wait_idx], kind="stable")]
        local = {s: [] for s in range(self.n)}
        shared = []
        room = {s: max(int(in_flight[s]) - int(in_service[s]), 0) for s in range(self.n)}
        for j in wait_idx:
            s = int(r["server"][j])
            if 0 <= s < self.n and (room[s] > 0 or not self.shared):
                local[s].append(j)
                room[s] -= 1
            else:
                shared.append(j)

        verts, ages = [], []

        def block(x, y, w, h, j):
            verts.append([(x, y - h / 2), (x + w, y - h / 2), (x + w, y + h / 2), (x, y + h / 2)])
            ages.append(t - r["arrival"][j])

        def lane(jobs, x_head, y, width, more):
            """Blocks from the head of the line (right, x_head) leftwards; "+k" when full."""
            x, shown = x_head, 0
            for j in jobs:
                w = float(self.width[j])
                if x - w < x_head - width:
                    break
                block(x - w, y, w * 0.9, 0.6, j)
                x -= w
                shown += 1
            more.set_text(f"+{len(jobs) - shown}" if len(jobs) > shown else "")

        x0, w0 = _BOX
        if self.shared:
            self.shared_label.set_text(f"shared line: {len(shared)}")
            lane(shared, x0 + w0 - 0.05, self.n + 0.15, x0 + w0 - 0.6, self.more["shared"])
        for s in range(self.n):
            y = self.row_y(s)
            down = not bool(up[s])
            lane(local[s], x0 - 0.1, y, _LANE_SLOTS - 0.4, self.more[s])
            self.boxes[s].set_facecolor("#DDDDDD" if down else "white")
            for artist in self.down[s]:
                artist.set_visible(down)
            for artist in self.crash[s]:
                artist.set_visible(s in crashed_now)
            jobs = np.flatnonzero(serving & (r["server"] == s))
            if len(jobs) and not down:
                span = (r["done"] - r["start"])[jobs]
                ok = np.isfinite(span) & (span > 0)
                left = np.where(ok, (self.stop[jobs] - t) / np.where(ok, span, 1.0), 1.0)
                widths = self.width[jobs] * np.clip(left, 0.15, 1.0)
                scale = min(1.0, (w0 - 0.1) / widths.sum())
                x = x0 + 0.05
                for j, w in zip(jobs, widths * scale):
                    block(x, y, w * 0.92, 0.56, j)
                    x += w
            frac = min(float(tl.memory_mb[i][s]) / self.memory_limit, 1.0)
            self.meters[s].set_height(0.76 * frac)
            self.meters[s].set_facecolor(COLOURS["lb"] if frac > 0.8 else "#999999")
        self.blocks.set_verts(verts)
        self.blocks.set_facecolor(_AGE_MAP(age_norm(np.array(ages))) if ages else [])
        c = counts_at(self.result, t)
        self.counts.set_text(f"answered {c['answered']}  failed {c[_FAILED]}  in system {c['in_system']}")
        # Failures since the previous frame, by kind, as they happen.
        now = np.isfinite(r["end"]) & (r["end"] > t_prev) & (r["end"] <= t)
        kinds = np.bincount(r["outcome"][now], minlength=len(OUTCOMES))
        self.failures.set_text("  ".join(f"{kinds[k]} {word}" for k, word in _FAILURE_WORDS if kinds[k]))


def replay(runs: dict, *, frames: int = 60, start: float | None = None, end: float | None = None,
           memory_limit_mb: float | None = None, colours: dict | None = None, columns: int | None = None,
           panel_size=(3.5, 2.6), dpi: int = 100, fps: float = 4.0, age_scale_s: float = 60.0,
           title: str | None = None) -> Replay:
    """Replay ``runs`` (name -> Result, the same job stream) side by side.

    frames: number of frames, evenly spaced from ``start`` (default: the first
        arrival) to ``end`` (default: the last outcome); the last frame is at
        ``end``, so its counts are the summaries when ``end`` is the default.
    memory_limit_mb: what the memory meters are scaled to (default: each run's
        highest memory).
    colours: name -> colour of each panel (default: the book's cycle).
    columns: panels per row (default: all in one row up to 2, else 2).
    panel_size: inches per panel; dpi: pixels per inch of the frames; fps: frames
        per second when playing.
    age_scale_s: the age (s) drawn darkest; older jobs get the same colour.
    """
    if not isinstance(runs, dict) or not runs:
        raise TypeError(f"runs must be a non-empty dict of name -> Result, got {runs!r:.80}")
    for name, res in runs.items():
        _checks.instance(f"runs[{name!r}]", res, Result, "a Result from mqlb.simulate")
    frames = _checks.count("frames", frames, minimum=2)
    dpi = _checks.count("dpi", dpi, minimum=20)
    fps = _checks.positive("fps", fps)
    age_scale_s = _checks.positive("age_scale_s", age_scale_s)
    first = min(float(res.records["arrival"].min()) for res in runs.values())
    last = max(float(np.nanmax(np.concatenate([res.records["end"], res.records["arrival"]])))
               for res in runs.values())
    start = first if start is None else _checks.non_negative("start", start)
    end = last if end is None else _checks.positive("end", end)
    if not end > start:
        raise ValueError(f"end must be after start, got start={start!r}, end={end!r}")
    times = np.linspace(start, end, frames)
    # Frames fall on the timeline's samples (the runs of one job stream on machines of equal
    # capacity share them), so each line's count is the state at that very moment; the last
    # frame stays at ``end``.
    grid = next(iter(runs.values())).timeline.time
    if len(grid):
        near = grid[np.clip(np.searchsorted(grid, times[:-1]), 0, len(grid) - 1)]
        times[:-1] = np.where((near >= start) & (near <= end), near, times[:-1])
    colours = colours or {}
    cycle = BOOK_RC["axes.prop_cycle"].by_key()["color"]
    n = len(runs)
    columns = columns or (n if n <= 2 else 2)
    rows = math.ceil(n / columns)
    with mpl.rc_context({**BOOK_RC, "savefig.bbox": "standard", "savefig.dpi": dpi,
                         "figure.constrained_layout.use": False}):
        fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows + 0.45), dpi=dpi)
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.45 / (panel_size[1] * rows + 0.45),
                            wspace=0.06, hspace=0.08)
        for ax in axes[n:]:
            ax.axis("off")
        panels = [_Panel(ax, name, res, colours.get(name, cycle[k % len(cycle)]), memory_limit_mb)
                  for k, (ax, (name, res)) in enumerate(zip(axes, runs.items()))]
        age_norm = Normalize(0.0, age_scale_s, clip=True)
        clock = fig.text(0.01, 0.995, "", ha="left", va="top", fontsize=9)
        fig.text(0.99, 0.995, f"block colour: age, 0 (yellow) to {age_norm.vmax:.0f} s or more (purple); "
                              "width: size", ha="right", va="top", fontsize=7, color="#333")
        if title:
            clock.set_text(title)

        def update(k):
            t = times[k]
            t_prev = times[k - 1] if k else -math.inf
            for p in panels:
                p.draw(t, t_prev, age_norm)
            clock.set_text((f"{title}   " if title else "") + f"t = {t:5.1f} s")
            return []

        anim = FuncAnimation(fig, update, frames=frames, interval=1000.0 / fps, blit=False, repeat=False)
        player = anim.to_jshtml(fps=fps, default_mode="once")
    counts = {name: [counts_at(res, t) for t in times] for name, res in runs.items()}
    summaries = {name: summary_counts(res) for name, res in runs.items()}
    return Replay(_offline(player, times, counts, summaries), times, counts, summaries, frames)


def _offline(player: str, times, counts: dict, summaries: dict) -> str:
    """The player without its CDN stylesheet, with plain-character buttons, in a
    div that carries the frame times, the running counts and the summaries (for
    tests and for readers of the page source)."""
    player = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", player)
    for icon, text in _ICONS.items():
        player = player.replace(f'<i class="fa {icon}"></i>', f'<span aria-hidden="true">{text}</span>')
    if "fa fa-" in player or "https://" in player:
        raise RuntimeError("matplotlib's player changed: an icon or an outside URL is left in it")
    data = {"times": [round(float(t), 3) for t in times], "counts": counts, "summaries": summaries}
    return (f'<div class="mqlb-replay" data-replay="{html.escape(json.dumps(data), quote=True)}">'
            f"{player}</div>")
