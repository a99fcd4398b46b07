"""Checks of what a reader sees on a rendered page of the book.

The browser test of the built book (test_book_build.py) runs these on every page;
test_page_checks.py shows that each of them fails on a page with the defect it is
for.  Each check is a pure function of data that a small piece of JavaScript reads
from the open page (``read_page``), so the rules can be tested without a browser
and the JavaScript on a tiny page without building the book.

What counts as a defect:

- a Python repr as output: ``<Figure size 700x320 with 1 Axes>``, ``<... object at
  0x...>``, a dict ``{'a': 1}``, a list ``['a', 'b']`` or ``[1, 2]``, ``array([...])``,
  ``np.float64(...)``;
- a negative zero as a number token (``-0``, ``-0.0``, ``−0 %``), in prose, glued
  values and tables;
- a clipped table: wider than the page's article without a scroll container, a
  scroll container that itself sticks out of the article, or a cell whose text is
  cut off;
- a typed chapter number (``chapter 6``) that is not a link to the page the HTML
  numbers 6: chapter numbers must come from the build (cross-references).

Code (the cells' source, code blocks, inline code) and typeset math are not read.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

# --- What the page shows ----------------------------------------------------------

# Every visible-text node of the article that is not code or math: its text,
# whether it is an output (of a cell, or glued into a figure or the text), and the
# link it sits in (absolute URL or null).
# The navigation's chapter links give the HTML numbering ("5. When a message ...").
JS_READ_PAGE = """() => {
    const root = document.querySelector('article.bd-article') || document.querySelector('article')
                 || document.body || document.documentElement;
    const skip = el => {
        if (!el || el.closest('script, style, .math, mjx-container, .cell_input, a.headerlink')) return true;
        if (el.closest('.cell_output, div.output')) return false;   // a cell's or a glued output
        return el.closest('pre, code, div[class*="highlight"]') !== null;
    };
    const nodes = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, el = node.parentElement;
        if (!node.textContent.trim() || skip(el)) continue;
        const link = el.closest('a[href]');
        nodes.push({text: node.textContent, output: el.closest('.cell_output, div.output') !== null,
                    link: link ? link.href : null});
    }
    const chapters = [...document.querySelectorAll('nav a.reference.internal, .bd-sidebar a.reference')]
        .map(a => ({href: a.href, text: a.textContent.trim()}));
    const article = root.getBoundingClientRect();
    const tables = [...root.querySelectorAll('table')].map(t => {
        let scroller = null;
        for (let e = t.parentElement; e && e !== root; e = e.parentElement) {
            const ox = getComputedStyle(e).overflowX;
            if (ox === 'auto' || ox === 'scroll') { scroller = e; break; }
        }
        const box = (scroller || t).getBoundingClientRect();
        const cut = [...t.querySelectorAll('th, td')].filter(c => {
            const s = getComputedStyle(c);
            return s.overflowX !== 'visible' && c.scrollWidth > c.clientWidth + 1
                   || s.textOverflow === 'ellipsis' && c.scrollWidth > c.clientWidth + 1;
        }).map(c => c.textContent.trim().slice(0, 40));
        return {caption: t.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60),
                width: t.getBoundingClientRect().width, scrollable: scroller !== null,
                left: box.left, right: box.right, article_left: article.left,
                article_right: article.right, cut_cells: cut};
    });
    return {nodes, chapters, tables};
}"""


def read_page(page) -> dict:
    """What the open Playwright page shows: text nodes, chapter links, tables."""
    return page.evaluate(JS_READ_PAGE)


# --- Python reprs -------------------------------------------------------------------

_QUOTED = r"""(?:'[^'\n]*'|"[^"\n]*")"""
_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
REPR_PATTERNS = {
    "a figure's repr": re.compile(r"<(?:[\w.]+\.)?Figure size \d+(?:\.\d+)?x\d+(?:\.\d+)? with \d+ Axes>"),
    "an object's repr": re.compile(r"<[\w.]+ object(?: at 0x[0-9a-fA-F]+)?>"),
    "a dict's repr": re.compile(rf"\{{\s*(?:{_QUOTED}|{_NUMBER})\s*:\s*\S"),
    "a list's repr": re.compile(rf"\[\s*(?:{_QUOTED}|{_NUMBER})\s*(?:,\s*(?:{_QUOTED}|{_NUMBER})\s*)+,?\s*\]"
                                rf"|\[\s*{_QUOTED}\s*\]"),
    "a NumPy repr": re.compile(r"\barray\(\[|\bnp\.(?:float|int|bool|str)_?\d*\("),
}


