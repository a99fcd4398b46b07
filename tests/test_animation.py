"""Replays (mqlb.present.animation): the running counts come from the records and end at
the run's summary; the HTML player is self-contained; bad arguments are refused."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys

import pytest

import mqlb
from mqlb.present import animation


@pytest.fixture(scope="module")
def runs():
    wl = mqlb.make_workload(mqlb.Poisson(rate=3.2), mqlb.HyperExponential(1.0, c2=10), n_jobs=120, seed=3)
    servers = [mqlb.Server()] * 4
    return {"round robin": mqlb.simulate(mqlb.LoadBalancer(servers, policy="round_robin"), wl),
            "queue": mqlb.simulate(mqlb.MessageQueue(consumers=servers, prefetch=1), wl)}


@pytest.fixture(scope="module")
def small(runs):
    return animation.replay(runs, frames=6, dpi=30, panel_size=(3.0, 2.0))


def frames_of(replay_html: str) -> list[bytes]:
    found = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,([^"]*)"', replay_html)
    return [base64.b64decode(data.replace("\\\n", "")) for _i, data in found]


def test_last_frame_counts_are_the_summary(runs, small):
    for name, res in runs.items():
        s = res.summary()
        assert small.counts[name][-1] == small.summaries[name] == {
            "answered": s.completed, "failed": s.rejected + s.timed_out + s.lost + s.dead_lettered,
            "in_system": s.in_system}


def test_counts_include_jobs_still_in_the_system():
    wl = mqlb.make_workload(mqlb.Poisson(rate=6.0), mqlb.Exponential(1.0), n_jobs=200, seed=2)
    res = mqlb.simulate(mqlb.LoadBalancer([mqlb.Server()] * 4), wl, until=20.0)
    assert res.summary().in_system > 0
    assert animation.counts_at(res, 1e9) == animation.summary_counts(res)


def test_a_replay_that_stops_early_does_not_match_the_summary(runs):
    """The check can fail: stopped halfway, the counts are not the summary."""
    first = next(iter(runs.values()))
    half = float(first.records["end"].max()) / 2
    early = animation.replay(runs, frames=3, dpi=30, panel_size=(3.0, 2.0), end=half)
    assert any(early.counts[n][-1] != early.summaries[n] for n in runs)


def test_counts_never_decrease_and_add_up(runs, small):
    for name, res in runs.items():
        answered = [c["answered"] for c in small.counts[name]]
        assert answered == sorted(answered)
        for t, c in zip(small.times, small.counts[name]):
            assert c["answered"] + c["failed"] + c["in_system"] == int((res.records["arrival"] <= t).sum())


def test_player_is_self_contained_and_frames_change(small):
    text = small.html
    assert "https://" not in text and "http://" not in text and "fa fa-" not in text
    frames = frames_of(text)
    assert len(frames) == small.frames == 6
    assert len(set(frames)) > 1
    data = json.loads(html.unescape(re.search(r'data-replay="([^"]*)"', text).group(1)))
    assert data["counts"] == small.counts and data["summaries"] == small.summaries
    assert len(data["times"]) == small.frames
    assert small._repr_html_() is text and "frames" in repr(small)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(runs={}), TypeError, "runs"),
    (dict(runs={"x": 1}), TypeError, "runs"),
    (dict(frames=1), ValueError, "frames"),
    (dict(start=50.0, end=10.0), ValueError, "end must be after start"),
    (dict(dpi=0), ValueError, "dpi")])
def test_bad_arguments_are_refused(runs, kwargs, error, message):
    kwargs = {"runs": runs, **kwargs}
    with pytest.raises(error, match=message):
        animation.replay(**kwargs)


def test_the_model_never_imports_the_pictures():
    code = ("import sys, mqlb; from mqlb import scenarios, claims, decision, simulate; "
            "print(sorted(m for m in sys.modules if m in ('mqlb.present.animation', 'mqlb.present.diagrams')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_frames_have_the_asked_resolution(runs):
    import struct
    widths = []
    for dpi in (30, 60):
        rep = animation.replay(runs, frames=2, dpi=dpi, panel_size=(3.0, 2.0))
        png = frames_of(rep.html)[0]
        widths.append(struct.unpack(">I", png[16:20])[0])      # the PNG header's width
    assert widths == [2 * 3 * 30, 2 * 3 * 60]
