"""Command line: ``python -m lab run [--out FILE] [--only light,burst,kill]`` / ``check``."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from . import DEFAULT_RESULTS
from .services import missing_binaries

HOW_TO = ("install them as root: apt-get install rabbitmq-server nginx haproxy; "
          "and pip install pika")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the lab live and write the JSON record")
    run.add_argument("--out", default=DEFAULT_RESULTS)
    run.add_argument("--only", default="light,burst,kill",
                     help="comma-separated subset of light,burst,kill")
    run.add_argument("--workdir", default=None,
                     help="where configs, data dirs and logs go (default: a temp dir, removed)")
    run.add_argument("--keep", action="store_true", help="keep the work dir")
    sub.add_parser("check", help="check the needed programs")
    a = ap.parse_args(argv)

    missing = missing_binaries()
    if a.cmd == "check":
        if missing:
            print("missing:", ", ".join(missing), "--", HOW_TO)
            return 1
        print("lab ready")
        return 0
    if missing:
        print("cannot run the lab, missing:", ", ".join(missing), "--", HOW_TO, file=sys.stderr)
        return 2

    from .experiments import run_lab
    workdir = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="mqlb-lab-"))
    try:
        record = run_lab(workdir, which=tuple(x for x in a.only.split(",") if x))
    finally:
        if not a.workdir and not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} ({record['duration_s']} s)")
    bad = record["outside_ipv4_loopback"]
    if [s for s in bad if s["comm"] != "epmd" or s["addr"] != "::1"]:
        print("WARNING: sockets outside loopback:", bad, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
