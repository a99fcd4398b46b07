"""The book build is a test: build the whole book from scratch, every chapter
executed, warnings as errors, then check the HTML is complete and self-contained.

The build runs once per test session (the ``built_book`` fixture in conftest.py)
into a temporary folder, through the same script as `make book` (scripts/build_book.py).  The browser test
serves that folder on 127.0.0.1 and opens every page in Debian's Chromium through
Playwright; its screenshots and report.txt go to test-artifacts/pages/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

import page_checks

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = pytest.mark.slow


def toc_entries() -> list[str]:
    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    yield node[key]
            for value in node.values():
                if isinstance(value, (dict, list)):
                    yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return list(walk(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))))


def test_every_toc_page_is_built(built_book: Path):
    assert (built_book / "index.html").exists()
    missing = [f for f in toc_entries() if not (built_book / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


def test_no_execution_reports(built_book: Path):
    """myst-nb writes a report for each notebook that failed to execute."""
    reports = list((built_book / "reports").glob("**/*")) if (built_book / "reports").exists() else []
    assert not reports, f"execution failure reports: {reports}"


class _Refs(HTMLParser):
    """Collect the URLs a page would load: script src, link href, img/iframe/source src."""

    LOADING = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"),
               ("source", "src"), ("audio", "src"), ("video", "src"), ("embed", "src")}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if (tag, name) in self.LOADING and value:
                self.urls.append(value)


def test_html_loads_nothing_from_outside_hosts(built_book: Path):
    outside = []
    for page in built_book.glob("**/*.html"):
        text = page.read_text(encoding="utf-8")
        parser = _Refs()
        parser.feed(text)
        outside += [f"{page.relative_to(built_book)}: {u}" for u in parser.urls
                    if urlparse(u).scheme in ("http", "https") or u.startswith("//")]
        outside += [f"{page.relative_to(built_book)}: {m}"
                    for m in re.findall(r"https?://[^\s\"']*(?:cdnjs|jsdelivr|unpkg)[^\s\"']*", text)]
    assert not outside, "pages refer to outside hosts:\n" + "\n".join(sorted(set(outside)))


def test_vendored_javascript_is_copied(built_book: Path):
    static = built_book / "_static" / "vendor"
    for rel in ("require.js", "html-manager/embed-amd.js", "mathjax/tex-chtml.js"):
        assert (static / rel).is_file(), f"missing _static/vendor/{rel}"


def test_every_page_names_the_licences_in_its_footer(built_book: Path):
    pages = [built_book / f"{entry}.html" for entry in toc_entries()]
    unlicensed = [str(page.relative_to(built_book)) for page in pages
                  if not re.search(r'class="mqlb-licence">.*CC BY 4\.0.*MIT licence',
                                    " ".join(page.read_text(encoding="utf-8").split()))]
    assert not unlicensed, f"pages without the licence footer: {unlicensed}"


def test_the_cache_records_which_mqlb_computed_it(built_book: Path):
    """scripts/book_inputs.py empties a cache whose stamp differs from today's
    mqlb; the build leaves a stamp of the inputs it executed with."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import book_inputs
    stamp = built_book.parent / ".jupyter_cache" / book_inputs.STAMP_NAME
    assert stamp.read_text().strip() == book_inputs.inputs_hash(ROOT)


# --- The rendered book in a real browser -------------------------------------------

ARTIFACTS = ROOT / "test-artifacts" / "pages"
SEARCH_TERM = "prefetch"  # a word the book uses (the message-queue chapter, RabbitMQ's prefetch count)
WAIT_MS = 15_000


@contextmanager
def serve_locally(directory: Path):
    """Serve `directory` over HTTP on 127.0.0.1 (a free port) from a thread; yield
    the base URL; stop the server afterwards."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname in ("127.0.0.1", "localhost", "::1")


def book_pages(html: Path) -> list[str]:
    """Every HTML page of the built book (relative paths), skipping Sphinx's folders."""
    return sorted(
        page.relative_to(html).as_posix() for page in html.glob("**/*.html")
        if not any(part.startswith("_") or part == "reports" for part in page.relative_to(html).parts)
    )


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


_ids_cache: dict[Path, set[str]] = {}


def ids_in(file: Path) -> set[str]:
    if file not in _ids_cache:
        parser = _Ids()
        parser.feed(file.read_text(encoding="utf-8", errors="replace"))
        _ids_cache[file] = parser.ids
    return _ids_cache[file]


