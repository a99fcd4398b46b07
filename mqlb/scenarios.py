"""Canonical scenarios: the traffic surge and the four architectures that face it.

Chapters 8 and 9 compare the same four architectures on the same kind of job
stream. The builders here make those objects once, with validated,
documented parameters, so the two chapters (and the tests) cannot drift apart:

- :func:`surge_workload`: normal traffic, a customer's event that multiplies it
  for a while, then normal traffic again; a mix of light API requests and heavy
  jobs (think video or bulk imports) that need a lot of memory.
- :func:`architectures`: "LB push", "LB + queue", "MQ" and "Hybrid", built from
  machines of equal speed and memory, so every architecture has the same
  total capacity.

Two measures read a :class:`~mqlb.result.Result` of such a run:
:func:`recovery_time` (how long after the surge the system is back to normal)
and :func:`goodput_series` (answers delivered per second, over time).

These are pure functions: they build configuration objects or read results;
the simulation itself is :func:`mqlb.simulate`.

    >>> from mqlb import scenarios, simulate
    >>> wl = scenarios.surge_workload(seed=1, duration=120.0, surge_start=30.0, surge_end=60.0)
    >>> systems = scenarios.architectures(n_servers=4)
    >>> sorted(systems) == sorted(scenarios.ARCHITECTURES)
    True
    >>> simulate(systems["MQ"], wl).summary().lost
    0
"""

from __future__ import annotations

import math

import numpy as np

from . import _checks
from .arrivals import Spike
from .autoscale import Autoscaler
from .distributions import Exponential, LogNormal
from .hybrid import Hybrid
from .loadbalancer import LoadBalancer
from .messagequeue import MessageQueue, Queue
from .pathsplit import PathSplit
from .result import COMPLETED
from .server import Server
from .workload import JobClass, Workload, make_workload

__all__ = ["ARCHITECTURES", "HEAVY", "LIGHT", "MORE_ARCHITECTURES", "MOVING_PARTS", "SIMPLICITY", "architectures",
           "goodput_series", "more_architectures", "recovery_time", "split_queues", "surge_workload"]

#: Job class name of the light API requests.
LIGHT = "light"
#: Job class name of the heavy jobs.
HEAVY = "heavy"

#: The four architectures, simplest first.
ARCHITECTURES = ("LB push", "LB + queue", "MQ", "Hybrid")

#: Rank of each architecture by the number of moving parts an operator runs:
#: a balancer; a balancer with a queue and its limits; a broker with
#: consumers; a balancer *and* a broker (lower is simpler).
SIMPLICITY = {name: rank for rank, name in enumerate(ARCHITECTURES)}


def surge_workload(*, seed: int = 1,
                   base: float = 10.0,              # jobs/s before and after the surge
                   peak: float = 25.0,              # jobs/s during the surge
                   surge_start: float = 60.0,       # s
                   surge_end: float = 120.0,        # s
                   duration: float = 240.0,         # s of arrivals in all
                   light_share: float = 0.9,        # fraction of jobs that are light requests
                   light_size_s: float = 0.02,      # mean work of a light request, s at speed 1
                   light_memory_mb: float = 5.0,    # MB a light request holds while served
                   heavy_size_s: float = 2.0,       # mean work of a heavy job, s at speed 1
                   heavy_c2: float = 1.0,           # squared coefficient of variation of heavy sizes
                   heavy_memory_mb: float = 500.0,  # MB a heavy job holds while served
                   ) -> Workload:
    """A traffic surge over a mix of light requests and heavy jobs.

    Arrivals are Poisson at ``base`` jobs/s, at ``peak`` jobs/s between
    ``surge_start`` and ``surge_end``, then ``base`` again until ``duration``.
    A share ``light_share`` of the jobs are class ``"light"`` (exponential
    sizes of mean ``light_size_s``); the rest are class ``"heavy"``
    (log-normal sizes of mean ``heavy_size_s`` and squared coefficient of
    variation ``heavy_c2``). Both classes are always present, so every
    architecture can route both.
    """
    _checks.count("seed", seed, minimum=0)
    base = _checks.positive("base", base)
    peak = _checks.positive("peak", peak)
    surge_start = _checks.non_negative("surge_start", surge_start)
    surge_end = _checks.positive("surge_end", surge_end)
    duration = _checks.positive("duration", duration)
    if not surge_start < surge_end <= duration:
        raise ValueError(f"need surge_start < surge_end <= duration, got {surge_start!r}, {surge_end!r}, "
                         f"{duration!r}")
    light_share = _checks.number("light_share", light_share)
    if not 0.0 < light_share < 1.0:
        raise ValueError(f"light_share must be strictly between 0 and 1 (both classes present), got {light_share!r}")
    classes = [
        JobClass(LIGHT, Exponential(_checks.positive("light_size_s", light_size_s)),
                 memory_mb=_checks.non_negative("light_memory_mb", light_memory_mb), share=light_share),
        JobClass(HEAVY, LogNormal(_checks.positive("heavy_size_s", heavy_size_s),
                                  _checks.positive("heavy_c2", heavy_c2)),
                 memory_mb=_checks.non_negative("heavy_memory_mb", heavy_memory_mb), share=1.0 - light_share),
    ]
    return make_workload(Spike(base=base, peak=peak, start=surge_start, end=surge_end), classes=classes,
                         duration=duration, seed=seed)


