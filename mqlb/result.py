"""What a simulation returns: one record per job, a sampled timeline, server
statistics, and a summary computed from the records.

Record fields (a NumPy structured array, one row per job — per job *and*
destination queue when a fanout or topic exchange copies a message):

========== =====================================================================
field      meaning
========== =====================================================================
id         job id (index into the workload)
kind       job class index (``Result.kinds`` holds the names)
queue      broker queue index (``Result.queues``); 0 for a load balancer; -1 when
           a message matched no queue
size       seconds of work the job needs at speed 1
arrival    time the client first sent the job (s)
start      time service began for the attempt that decided the outcome (NaN if never)
done       time that service finished (NaN if never)
end        time the client learned the outcome (s): the answer, the rejection,
           the loss, or its own timeout; NaN while ``in_system`` or ``not_sent``
server     server or consumer index that served it last (-1 if none)
attempts   times the client sent the job (1 + retries; attempts the client
           refused itself are not counted, so a job refused at once has 0)
starts     times any server started work on it (> attempts: work repeated)
deliveries times a broker delivered it to a consumer (0 behind a load balancer;
           > 1: redelivered after a consumer crash)
outcome    index into ``OUTCOMES``
work       seconds of work (at speed 1) servers spent on it, all attempts
           together, including work lost in crashes or done for nobody
========== =====================================================================

One rule for ``start`` and ``done``, whatever the client's ``retries``: they
describe the deciding attempt's service only as far as it happened before the
client learned the outcome (``end``). Service that begins or finishes after a
client gave up (``timed_out``) is work done for nobody: it counts in ``work``,
never in ``start``, ``done`` or the throughput. A job whose arrival time lies
after the end of the run (``simulate(until=...)``, or an early stop; see
``Result.stopped_early``) was never sent: its outcome is ``not_sent``, its
``start``, ``done`` and ``end`` are NaN, ``attempts`` is 0, and it is left out
of every count, rate and summary figure (``Summary.not_sent`` says how many).

A job whose client refused an attempt itself (adaptive throttling or an open
circuit breaker, see :class:`~mqlb.client.Client`) ends ``refused_locally``
at that moment (``end``); that attempt reached no server and is not in
``attempts``. Such a job is one the clients asked for: it counts in
``Summary.jobs`` and in the success rate (as a failure), never in the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

OUTCOMES = ("completed", "rejected", "timed_out", "lost", "dead_lettered", "in_system", "not_sent",
            "refused_locally")
"""Every job ends in exactly one of these:

- completed: the answer reached the client in time;
- rejected: refused at once (no free server or connection, a full queue that
  rejects publishes), or answered with an error (a server failing fast,
  :class:`~mqlb.degradations.FailFast`);
