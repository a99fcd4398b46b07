"""The explorers of the built book work from disk, with no kernel and no network.

The book is built once per session (the ``built_book`` fixture in conftest.py;
``MQLB_BOOK_HTML=path/to/_build/html`` uses a book already built).  Each
chapter page is opened from ``file://`` in Chromium with every request that
is not a file of the book blocked and counted.  On every explorer, every
control is moved to two positions other than its default (see :func:`moves`); after each
move the figure must be the figure the kernel draws for that state, and one of
each control's two moves must change it (a control may legitimately do nothing
in one state, e.g. a queue limit under light load):
the chapter runs in a live kernel (the widget edition), each visited state is
set on its widget, and the widget's PNG must equal the page's image pixel for
pixel (at most :data:`PIXEL_TOLERANCE` of the pixels may differ; none do
today).  No console error, no failed or outside request.  Timings of every
move and the first-load transfer of each page go to
test-artifacts/explorers/report.txt.
"""

from __future__ import annotations

import base64
import io
import json
import os
import statistics
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "explorers"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--allow-file-access-from-files"]
WAIT_MS = 15_000

#: Largest share of pixels that may differ between the page's figure and the kernel's.
PIXEL_TOLERANCE = 0.001

pytestmark = pytest.mark.slow

JS_EXPLORERS = """() => [...document.querySelectorAll('.mqlb-static')].map(box => ({
    default: box.getAttribute('data-default'),
    states: JSON.parse(box.getAttribute('data-states')),
    controls: [...box.querySelectorAll('[data-index]')].map(c => ({
        tag: c.tagName.toLowerCase(), count: c.tagName === 'SELECT' ? c.options.length : (+c.max + 1),
        disabled: c.disabled, value: +c.value})),
}))"""


def explorer_pages(html: Path) -> list[Path]:
    """Chapter pages with an explorer (``MQLB_EXPLORER_PAGES=02,08`` keeps those chapters only)."""
    only = [p for p in os.environ.get("MQLB_EXPLORER_PAGES", "").split(",") if p]
    return sorted(p for p in (html / "chapters").glob("*.html") if "mqlb-static" in p.read_text(encoding="utf-8")
                  and (not only or p.name.startswith(tuple(only))))


def moves(explorer: dict) -> list[tuple[int, int]]:
    """(control, position) moves in two passes. First each control alone: to two
    positions other than its default (the last, then the second or the first) and
    back. Then each control in turn to the same two positions, staying there while
    the next one moves (a control that does nothing at the defaults, such as a
    queue's overflow rule while no limit is set, acts in a later state)."""
    default = [int(i) for i in explorer["default"].split("-")]
    alone, in_turn = [], []
    for index, control in enumerate(explorer["controls"]):
        if control["disabled"]:
            continue
        others = [p for p in (control["count"] - 1, 1, 0) if p != default[index]]
        two = [(index, position) for position in list(dict.fromkeys(others))[:2]]
        alone += two + [(index, default[index])]
        in_turn += two
    return alone + in_turn