def architectures(*, n_servers: int = 4,
                  server_memory_mb: float = 2000.0,   # MB each machine has for jobs in service
                  restart_s: float = 10.0,            # s a machine that ran out of memory stays down
                  conns_per_server: int = 4,          # "LB + queue": most open requests per server
                  api_servers: int = 1,               # "Hybrid": machines in the API tier
                  prefetch: int | None = 1,           # "MQ", "Hybrid": the queue's prefetch (None = unlimited)
                  stale_after_s: float | None = None,  # drop queued work older than this (s; None = keep it)
                  ) -> dict:
    """The four architectures on ``n_servers`` machines of speed 1.

    - ``"LB push"``: a least-connections load balancer sends every request to
      a server at once; a server starts a thread per request and the threads
      share its CPU (processor sharing), so every request it holds is in
      memory at the same time.
    - ``"LB + queue"``: the same servers, but the balancer opens at most
      ``conns_per_server`` connections to each and queues the rest (HAProxy
      ``maxconn`` with a queue).
    - ``"MQ"``: one queue; each machine is a consumer that takes one message at
      a time (prefetch 1) and works on it alone.
    - ``"Hybrid"``: ``api_servers`` machines behind a load balancer answer the
      light requests at once; the other machines consume the heavy jobs from
      a queue with prefetch 1 (asynchronous request-reply).

    ``stale_after_s`` (the clients' timeout): the balancer with a queue answers
    503 to a request queued that long and drops one whose client left (HAProxy
    ``timeout queue``, ``option abortonclose``); the queues dead-letter messages
    that old (RabbitMQ message TTL). ``prefetch`` is the queues' prefetch.

    Every architecture has the same total capacity (``n_servers`` work-seconds
    per second); the returned dict is ordered simplest first (:data:`ARCHITECTURES`).
    """
    n_servers = _checks.count("n_servers", n_servers, minimum=2)
    server_memory_mb = _checks.positive("server_memory_mb", server_memory_mb)
    restart_s = _checks.positive("restart_s", restart_s)
    conns_per_server = _checks.count("conns_per_server", conns_per_server)
    api_servers = _checks.count("api_servers", api_servers)
    if api_servers >= n_servers:
        raise ValueError(f"api_servers must leave at least one machine for the heavy jobs: "
                         f"got api_servers={api_servers} of n_servers={n_servers}")
    threaded = Server(slots=None, discipline="ps", memory_mb=server_memory_mb, restart_s=restart_s)
    consumer = Server(slots=1, memory_mb=server_memory_mb, restart_s=restart_s)
    drop = {} if stale_after_s is None else dict(queue_timeout=stale_after_s, abort_on_close=True)
    return {
        "LB push": LoadBalancer([threaded] * n_servers, policy="least_connections"),
        "LB + queue": LoadBalancer([threaded] * n_servers, policy="least_connections",
                                   max_conns=conns_per_server, on_full="queue", **drop),
        "MQ": MessageQueue(consumers=[consumer] * n_servers, prefetch=prefetch, message_ttl=stale_after_s),
        "Hybrid": Hybrid(front=LoadBalancer([threaded] * api_servers, policy="least_connections"),
                         back=MessageQueue(consumers=[consumer] * (n_servers - api_servers), prefetch=prefetch,
                                           message_ttl=stale_after_s),
                         back_kinds=(HEAVY,)),
    }


#: The architectures the wider advisor adds to the four.
MORE_ARCHITECTURES = ("Path split", "MQ, two queues", "MQ autoscaled")

#: Moving parts an operator runs, as a rank (lower is simpler), over all seven:
#: a balancer; + a connection cap and its queue; + routing by path to two
#: pools; a broker with consumers; + a second queue and its bindings; a
#: balancer *and* a broker; a broker + an autoscaler and machines it launches.
MOVING_PARTS = {name: rank for rank, name in enumerate(
    ("LB push", "LB + queue", "Path split", "MQ", "MQ, two queues", "Hybrid", "MQ autoscaled"))}


def split_queues(light_consumers, heavy_consumers, *, prefetch: int | None = 1,
                 light: str = LIGHT, heavy: str = HEAVY, message_ttl: float | None = None) -> MessageQueue:
    """A broker with a ``light`` and a ``heavy`` queue (direct exchange, bound
    to the job class names), each with its own dedicated consumers."""
    return MessageQueue(queues=[Queue(light, light_consumers, bindings=(light,), prefetch=prefetch,
                                      message_ttl=message_ttl),
                                Queue(heavy, heavy_consumers, bindings=(heavy,), prefetch=prefetch,
                                      message_ttl=message_ttl)], exchange="direct")