def target_file(html: Path, path: str) -> Path:
    target = html / unquote(path).lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


# Wait until every <img> has finished (loaded or failed); return the broken ones.
JS_BROKEN_IMAGES = """async () => {
    const imgs = [...document.images];
    await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
        img.addEventListener('load', done); img.addEventListener('error', done);
    })));
    return {count: imgs.length,
            broken: imgs.filter(img => !(img.complete && img.naturalWidth > 0))
                        .map(img => img.currentSrc || img.src)};
}"""

# Each widget-view script is replaced by the HTML manager with a rendered
# .jupyter-widgets view in a sibling .widget-subarea; it must not be an empty box.
JS_WIDGETS = """() => [...document.querySelectorAll(
        'script[type="application/vnd.jupyter.widget-view+json"]')].map(script => {
    const area = script.parentElement;
    const views = [...area.querySelectorAll('.jupyter-widgets')];
    const box = area.getBoundingClientRect();
    // the snapshot: an output widget's image (.jp-OutputArea-output img in the HTML manager)
    const imgs = area.querySelectorAll('.jupyter-widgets img');
    return {rendered: views.length > 0, width: box.width, height: box.height,
            images: imgs.length};
})"""

JS_MATH = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    const maths = [...document.querySelectorAll('.math')];
    return {math: maths.length,
            untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60)),
            containers: document.querySelectorAll('mjx-container').length,
            visible: [...document.querySelectorAll('mjx-container')].filter(c => c.getClientRects().length > 0).length,
            errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80))};
}"""


@pytest.mark.browser
def test_pages_render_offline_in_chromium(built_book: Path):
    """Serve the built book on 127.0.0.1 and open every page in headless Chromium,
    with every non-local request blocked and counted. On each page: no console or
    page error, no failed request, no external request, every image loads, every
    internal link (and its #fragment) resolves, math is typeset, each widget shows
    its snapshot, and what the reader sees has no defect of page_checks.py: no
    Python repr (figure, dict, list) as output, no "-0", no clipped table, no typed
    chapter number that is not a link to the chapter the HTML gives that number.
    The search page finds a known word. Full-page screenshots and a summary
    (report.txt) go to test-artifacts/pages/."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}: apt-get install chromium")
    playwright = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed: pip install -r requirements-test.txt (or `make test`)",
    )

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    pages = book_pages(built_book)
    problems: list[str] = []
    rows: list[tuple[str, int, int, int, int, int]] = []  # page, external, images, links, widgets, problems

    with serve_locally(built_book) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        external: dict[str, list[str]] = {}
        current = {"page": ""}

        def block(route):
            external.setdefault(current["page"], []).append(route.request.url)
            route.abort()

        context.route(lambda url: not is_local(url), block)

        def visit(name: str, url: str):
            """Open one page; return (page, its problems list)."""
            current["page"] = name
            found: list[str] = []
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and found.append(
                f"console error: {m.text} ({m.location.get('url', '')})"))
            page.on("pageerror", lambda exc: found.append(f"page error: {exc}"))
            page.on("requestfailed", lambda r: is_local(r.url) and found.append(
                f"request failed: {r.url} ({r.failure})"))
            page.on("response", lambda r: r.status >= 400 and is_local(r.url) and found.append(
                f"HTTP {r.status}: {r.url}"))
            page.goto(url, wait_until="load")
            return page, found

        def close(name: str, page, found: list[str]) -> list[str]:
            """Close the page; return its problems, one line per missing file
            (a 404 also shows as a console error and an aborted request)."""
            page.close()
            missing = {line.split(": ", 1)[1] for line in found if line.startswith("HTTP ")}
            found = [line for line in found if not (
                line.startswith(("console error: Failed to load resource", "request failed: "))
                and any(url in line for url in missing))]
            blocked = external.get(name, [])
            if blocked:
                found.append(f"{len(blocked)} external request(s) blocked: {blocked[:5]}")
            return [f"{name}: {line}" for line in dict.fromkeys(found)]

        def check(page, html_file: Path, text: str, found: list[str]) -> tuple[int, int, int]:
            """Check one open page, appending problems to `found`; return the number
            of images, internal links checked and widgets."""
            if 'class="math' in text:
                # The first formula may be hidden (in a collapsed dropdown): wait for it
                # to exist, not to be visible; then every formula must be typeset.
                page.wait_for_selector("mjx-container", state="attached", timeout=WAIT_MS)
                math = page.evaluate(JS_MATH)
                if math["untypeset"]:
                    found.append(f"{len(math['untypeset'])} formula(s) not typeset, e.g. {math['untypeset'][:3]}")
                if math["errors"]:
                    found.append(f"MathJax errors: {math['errors'][:5]}")
                if math["containers"] and not math["visible"]:
                    found.append("no typeset formula is visible")

            widgets = []
            if "application/vnd.jupyter.widget-view+json" in text:
                page.wait_for_selector(".jupyter-widgets", state="attached", timeout=WAIT_MS)
                widgets = page.evaluate(JS_WIDGETS)
                for i, w in enumerate(widgets, 1):
                    if not w["rendered"]:
                        found.append(f"widget {i} was not rendered")
                    elif not (w["width"] > 0 and w["height"] > 0) and not w["images"]:
                        found.append(f"widget {i} is an empty box ({w['width']}x{w['height']}, no image)")

            page.wait_for_load_state("networkidle")
            images = page.evaluate(JS_BROKEN_IMAGES)
            found += [f"image does not load: {src}" for src in images["broken"]]

            # Internal links: the target file exists; a #fragment names an id there.
            links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
            checked = 0
            for href in sorted(set(links)):
                if not href.startswith(base):
                    continue
                checked += 1
                parsed = urlparse(href)
                target = target_file(built_book, parsed.path)
                if not target.is_file():
                    found.append(f"broken link: {href[len(base):]} (no {target.relative_to(built_book)})")
                    continue
                fragment = unquote(parsed.fragment)
                if not fragment:
                    continue
                if target == html_file:
                    exists = page.evaluate("id => document.getElementById(id) !== null "
                                           "|| document.getElementsByName(id).length > 0", fragment)
                else:
                    exists = fragment in ids_in(target)
                if not exists:
                    found.append(f"broken anchor: {href[len(base):]} (no id {fragment!r})")

            # What the reader sees: reprs, "-0", clipped tables, typed chapter numbers.
            found += page_checks.page_problems(page_checks.read_page(page))
            return images["count"], checked, len(widgets)

        for name in pages:
            html_file = built_book / name
            text = html_file.read_text(encoding="utf-8")
            page, found = visit(name, base + name)
            try:
                counts = check(page, html_file, text, found)
            except playwright.Error as exc:  # a timeout: list it, go on with the next page
                found.append(f"check stopped: {str(exc).splitlines()[0]}")
                counts = (0, 0, 0)
            shot = ARTIFACTS / (name.removesuffix(".html").replace("/", "__") + ".png")
            page.screenshot(path=str(shot), full_page=True)
            page_problems = close(name, page, found)
            problems += page_problems
            rows.append((name, len(external.get(name, [])), *counts, len(page_problems)))

        # Search: the search page finds a word the book uses.
        name = f"search.html?q={SEARCH_TERM}"
        page, found = visit(name, base + name)
        # Sphinx adds the hits one by one, then fills in the summary line.
        try:
            page.wait_for_function(
                "() => (document.querySelector('#search-results .search-summary') || {}).textContent",
                timeout=WAIT_MS)
        except playwright.TimeoutError:
            found.append(f"search for {SEARCH_TERM!r} did not finish in {WAIT_MS / 1000:.0f} s")
        hits = page.eval_on_selector_all(
            "#search-results ul.search > li",
            "items => items.map(li => li.querySelector('a')?.getAttribute('href') ?? '?')")
        n_results = len(hits)
        if n_results < 1:
            found.append(f"search for {SEARCH_TERM!r} found nothing")
        page.screenshot(path=str(ARTIFACTS / "search-results.png"), full_page=True)
        page_problems = close(name, page, found)
        problems += page_problems
        rows.append((name, len(external.get(name, [])), 0, 0, 0, len(page_problems)))
        browser.close()

    header = ("page", "external", "images", "links", "widgets", "problems")
    lines = [f"{header[0]:<46}" + "".join(f" {h:>8}" for h in header[1:])]
    lines += [f"{row[0]:<46}" + "".join(f" {v:>8}" for v in row[1:]) for row in rows]
    lines.append(f"search for {SEARCH_TERM!r}: {n_results} result(s): {' '.join(hits)}")
    if problems:
        lines += ["", "problems:"] + problems
    (ARTIFACTS / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert pages, "no HTML pages in the built book"
    if problems:
        pytest.fail(f"{len(problems)} problem(s) in the rendered book "
                    f"(see test-artifacts/pages/report.txt):\n" + "\n".join(problems), pytrace=False)


# --- Pictures: Korean without a system CJK font ---------------------------------------

PICTURE_ARTIFACTS = ROOT / "test-artifacts" / "pictures"
KOREAN_PAGES = ("chapters/glossary.html", "chapters/intro.html")

# Every distinct Hangul character on the page drawn with the font its element uses:
# real glyphs all differ; fallback boxes (tofu) are one and the same picture.
JS_HANGUL = r"""async () => {
    await document.fonts.ready;
    const hangul = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]/;
    const walker = document.createTreeWalker(document.querySelector('main') || document.body,
                                             NodeFilter.SHOW_TEXT);
    const chars = new Set(), elements = new Set();
    while (walker.nextNode()) {
        const text = walker.currentNode.textContent;
        if (!hangul.test(text)) continue;
        elements.add(walker.currentNode.parentElement);
        for (const c of text) if (hangul.test(c)) chars.add(c);
    }
    const glyph = (c, family) => {
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = 48;
        const ctx = canvas.getContext('2d');
        ctx.font = `40px ${family}`;
        ctx.textBaseline = 'top';
        ctx.fillText(c, 2, 2);
        return canvas.toDataURL();
    };
    const pictures = new Set();
    for (const el of elements) {
        const family = getComputedStyle(el).fontFamily;
        for (const c of el.textContent) if (hangul.test(c)) pictures.add(c + glyph(c, family));
    }
    const distinct = new Set([...pictures].map(p => p.slice(1)));
    const faces = [...document.fonts].filter(f => f.family.replace(/"/g, '') === 'Noto Sans KR');
    return {chars: chars.size, distinct: distinct.size, faces: faces.map(f => f.status)};
}"""


def hangul_fonts(page) -> list[tuple[int, dict]]:
    """For each element whose own text has Hangul: (Hangul characters in it, the
    platform fonts Chromium used for that text, from the DevTools protocol)."""
    marks = page.evaluate(r"""() => {
        const hangul = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]/g;
        const found = [];
        document.querySelectorAll('main *').forEach(el => {
            const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('');
            const n = (own.match(hangul) || []).length;
            if (n) { el.setAttribute('data-hangul-test', found.length); found.push(n); }
        });
        return found;
    }""")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    out = []
    for i, count in enumerate(marks):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f'[data-hangul-test="{i}"]'})["nodeId"]
        out.append((count, cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]))
    cdp.detach()
    return out


