"""The lab's priority experiment: light jobs behind a backlog of heavy ones, on
RabbitMQ (x-max-priority) and HAProxy (set-priority-class), with and without
priorities; and the same experiment in mqlb, from the recorded run.

The live part runs the experiment once (about 30 s with the broker's start) and
is skipped, with the way to enable it, when the programs are missing (a failure
under MQLB_NO_SKIP=1, as for the other lab tests). The comparison needs only the
recorded ``lab/results/latest.json``.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab import compare  # noqa: E402
from lab.__main__ import HOW_TO, merge  # noqa: E402
from lab.services import missing_binaries  # noqa: E402

RECORD = ROOT / "lab" / "results" / "latest.json"
PRIORITISED = ("rabbitmq_priority", "haproxy_priority")
PLAIN = ("rabbitmq_fifo", "haproxy_fifo")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; {HOW_TO}")
    from lab.experiments import run_lab
    rec = run_lab(tmp_path_factory.mktemp("lab-priority"), log=lambda *a: None, which=("priority",))
    json.dumps(rec)
    return rec


@pytest.fixture(scope="module")
def recorded():
    return compare.load(RECORD)


# ---------------------------------------------------------------- live, on the real services

@pytest.mark.lab
def test_live_priorities_let_light_jobs_pass_the_backlog(live):
    exp = live["experiments"]["priority"]
    p, res = exp["params"], exp["results"]
    limit = compare.light_limit_ms(p)
    assert set(res) == set(PRIORITISED + PLAIN)
    for name, r in res.items():
        assert r["outcomes"]["ok"] == p["heavy_n"] + p["light_n"], name
        assert len(r["start_order"]) == p["heavy_n"] + p["light_n"], name
    for name in PRIORITISED:
        r = res[name]
        assert r["light"]["p95_ms"] < limit, name
        assert r["light"]["p50_ms"] < r["heavy"]["p50_ms"], name
        # most light jobs start before the heavy backlog is through
        assert r["light_before_last_heavy"] >= p["light_n"] // 2, name
    for name in PLAIN:
        r = res[name]
        assert r["light"]["p95_ms"] > limit, name
        assert r["light"]["p50_ms"] > r["heavy"]["p50_ms"], name
        assert r["light_before_last_heavy"] == 0, name      # first in, first out
    mq = res["rabbitmq_priority"]
    assert mq["queue_arguments"] == {"x-max-priority": p["max_priority"]}
    assert mq["acked"] == mq["n"] and mq["depth_at_end"] == 0
    assert res["rabbitmq_fifo"]["queue_arguments"] is None
    assert res["haproxy_priority"]["lb_queue_max"]["BACKEND"] > 0   # requests did wait in HAProxy


@pytest.mark.lab
def test_live_priority_run_listens_on_loopback_only(live):
    socks = live["listening_sockets"]
    assert {"beam.smp", "haproxy"} <= {s["comm"] for s in socks}
    for s in socks:
        assert s["addr"] == "127.0.0.1" or (s["comm"] == "epmd" and s["addr"] == "::1"), s


@pytest.mark.lab
def test_live_priority_matches_the_model(live):
    """The fresh run, calibrated with the recorded light/burst experiments."""
    rec = merge(compare.load(RECORD), live)
    assert compare.priority_mismatches(rec, compare.priority_rows(rec)) == []


# ---------------------------------------------------------------- the record, in mqlb

def test_merge_replaces_one_experiment_and_keeps_the_rest(recorded):
    new = {"date": "2030-01-01T00:00:00Z", "versions": {"rabbitmq": "x"}, "duration_s": 1.0,
           "experiments": {"priority": {"params": {}, "results": {}}},
           "listening_sockets": [{"comm": "haproxy", "addr": "127.0.0.1", "port": 1, "pid": 1},
                                 {"comm": "epmd", "addr": "::1", "port": 2, "pid": 2}]}
    merged = merge(recorded, new)
    assert merged["experiments"]["priority"] == {"params": {}, "results": {}}
    for k in ("light", "burst", "kill"):
        assert merged["experiments"][k] == recorded["experiments"][k]
    assert merged["date"] == recorded["date"] and merged["runs"]["priority"]["date"] == new["date"]
    assert len(merged["listening_sockets"]) >= len(recorded["listening_sockets"]) + 1
    assert {"comm": "epmd", "addr": "::1", "port": 2, "pid": 2} in merged["outside_ipv4_loopback"]


def test_recorded_priority_experiment_matches_the_model(recorded):
    rows = compare.priority_rows(recorded)
    assert {r["scenario"] for r in rows} == set(PRIORITISED + PLAIN)
    assert compare.priority_mismatches(recorded, rows) == []
    by = {r["scenario"]: r for r in rows}
    for name in PRIORITISED + PLAIN:
        m, s = by[name]["measured"], by[name]["simulated"]
        # the light jobs' p95 is set by when slots free up: within 15 % (a heavy
        # job is one measured median long in the model, a little noisier in the lab)
        assert s["light_p95_ms"] == pytest.approx(m["light_p95_ms"], rel=0.15), name


@pytest.mark.parametrize("mutation", ["priorities did nothing", "fifo served light first",
                                      "model without priorities"])
def test_priority_comparison_can_fail(recorded, mutation, monkeypatch):
    rec = copy.deepcopy(recorded)
    res = rec["experiments"]["priority"]["results"]
    if mutation == "priorities did nothing":
        res["rabbitmq_priority"] = copy.deepcopy(res["rabbitmq_fifo"])
    elif mutation == "fifo served light first":
        res["haproxy_fifo"] = copy.deepcopy(res["haproxy_priority"])
    else:
        real = compare._priority_systems
        monkeypatch.setattr(compare, "_priority_systems", lambda mqlb, cal, p: {
            k: (real(mqlb, cal, p)[k.replace("_priority", "_fifo")]) for k in real(mqlb, cal, p)})
    bad = compare.priority_mismatches(rec, compare.priority_rows(rec))
    assert bad, mutation
