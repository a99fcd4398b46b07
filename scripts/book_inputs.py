"""Sphinx extension (loaded from _config.yml): `jupyter-book build .` builds the same
book as `make book`, or stops and says what to run.

1. The book's JavaScript (RequireJS, the ipywidgets HTML manager, MathJax) is
   git-ignored and fetched from the npm registry by scripts/vendor_assets.sh.
   When the build starts, this extension runs that script (it returns at once
   when book_assets/vendor/ is up to date); when it fails (no npm, no registry)
   the build stops with an error that names the command to run, instead of
   writing pages whose math and widgets do not load.
2. The jupyter-cache keys a notebook's outputs on the notebook's own text, so
   after an edit to the mqlb package (or a new lab record) it would hand back
   outputs computed with the old code. The extension hashes those inputs
   (:data:`WATCHED`); when the hash differs from the one stored with the cache,
   it empties the cache and makes Sphinx read every page again, so every
   chapter is executed afresh. The hash is stored when a build succeeds (and by
   scripts/preexecute.py, which fills a fresh cache).
3. The explorers' static edition (mqlb/present/explorer.py): the build switches
   it on for the chapters it executes (:func:`use_static_explorers`), and copies
   the drawn states next to the pages (:func:`publish_states`), so the built
   explorers answer without a kernel whichever command built the book.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

ROOT = Path(__file__).resolve().parent.parent
#: What the chapters compute from besides their own text, relative to the book's root.
WATCHED = ("mqlb", "lab/results")
#: The hash of WATCHED that the cache's outputs were computed from, in the cache folder.
STAMP_NAME = "book-inputs.sha256"
VENDOR_COMMAND = "bash scripts/vendor_assets.sh"
#: Environment variables of mqlb/present/explorer.py: where the static states go, and their cache.
STATIC_ENV, CACHE_ENV = "MQLB_STATIC_EXPLORERS", "MQLB_EXPLORER_CACHE"

logger = logging.getLogger(__name__)


def ensure_vendor_assets(root: Path = ROOT) -> None:
    """Fetch the vendored JavaScript if it is missing or out of date; raise
    ExtensionError naming the command if that fails."""
    script = root / "scripts" / "vendor_assets.sh"
    try:
        done = subprocess.run(["bash", str(script)], cwd=root, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        done = subprocess.CompletedProcess([], 1, "", str(error))
    if done.stdout.strip():
        logger.info(done.stdout.strip())
    if done.returncode != 0:
        raise ExtensionError(
            f"the book's JavaScript (RequireJS, ipywidgets, MathJax) is missing from "
            f"book_assets/vendor/ and fetching it failed:\n{done.stderr.strip()}\n"
            f"Run `{VENDOR_COMMAND}` (or `make vendor`; it needs npm and the npm registry), "
            f"then build again. `make book` does both.")


def inputs_hash(root: Path = ROOT) -> str:
    """SHA-256 over the paths and contents of every file under :data:`WATCHED`
    (caches and compiled files left out)."""
    digest = hashlib.sha256()
    for name in WATCHED:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def write_stamp(cache_dir: Path, root: Path = ROOT) -> None:
    """Record that the outputs in ``cache_dir`` were computed from today's inputs."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / STAMP_NAME).write_text(inputs_hash(root) + "\n")


def invalidate_stale_cache(cache_dir: Path, root: Path = ROOT) -> bool:
    """Empty ``cache_dir`` unless its stamp matches today's inputs; True if the
    outputs there were stale (or of unknown origin) and are gone."""
    if not cache_dir.exists():
        return False
    stamp = cache_dir / STAMP_NAME
    if stamp.exists() and stamp.read_text().strip() == inputs_hash(root):
        return False
    shutil.rmtree(cache_dir)
    return True


def use_static_explorers(build_dir: Path, root: Path = ROOT) -> Path:
    """Switch on the explorers' static edition for the notebooks executed from now
    on (kernels inherit the environment); return the folder they draw into. A
    folder already chosen (by scripts/build_book.py) is kept."""
    os.environ.setdefault(STATIC_ENV, str(build_dir / "explorer-states"))
    os.environ.setdefault(CACHE_ENV, str(root / ".explorer-cache"))
    return Path(os.environ[STATIC_ENV])


def publish_states(states: Path, html: Path) -> None:
    """Copy the drawn explorer states to html/_static/explorers/, where the pages'
    script (book_assets/js/explorer.js) loads them."""
    if states.is_dir():
        shutil.copytree(states, html / "_static" / "explorers", dirs_exist_ok=True)


def _cache_dir(app) -> Path:
    # as myst-nb chooses it: the configured path, else .jupyter_cache beside the output folder
    configured = app.config.nb_execution_cache_path
    return Path(configured).resolve() if configured else Path(app.outdir).parent.joinpath(".jupyter_cache").resolve()


def _on_builder_inited(app) -> None:
    ensure_vendor_assets(Path(app.srcdir))
    use_static_explorers(Path(app.outdir).parent, Path(app.srcdir))
    app.env.book_inputs_changed = invalidate_stale_cache(_cache_dir(app), Path(app.srcdir))
    if app.env.book_inputs_changed:
        logger.info("book_inputs: mqlb or the lab record changed since the cached outputs were "
                    "computed; the jupyter-cache was emptied and every chapter runs again")


def _on_env_get_outdated(app, env, added, changed, removed):
    """Every page is read (and its notebook executed) again when the inputs changed."""
    if getattr(env, "book_inputs_changed", False):
        return sorted(set(env.found_docs) - set(added) - set(changed))
    return []


def _on_build_finished(app, exception) -> None:
    if exception is None and _cache_dir(app).exists():
        write_stamp(_cache_dir(app), Path(app.srcdir))
    if exception is None:
        publish_states(Path(os.environ[STATIC_ENV]), Path(app.outdir))


def setup(app):
    # before myst-nb opens the cache (its handlers run at the default priority 500)
    app.connect("builder-inited", _on_builder_inited, priority=100)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
