"""The configuration checklist: its numbers, its refusals, and that its rules make a difference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mqlb
from mqlb.checklist import Service, checklist, markdown_table

SERVICE = dict(job_s=2.0, job_memory_mb=500.0, server_memory_mb=2000.0, servers=4, patience_s=30.0,
               rate=1.0, peak_rate=2.5)


def value(lines, setting):
    return next(line.value for line in lines if line.setting.startswith(setting))


def test_numbers_for_a_worked_example():
    lines = checklist(Service(**SERVICE))
    assert value(lines, "prefetch") == "2"                  # 1 + 2 ms / 2 s, rounded up; 4 would fit in memory
    assert value(lines, "x-max-length").startswith("28,")   # 2 jobs/s x (30 - 2) s / 2
    assert value(lines, "x-message-ttl") == "28000 ms"
    assert value(lines, "server maxconn") == "4"             # 2000 MB / 500 MB
    assert value(lines, "timeout queue") == "28 s"
    assert value(lines, "maxqueue") == "7"
    assert value(lines, "consumers for the surge") == "8"    # 2.5 x 2 / 0.7, rounded up
    assert {line.software for line in lines} == {"RabbitMQ", "Celery", "nginx", "HAProxy", "clients", "autoscaling"}


def test_memory_caps_the_prefetch_that_a_slow_link_asks_for():
    lines = checklist(Service(**{**SERVICE, "job_s": 0.01, "hop_s": 0.01, "patience_s": 1.0}))
    assert value(lines, "prefetch") == "3"                   # 1 + 2 x 10 ms / 10 ms = 3, and 4 fit
    lines = checklist(Service(**{**SERVICE, "job_s": 0.01, "hop_s": 0.05, "patience_s": 1.0}))
    assert value(lines, "prefetch") == "4"                   # 11 wanted, memory holds 4


@pytest.mark.parametrize("change, message", [
    ({"job_memory_mb": 3000.0}, "job_memory_mb"),
    ({"patience_s": 1.0}, "patience_s"),
    ({"peak_rate": 0.5}, "peak_rate"),
    ({"servers": 0}, "servers"),
    ({"longest_job_s": 1.0}, "longest_job_s"),
    ({"job_s": -1.0}, "job_s"),
])
def test_bad_input_is_refused_clearly(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Service(**{**SERVICE, **change})


def answered_share(max_length):
    """Share of what capacity allows that a broker answers in time at 130 % load, for a queue bound."""
    s = Service(**SERVICE)
    wl = mqlb.make_workload(mqlb.Poisson(rate=1.3 * s.capacity), mqlb.Exponential(s.job_s), duration=600, seed=4)
    mq = mqlb.MessageQueue(consumers=[mqlb.Server()] * s.servers, max_length=max_length, overflow="reject_publish")
    res = mqlb.simulate(mq, wl, client=mqlb.Client(timeout=s.patience_s))
    return res.summary().completed / (len(wl) / 1.3)


def test_the_queue_bound_is_the_one_that_keeps_answers_in_time():
    """The checklist's bound answers nearly all that capacity allows; twice that bound (the bound
    without its margin) already loses answers to timeouts, and four times it most of them."""
    bound = int(value(checklist(Service(**SERVICE)), "x-max-length").split(",")[0])
    assert answered_share(bound) > 0.95
    assert answered_share(2 * bound) < answered_share(bound) - 0.1
    assert answered_share(4 * bound) < 0.5


def test_every_line_points_at_something_that_exists():
    """Each documentation key is in the bibliography, and each figure or exercise it names is in a chapter."""
    root = Path(__file__).resolve().parent.parent
    bib = (root / "references.bib").read_text(encoding="utf-8")
    chapters = "\n".join(p.read_text(encoding="utf-8") for p in (root / "chapters").glob("*.md"))
    lines = checklist(Service(**SERVICE))
    for line in lines:
        if line.source:
            assert f"{{{line.source}," in bib, line.source
        for role, target in re.findall(r"\{(ref|numref|doc)\}`([^`]+)`", line.backed_by):
            if role == "doc":
                assert (root / "chapters" / f"{target}.md").exists(), target
            else:
                assert re.search(rf"(:label:|name:) {re.escape(target)}\b", chapters), target
    table = markdown_table(lines)
    assert all(f"`{line.setting}`" in table for line in lines)
