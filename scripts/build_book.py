"""Build the HTML book from scratch: `make book` and the build test both use this.

Usage: python scripts/build_book.py [OUTPUT_PARENT]

The book goes to OUTPUT_PARENT/_build/html (OUTPUT_PARENT defaults to the
repository root).  Every run starts from an empty _build, so every chapter is
executed again and an edit to the mqlb package always shows:

1. remove OUTPUT_PARENT/_build;
2. execute the notebook chapters in parallel into a fresh jupyter-cache
   (scripts/preexecute.py), with the explorers' static edition switched on:
   every explorer draws its static states into _build/explorer-states/ and
   reuses the states of unchanged code from .explorer-cache/ (kept between
   builds, pruned of what a successful build did not use; delete it to draw
   every state afresh);
3. `jupyter-book build` with warnings as errors (-W -n --keep-going), reading the
   executed notebooks from that cache; the book_inputs extension then copies
   the explorer states to
   _build/html/_static/explorers/, where the pages' script
   (book_assets/js/explorer.js) loads them on demand.

Exits with the first non-zero status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


sys.path.insert(0, str(ROOT / "scripts"))
from book_inputs import CACHE_ENV, use_static_explorers  # noqa: E402


def prune_cache(cache: Path, started_at: float) -> None:
    """Delete the explorer states no explorer of this build used (older code)."""
    for entry in cache.glob("*.json") if cache.is_dir() else []:
        if entry.stat().st_mtime < started_at - 1:
            entry.unlink()


def build(output_parent: Path) -> int:
    build_dir = output_parent / "_build"
    shutil.rmtree(build_dir, ignore_errors=True)
    use_static_explorers(build_dir)
    start, started_at = time.perf_counter(), time.time()
    status = subprocess.call([sys.executable, str(ROOT / "scripts" / "preexecute.py"), str(build_dir)])
    if status != 0:
        return status
    command = [str(BIN / "jupyter-book"), "build", str(ROOT), "--builder", "html",
               "-W", "-n", "--keep-going"]
    if output_parent.resolve() != ROOT:
        command += ["--path-output", str(output_parent)]
    status = subprocess.call(command)
    if status == 0:
        prune_cache(Path(os.environ[CACHE_ENV]), started_at)
    print(f"build_book: {'done' if status == 0 else 'FAILED'} in {time.perf_counter() - start:.1f} s")
    return status


if __name__ == "__main__":
    parent = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    sys.exit(build(parent))
