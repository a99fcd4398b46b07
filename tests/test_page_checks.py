"""The checks the browser test runs on every page of the book (page_checks.py)
must fail on pages with the defects they are for, and pass on clean ones.

The rules are tested on hand-made page data; the JavaScript that reads a page is
tested in Chromium on two small pages, one with every defect and one without.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest

import page_checks as pc


def node(text, output=False, link=None):
    return {"text": text, "output": output, "link": link}


# --- reprs --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "<Figure size 700x320 with 1 Axes>",
    "<IPython.core.display.Markdown object>",
    "<mqlb.result.Result object at 0x7f3a2c1d9e10>",
    "{'completed': 238, 'rejected': 0, 'timed_out': 0}",
    'resize {"completed": 596}',
    "{0: 12, 1: 3}",
    "['round_robin', 'random']",
    "['LB push']",
    "[0.5, 0.6, 0.7]",
    "array([1., 2.])",
    "np.float64(0.25)",
])
def test_a_python_repr_is_found(text):
    assert pc.repr_problems([node(text, output=True)]), text


@pytest.mark.parametrize("text", [
    "C1 holds with nuance (see the table).",
    "The servers of speeds (1, 1, 2, 4).",
    "[Kim22] and [HB13, Kle75]",
    "a dict in prose: {term} and {glue}",
    "p99 of 0.25 s, 12 % [of all jobs]",
    "every set-up: 48 jobs, 8 slots.",
])
def test_ordinary_text_is_not_a_repr(text):
    assert pc.repr_problems([node(text), node(text, output=True)]) == []


# --- negative zero ----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["-0", "wasted work -0 s", "−0 %", "-0.0", "(-0)", "-0.00 ms", "was -0."])
def test_a_negative_zero_is_found(text):
    assert pc.negative_zero_problems([node(text)]), text


@pytest.mark.parametrize("text", ["0", "-0.5", "−0.25", "-1", "2026-01-02", "ex-0", "10-0", "0.0", "C-05", "-05"])
def test_other_numbers_are_not_negative_zero(text):
    assert pc.negative_zero_problems([node(text)]) == [], text


# --- chapter numbers ----------------------------------------------------------------------

NAV = [{"href": "http://h/chapters/02-a.html", "text": "1. Why services fall over"},
       {"href": "http://h/chapters/02-a.html#exercises", "text": "1.8. Exercises"},
       {"href": "http://h/chapters/06-b.html", "text": "5. When a message queue fits"},
       {"href": "http://h/chapters/glossary.html", "text": "Glossary"}]


def test_numbering_comes_from_the_chapter_links_not_their_sections():
    assert pc.chapter_numbering(NAV) == {"/chapters/02-a.html": "1", "/chapters/06-b.html": "5"}


def test_a_typed_chapter_number_is_found():
    numbering = pc.chapter_numbering(NAV)
    assert pc.chapter_number_problems([node("as chapter 6 found, the hop is cheap")], numbering)
    assert pc.chapter_number_problems([node("see Chapter 5")], numbering)       # right number, but typed
    # a link whose text names another number than the HTML gives its target
    assert pc.chapter_number_problems([node("chapter 6", link="http://h/chapters/06-b.html")], numbering)


def test_a_chapter_number_from_the_build_passes():
    numbering = pc.chapter_numbering(NAV)
    assert pc.chapter_number_problems([node("Chapter 5", link="http://h/chapters/06-b.html#top")], numbering) == []
    assert pc.chapter_number_problems([node("as the previous chapter showed, and 6 servers")], numbering) == []


# --- tables -----------------------------------------------------------------------------------

def table(**change):
    clean = dict(caption="a table", width=600.0, scrollable=True, left=100.0, right=700.0,
                 article_left=100.0, article_right=800.0, cut_cells=[])
    return {**clean, **change}


def test_a_clean_table_passes():
    assert pc.table_problems([table(), table(scrollable=False)]) == []


@pytest.mark.parametrize("change", [
    dict(scrollable=False, width=900.0, right=1000.0),       # wider than the article, overflows it
    dict(scrollable=False, width=900.0, right=700.0),        # wider than the article, cut by an ancestor
    dict(scrollable=True, right=1000.0),                     # its scroll container sticks out
    dict(cut_cells=["a long cell text"]),                    # a cell's text is cut off
])
def test_a_clipped_table_is_found(change):
    assert pc.table_problems([table(**change)])


# --- the JavaScript, on small pages in Chromium ----------------------------------------------

CHROMIUM = "/usr/bin/chromium"
PAGE = """<!doctype html><html><head><style>
  body {{ margin: 0; }} article {{ width: 400px; margin-left: 50px; }}
  table {{ table-layout: fixed; }} .cut {{ width: 60px; overflow: hidden; white-space: nowrap; }}
  .wrap {{ overflow-x: auto; }}
</style></head><body>
<nav class="bd-sidebar"><a class="reference internal" href="/chapters/02-a.html">1. Why services fall over</a>
  <a class="reference internal" href="/chapters/06-b.html">5. When a message queue fits</a></nav>
<article class="bd-article">
  <p>{prose} <a href="/chapters/06-b.html">Chapter 5</a>.</p>
  <div class="cell"><div class="cell_input"><pre>x = {{'code': 1}}  # code is not read: -0</pre></div>
    <div class="cell_output"><pre>{output}</pre></div></div>
  <figure><div class="output text_plain highlight-myst-ansi"><div class="highlight"><pre>{glued}</pre></div></div>
    <figcaption>A glued figure.</figcaption></figure>
  <div class="{wrapper}"><table style="width: {table_width}px"><tr><td>{cell}</td>
    <td class="{cut}">a cell with a long text that does not fit</td></tr></table></div>
  <p><code>{{'inline': 'code is fine'}}</code>, math: <span class="math">-0</span></p>
</article></body></html>"""
CLEAN = dict(prose="As the previous chapter showed", output="238 completed, 0 rejected", glued="",
             cell="0", cut="", wrapper="wrap", table_width=300)
DEFECTS = {
    "a figure's repr": dict(output="<Figure size 700x320 with 1 Axes>"),
    "a figure's repr in the output": dict(glued="<Figure size 700x320 with 1 Axes>"),   # glued, in a <figure>
    "a dict's repr": dict(output="{'completed': 238, 'rejected': 0}"),
    "a negative zero": dict(cell="-0"),
    "a typed chapter number": dict(prose="As chapter 6 showed"),
    "is clipped": dict(wrapper="", table_width=900),
    "cuts off the text": dict(cut="cut"),
}


@pytest.fixture(scope="module")
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        yield page
        browser.close()


def shown(page, **change) -> list[str]:
    html = PAGE.format(**{key: escape(str(value)) for key, value in {**CLEAN, **change}.items()})
    page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto("http://127.0.0.1:9/chapters/03-c.html")
    page.unroute("http://127.0.0.1:9/**")
    return pc.page_problems(pc.read_page(page))


@pytest.mark.browser
def test_the_clean_page_passes_in_chromium(browser_page):
    assert shown(browser_page) == []


@pytest.mark.browser
@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_found_in_chromium(browser_page, defect):
    problems = shown(browser_page, **DEFECTS[defect])
    assert len(problems) == 1 and defect in problems[0], problems