def more_architectures(*, n_servers: int = 4, server_memory_mb: float = 2000.0, restart_s: float = 10.0,
                       conns_per_server: int = 4, api_servers: int = 1, prefetch: int | None = 1,
                       stale_after_s: float | None = None, autoscaler: Autoscaler | None = None) -> dict:
    """The three architectures the wider advisor adds, on the machines of :func:`architectures`.

    - ``"Path split"``: the balancer routes by path: light requests to
      ``api_servers`` machines at once, heavy jobs to the others with at most
      ``conns_per_server`` connections each and the balancer's queue; no broker.
    - ``"MQ, two queues"``: a light and a heavy queue (:func:`split_queues`),
      ``api_servers`` consumers for the light one, the others for the heavy.
    - ``"MQ autoscaled"``: one queue, ``n_servers`` consumers to start with and
      ``autoscaler`` (default: on the age of the oldest message, above 2 s,
      read every 5 s, a new consumer takes 20 s to start, at most twice
      ``n_servers``; it never goes below ``n_servers``).

    ``stale_after_s``: drop queued work older than this (the clients' timeout:
    HAProxy ``timeout queue`` with ``option abortonclose``, RabbitMQ's message
    TTL); None keeps it. Dict ordered as :data:`MORE_ARCHITECTURES`.
    """
    n_servers = _checks.count("n_servers", n_servers, minimum=2)
    api_servers = _checks.count("api_servers", api_servers)
    if api_servers >= n_servers:
        raise ValueError(f"api_servers must leave at least one machine for the heavy jobs: "
                         f"got api_servers={api_servers} of n_servers={n_servers}")
    if autoscaler is None:
        autoscaler = Autoscaler(metric="age", threshold=2.0, interval_s=5.0, start_s=20.0,
                                max_consumers=2 * n_servers)
    _checks.instance("autoscaler", autoscaler, Autoscaler, "an Autoscaler or None")
    threaded = Server(slots=None, discipline="ps", memory_mb=server_memory_mb, restart_s=restart_s)
    consumer = Server(slots=1, memory_mb=server_memory_mb, restart_s=restart_s)
    drop = {} if stale_after_s is None else dict(queue_timeout=stale_after_s, abort_on_close=True)
    heavy = n_servers - api_servers
    return {
        "Path split": PathSplit(
            pools={"api": LoadBalancer([threaded] * api_servers, policy="least_connections"),
                   "jobs": LoadBalancer([threaded] * heavy, policy="least_connections", max_conns=conns_per_server,
                                        on_full="queue", **drop)},
            routes={HEAVY: "jobs"}, default="api"),
        "MQ, two queues": split_queues([consumer] * api_servers, [consumer] * heavy, prefetch=prefetch,
                                       message_ttl=stale_after_s),
        "MQ autoscaled": MessageQueue(queues=[Queue("jobs", [consumer] * n_servers, prefetch=prefetch,
                                                    message_ttl=stale_after_s, autoscaler=autoscaler)]),
    }


def recovery_time(result, surge_start: float, surge_end: float) -> float:
    """Seconds after ``surge_end`` until the system is back to normal.

    "Normal" is the most jobs ever in the system during the calm before the
    surge (the timeline's ``in_system`` before ``surge_start``); the system has
    recovered at the first sample at or after ``surge_end`` where ``in_system``
    is at or below that level. ``inf`` if that never happens in the run.
    Note that a system that *drops* jobs also recovers quickly by this measure:
    read it next to the losses.
    """
    surge_start = _checks.positive("surge_start", surge_start)
    surge_end = _checks.positive("surge_end", surge_end)
    tl = result.timeline
    calm = tl.time < surge_start
    if not calm.any():
        raise ValueError(f"the timeline has no sample before surge_start={surge_start!r}")
    normal = tl.in_system[calm].max()
    after = (tl.time >= surge_end) & (tl.in_system <= normal)
    return float(tl.time[after][0] - surge_end) if after.any() else math.inf


def goodput_series(result, bin_s: float, until: float | None = None, kind: str | None = None):
    """Answers delivered in time, per second, in bins of ``bin_s`` seconds.

    Completed jobs are counted in the bin of their ``end`` time (when the client
    got the answer). Returns ``(bin_starts, goodput)``, both NumPy arrays;
    ``until`` (s) is the end of the last bin (default: the last answer).
    """
    bin_s = _checks.positive("bin_s", bin_s)
    records = result.select(kind)
    ok = records[records["outcome"] == COMPLETED]
    if until is None:
        until = float(ok["end"].max()) if len(ok) else bin_s
    until = _checks.positive("until", until)
    edges = np.arange(0.0, until + bin_s, bin_s)
    counts, _ = np.histogram(ok["end"], edges)
    return edges[:-1], counts / bin_s