- timed_out: the client (or the load balancer's queue) gave up waiting;
- lost: accepted, then destroyed (a crashed server, an unroutable message);
- dead_lettered: dropped by the broker (queue overflow, delivery limit);
- in_system: sent, and still waiting or in service when the simulation stopped;
- not_sent: its arrival time lies after the end of the run (``until``, or an
  early stop): the client never sent it, so it is in no count of jobs, rate or
  summary figure;
- refused_locally: the client itself refused to send an attempt (adaptive
  throttling, an open circuit breaker): no server saw that attempt, and the
  job failed without costing the servers anything more.
"""
COMPLETED, REJECTED, TIMED_OUT, LOST, DEAD_LETTERED, IN_SYSTEM, NOT_SENT, REFUSED_LOCALLY = range(len(OUTCOMES))

RECORD_DTYPE = np.dtype([
    ("id", np.int64), ("kind", np.int16), ("queue", np.int16), ("size", np.float64),
    ("arrival", np.float64), ("start", np.float64), ("done", np.float64), ("end", np.float64),
    ("server", np.int32), ("attempts", np.int32), ("starts", np.int32), ("deliveries", np.int32),
    ("outcome", np.int8), ("work", np.float64),
])


EJECTION_DTYPE = [("time", float), ("server", np.int32), ("duration", float)]


@dataclass(frozen=True, eq=False)
class Timeline:
    """The system's state sampled every ``time[1] - time[0]`` seconds.

    ``queue`` (samples × queues): jobs waiting in the load balancer's queue or
    ready in each broker queue. Per server (samples × servers): ``in_flight``
    jobs held (waiting there, in service, or delivered and not yet acked),
    ``in_service``, ``memory_mb`` of the jobs in service, ``up`` (False while
    crashed). ``in_system``: jobs that have arrived and have no outcome yet.
    ``crashes``: (time, server) of every crash. ``ejections``: (time, server,
    duration) of every passive outlier ejection (:class:`~mqlb.ejection.Ejection`).

    Samples are evenly spaced from time 0. A run that lasts so long that the
    requested spacing would give more samples than the bound (500 000, fewer
    with many servers: at most ten million numbers in all) keeps every
    second sample, as often as needed: the spacing doubles, and
    ``time[1] - time[0]`` is always the spacing used.
    """

    time: np.ndarray
    queue: np.ndarray
    in_flight: np.ndarray
    in_service: np.ndarray
    memory_mb: np.ndarray
    up: np.ndarray
    in_system: np.ndarray
    crashes: np.ndarray
    ejections: np.ndarray = field(default_factory=lambda: np.array([], dtype=EJECTION_DTYPE))


@dataclass(frozen=True, eq=False)
class ServerStats:
    """Per-server counters kept during the run (arrays indexed by server)."""

    names: tuple
    capacity: np.ndarray        # work-seconds per second the server can do
    max_in_service: np.ndarray  # most jobs served at once
    max_memory_mb: np.ndarray   # most memory held by jobs in service (MB)
    crashes: np.ndarray         # times it ran out of memory
    up_s: np.ndarray | None = None   # seconds its machine ran (launch to stop, or the whole run)
    errors: np.ndarray | None = None   # error answers it gave while failing fast (mqlb.degradations)

    @property
    def machine_seconds(self) -> float:
        """Machine-seconds paid for: the sum of ``up_s`` (an autoscaler's stopped consumers cost nothing)."""
        return float(self.up_s.sum()) if self.up_s is not None else math.nan


@dataclass(frozen=True)
class Summary:
    """Figures derived from the records only (times in s, rates in jobs/s)."""

    jobs: int                # jobs the clients asked for (every record but the not_sent ones)
    completed: int
    rejected: int
    timed_out: int
    lost: int
    dead_lettered: int
    in_system: int
    not_sent: int            # arrival after the end of the run: in no other figure
    refused_locally: int     # the client refused an attempt itself (throttle, breaker): a failure
    span: float              # first arrival to last outcome (s)
    throughput: float        # jobs whose service finished, per second (useful or not)
    goodput: float           # completed jobs per second
    mean_response: float     # completed jobs: end - arrival
    p50_response: float
    p95_response: float
    p99_response: float
    max_response: float
    mean_wait: float         # completed jobs: start - arrival
    utilisation: float       # work done / (capacity × span)
    work: float              # server work spent, all attempts (s at speed 1)
    wasted_work: float       # work that produced no completed answer (s at speed 1)
    redelivered: int         # messages a broker delivered more than once

    @property
    def success_rate(self) -> float:
        return self.completed / self.jobs if self.jobs else float("nan")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def summarise(records: np.ndarray, capacity: float) -> Summary:
    """Summary of ``records`` (any subset of a result's records). Records
    ``not_sent`` are counted in ``not_sent`` and nowhere else."""
    counts = np.bincount(records["outcome"], minlength=len(OUTCOMES))
    records = records[records["outcome"] != NOT_SENT]
    outcome, arrival, end = records["outcome"], records["arrival"], records["end"]
    ok = outcome == COMPLETED
    n_ok = int(counts[COMPLETED])
    response = end[ok] - arrival[ok]
    ends = end[np.isfinite(end)]
    span = float(ends.max() - arrival.min()) if len(ends) else float("nan")
    served = int(np.isfinite(records["done"]).sum())
    work = float(records["work"].sum())
    rate = (lambda k: k / span) if span and span > 0 else (lambda k: float("nan"))
    p50, p95, p99 = np.percentile(response, [50, 95, 99]).tolist() if n_ok else [float("nan")] * 3
    return Summary(
        jobs=len(records),
        **{name: int(counts[i]) for i, name in enumerate(OUTCOMES)},
        span=span,
        throughput=rate(served),
        goodput=rate(n_ok),
        mean_response=float(response.mean()) if n_ok else float("nan"),
        p50_response=p50,
        p95_response=p95,
        p99_response=p99,
        max_response=float(response.max()) if n_ok else float("nan"),
        mean_wait=float((records["start"][ok] - arrival[ok]).mean()) if n_ok else float("nan"),
        utilisation=work / (capacity * span) if span and capacity and span > 0 else float("nan"),
        work=work,
        wasted_work=work - float(records["size"][ok].sum()),
        redelivered=int((records["deliveries"] > 1).sum()),
    )


@dataclass(frozen=True, eq=False)
class Result:
    """The outcome of :func:`mqlb.simulate`."""

    records: np.ndarray
    timeline: Timeline
    servers: ServerStats
    kinds: tuple
    queues: tuple
    capacity: float          # total work-seconds per second of all servers
    stopped_early: str | None = None   # why the run stopped before its work was done (None: it finished,
                                       # or stopped at the ``until`` it was given)
    engine: str = "events"   # what computed it: "events" (the SimPy model) or "recursion" (mqlb.fastpath)
    publish_blocked: tuple = ()   # (start_s, end_s) of each spell in which the broker's memory alarm
                                  # blocked publishers (Broker(memory_mb=...)); end_s is the run's end if still on

    def select(self, kind: str | None = None, queue: str | None = None) -> np.ndarray:
        """Records of one job class and/or one broker queue."""
        mask = np.ones(len(self.records), dtype=bool)
        if kind is not None:
            if kind not in self.kinds:
                raise ValueError(f"kind must be one of {', '.join(map(repr, self.kinds))}; got {kind!r}")
            mask &= self.records["kind"] == self.kinds.index(kind)
        if queue is not None:
            if queue not in self.queues:
                raise ValueError(f"queue must be one of {', '.join(map(repr, self.queues))}; got {queue!r}")
            mask &= self.records["queue"] == self.queues.index(queue)
        return self.records[mask]

    def summary(self, kind: str | None = None, queue: str | None = None) -> Summary:
        """Summary of all records, or of one job class / broker queue."""
        return summarise(self.select(kind, queue), self.capacity)

    def response_times(self, kind: str | None = None) -> np.ndarray:
        """Response times (s) of completed jobs, in job order."""
        r = self.select(kind)
        ok = r[r["outcome"] == COMPLETED]
        return ok["end"] - ok["arrival"]

    def outcome_counts(self, kind: str | None = None) -> dict:
        counts = np.bincount(self.select(kind)["outcome"], minlength=len(OUTCOMES))
        return {name: int(counts[i]) for i, name in enumerate(OUTCOMES)}
