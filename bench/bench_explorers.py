"""Benchmark: how long does each chapter's explorer take to redraw?

For every chapter that builds an explorer (``explorer(`` in ``chapters/*.md``),
the chapter's code cells are run in this process, in a fresh namespace, with
the working directory ``chapters/`` (as the book build runs them). Every
``Explorer`` the chapter builds is recorded. Then each control of each
explorer is moved through a few of its values, one control at a time, back to
its starting value after each sweep, exactly as a reader would move it. Each
move is one update; its time is the widget's own ``last_update_seconds``
(draw + render of the PNG, the time from the change to the new output).

Run from the repository root with the project's virtual environment:

    python bench/bench_explorers.py                 # every chapter with an explorer
    python bench/bench_explorers.py 02 08           # only chapters whose name starts so
    python bench/bench_explorers.py --values 3      # fewer values per control
    python bench/bench_explorers.py --check         # exit 1 if a p95 is over the target
    python bench/bench_explorers.py --slowest 3     # and each explorer's 3 slowest updates

The table gives p50, p95 and max in ms and flags a p95 over the target
(200 ms), all wall-clock time as the reader waits. ``cpu p95`` is the p95 of
this process's CPU time per update, which other programs on the machine
disturb less: on a busy machine compare that with the target. ``draw p50`` is the median time spent in the chapter's ``draw``
(simulation and building the figure), ``render p50`` the median of the rest
(painting the PNG): a slow explorer with a large ``draw`` needs a smaller
simulation, one with a large ``render`` a simpler figure.
Updates the draw function rejects (``last_error``, a one-line message instead
of a figure) are counted in ``n`` and shown separately in ``rejected``.
A benchmark, not a test: its numbers depend on the machine, so run it when the
machine is otherwise quiet (``uptime``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import time
import types
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cloudpickle  # noqa: E402
import ipywidgets as widgets  # noqa: E402
import jupytext  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

explorer_module = importlib.import_module("mqlb.present.explorer")

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
TARGET_MS = 200.0
CHAPTER_MODULE = "__chapter__"


def chapters_with_explorers(prefixes: list[str]) -> list[Path]:
    found = sorted(p for p in CHAPTERS.glob("*.md") if "explorer(" in p.read_text(encoding="utf-8"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) for x in prefixes)]
    return found


@contextlib.contextmanager
def recording_explorers():
    """Collect every Explorer built while the block runs."""
    built: list = []
    original = explorer_module.Explorer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    explorer_module.Explorer.__init__ = init
    try:
        yield built
    finally:
        explorer_module.Explorer.__init__ = original


def run_chapter(path: Path) -> tuple[list, float]:
    """Run the chapter's code cells in a fresh namespace; return its explorers and the time."""
    nb = jupytext.read(path, fmt="md:myst")
    # A module of its own, sent by value like a kernel's __main__: functions
    # defined in a cell travel to mqlb.sweep's worker processes with cloudpickle.
    module = types.ModuleType(CHAPTER_MODULE)
    module.__file__ = str(path)
    sys.modules[CHAPTER_MODULE] = module
    cloudpickle.register_pickle_by_value(module)
    namespace = module.__dict__
    matplotlib.rcdefaults()
    matplotlib.use("Agg")
    cwd = os.getcwd()
    started = time.perf_counter()
    with recording_explorers() as built, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.chdir(path.parent)
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                # IPython's line magics (%matplotlib inline) mean nothing here: the figures are drawn with Agg
                source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
                code = compile(source, f"{path.name}, cell {index}", "exec")
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(code, namespace)
        finally:
            os.chdir(cwd)
            plt.close("all")
    return built, time.perf_counter() - started


def sweep_values(control, n: int) -> list:
    """Up to ``n`` values of ``control`` other than its current one, spread over its range."""
    current = control.value
    if isinstance(control, widgets.Checkbox):
        values = [not current]
    elif isinstance(control, (widgets.Dropdown, widgets.RadioButtons, widgets.ToggleButtons,
                              widgets.SelectionSlider)):
        options = [o[1] if isinstance(o, tuple) else o for o in control.options]
        others = [o for o in options if o != current]
        picks = np.linspace(0, len(others) - 1, min(n, len(others))).round().astype(int)
        values = [others[i] for i in dict.fromkeys(picks)]
    elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider, widgets.BoundedIntText,
                              widgets.BoundedFloatText, widgets.FloatLogSlider)):
        lo, hi = control.min, control.max
        step = getattr(control, "step", None) or (hi - lo) / 20
        grid = np.linspace(lo, hi, n)
        snapped = [lo + round((v - lo) / step) * step for v in grid]
        if isinstance(control, (widgets.IntSlider, widgets.BoundedIntText)):
            snapped = [int(v) for v in snapped]
        else:
            snapped = [round(float(v), 10) for v in snapped]
        values = [v for v in dict.fromkeys(snapped) if v != current and lo <= v <= hi]
    else:
        values = []
    return values


