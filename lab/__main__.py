"""Command line: ``python -m lab run [--out FILE] [--only light,burst,kill,priority] [--merge]``
/ ``check``."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from . import DEFAULT_RESULTS
from .services import missing_binaries

ALL = "light,burst,kill,priority"

HOW_TO = ("install them as root: apt-get install rabbitmq-server nginx haproxy; "
          "and pip install pika")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the lab live and write the JSON record")
    run.add_argument("--out", default=DEFAULT_RESULTS)
    run.add_argument("--only", default=ALL, help=f"comma-separated subset of {ALL}")
    run.add_argument("--merge", action="store_true",
                     help="put the experiments run into the record already in --out, "
                          "keeping its other experiments")
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
    took = record["duration_s"]
    if a.merge and out.exists():
        record = merge(json.loads(out.read_text()), record)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} (this run: {took} s)")
    bad = record["outside_ipv4_loopback"]
    if [s for s in bad if s["comm"] != "epmd" or s["addr"] != "::1"]:
        print("WARNING: sockets outside loopback:", bad, file=sys.stderr)
        return 3
    return 0


def merge(old: dict, new: dict) -> dict:
    """``old`` with the experiments of ``new`` put in (replacing those of the same
    name). The run-wide fields stay those of ``old``; ``runs`` notes, per merged
    experiment, the date, versions and duration of the run it comes from. The
    listening sockets are the union of both runs (the loopback audit covers both)."""
    merged = {**old, "experiments": {**old["experiments"], **new["experiments"]}}
    run = {k: new[k] for k in ("date", "versions", "duration_s", "rabbitmq_startup_s") if k in new}
    merged["runs"] = {**old.get("runs", {}), **{name: run for name in new["experiments"]}}
    sockets = list(old.get("listening_sockets", []))
    seen = {(s["comm"], s["addr"], s["port"]) for s in sockets}
    sockets += [s for s in new.get("listening_sockets", [])
                if (s["comm"], s["addr"], s["port"]) not in seen]
    merged["listening_sockets"] = sockets
    merged["outside_ipv4_loopback"] = [s for s in sockets if s["addr"] != "127.0.0.1"]
    return merged


if __name__ == "__main__":
    sys.exit(main())
