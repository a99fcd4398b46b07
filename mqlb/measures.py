"""Measures several chapters read from a run, each defined once.

- :func:`failed_jobs`: jobs that did not get their answer;
- :func:`surge_scorecard`: the head-to-head figures of one architecture on
  the traffic surge (chapters 8 and 9);
- :func:`stranded_share`: how often a consumer sat idle while work waited
  elsewhere (chapter 3);
- :func:`blocked_publishes`: jobs whose publish the broker's memory alarm
  blocked, and :func:`most_held`: the most messages a broker without a memory
  limit held at once (chapter 8);
- :func:`pile_up`: how far the fullest server ran ahead of the average one
  (balancers herding on stale counts, chapter 12);
- :func:`answered_share`: the share of requests each server answered, with
  an answer or an error (slow and failing servers);
- :func:`~mqlb.scenarios.recovery_time` and :func:`~mqlb.scenarios.goodput_series`
  live with the surge scenario and are re-exported here.

Model side: reads :class:`~mqlb.result.Result` and :class:`~mqlb.result.Summary`
objects only; nothing here draws or formats.
"""

from __future__ import annotations

import numpy as np

from .result import Result, Summary
from .scenarios import HEAVY, LIGHT, goodput_series, recovery_time

__all__ = ["answered_share", "blocked_publishes", "failed_jobs", "goodput_series", "most_held", "pile_up", "recovery_time",
           "stranded_share", "surge_scorecard"]


def failed_jobs(summary: Summary) -> int:
    """Jobs that did not get their answer: lost in a crash, rejected, timed out,
    dead-lettered or refused by their own client (a job still in the system at
    the end is not counted)."""
    if not isinstance(summary, Summary):
        raise TypeError(f"failed_jobs needs a Summary (result.summary()), got {type(summary).__name__}")
    return int(summary.lost + summary.rejected + summary.timed_out + summary.dead_lettered
               + summary.refused_locally)


def surge_scorecard(result: Result, surge_start: float, surge_end: float) -> dict:
    """One architecture's figures on a surge of light and heavy jobs.

    Keys: ``failed`` (all jobs, :func:`failed_jobs`), ``lost``, ``rejected``,
    ``other`` (timed out or dead-lettered), ``failed_light``, ``failed_heavy``;
    ``light_p50``, ``light_p99``, ``heavy_p50``, ``heavy_p99`` (response
    times, s); ``goodput`` (completed jobs/s over the run); ``wasted`` (server
    work that produced no answer, s); ``memory`` (most memory one machine
    held, MB); ``crashes`` (out-of-memory crashes); ``recovery`` (s after
    ``surge_end`` until the system is back to normal, :func:`recovery_time`).
    """
    if not isinstance(result, Result):
        raise TypeError(f"surge_scorecard needs a Result, got {type(result).__name__}")
    s, light, heavy = result.summary(), result.summary(kind=LIGHT), result.summary(kind=HEAVY)
    return dict(failed=failed_jobs(s), lost=s.lost, rejected=s.rejected, other=s.timed_out + s.dead_lettered,
                failed_light=failed_jobs(light), failed_heavy=failed_jobs(heavy),
                light_p50=light.p50_response, light_p99=light.p99_response,
                heavy_p50=heavy.p50_response, heavy_p99=heavy.p99_response, goodput=s.goodput,
                wasted=s.wasted_work, memory=float(result.servers.max_memory_mb.max()),
                crashes=int(result.servers.crashes.sum()),
                recovery=recovery_time(result, surge_start, surge_end))


def stranded_share(result: Result) -> float:
    """Fraction of the timeline's samples in which some consumer sat idle while a
    message waited somewhere: in the broker's queue or in another consumer's buffer."""
    if not isinstance(result, Result):
        raise TypeError(f"stranded_share needs a Result, got {type(result).__name__}")
    tl = result.timeline
    idle = (tl.in_service == 0).any(axis=1)
    waiting = (tl.queue.sum(axis=1) > 0) | ((tl.in_flight - tl.in_service) > 0).any(axis=1)
    return float((idle & waiting).mean())


def blocked_publishes(result: Result, publish_latency: float = 0.0, kind: str | None = None) -> int:
    """Jobs whose first publish reached the broker (``arrival + publish_latency``)
    while its memory alarm blocked publishers (``Result.publish_blocked``).
    kind: count one job class only (in a :class:`~mqlb.Hybrid`, the classes its
    broker receives: the others never publish)."""
    if not isinstance(result, Result):
        raise TypeError(f"blocked_publishes needs a Result, got {type(result).__name__}")
    reach = result.select(kind)["arrival"] + publish_latency
    return int(sum(((reach >= start) & (reach < end)).sum() for start, end in result.publish_blocked))


def most_held(result: Result) -> int:
    """The most messages a broker held at once, ready or unacknowledged, in a run
    of a :class:`~mqlb.MessageQueue` with no hop latencies and no timeouts: a
    message is held from its arrival until its consumer finishes it (a finish
    counts before an arrival at the same instant)."""
    if not isinstance(result, Result):
        raise TypeError(f"most_held needs a Result, got {type(result).__name__}")
    r = result.records
    if len(r) == 0:
        return 0
    times = np.concatenate([r["arrival"], r["done"]])
    steps = np.concatenate([np.ones(len(r)), -np.ones(len(r))])
    order = np.lexsort((steps, times))
    return int(np.cumsum(steps[order]).max())
def pile_up(result: Result) -> float:
    """Requests the fullest server held beyond the average server's, averaged
    over the timeline's samples: about 1 when a balancer spreads well, large
    when many requests herd onto the server that looked least loaded."""
    if not isinstance(result, Result):
        raise TypeError(f"pile_up needs a Result, got {type(result).__name__}")
    held = result.timeline.in_flight
    return float((held.max(axis=1) - held.mean(axis=1)).mean()) if held.size else 0.0
def answered_share(result: Result) -> np.ndarray:
    """Fraction of the requests each server answered: served (the record's
    ``server``) or answered with an error while failing fast
    (``servers.errors``). Counted per attempt, so the run must be without
    retries (ValueError otherwise)."""
    if not isinstance(result, Result):
        raise TypeError(f"answered_share needs a Result, got {type(result).__name__}")
    records = result.records
    if len(records) and records["attempts"].max() > 1:
        raise ValueError("answered_share needs a run without retries (Client(retries=0)): "
                         f"some jobs were sent {int(records['attempts'].max())} times")
    served = records["server"][records["server"] >= 0]
    errors = result.servers.errors if result.servers.errors is not None else 0
    counts = np.bincount(served, minlength=len(result.servers.names)) + errors
    return counts / max(int(counts.sum()), 1)