def kernel_figures(chapter: Path, wanted: dict[int, list[dict]]) -> dict[tuple[int, str], bytes]:
    """Run ``chapter`` in a live kernel up to its last explorer and return, for each
    explorer number and state key, the widget's PNG (or its message, as bytes)."""
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(chapter)
    last = max(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and "explorer(" in cell.source)
    nb.cells = nb.cells[:last + 1]
    request = json.dumps({str(k): v for k, v in wanted.items()})
    nb.cells.append(nbformat.v4.new_code_cell(f"""
import base64 as _b64, json as _json
from mqlb.present.explorer import Explorer as _Explorer
_found = {{}}
_live = [r() for r in _Explorer.instances if r() is not None]
for _n, _states in _json.loads({request!r}).items():
    _w = _live[int(_n)]
    for _state in _states:
        for _name, _value in _state["params"].items():
            _w.controls[_name].value = _value
        _data = _w.output.outputs[0]["data"]
        _found[_n + "/" + _state["key"]] = _data.get("image/png") or _b64.b64encode(_data["text/plain"].encode()).decode()
print(_json.dumps(_found))
"""))
    env = {k: v for k, v in os.environ.items() if k != "MQLB_STATIC_EXPLORERS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(chapter.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    found = json.loads(text)
    return {(int(k.split("/")[0]), k.split("/")[1]): base64.b64decode(v) for k, v in found.items()}


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def differing_share(a: bytes, b: bytes) -> float:
    if a[:8] != b"\x89PNG\r\n\x1a\n" or b[:8] != b"\x89PNG\r\n\x1a\n":
        return 0.0 if a == b else 1.0
    x, y = pixels(a), pixels(b)
    if x.shape != y.shape:
        return 1.0
    return float(np.any(x != y, axis=-1).mean())


def drive_page(context, html: Path, page_file: Path, report: list[str]) -> tuple[list[dict], list[str]]:
    """Open one page from disk, move every control; return per explorer the visited
    states (key, what was shown, ms) and the problems found."""
    problems: list[str] = []
    requested: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("request", lambda r: requested.append(r.url))
    page.goto(page_file.as_uri(), wait_until="load")
    try:        # fonts and images the page asks for after "load"; file:// may never report idle
        page.wait_for_load_state("networkidle", timeout=5000)
    except Exception:
        page.wait_for_timeout(1000)
    first_load = sum(_size(html, url) for url in dict.fromkeys(requested))
    explorer_share = page.evaluate("() => [...document.querySelectorAll('.mqlb-static')]"
                                   ".reduce((n, b) => n + b.outerHTML.length, 0)") \
        + sum(_size(html, url) for url in dict.fromkeys(requested) if "/explorer." in url)
    explorers = page.evaluate(JS_EXPLORERS)
    page.wait_for_function("() => [...document.querySelectorAll('.mqlb-static')].every(b => b.dataset.ready)",
                           timeout=WAIT_MS)
    visited = []
    for number, explorer in enumerate(explorers):
        box = page.locator(".mqlb-static").nth(number)
        box.scroll_into_view_if_needed()
        shown = []
        for index, position in moves(explorer):
            control = box.locator("[data-index]").nth(index)
            before = box.locator(".mqlb-figure").inner_html()
            expected = [int(i) for i in box.get_attribute("data-shown").split("-")]
            expected[index] = position
            key = "-".join(map(str, expected))
            if explorer["controls"][index]["tag"] == "select":
                control.select_option(index=position)
            else:
                control.focus()
                current = int(control.input_value())
                step = "ArrowRight" if position > current else "ArrowLeft"
                for _ in range(abs(position - current)):
                    page.keyboard.press(step)
            try:
                page.wait_for_function("([n, key]) => document.querySelectorAll('.mqlb-static')[n]"
                                       ".getAttribute('data-shown') === key", arg=[number, key], timeout=WAIT_MS)
            except Exception:
                problems.append(f"explorer {number + 1}: control {index + 1} to position {position}: "
                                f"the page did not show state {key} (it shows {box.get_attribute('data-shown')}, "
                                f"asked {box.get_attribute('data-asked')})")
                continue
            after = box.locator(".mqlb-figure").inner_html()
            src = box.locator(".mqlb-figure img").get_attribute("src") if "<img" in after else None
            image = (html / "_static" / "explorers" / Path(src).name).read_bytes() if src and not src.startswith("data:") \
                else (base64.b64decode(src.split(",", 1)[1]) if src else box.locator(".mqlb-figure").inner_text().encode())
            changed = after != before
            shown.append(dict(key=key, control=index, image=image, changed=changed,
                              ms=float(box.get_attribute("data-ms") or "nan")))
        visited.append(dict(explorer=explorer, shown=shown))
    extra = sum(_size(html, url) for url in dict.fromkeys(requested)) - first_load
    outside = [u for u in requested if not u.startswith(("file:", "data:"))]
    if outside:
        problems.append(f"{len(outside)} request(s) outside the book: {outside[:3]}")
    report.append(f"{page_file.name}: first load {first_load / 1e6:.2f} MB, of which the explorers "
                  f"{explorer_share / 1e6:.2f} MB (markup, default image, script and style); "
                  f"states loaded on demand afterwards: {extra / 1e6:.2f} MB")
    page.close()
    return visited, problems


def _size(html: Path, url: str) -> int:
    if not url.startswith("file:"):
        return 0
    from urllib.parse import unquote, urlparse

    path = Path(unquote(urlparse(url).path))
    return path.stat().st_size if path.is_file() else 0


def test_static_explorers_answer_every_control_with_the_kernels_figure(built_book: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}: apt-get install chromium")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-test.txt")
    pages = explorer_pages(built_book)
    assert pages, "no chapter page has a static explorer"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report, problems = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []

        def block(route):
            blocked.append(route.request.url)
            route.abort()

        context.route(lambda url: not url.startswith(("file:", "data:", "blob:")), block)
        for page_file in pages:
            chapter = ROOT / "chapters" / page_file.with_suffix(".md").name
            visited, found = drive_page(context, built_book, page_file, report)
            problems += [f"{page_file.name}: {line}" for line in found]
            params = _params_of(page_file, visited)
            kernel = kernel_figures(chapter, {n: [dict(key=k, params=v) for k, v in states.items()]
                                              for n, states in params.items()})
            for number, entry in enumerate(visited):
                times = [s["ms"] for s in entry["shown"]]
                for control in sorted({s["control"] for s in entry["shown"]}):
                    if not any(s["changed"] for s in entry["shown"] if s["control"] == control):
                        problems.append(f"{page_file.name} explorer {number + 1}: control {control + 1} "
                                        f"did not change the figure")
                for s in entry["shown"]:
                    share = differing_share(s["image"], kernel[(number, s["key"])])
                    if share > PIXEL_TOLERANCE:
                        problems.append(f"{page_file.name} explorer {number + 1}: state {s['key']} differs "
                                        f"from the kernel's figure in {share:.1%} of the pixels")
                report.append(f"  explorer {number + 1}: {len(times)} moves, p50 {statistics.median(times):.0f} ms, "
                              f"p95 {np.percentile(times, 95):.0f} ms, max {max(times):.0f} ms")
        browser.close()
    if blocked:
        problems.append(f"{len(blocked)} request(s) outside the book blocked: {blocked[:5]}")
    (ARTIFACTS / "report.txt").write_text("\n".join(report + ["", "problems:"] + problems) + "\n")
    assert not problems, "\n".join(problems)


def _params_of(page_file: Path, visited: list[dict]) -> dict[int, dict[str, dict]]:
    """The keyword arguments of every visited state, read from the page's manifest
    of control values (each explorer lists its controls' values in order)."""
    text = page_file.read_text(encoding="utf-8")
    import html as html_module
    import re

    boxes = re.findall(r'data-params="([^"]*)"', text)
    result = {}
    for number, entry in enumerate(visited):
        controls = json.loads(html_module.unescape(boxes[number]))
        states = {}
        for s in entry["shown"]:
            indices = [int(i) for i in s["key"].split("-")]
            states[s["key"]] = {c["name"]: c["values"][i] for c, i in zip(controls, indices)}
        result[number] = states
    return result
