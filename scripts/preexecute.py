"""Execute every chapter notebook of the book in parallel into a fresh jupyter-cache.

Usage: python scripts/preexecute.py BUILD_DIR

Jupyter Book 1 executes notebooks one after another.  This script runs the
notebook chapters listed in _toc.yml in parallel (one process per CPU) and stores
the results in BUILD_DIR/.jupyter_cache, where the book build (with
``execute_notebooks: cache``) finds them.  Notebooks are read with myst-nb's own
reader so that the cache keys match the build's.  The cache is always created
afresh: a stale cache could hide an edit to the mqlb package.

Exits with status 1, after printing the tracebacks, if any notebook fails.

This is jupyter-cache's own parallel executor (``local-parallel``), driven through
its API rather than its command line (``jcache notebook add --reader myst_nb_md``
then ``jcache project execute --executor local-parallel``): the two took the same
time for the nine chapters on two cores (about 2 minutes each, within the noise
of a shared machine), but the command line needs the cache folder in an
environment variable, asks before creating a cache, prints no traceback of a
failing notebook and cannot record which mqlb the outputs belong to (the stamp
that scripts/book_inputs.py checks), which this script does.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from book_inputs import write_stamp  # noqa: E402
MYST_NB_READER = {"type": "plugin", "name": "myst_nb_md"}


def toc_files(node) -> list[str]:
    """All `file:` entries of a _toc.yml structure, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            if isinstance(value, (list, dict)):
                found.extend(toc_files(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(toc_files(value))
    return found


def is_text_notebook(path: Path) -> bool:
    """A MyST page is a notebook when its YAML header has a kernelspec."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    header = text.split("\n---", 1)[0]
    return "kernelspec:" in header


def chapter_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    paths = []
    for entry in toc_files(toc):
        path = ROOT / f"{entry}.md"
        if path.exists() and is_text_notebook(path):
            paths.append(path)
    return paths


def execution_timeout() -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return int(config.get("execute", {}).get("timeout", 600))


def main(build_dir: str) -> int:
    cache_dir = Path(build_dir).resolve() / ".jupyter_cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    notebooks = chapter_notebooks()
    if not notebooks:
        print("preexecute: no notebook chapters in _toc.yml")
        return 0

    logging.basicConfig(level=logging.WARNING, format="preexecute: %(message)s")
    logger = logging.getLogger("preexecute")
    cache = get_cache(cache_dir)
    for path in notebooks:
        cache.add_nb_to_project(str(path), read_data=MYST_NB_READER)

    start = time.perf_counter()
    executor = load_executor("local-parallel", cache, logger=logger)
    result = executor.run_and_cache(timeout=execution_timeout(), allow_errors=False)
    seconds = time.perf_counter() - start

    failed = result.excepted + result.errored
    if not failed:
        write_stamp(cache_dir, ROOT)   # these outputs belong to today's mqlb (scripts/book_inputs.py)
    print(
        f"preexecute: {len(result.succeeded)} of {len(notebooks)} notebooks "
        f"executed in {seconds:.1f} s"
    )
    for uri in failed:
        record = cache.get_project_record(uri)
        print(f"\npreexecute: FAILED {Path(uri).relative_to(ROOT)}", file=sys.stderr)
        print(record.traceback or "(no traceback recorded)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
