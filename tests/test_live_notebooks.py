"""The explorers work live: a real kernel behind a real browser.

The static HTML only shows a snapshot of each widget; this test checks the
widgets a reader gets with a running kernel. Every chapter that builds an
explorer is converted to ``.ipynb`` (jupytext; Voila refuses ``.md``) into a
temporary folder, one Voila server on 127.0.0.1 serves them all, and headless
Debian Chromium (Playwright) opens each chapter, waits for the explorer, moves
a slider with the keyboard and picks another option of a menu, and checks
that each move redraws the figure (the ``img`` in the output area changes)
without an error message or a traceback. Every request to a host other than
127.0.0.1 is blocked and counted; there must be none. A screenshot of each
explorer after the moves goes to ``test-artifacts/``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the test
requirements (``pip install -r requirements-test.txt``: Playwright and Voila);
without them the test skips, and in CI (``MQLB_NO_SKIP=1``) fails.
"""

from __future__ import annotations

import time

import pytest
from live_server import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ERROR_BOX, EXPLORER, FIGURE, HOW_TO_ENABLE, ServerError,
                         block_outside_hosts, explorer_chapters, missing, voila)

from mqlb.present.explorer import ERROR_PREFIX

PAGE_TIMEOUT_MS = 120_000  # the kernel runs the whole chapter before the widget shows
REDRAW_TIMEOUT_MS = 30_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    """One Voila server for all chapters; yields its base URL and log and stops it afterwards."""
    absent = missing()
    if absent:
        pytest.skip(f"{absent}; to run the live notebook test, {HOW_TO_ENABLE}")
    try:
        with voila(tmp_path_factory.mktemp("live-notebooks")) as served:
            yield served
    except ServerError as error:
        pytest.fail(str(error))


class Chapters:
    """Chapter pages in one headless Chromium; every request to another host is
    blocked and counted.

    Opening a chapter only starts loading it: Voila runs the whole chapter in a
    kernel before the widgets appear, so the test of one chapter opens the next
    one first and the two kernels overlap.
    """

    def __init__(self, context, base_url: str):
        self.context = context
        self.base_url = base_url
        self.pages: dict = {}
        self.js_errors: list[str] = []

    def open(self, chapter: str):
        if chapter not in self.pages:
            page = self.context.new_page()
            page.on("pageerror", lambda exc, chapter=chapter: self.js_errors.append(f"{chapter}: {exc}"))
            page.goto(f"{self.base_url}/voila/render/{chapter}.ipynb", wait_until="commit",
                      timeout=PAGE_TIMEOUT_MS)
            self.pages[chapter] = page
        return self.pages[chapter]

    def close(self, chapter: str) -> None:
        page = self.pages.pop(chapter, None)
        if page is not None:
            page.close()


@pytest.fixture(scope="module")
def chapters(voila_url):
    from playwright.sync_api import sync_playwright

    url, _log = voila_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})

            blocked = block_outside_hosts(context)
            pages = Chapters(context, url)
            pages.blocked = blocked
            yield pages
        finally:
            browser.close()


def _figure_src(explorer) -> str | None:
    image = explorer.locator(FIGURE)
    return image.first.get_attribute("src") if image.count() else None


def _wait_for_redraw(page, explorer, old_src: str | None, what: str) -> tuple[str, str]:
    """Wait until the explorer shows a new figure or its one-line rejection message.

    Returns ``("figure", src)`` or ``("message", text)``.
    """
    try:
        page.wait_for_function(
            """([box, old, figure, error]) => {
                const message = box.querySelector(error);
                if (message && !message.dataset.seen) return true;
                const img = box.querySelector(figure);
                return img !== null && img.getAttribute('src') !== old;
            }""",
            arg=[explorer.element_handle(), old_src, FIGURE, ERROR_BOX],
            timeout=REDRAW_TIMEOUT_MS,
        )
    except Exception as error:  # playwright's TimeoutError
        raise AssertionError(f"the figure did not change within {REDRAW_TIMEOUT_MS / 1000:.0f} s "
                             f"after {what}") from error
    if explorer.locator(ERROR_BOX).count():
        box = explorer.locator(ERROR_BOX).first
        message = box.inner_text()
        box.evaluate("m => { m.dataset.seen = '1'; }")  # a later wait needs a new message
        assert message.startswith(ERROR_PREFIX) and "Traceback" not in message, (
            f"after {what} the explorer shows an unexpected message: {message}")
        return "message", message
    return "figure", _figure_src(explorer)


