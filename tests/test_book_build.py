"""The book build is a test: build the whole book from scratch, every chapter
executed, warnings as errors, then check the HTML is complete and self-contained.

The build runs once per test session (module fixture) into a temporary folder,
through the same script as `make book` (scripts/build_book.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

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


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Build the book into a fresh temporary folder; return its html folder."""
    if not (ROOT / "book_assets" / "vendor" / ".stamp").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "vendor_assets.sh")], check=True)
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py"), str(out)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        reports = "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')}"
            for log in sorted((out / "_build" / "html" / "reports").glob("**/*.log"))
        )
        pytest.fail(
            "book build failed (warnings are errors)\n"
            f"--- stdout (tail)\n{result.stdout[-6000:]}\n--- stderr (tail)\n{result.stderr[-6000:]}\n{reports}"
        )
    return out / "_build" / "html"


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


@pytest.mark.browser
def test_pages_render_offline_in_chromium(built_book: Path):
    """Open every page in headless Chromium with all non-local requests blocked:
    none may be attempted, no JavaScript error may occur, math is typeset and
    widget snapshots are drawn."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")

    blocked: list[str] = []
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()

        def route(route):
            if route.request.url.startswith(("file:", "data:", "blob:")):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        for entry in toc_entries():
            html_file = built_book / f"{entry}.html"
            page.goto(html_file.as_uri(), wait_until="load")
            text = html_file.read_text(encoding="utf-8")
            if 'class="math' in text:
                page.wait_for_selector("mjx-container", timeout=15_000)
            if "application/vnd.jupyter.widget-state+json" in text:
                page.wait_for_selector(".jupyter-widgets", timeout=15_000)
        browser.close()
    assert not blocked, f"requests to outside hosts: {blocked}"
    assert not errors, f"JavaScript errors: {errors}"
