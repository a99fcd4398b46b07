"""Build the HTML book from scratch: `make book` and the build test both use this.

Usage: python scripts/build_book.py [OUTPUT_PARENT]

The book goes to OUTPUT_PARENT/_build/html (OUTPUT_PARENT defaults to the
repository root).  Every run starts from an empty _build, so every chapter is
executed again and an edit to the mqlb package always shows:

1. remove OUTPUT_PARENT/_build;
2. execute the notebook chapters in parallel into a fresh jupyter-cache
   (scripts/preexecute.py);
3. `jupyter-book build` with warnings as errors (-W -n --keep-going), reading the
   executed notebooks from that cache.

Exits with the first non-zero status.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def build(output_parent: Path) -> int:
    build_dir = output_parent / "_build"
    shutil.rmtree(build_dir, ignore_errors=True)
    start = time.perf_counter()
    status = subprocess.call([sys.executable, str(ROOT / "scripts" / "preexecute.py"), str(build_dir)])
    if status != 0:
        return status
    command = [str(BIN / "jupyter-book"), "build", str(ROOT), "--builder", "html",
               "-W", "-n", "--keep-going"]
    if output_parent.resolve() != ROOT:
        command += ["--path-output", str(output_parent)]
    status = subprocess.call(command)
    print(f"build_book: {'done' if status == 0 else 'FAILED'} in {time.perf_counter() - start:.1f} s")
    return status


if __name__ == "__main__":
    parent = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    sys.exit(build(parent))
