"""Shared pytest set-up for the whole test run.

Two things live here:

1. Chapter notebooks.  The chapters are MyST Markdown text notebooks
   (``chapters/*.md`` with a jupytext header and a ``kernelspec``).  nbval only
   collects ``.ipynb`` files, so a small plugin reads each chapter through
   jupytext and hands the notebook to nbval, which runs every code cell in a fresh
   kernel.  Outputs are not compared (``--nbval-lax`` in pyproject.toml); each
   claim is checked by an ``assert`` in a hidden cell, and a failing assert fails
   that cell's test.  Plain Markdown pages (no ``kernelspec``) are not notebooks and
   are not collected.

2. No silent skips in CI.  With ``MQLB_NO_SKIP=1`` (set by ``.ci/run``) a test that
   skips -- for a missing service, browser or module -- fails instead, so CI cannot
   pass by running less than it should.  Cells marked ``NBVAL_SKIP`` are deliberate
   and stay skipped.

3. Reproducible property tests in CI.  With ``CI`` set, hypothesis draws the same
   examples on every run (``derandomize``), so a CI verdict never depends on luck;
   on a developer's machine it explores new examples each run.

4. The live explorers.  A shell that exported ``MQLB_STATIC_EXPLORERS`` (the
   switch to the explorers' static edition for a book build) would turn every
   explorer, notebook and live server in the run static; it is removed here, and
   the tests that need the static edition set it themselves.

The plugin is registered globally from ``pytest_configure`` because a conftest's
own hooks only apply to files below its folder, and the chapters are not below
``tests/``.  Run ``pytest`` from the repository root (``make test`` does).
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.pop("MQLB_STATIC_EXPLORERS", None)

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAPTERS_DIR = REPO_ROOT / "chapters"


def _no_skip() -> bool:
    return os.environ.get("MQLB_NO_SKIP", "") not in ("", "0", "false", "no")


def read_chapter_notebook(path: Path):
    """Return the chapter at ``path`` as an nbformat notebook, or None if it is a
    plain Markdown page (no ``kernelspec`` in its jupytext header)."""
    import jupytext

    text = path.read_text(encoding="utf-8")
    if not text.startswith("---") or "kernelspec:" not in text.split("\n---", 2)[0]:
        return None
    nb = jupytext.reads(text, fmt="md:myst")
    if "kernelspec" not in nb.metadata:
        return None
    return nb


def _is_chapter(file_path: Path) -> bool:
    return file_path.suffix == ".md" and file_path.parent.resolve() == CHAPTERS_DIR


class _ChapterNotebooks:
    """pytest plugin: collect MyST chapter notebooks as nbval notebook files."""

    def pytest_collect_file(self, file_path: Path, parent):
        if not _is_chapter(file_path):
            return None
        opt = parent.config.option
        if not (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
            return None
        nb = read_chapter_notebook(file_path)
        if nb is None:
            return None
        return MystNotebookFile.from_parent(parent, path=file_path)


def _make_notebook_file_class():
    from nbval import plugin as nbval_plugin

    class MystNotebookFile(nbval_plugin.IPyNbFile):
        """An nbval notebook read from a MyST text notebook through jupytext."""

        def collect(self):
            nb = read_chapter_notebook(Path(self.path))
            # nbval's collect() reads the file with nbformat; give it the jupytext
            # notebook instead.  The items are built eagerly inside the patch.
            fake_nbformat = types.SimpleNamespace(read=lambda *_args, **_kw: nb)
            with mock.patch.object(nbval_plugin, "nbformat", fake_nbformat):
                return list(super().collect())

    return MystNotebookFile


MystNotebookFile = None


def pytest_configure(config):
    global MystNotebookFile
    if MystNotebookFile is None:
        MystNotebookFile = _make_notebook_file_class()
    if not config.pluginmanager.has_plugin("mqlb-chapter-notebooks"):
        config.pluginmanager.register(_ChapterNotebooks(), "mqlb-chapter-notebooks")
    if _no_skip() and not config.pluginmanager.has_plugin("mqlb-no-skip"):
        config.pluginmanager.register(_NoSkip(), "mqlb-no-skip")
        # A skipped module becomes a collection error; run the other tests anyway.
        config.option.continue_on_collection_errors = True


def _deliberate_nbval_skip(item) -> bool:
    options = getattr(item, "options", None)
    return bool(options is not None and options.get("skip"))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


class _NoSkip:
    """With MQLB_NO_SKIP=1, turn every skip (test or collection) into a failure."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.skipped and not hasattr(report, "wasxfail") and not _deliberate_nbval_skip(item):
            report.outcome = "failed"
            report.longrepr = (
                f"MQLB_NO_SKIP=1: this test would have been skipped ({_skip_reason(report)}); "
                "in CI a missing service, browser or module is a failure."
            )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector):
        outcome = yield
        report = outcome.get_result()
        if report.skipped:
            report.outcome = "failed"
            report.longrepr = (
                f"MQLB_NO_SKIP=1: collecting {collector.nodeid} was skipped "
                f"({_skip_reason(report)}); in CI that is a failure."
            )


# --- The built book, shared by the tests that read it ------------------------------


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the book once per test session into a fresh temporary folder, through
    the same script as `make book`; return its html folder.  With
    ``MQLB_BOOK_HTML=path/to/_build/html`` the tests read that book instead."""
    import subprocess
    import sys

    given = os.environ.get("MQLB_BOOK_HTML")
    if given:
        return Path(given).resolve()
    if not (REPO_ROOT / "book_assets" / "vendor" / ".stamp").exists():
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "vendor_assets.sh")], check=True)
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_book.py"), str(out)],
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
