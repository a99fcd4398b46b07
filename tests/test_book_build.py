"""The book build is a test: build the whole book from scratch, every chapter
executed, warnings as errors, then check the HTML is complete and self-contained.

The build runs once per test session (the ``built_book`` fixture in conftest.py)
into a temporary folder, through the same script as `make book` (scripts/build_book.py).  The browser test
serves that folder on 127.0.0.1 and opens every page in Debian's Chromium through
Playwright; its screenshots and report.txt go to test-artifacts/pages/.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

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


# --- The rendered book in a real browser -------------------------------------------

ARTIFACTS = ROOT / "test-artifacts" / "pages"
SEARCH_TERM = "prefetch"  # a word the book uses (chapter 3, RabbitMQ's prefetch count)
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
    its snapshot. The search page finds a known word. Full-page screenshots and a
    summary (report.txt) go to test-artifacts/pages/."""
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
