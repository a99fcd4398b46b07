"""How much work one run may take, and what happens when it takes more.

Before a run starts, :func:`check_work` refuses one whose bounded work (sends,
polls) is far beyond the limits in ``_checks``. While it runs, an event budget
(:func:`event_budget`) stands between a run and an endless loop (consumers
crashing on the same messages for ever): a run either finishes its work or
stops at the budget, and then says so (:class:`StoppedEarly`).
"""

from __future__ import annotations

import math

import simpy

from . import _checks
from .client import Client
from .hybrid import Hybrid
from .messagequeue import MessageQueue
from .workload import Workload


class StoppedEarly(UserWarning):
    """A run stopped before its work was done (see ``Result.stopped_early``)."""


def expected_span(system, workload: Workload) -> float:
    """A lower bound on a run's length (s): the last arrival, or the time the
    servers need for all the work at full capacity if that is later."""
    last = float(workload.arrival[-1]) if len(workload) else 0.0
    capacity = system.capacity
    drain = workload.total_work / capacity if math.isfinite(capacity) else 0.0
    return max(last, drain, float(workload.size.max(initial=0.0)))


def event_budget(system, n_records: int, client: Client, span: float) -> int:
    """Events a run may take by default: a hundred per possible attempt (sending,
    delivery, service, ack, deadline, retry, and redeliveries after crashes),
    the polls of idle consumers, and a floor for small runs."""
    polls = 0
    broker = system.back if isinstance(system, Hybrid) else system
    if isinstance(broker, MessageQueue) and broker.broker.poll_interval > 0:
        consumers = sum(len(q.consumers) for q in broker.queues)
        polls = int(consumers * 4 * span / broker.broker.poll_interval)
    return 100 * n_records * (client.retries + 1) + polls + 4 * _autoscaler_ticks(broker, span) + 100_000


def _autoscaler_ticks(broker, span: float) -> float:
    """Readings the autoscalers of ``broker`` (a MessageQueue or not) take in ``span`` seconds."""
    if not isinstance(broker, MessageQueue):
        return 0
    return int(sum(span / q.autoscaler.interval_s for q in broker.queues if q.autoscaler is not None))


def check_work(system, workload: Workload, n_records: int, client: Client, span: float) -> None:
    """Refuse up front a run whose bounded work is far beyond ``_checks`` limits."""
    attempts = n_records * (client.retries + 1)
    if attempts > _checks.MAX_ATTEMPTS:
        raise ValueError(
            f"retries={client.retries} with {n_records:,} jobs allows up to {attempts:.3g} attempts; "
            f"at most {_checks.MAX_ATTEMPTS:,} per run: lower retries or the number of jobs")
    broker = system.back if isinstance(system, Hybrid) else system
    ticks = _autoscaler_ticks(broker, span)
    if ticks > _checks.MAX_ATTEMPTS:
        raise ValueError(f"an autoscaler's interval_s would read its queue about {ticks:.3g} times in the run's "
                         f"{span:.3g} s or more; at most {_checks.MAX_ATTEMPTS:,}: use a longer interval_s")
    if isinstance(broker, MessageQueue) and broker.broker.poll_interval > 0:
        poll = broker.broker.poll_interval
        consumers = sum(len(q.consumers) for q in broker.queues)
        polls = consumers * span / poll
        if polls > _checks.MAX_ATTEMPTS:
            least = consumers * span / _checks.MAX_ATTEMPTS
            raise ValueError(
                f"poll_interval={poll!r} s: {consumers} consumer{'s' if consumers != 1 else ''} polling through "
                f"the run's {span:.3g} s or more would poll about {polls:.3g} times; at most "
                f"{_checks.MAX_ATTEMPTS:,} polls per run: use poll_interval >= {least:.2g} s (or 0: the broker pushes)")


def run_events(env, stop, max_events: int) -> bool:
    """Process events until ``stop`` has been; False if ``max_events`` ran out first."""
    step = env.step
    try:
        for _ in range(max_events):
            if stop.callbacks is None:       # processed
                return True
            step()
    except simpy.core.EmptySchedule:
        pass
    return stop.callbacks is None