def _move_slider(page, explorer, old_src):
    """Move the first slider one step with the keyboard; if the model rejects the
    new value (the explorer's one-line message), step the other way instead."""
    handle = explorer.locator(".noUi-handle").first
    at_top = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    keys = ["ArrowLeft", "ArrowRight"] if at_top else ["ArrowRight", "ArrowLeft"]
    readout = explorer.locator(".widget-readout").first
    before = readout.inner_text() if readout.count() else None
    handle.focus()
    page.keyboard.press(keys[0])
    kind, shown = _wait_for_redraw(page, explorer, old_src, f"pressing {keys[0]} on the first slider")
    if kind == "message":
        handle.focus()
        page.keyboard.press(keys[1])
        page.keyboard.press(keys[1])
        kind, shown = _wait_for_redraw(page, explorer, old_src, f"pressing {keys[1]} twice")
    assert kind == "figure", f"moving the first slider either way gives no figure: {shown}"
    if before is not None:
        assert readout.inner_text() != before, "the slider's readout did not change"
    return shown


def _pick_option(page, explorer, old_src):
    """Choose a neighbouring option of the first menu (the next one, else the
    previous one if the model rejects the next)."""
    menu = explorer.locator("select").first
    options = menu.locator("option").all_inner_texts()
    current = menu.evaluate("m => m.selectedIndex")
    candidates = [i for i in (current + 1, current - 1) if 0 <= i < len(options)]
    shown = "no other option"
    for choice in candidates:
        menu.select_option(index=choice)
        kind, shown = _wait_for_redraw(page, explorer, old_src, f"choosing {options[choice]!r} in the first menu")
        if kind == "figure":
            return shown
    raise AssertionError(f"no neighbouring option of the first menu gives a figure: {shown}")


def _error_outputs(page) -> list[str]:
    """Tracebacks and error outputs anywhere on the page."""
    found = page.locator(
        "[data-mime-type='application/vnd.jupyter.error'], .jp-OutputArea-output.jp-mod-error, "
        ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    body = page.locator("body").inner_text()
    if "Traceback (most recent call last)" in body or "There was an error when executing cell" in body:
        found.append(body[body.find("Traceback"):][:2000] if "Traceback" in body else body[:2000])
    return [text for text in found if "Traceback" in text or "Error" in text]


CHAPTER_NAMES = [p.stem for p in explorer_chapters()]


@pytest.mark.parametrize("chapter", CHAPTER_NAMES)
def test_explorer_redraws_in_a_live_kernel(chapter, voila_url, chapters):
    _url, log = voila_url
    started = time.monotonic()
    page = chapters.open(chapter)
    later = CHAPTER_NAMES[CHAPTER_NAMES.index(chapter) + 1:]
    if later:
        chapters.open(later[0])  # its kernel runs while this chapter is tested
    try:
        page.wait_for_selector(f"{EXPLORER} {FIGURE}", timeout=PAGE_TIMEOUT_MS)
        explorers = page.locator(EXPLORER)
        for index in range(explorers.count()):
            explorer = explorers.nth(index)
            explorer.scroll_into_view_if_needed()
            src = _figure_src(explorer)
            assert src and src.startswith("data:image/png"), f"explorer {index + 1} shows no PNG figure"
            moved = False
            if explorer.locator(".noUi-handle").count():
                src = _move_slider(page, explorer, src)
                moved = True
            if explorer.locator("select").count():
                src = _pick_option(page, explorer, src)
                moved = True
            assert moved, f"explorer {index + 1} has neither a slider nor a menu to move"
            ARTIFACTS.mkdir(exist_ok=True)
            explorer.screenshot(path=str(ARTIFACTS / f"live-{chapter}-{index + 1}.png"))
        errors = _error_outputs(page)
    finally:
        chapters.close(chapter)

    assert not errors, "error output on the page:\n" + "\n---\n".join(errors)
    assert not chapters.blocked, f"requests to outside hosts: {chapters.blocked}"
    assert not [e for e in chapters.js_errors if e.startswith(f"{chapter}:")], (
        f"JavaScript errors: {chapters.js_errors}")
    server_log = log.read_text(errors="replace")
    assert "Traceback (most recent call last)" not in server_log, (
        f"the Voila server or a kernel logged a traceback:\n{server_log[-4000:]}")
    print(f"{chapter}: {time.monotonic() - started:.1f} s")
