"""Benchmark: how long does a reader wait for an explorer to redraw, in a browser?

``bench_explorers.py`` times each update inside the kernel (the chapter's
``draw`` and painting the PNG). This script times what the reader waits for:
from the key press on a slider, or the change of a menu, in a real browser to
the moment the new figure is decoded and in the page. That adds the trip
through Voila: the widget message to the kernel, the new output back over the
websocket, and the browser decoding the PNG.

Each chapter that builds an explorer runs live in Voila on 127.0.0.1 (the same
server the live-notebook test uses, ``tests/live_server.py``), one chapter at
a time, in headless Debian Chromium driven by Playwright; every request to
another host is blocked. Each slider is moved a few steps with the arrow keys
and back, each menu through a few of its options and back, waiting for every
redraw before the next move, as a reader would. A move the model rejects (the
explorer's one-line message instead of a figure) is timed too and counted
in ``rejected``; a move that gives the very figure already shown changes
nothing in the page, so it is not timed and is counted in ``same``.

Run from the repository root with the project's virtual environment (needs
``/usr/bin/chromium`` and the test requirements):

    python bench/bench_explorers_live.py              # every chapter with an explorer
    python bench/bench_explorers_live.py 08 09        # some chapters (name prefixes)
    python bench/bench_explorers_live.py --steps 2    # fewer moves per control
    python bench/bench_explorers_live.py --check      # exit 1 if a p95 is over 200 ms

A benchmark, not a test: the numbers depend on the machine, so run it when the
machine is otherwise quiet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live_server import (CHROMIUM, CHROMIUM_ARGS, ERROR_BOX, EXPLORER, FIGURE,  # noqa: E402
                         HOW_TO_ENABLE, block_outside_hosts, explorer_chapters, missing, voila)

TARGET_MS = 200.0
PAGE_TIMEOUT_MS = 180_000   # Voila runs the whole chapter before the widgets appear
UNCHANGED_AFTER_MS = 5_000  # no new output by then: the move gave the very same figure (see below)

# Page-side clock: the time of the reader's action (keydown or change, seen
# first, in the capture phase) and of the new figure (or message) being shown.
INSTRUMENT = """() => {
    window.mqlbBench = {start: null, done: null};
    for (const type of ['keydown', 'change']) {
        document.addEventListener(type, () => { window.mqlbBench.start = performance.now(); }, true);
    }
}"""

WATCH = """([box, figure, error]) => {
    const oldSrc = box.querySelector(figure)?.getAttribute('src') ?? null;
    const oldError = box.querySelector(error);
    window.mqlbBench.done = null;
    window.mqlbBench.observer?.disconnect();
    const observer = new MutationObserver(() => {
        const message = box.querySelector(error);
        if (message && message !== oldError) {
            observer.disconnect();
            window.mqlbBench.done = {kind: 'message', at: performance.now()};
            return;
        }
        const img = box.querySelector(figure);
        if (img && img.getAttribute('src') !== oldSrc) {
            observer.disconnect();
            img.decode().catch(() => null).then(() => {
                window.mqlbBench.done = {kind: 'figure', at: performance.now()};
            });
        }
    });
    window.mqlbBench.observer = observer;
    observer.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


# Appended to every chapter served: shows the kernel's own time of each explorer
# update (the widget's last_update_seconds: draw + PNG) in the page, so that the
# browser's time can be split into kernel time and the rest.
KERNEL_CLOCK = """\
import ipywidgets
from mqlb.present.explorer import Explorer

bench_clock = ipywidgets.HTML("0 nan")
bench_clock.add_class("mqlb-bench-kernel-clock")
bench_refresh = Explorer.refresh


def bench_timed_refresh(self):
    bench_refresh(self)
    count = int(bench_clock.value.split()[0]) + 1
    bench_clock.value = f"{count} {self.last_update_seconds * 1000:.2f}"


Explorer.refresh = bench_timed_refresh
bench_clock
"""
CLOCK = ".mqlb-bench-kernel-clock"


def kernel_ms(page, count_before: int) -> tuple[int, float]:
    """Wait for the kernel clock to tick past ``count_before``; (count, ms of that update)."""
    page.wait_for_function(
        "([sel, n]) => parseInt(document.querySelector(sel).innerText.split(' ')[0]) > n",
        arg=[CLOCK, count_before], timeout=UNCHANGED_AFTER_MS)
    count, ms = page.locator(CLOCK).inner_text().split()
    return int(count), float(ms)


def timed(page, box, action) -> tuple[str, float, float]:
    """Do ``action`` and wait for the explorer to show its answer:
    (kind, ms in the browser, ms in the kernel).

    A move that gives exactly the figure already shown (say, the balancer's
    behaviour when full while it has no cap) changes nothing in the page, so
    there is nothing to time in the browser: its kind is "unchanged".
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ticks = int(page.locator(CLOCK).inner_text().split()[0])
    page.evaluate(WATCH, [box.element_handle(), FIGURE, ERROR_BOX])
    action()
    try:
        page.wait_for_function("() => window.mqlbBench.done !== null", timeout=UNCHANGED_AFTER_MS)
    except PlaywrightTimeout:
        page.evaluate("() => { window.mqlbBench.done = 'void'; }")
        return "unchanged", float("nan"), kernel_ms(page, ticks)[1]
    done = page.evaluate("() => window.mqlbBench")
    return done["done"]["kind"], done["done"]["at"] - done["start"], kernel_ms(page, ticks)[1]


def move_sliders(page, box, steps: int) -> list[tuple[str, float, float]]:
    """Each slider a few steps with the arrow keys (away from its nearer end), then back."""
    times = []
    handles, readouts = box.locator(".noUi-handle"), box.locator(".widget-readout")
    for index in range(handles.count()):
        handle, readout = handles.nth(index), readouts.nth(index)
        low, high = float(handle.get_attribute("aria-valuemin")), float(handle.get_attribute("aria-valuemax"))
        value = float(readout.inner_text())
        away, back = ("ArrowLeft", "ArrowRight") if high - value < value - low else ("ArrowRight", "ArrowLeft")
        moved = 0
        while moved < steps and (value > low if away == "ArrowLeft" else value < high):
            handle.focus()
            times.append(timed(page, box, lambda: page.keyboard.press(away)))
            value = float(readout.inner_text())
            moved += 1
        for _ in range(moved):
            handle.focus()
            times.append(timed(page, box, lambda: page.keyboard.press(back)))
    return times


def pick_options(page, box, steps: int) -> list[tuple[str, float, float]]:
    """Each menu through a few of its other options, then back to the first one shown."""
    times = []
    menus = box.locator("select")
    for index in range(menus.count()):
        menu = menus.nth(index)
        start = menu.evaluate("m => m.selectedIndex")
        count = menu.locator("option").count()
        others = [(start + k) % count for k in range(1, min(steps, count - 1) + 1)]
        for choice in others + [start]:
            times.append(timed(page, box, lambda choice=choice: menu.select_option(index=choice)))
    return times


def measure_chapter(context, base_url: str, chapter: Path, steps: int) -> list[tuple[str, float, float]]:
    page = context.new_page()
    try:
        page.goto(f"{base_url}/voila/render/{chapter.stem}.ipynb", wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector(f"{EXPLORER} {FIGURE}", timeout=PAGE_TIMEOUT_MS)
        time.sleep(1.0)                          # let the kernel settle after running the chapter
        page.evaluate(INSTRUMENT)
        times = []
        explorers = page.locator(EXPLORER)
        for index in range(explorers.count()):
            box = explorers.nth(index)
            box.scroll_into_view_if_needed()
            times += move_sliders(page, box, steps) + pick_options(page, box, steps)
        return times
    finally:
        page.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter name prefixes (default: all with an explorer)")
    parser.add_argument("--steps", type=int, default=3, help="moves of each control away from its start (default 3)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a p95 is over {TARGET_MS:.0f} ms")
    args = parser.parse_args(argv)
    absent = missing()
    if absent:
        print(f"{absent}: {HOW_TO_ENABLE}", file=sys.stderr)
        return 2
    chapters = [p for p in explorer_chapters() if not args.chapters or any(p.name.startswith(x) for x in args.chapters)]

    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as folder, voila(Path(folder), chapters, KERNEL_CLOCK) as (url, _log), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        blocked = block_outside_hosts(context)
        for chapter in chapters:
            times = measure_chapter(context, url, chapter, args.steps)
            shown = [(browser, kernel) for kind, browser, kernel in times if kind != "unchanged"]
            kinds = [kind for kind, _, _ in times]
            rows.append((chapter.stem, np.array(shown), kinds.count("message"), kinds.count("unchanged")))
            print(f"{chapter.stem}: {len(times)} moves", flush=True)
        browser.close()
    if blocked:
        print(f"requests to outside hosts were blocked: {blocked}", file=sys.stderr)

    print(f"\n{'chapter':30s} {'n':>3s} {'rejected':>8s} {'same':>4s} {'p50 ms':>7s} {'p95 ms':>7s} {'max ms':>7s}"
          f" {'kernel p50':>10s} {'kernel p95':>10s} {'rest p50':>8s}")
    over = 0
    for name, shown, rejected, unchanged in rows:
        browser, kernel = shown[:, 0], shown[:, 1]
        p50, p95 = np.percentile(browser, [50, 95])
        k50, k95 = np.percentile(kernel, [50, 95])
        flag = "  SLOW (p95 > 200 ms)" if p95 > TARGET_MS else ""
        over += bool(flag)
        print(f"{name:30s} {len(shown):3d} {rejected:8d} {unchanged:4d} {p50:7.0f} {p95:7.0f} {browser.max():7.0f}"
              f" {k50:10.0f} {k95:10.0f} {np.median(browser - kernel):8.0f}{flag}")
    print(f"\n{over} of {len(rows)} explorer chapter(s) over the target p95 of {TARGET_MS:.0f} ms "
          f"(browser time: action to decoded figure)")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
