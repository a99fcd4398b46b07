"""Consumer settings people actually run: Celery's defaults beside careful ones.

A Celery worker runs ``processes`` worker processes (its concurrency) and
reserves ``worker_prefetch_multiplier × processes`` messages from the broker
(default multiplier 4). By default it acknowledges a message just before the
task runs (``task_acks_late=False``), so a worker that dies loses the tasks it
was running, and its prefetch credit comes back as each task starts. The
careful settings acknowledge after the task (``task_acks_late=True``) and
reserve one message per process (multiplier 1): a crash sends the messages
back to the queue, and a worker holds no more than it runs.

    >>> from mqlb import presets
    >>> presets.celery_default(workers=2, processes=4).queues[0].prefetch
    16
"""

from __future__ import annotations

from . import _checks
from .messagequeue import Broker, MessageQueue
from .server import Server

__all__ = ["CELERY_PREFETCH_MULTIPLIER", "careful", "celery_default", "celery_queue"]

CELERY_PREFETCH_MULTIPLIER = 4
"""Celery's default ``worker_prefetch_multiplier``."""


def celery_queue(workers: int, processes: int = 1, *, prefetch_multiplier: int = CELERY_PREFETCH_MULTIPLIER,
                 acks_late: bool = False, server: Server = Server(), broker: Broker = Broker()) -> MessageQueue:
    """One queue consumed by ``workers`` Celery workers of ``processes`` processes each.

    server: one worker's machine; its ``slots`` are replaced by ``processes``.
    Prefetch per worker = ``prefetch_multiplier × processes``; ``acks_late``
    False = ack when the task starts (``Queue(ack="early")``).
    """
    workers = _checks.count("workers", workers)
    processes = _checks.count("processes", processes)
    prefetch_multiplier = _checks.count("prefetch_multiplier", prefetch_multiplier)
    if not isinstance(acks_late, bool):
        raise TypeError(f"acks_late must be True or False, got {acks_late!r}")
    _checks.instance("server", server, Server, "a Server")
    worker = Server(speed=server.speed, slots=processes, backlog=server.backlog, memory_mb=server.memory_mb,
                    restart_s=server.restart_s, discipline=server.discipline)
    return MessageQueue(consumers=[worker] * workers, prefetch=prefetch_multiplier * processes,
                        ack="late" if acks_late else "early", broker=broker)


def celery_default(workers: int, processes: int = 1, **kwargs) -> MessageQueue:
    """Celery's defaults: ``task_acks_late=False``, ``worker_prefetch_multiplier=4``."""
    return celery_queue(workers, processes, prefetch_multiplier=CELERY_PREFETCH_MULTIPLIER, acks_late=False, **kwargs)


def careful(workers: int, processes: int = 1, **kwargs) -> MessageQueue:
    """Careful settings: ``task_acks_late=True``, ``worker_prefetch_multiplier=1``."""
    return celery_queue(workers, processes, prefetch_multiplier=1, acks_late=True, **kwargs)