def repr_problems(nodes: list[dict]) -> list[str]:
    """Python reprs shown to the reader (a figure, an object, a dict, a list)."""
    found = []
    for node in nodes:
        text = node["text"]
        for what, pattern in REPR_PATTERNS.items():
            m = pattern.search(text)
            if m:
                found.append(f"{what} in the {'output' if node['output'] else 'text'}: {_excerpt(text, m)}")
    return found


# --- Negative zero --------------------------------------------------------------------

# A minus (hyphen-minus or U+2212) and a zero, as a number token of its own:
# not "-0.5", not a date "2026-01", not a label "ex-0".
NEGATIVE_ZERO = re.compile(r"(?<![\w.])[-\u2212]0+(?:\.0+)?(?!\w|\.\d)")


def negative_zero_problems(nodes: list[dict]) -> list[str]:
    """Numbers printed as "-0" (a value rounded from a tiny negative number)."""
    return [f"a negative zero in the {'output' if n['output'] else 'text'}: {_excerpt(n['text'], m)}"
            for n in nodes for m in NEGATIVE_ZERO.finditer(n["text"])]


# --- Chapter numbers --------------------------------------------------------------------

CHAPTER_NUMBER = re.compile(r"\b(?:[Cc]hapters?|[Cc]h\.)\s*(\d+)\b")
_NAV_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.\s")


def _page_key(url: str) -> str:
    return urlparse(url).path.rstrip("/")


def chapter_numbering(chapter_links: list[dict]) -> dict[str, str]:
    """The HTML numbering from the navigation: page path -> number ("5")."""
    numbering = {}
    for link in chapter_links:
        m = _NAV_NUMBER.match(link["text"])
        if m and not urlparse(link["href"]).fragment:       # a chapter, not one of its sections
            numbering.setdefault(_page_key(link["href"]), m.group(1))
    return numbering


def chapter_number_problems(nodes: list[dict], numbering: dict[str, str]) -> list[str]:
    """A chapter number in the text must be a link to the page with that number."""
    found = []
    for node in nodes:
        for m in CHAPTER_NUMBER.finditer(node["text"]):
            number = m.group(1)
            if node["link"] is None:
                found.append(f"a typed chapter number (use a cross-reference): {_excerpt(node['text'], m)}")
            elif numbering.get(_page_key(node["link"])) != number:
                found.append(f"chapter {number} links to {_page_key(node['link'])}, numbered "
                             f"{numbering.get(_page_key(node['link']), 'nothing')}: {_excerpt(node['text'], m)}")
    return found


# --- Tables -----------------------------------------------------------------------------

def table_problems(tables: list[dict], tolerance_px: float = 1.0) -> list[str]:
    """Tables wider than the article without a scroll container, scroll containers
    that stick out of the article, and cells whose text is cut off."""
    found = []
    for i, t in enumerate(tables, 1):
        name = f"table {i} ({t['caption']!r})"
        sticks_out = (t["right"] > t["article_right"] + tolerance_px
                      or t["left"] < t["article_left"] - tolerance_px)
        if sticks_out:
            what = "its scroll container" if t["scrollable"] else "it"
            found.append(f"{name} is clipped: {what} spans {t['left']:.0f}-{t['right']:.0f} px, "
                         f"the article {t['article_left']:.0f}-{t['article_right']:.0f} px")
        elif not t["scrollable"] and t["width"] > t["article_right"] - t["article_left"] + tolerance_px:
            found.append(f"{name} is {t['width']:.0f} px wide in an article of "
                         f"{t['article_right'] - t['article_left']:.0f} px, with no scroll container")
        if t["cut_cells"]:
            found.append(f"{name} cuts off the text of {len(t['cut_cells'])} cell(s): {t['cut_cells'][:3]}")
    return found


# --- All together -------------------------------------------------------------------------

def page_problems(shown: dict, numbering: dict[str, str] | None = None) -> list[str]:
    """Every defect of one page, from what ``read_page`` returned.  ``numbering``
    defaults to the numbering in the page's own navigation."""
    if numbering is None:
        numbering = chapter_numbering(shown["chapters"])
    return (repr_problems(shown["nodes"]) + negative_zero_problems(shown["nodes"])
            + chapter_number_problems(shown["nodes"], numbering) + table_problems(shown["tables"]))


def _excerpt(text: str, m: re.Match, width: int = 40) -> str:
    start, end = max(0, m.start() - width), min(len(text), m.end() + width)
    return " ".join(text[start:end].split())