def korean_problems(page) -> list[str]:
    """Why the Korean on an open page is not drawn with the vendored Noto Sans KR."""
    problems = []
    seen = page.evaluate(JS_HANGUL)
    if not seen["chars"]:
        return ["no Hangul on the page"]
    if "loaded" not in seen["faces"]:
        problems.append(f"Noto Sans KR not loaded (font faces: {seen['faces']})")
    if seen["distinct"] < seen["chars"]:
        problems.append(f"{seen['chars']} Hangul characters drawn as {seen['distinct']} distinct picture(s): "
                        "fallback boxes")
    for count, fonts in hangul_fonts(page):
        from_noto = sum(f["glyphCount"] for f in fonts
                        if f["isCustomFont"] and f["familyName"].startswith("Noto Sans KR"))
        if from_noto < count:
            problems.append(f"{count - from_noto} of {count} Hangul glyphs not from the vendored font: {fonts}")
    return problems


def system_has_korean_font() -> bool:
    try:
        out = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return False
    return bool(out.strip())


def open_offline(browser, url: str, *, block=lambda url: False):
    """A new page at `url` with every non-local request (and any `block`ed one)
    aborted; returns (context, page, the list of aborted URLs)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    aborted: list[str] = []

    def abort(route):
        aborted.append(route.request.url)
        route.abort()

    context.route(lambda u: not (is_local(u) or u.startswith("file:")) or block(u), abort)
    page = context.new_page()
    page.goto(url, wait_until="load")
    return context, page, aborted


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def browser_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}: apt-get install chromium")
    return pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed: pip install -r requirements-test.txt (or `make test`)")


@pytest.mark.browser
def test_korean_renders_without_a_system_cjk_font(built_book: Path):
    """The glossary's and the introduction's Korean terms are drawn with the vendored
    Noto Sans KR: the font face loads, Chromium reports it for every Hangul glyph, and
    no two characters share a picture (fallback boxes would). With the font's file
    blocked the same check must fail (on a machine without a CJK font, also the
    pixel check), so it is not passing by accident."""
    playwright = browser_or_skip()
    PICTURE_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems, control = [], []
    with serve_locally(built_book) as base, playwright.sync_playwright() as p:
        browser = launch_chromium(p)
        for name in KOREAN_PAGES:
            context, page, aborted = open_offline(browser, base + name)
            problems += [f"{name}: {line}" for line in korean_problems(page)]
            problems += [f"{name}: external request blocked: {u}" for u in aborted]
            stem = name.removesuffix(".html").split("/")[-1]
            page.screenshot(path=str(PICTURE_ARTIFACTS / f"korean-{stem}.png"))
            context.close()
            # The control: the same page without the font file.
            context, page, _ = open_offline(browser, base + name, block=lambda u: "noto-sans-kr" in u)
            control.append((name, korean_problems(page)))
            page.screenshot(path=str(PICTURE_ARTIFACTS / f"korean-{stem}-without-font.png"))
            context.close()
        browser.close()
    assert not problems, "\n".join(problems)
    for name, found in control:
        assert any("not from the vendored font" in line for line in found), (name, found)
        if not system_has_korean_font():
            assert any("fallback boxes" in line for line in found), (name, found)


# --- Pictures: replays and diagrams, from disk, with the network blocked --------------

# page -> number of replays (mqlb.present.animation) on it
REPLAY_PAGES = {"chapters/04-load-balancers.html": 1, "chapters/07-when-a-load-balancer-fits.html": 1,
                "chapters/08-the-traffic-surge.html": 1}
# page -> the figure ids of the diagrams drawn by mqlb.present.diagrams
DIAGRAM_PAGES = {"chapters/04-load-balancers.html": ["fig-lb-cluster"],
                 "chapters/08-the-traffic-surge.html": ["fig-four-architectures"],
                 "chapters/09-decision-guide.html": ["fig-decision-flowchart"]}

JS_REPLAYS = """() => [...document.querySelectorAll('.mqlb-replay')].map((div, i) => {
    div.setAttribute('data-replay-test', i);
    const data = JSON.parse(div.dataset.replay);
    const slider = div.querySelector('input.anim-slider');
    const buttons = [...div.querySelectorAll('.anim-buttons button')];
    return {data, max: slider ? parseInt(slider.max) : -1,
            buttons: buttons.map(b => ({title: b.title, text: b.textContent.trim(),
                                        width: b.getBoundingClientRect().width}))};
})"""


def replay_state(page, i: int) -> dict:
    return page.evaluate("""i => {
        const div = document.querySelector(`[data-replay-test="${i}"]`);
        const img = div.querySelector('img');
        return {frame: parseInt(div.querySelector('input.anim-slider').value), src: img.src.length,
                head: img.src.slice(-200), width: img.naturalWidth};
    }""", i)


def replay_problems(page, name: str, shots: str) -> list[str]:
    """Step, play, scrub and jump through every replay on an open page; check that
    frames change and that the last frame's counts are the runs' summaries."""
    problems = []
    replays = page.evaluate(JS_REPLAYS)
    if len(replays) != REPLAY_PAGES[name]:
        return [f"{len(replays)} replay(s), expected {REPLAY_PAGES[name]}"]
    for i, rep in enumerate(replays):
        where = f"replay {i + 1}"
        data, n = rep["data"], len(rep["data"]["times"])
        if rep["max"] != n - 1:
            problems.append(f"{where}: slider goes to {rep['max']}, the replay has {n} frames")
        blank = [b["title"] for b in rep["buttons"] if not b["text"] or b["width"] < 5]
        if len(rep["buttons"]) < 9 or blank:
            problems.append(f"{where}: {len(rep['buttons'])} buttons, blank: {blank}")
        div = page.locator(f'[data-replay-test="{i}"]')
        page.wait_for_function("i => document.querySelector(`[data-replay-test=\"${i}\"] img`).naturalWidth > 0",
                               arg=i, timeout=WAIT_MS)
        first = replay_state(page, i)
        div.scroll_into_view_if_needed()
        div.screenshot(path=f"{shots}-{i + 1}-first.png")
        div.get_by_title("Next frame", exact=True).click()
        stepped = replay_state(page, i)
        if stepped["frame"] != 1 or stepped["head"] == first["head"]:
            problems.append(f"{where}: 'Next frame' did not show a new frame ({first['frame']} -> {stepped['frame']})")
        div.get_by_title("Increase speed", exact=True).click()
        div.get_by_title("Play", exact=True).click()
        page.wait_for_timeout(1200)
        div.get_by_title("Pause", exact=True).click()
        played = replay_state(page, i)
        if played["frame"] <= stepped["frame"]:
            problems.append(f"{where}: 'Play' did not advance (frame {played['frame']})")
        middle = n // 2
        page.evaluate("""([i, k]) => {
            const s = document.querySelector(`[data-replay-test="${i}"] input.anim-slider`);
            s.value = k; s.dispatchEvent(new Event('input'));
        }""", [i, middle])
        scrubbed = replay_state(page, i)
        if scrubbed["frame"] != middle:
            problems.append(f"{where}: the slider did not move the replay to frame {middle}")
        div.screenshot(path=f"{shots}-{i + 1}-middle.png")
        div.get_by_title("Last frame", exact=True).click()
        last = replay_state(page, i)
        div.screenshot(path=f"{shots}-{i + 1}-last.png")
        if last["frame"] != n - 1 or last["head"] == scrubbed["head"]:
            problems.append(f"{where}: 'Last frame' showed frame {last['frame']} of {n}")
        for run, counts in data["counts"].items():
            if counts[last["frame"]] != data["summaries"][run]:
                problems.append(f"{where}, {run}: counts at the last frame {counts[last['frame']]} "
                                f"differ from the run's summary {data['summaries'][run]}")
        size = div.evaluate("d => d.outerHTML.length")
        problems.append(f"info: {where}: {n} frames, {first['width']} px wide, {size / 1e6:.2f} MB of HTML")
    return problems


@pytest.mark.browser
def test_replays_and_diagrams_work_from_disk_offline(built_book: Path):
    """Open the chapters from disk (file://) with every request off the disk
    blocked. Each replay: its buttons show, 'Next frame', 'Play'/'Pause', the
    slider and 'Last frame' change the picture, and the counts at the last frame
    are the runs' summaries. Each diagram's image loads. Screenshots go to
    test-artifacts/pictures/, with the replays' sizes in report.txt."""
    playwright = browser_or_skip()
    PICTURE_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems, info = [], []
    with playwright.sync_playwright() as p:
        browser = launch_chromium(p)
        for name in sorted(set(REPLAY_PAGES) | set(DIAGRAM_PAGES)):
            context, page, aborted = open_offline(browser, (built_book / name).resolve().as_uri(),
                                                  block=lambda u: not u.startswith(("file:", "data:", "blob:")))
            errors = []
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            stem = name.removesuffix(".html").split("/")[-1]
            found = []
            if name in REPLAY_PAGES:
                found += replay_problems(page, name, str(PICTURE_ARTIFACTS / f"replay-{stem}"))
            for fig_id in DIAGRAM_PAGES.get(name, []):
                figure = page.locator(f"#{fig_id}")
                if figure.count() != 1:
                    found.append(f"diagram {fig_id}: not on the page")
                    continue
                figure.scroll_into_view_if_needed()
                widths = figure.evaluate("""async f => {
                    const imgs = [...f.querySelectorAll('img')];
                    await Promise.all(imgs.map(i => i.complete ? null : new Promise(done => {
                        i.addEventListener('load', done); i.addEventListener('error', done); })));
                    return imgs.map(i => i.naturalWidth);
                }""")
                if not any(w > 300 for w in widths):
                    found.append(f"diagram {fig_id}: no image of it loaded (image widths {widths})")
                figure.screenshot(path=str(PICTURE_ARTIFACTS / f"diagram-{fig_id}.png"))
            found += errors + [f"request blocked: {u}" for u in aborted]
            info += [f"{name}: {line[6:]}" for line in found if line.startswith("info: ")]
            problems += [f"{name}: {line}" for line in found if not line.startswith("info: ")]
            context.close()
        browser.close()
    (PICTURE_ARTIFACTS / "report.txt").write_text("\n".join(info + problems) + "\n", encoding="utf-8")
    assert not problems, "\n".join(problems)
