"""Simulated vs measured, from the recorded lab run (no services needed).

The committed record ``lab/results/latest.json`` is what the book's chapter
reads. These tests check that it is complete and that ``mqlb``, calibrated from
it, reproduces the lab's outcome classes: the same architectures complete, reject
or crash in the simulation as on the real software.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab import compare  # noqa: E402

RECORD = ROOT / "lab" / "results" / "latest.json"


@pytest.fixture(scope="module")
def record():
    return compare.load(RECORD)


@pytest.fixture(scope="module")
def rows(record):
    return {(r["experiment"], r["scenario"]): r for r in compare.compare(record)}


def test_record_is_complete(record):
    for key in ("date", "versions", "machine", "experiments", "listening_sockets"):
        assert key in record
    for k in ("rabbitmq", "nginx", "haproxy", "erlang_otp", "python", "pika"):
        assert record["versions"][k]
    assert set(record["experiments"]) == {"light", "burst", "kill", "priority"}
    # the record carries no local paths
    text = RECORD.read_text()
    assert "/home/" not in text and "/tmp/" not in text


def test_recorded_run_shows_the_expected_classes(record):
    burst = record["experiments"]["burst"]["results"]["long"]["results"]
    n = record["experiments"]["burst"]["params"]["n"]
    assert burst["haproxy_queue"]["outcomes"]["ok"] == n
    assert burst["rabbitmq_prefetch1"]["acked"] == n
    assert burst["nginx_max_conns"]["outcomes"]["rejected"] > 0
    assert burst["nginx_push"]["worker_crashes"] >= 1
    kill = record["experiments"]["kill"]
    assert kill["messages_lost"] == 0 and kill["redelivered_count"] >= 1


def test_calibration_is_plausible(record):
    cal = compare.calibration(record)
    assert 0.009 < cal["light_service_s"] < 0.02
    assert 0.45 < cal["heavy_service_s"] < 0.6
    assert 0 < cal["lb_latency_s"] < 0.05
    assert 0 <= cal["broker_deliver_s"] + cal["broker_publish_s"] < 0.05


def test_light_simulated_close_to_measured(rows):
    for name in ("nginx_round_robin", "nginx_least_conn", "haproxy_roundrobin",
                 "rabbitmq_prefetch1"):
        r = rows[("light", name)]
        assert r["simulated"]["completed"] == r["measured"]["completed"] == r["n"]
        # medians within 30 % (the simulated jobs are exactly the measured median)
        assert r["simulated"]["p50_ms"] == pytest.approx(r["measured"]["p50_ms"], rel=0.3)


def test_burst_simulated_outcome_classes_match(rows):
    for tag in ("long", "short"):
        for name in ("nginx_max_conns", "haproxy_queue", "rabbitmq_prefetch1"):
            r = rows[(f"burst-{tag}", name)]
            for k in ("completed", "rejected", "timed_out"):
                # with short patience a few jobs end right at the deadline: allow 3
                tol = 0 if tag == "long" else 3
                assert abs(r["simulated"][k] - r["measured"][k]) <= tol, (tag, name, k)
        push = rows[(f"burst-{tag}", "nginx_push")]
        assert push["simulated"]["rejected"] > 0 and push["measured"]["rejected"] > 0
        assert push["simulated"]["completed"] == push["measured"]["completed"] == 0
        assert push["simulated"]["crashes"] >= 1 and push["measured"]["crashes"] >= 1


def test_waste_with_short_patience(rows):
    """Real HAProxy forwards queued requests of clients who left, unless
    `option abortonclose`; mqlb models both, and both waste the same work."""
    plain = rows[("burst-short", "haproxy_queue")]
    abort = rows[("burst-short", "haproxy_queue_abortonclose")]
    assert plain["measured"]["wasted_work_s"] > abort["measured"]["wasted_work_s"]
    assert plain["simulated"]["wasted_work_s"] > abort["simulated"]["wasted_work_s"]
    for row in (plain, abort):
        assert row["simulated"]["wasted_work_s"] == pytest.approx(row["measured"]["wasted_work_s"], abs=2.5)


def test_killed_consumer_in_the_model(rows):
    r = rows[("kill", "rabbitmq_prefetch1")]
    assert r["simulated"]["completed"] == r["measured"]["completed"] == r["n"]
    assert r["simulated"]["lost"] == r["measured"]["lost"] == 0
    assert r["simulated"]["redelivered"] >= 1 and r["measured"]["redelivered"] >= 1
    assert r["simulated"]["crashes"] == 1
