"""The chapters render their MyST in JupyterLab (`make notebooks`).

A JupyterLab server on 127.0.0.1 with the lab settings `make notebooks` installs
(scripts/jupyterlab-overrides.json: `.md` opens as a notebook through jupytext,
no news) opens a chapter in headless Debian Chromium (Playwright). The
jupyterlab-myst extension must render an exercise as an exercise (not as
`:::{exercise}` text) and its solution folded, and citations as citations;
the news question must be off. Every request to another host is blocked and
counted; there must be none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from live_server import (CHROMIUM, CHROMIUM_ARGS, ROOT, ServerError, _free_port, _stop, block_outside_hosts,
                         wait_until_serving)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAPTER = "02-why-services-fall-over.md"     # three exercises, each with a folded solution
OVERRIDES = ROOT / "scripts" / "jupyterlab-overrides.json"
START_S = 60


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    for module in ("playwright.sync_api", "jupyterlab", "jupyterlab_myst", "jupytext"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -r requirements-test.txt)"
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of one chapter, with the project's lab settings."""
    absent = _missing()
    if absent:
        pytest.skip(absent)
    folder = tmp_path_factory.mktemp("jupyterlab")
    (folder / "root").mkdir()
    shutil.copy(ROOT / "chapters" / CHAPTER, folder / "root" / CHAPTER)
    (folder / "settings").mkdir()
    shutil.copy(OVERRIDES, folder / "settings" / "overrides.json")
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(folder / "config"), JUPYTER_RUNTIME_DIR=str(folder / "runtime"))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
               f"--ServerApp.root_dir={folder / 'root'}", f"--LabApp.app_settings_dir={folder / 'settings'}"]
    log = folder / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_serving("JupyterLab", process, url + "/lab", log, START_S)
        except ServerError as error:
            pytest.fail(str(error))
        yield url
    finally:
        _stop(process)


def test_the_news_question_is_off(lab):
    """JupyterLab's own defaults are "none" (ask the reader) and True; the
    project's overrides replace the defaults the server hands out."""
    with urllib.request.urlopen(lab + "/lab/api/settings/@jupyterlab/apputils-extension:notification") as response:
        answer = json.load(response)
    effective = {key: answer["settings"].get(key, answer["schema"]["properties"][key].get("default"))
                 for key in ("fetchNews", "checkForUpdates")}
    assert effective == {"fetchNews": "false", "checkForUpdates": False}, effective


def test_a_chapter_renders_exercises_and_folded_solutions(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            blocked = block_outside_hosts(context)
            page = context.new_page()
            page.goto(f"{lab}/lab/tree/{CHAPTER}")
            page.wait_for_selector(".jp-Notebook .myst", timeout=60_000)   # a notebook, MyST-rendered
            # JupyterLab draws only the cells near the view: scroll down to the exercises.
            for _ in range(100):
                found = page.evaluate("""() => {
                    const panel = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
                    panel.scrollTop += 1200;
                    return document.querySelectorAll('details.myst-exercise').length; }""")
                if page.locator("aside.myst-exercise").count() and found:
                    break
                time.sleep(0.2)
            exercises = page.evaluate("""() => [...document.querySelectorAll('aside.myst-exercise')]
                .map(e => e.querySelector('.myst-exercise-title').textContent)""")
            solutions = page.evaluate("""() => [...document.querySelectorAll('details.myst-exercise')]
                .map(e => [e.querySelector('summary').textContent, e.open])
                .filter(([title]) => title.startsWith('Solution'))""")
            raw = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownCell .myst')]
                .filter(e => e.textContent.includes(':::{exercise}') || e.textContent.includes('{cite}')).length""")
            cites = page.locator(".myst .cite-group, .myst cite").count()
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        finally:
            browser.close()
    assert any(title.startswith("Exercise") for title in exercises), exercises
    assert solutions and all(title.startswith("Solution to Exercise") for title, _ in solutions), solutions
    assert not any(is_open for _, is_open in solutions), "a solution is shown unfolded"
    assert raw == 0, "MyST markup shown as text"
    assert cites > 0
    assert blocked == [], blocked