def sweep(box, n: int) -> tuple[list[float], list[float], list[float], int, list[dict]]:
    """Move each control of ``box`` through up to ``n`` values and back, one at a time.

    Returns the update times (wall clock), the CPU time of this process for
    each, the part of each spent in ``draw`` (simulation and building the
    figure; the rest is rendering the PNG), all in seconds, the number of
    rejected configurations and the parameters of each update.
    """
    times: list[float] = []
    cpu_times: list[float] = []
    draw_times: list[float] = []
    settings: list[dict] = []
    rejected = 0
    draw = box._draw
    last_draw = [0.0]

    def timed_draw(**params):
        started = time.perf_counter()
        try:
            return draw(**params)
        finally:
            last_draw[0] = time.perf_counter() - started

    def record(cpu_seconds):
        nonlocal rejected
        times.append(box.last_update_seconds)
        cpu_times.append(cpu_seconds)
        draw_times.append(last_draw[0])
        settings.append(dict(box.last_params))
        rejected += box.last_error is not None

    box._draw = timed_draw

    for control in box.controls.values():
        start = control.value
        for value in [*sweep_values(control, n), start]:
            if value == control.value:
                continue
            before, cpu = box.updates, time.process_time()
            control.value = value
            if box.updates > before:
                record(time.process_time() - cpu)
    box._draw = draw
    return times, cpu_times, draw_times, rejected, settings


def explorer_name(box, index: int) -> str:
    draw = getattr(box, "_draw", None)
    name = getattr(draw, "__name__", "draw")
    label = f"#{index + 1} {name}: {', '.join(box.controls)}"
    return label if len(label) <= 44 else label[:43] + "…"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter name prefixes, e.g. 02 08")
    parser.add_argument("--values", type=int, default=4, help="values per control (default 4)")
    parser.add_argument("--slowest", type=int, default=0, metavar="N",
                        help="also list each explorer's N slowest updates with their settings")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a p95 is over {TARGET_MS:.0f} ms")
    args = parser.parse_args(argv)

    paths = chapters_with_explorers(args.chapters)
    if not paths:
        print("no chapter with an explorer matches", file=sys.stderr)
        return 2
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for path in paths:
        boxes, seconds = run_chapter(path)
        print(f"{path.name}: ran in {seconds:.1f} s, {len(boxes)} explorer(s)", flush=True)
        for index, box in enumerate(boxes):
            times, cpu_times, draw_times, rejected, settings = sweep(box, args.values)
            plt.close("all")
            ms = 1000 * np.asarray(times)
            cpu_ms = 1000 * np.asarray(cpu_times)
            draw_ms = 1000 * np.asarray(draw_times)
            for i in np.argsort(-ms)[:args.slowest]:
                changed = {k: v for k, v in settings[i].items() if box.controls.get(k) is not None}
                print(f"  {ms[i]:5.0f} ms (draw {draw_ms[i]:.0f}): {changed}")
            if len(ms):
                p50, p95 = np.percentile(ms, [50, 95])
                stats = (p50, p95, ms.max(), np.percentile(cpu_ms, 95), np.median(draw_ms),
                         np.median(ms - draw_ms))
            else:
                stats = (np.nan,) * 6
            rows.append((path.stem, explorer_name(box, index), len(ms), rejected, *stats))
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    header = ("chapter", "explorer", "n", "rejected", "p50 ms", "p95 ms", "max ms",
              "cpu p95", "draw p50", "render p50", "")
    lines = [header]
    slow = 0
    for chapter, name, n, rejected, p50, p95, worst, cpu95, draw50, render50 in rows:
        flag = f"SLOW (p95 > {TARGET_MS:.0f} ms)" if p95 > TARGET_MS else ""
        slow += bool(flag)
        lines.append((chapter, name, str(n), str(rejected), f"{p50:.0f}", f"{p95:.0f}",
                      f"{worst:.0f}", f"{cpu95:.0f}", f"{draw50:.0f}", f"{render50:.0f}", flag))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) if i < 2 or i == len(header) - 1 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(line, widths))).rstrip())
    print(f"\n{slow} of {len(rows)} explorer(s) over the target p95 of {TARGET_MS:.0f} ms")
    return 1 if (args.check and slow) else 0


if __name__ == "__main__":
    sys.exit(main())
