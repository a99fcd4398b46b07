"""A Voila server on 127.0.0.1 serving the chapters that build explorers.

Shared by the live-notebook test (``test_live_notebooks.py``) and the live
explorer benchmark (``bench/bench_explorers_live.py``): both need the chapters
as ``.ipynb`` (Voila refuses ``.md``), a page template that asks nothing of an
outside host, and a server whose kernels run this Python.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
EXPLORER = ".mqlb-explorer"  # mqlb.present.explorer.CSS_CLASS
FIGURE = ".widget-output img"  # Voila's Output widget; the static HTML's is .jupyter-widgets-output-area
ERROR_BOX = ".mqlb-explorer-error"
TEMPLATE = "mqlb-offline"
SERVER_START_S = 60
# JupyterLab extensions built for a newer JupyterLab than Voila's front end
# break its start-up (jupytext's) or are of no use here (Voila's lab preview).
DENIED_EXTENSIONS = ["jupyterlab-jupytext", "@voila-dashboards/jupyterlab-preview"]
HOW_TO_ENABLE = (
    "install Debian chromium (apt-get install chromium) and the test requirements "
    "(pip install -r requirements-test.txt: playwright, voila)"
)


class ServerError(RuntimeError):
    """Voila could not be started."""


def explorer_chapters() -> list[Path]:
    return sorted(p for p in CHAPTERS.glob("*.md") if "explorer(" in p.read_text(encoding="utf-8"))


def missing() -> str | None:
    """What is missing to run a browser against live chapters, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    try:
        import voila  # noqa: F401
    except ImportError:
        return "voila is not installed"
    return None


def offline_template(jupyter_path: Path) -> Path:
    """A copy of Voila's ``lab`` page template without its two Font Awesome
    stylesheet links to a CDN (Voila bundles the fonts anyway), so that the page
    asks nothing of an outside host. Returns the folder to add to JUPYTER_PATH."""
    from jupyter_core.paths import jupyter_path as search_path

    for root in search_path("voila", "templates", "lab"):
        source = Path(root) / "index.html.j2"
        if source.is_file():
            break
    else:
        raise ServerError("Voila's lab template (voila/templates/lab/index.html.j2) was not found")
    target = jupyter_path / "voila" / "templates" / TEMPLATE
    target.mkdir(parents=True)
    (target / "conf.json").write_text('{"base_template": "lab"}\n', encoding="utf-8")
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if "cdn.jsdelivr.net" not in line]
    if len(lines) - len(kept) != 2:
        raise ServerError("Voila's lab template changed: check its CDN links")
    (target / "index.html.j2").write_text("".join(kept), encoding="utf-8")
    return jupyter_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop the server we started: SIGTERM (it shuts its kernels down), then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def voila(folder: Path, chapters: list[Path] | None = None, last_cell: str | None = None):
    """Serve ``chapters`` (default: every chapter with an explorer) from
    ``folder``, each with ``last_cell`` (code) appended if given; yields
    ``(base URL, log file)`` and stops the server afterwards."""
    import jupytext
    import nbformat

    for chapter in explorer_chapters() if chapters is None else chapters:
        nb = jupytext.read(chapter, fmt="md:myst")
        if last_cell is not None:
            nb.cells.append(nbformat.v4.new_code_cell(last_cell))
        jupytext.write(nb, folder / f"{chapter.stem}.ipynb", fmt="ipynb")
    jupyter_path = offline_template(folder / "share" / "jupyter")

    port = _free_port()
    log = folder / "voila.log"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # kernel = this Python
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), env.get("JUPYTER_PATH")]))
    env.pop("MPLBACKEND", None)
    command = [
        sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
        f"--Voila.root_dir={folder}", "--show_tracebacks=True", f"--template={TEMPLATE}",
    ]
    command += [f"--VoilaConfiguration.extension_denylist={name}" for name in DENIED_EXTENSIONS]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving("Voila", process, url + "/", log, SERVER_START_S)
        yield url, log
    finally:
        _stop(process)


def wait_until_serving(name: str, process, url: str, log: Path, seconds: float) -> None:
    """Wait until ``url`` answers 200; a :class:`ServerError` with the log's tail
    if ``process`` exits first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise ServerError(f"{name} exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"{name} did not answer on {url} in {seconds} s:\n"
                              f"{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.3)


def block_outside_hosts(context) -> list[str]:
    """Let a Playwright browser context reach 127.0.0.1 only; returns the list
    the blocked URLs are appended to."""
    from urllib.parse import urlparse

    blocked: list[str] = []

    def route(route):
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", route)
    return blocked
