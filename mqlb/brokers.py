"""Other brokers, built from the model's parts: a partitioned log and a polled queue.

A partitioned log (Kafka): a topic is split into *partitions*; a message goes to
the partition its key hashes to, and within a consumer group each partition is
read by exactly one consumer, in order. :func:`keyed` gives each job its
partition (as its class, the routing key) and :func:`partitioned_log` builds
the topic as a :class:`MessageQueue` with one queue and one consumer per
partition, so a slow message holds up every later message of its partition.
Kafka hashes keys with murmur2; here it is BLAKE2b, which, like murmur2, looks
random: consecutive keys land on unrelated partitions.

A polled cloud queue (SQS): consumers ask for messages. With long polling a
receive waits until a message arrives, which the model treats as a push
(``Broker(poll_interval=0)``, the receive's round trip as ``deliver_latency``);
with short polling an empty receive is retried after ``Broker.poll_interval``.
A received message is hidden for a *visibility timeout*; if the consumer has not
deleted it by then it becomes visible and is received again, while the first
consumer may still work on it. The model does not redeliver such messages:
:func:`visibility_expiries` counts, from a run, how often each message would
have become visible again before its consumer finished (each time, another
consumer may start the same job: duplicate work).
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import _checks
from .messagequeue import Broker, MessageQueue, Queue
from .result import Result
from .server import Server
from .workload import Workload


def partition_of(keys, partitions: int) -> np.ndarray:
    """Partition index (0 .. partitions-1) of each message key: a hash of the key's text."""
    partitions = _checks.count("partitions", partitions)
    return np.array([int.from_bytes(hashlib.blake2b(str(k).encode(), digest_size=8).digest(), "little")
                     % partitions for k in keys], dtype=np.int16)


def keyed(workload: Workload, partitions: int, keys=None) -> Workload:
    """The same jobs, each job's class replaced by its partition (``"p0"``, ``"p1"``, ...).

    keys: one message key per job (e.g. a customer id); None = every job its own
    key (its job id). Arrivals, sizes and memory are unchanged, so the result
    runs on the same job stream as ``workload``.
    """
    _checks.instance("workload", workload, Workload, "a Workload (see make_workload)")
    partitions = _checks.count("partitions", partitions)
    keys = np.arange(len(workload)) if keys is None else keys
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__len__") or len(keys) != len(workload):
        raise ValueError(f"keys must be one key per job ({len(workload)}), got {_checks.short(keys)}")
    return Workload(workload.arrival, workload.size, workload.memory_mb, partition_of(keys, partitions),
                    tuple(f"p{i}" for i in range(partitions)),
                    f"{workload.description}, keyed onto {partitions} partitions".lstrip(", "))


def partitioned_log(partitions: int, consumer: Server = Server(slots=1), broker: Broker = Broker()) -> MessageQueue:
    """A topic of ``partitions`` partitions read by one consumer group: one queue per
    partition (bound to the routing key ``"p<i>"`` that :func:`keyed` gives), each
    with one ``consumer`` that reads it in order (prefetch 1)."""
    partitions = _checks.count("partitions", partitions)
    _checks.instance("consumer", consumer, Server, "a Server")
    if consumer.slots != 1:
        raise ValueError(f"consumer must have slots=1 (a partition is read in order), got slots={consumer.slots!r}")
    return MessageQueue(queues=[Queue(f"p{i}", consumers=[consumer], bindings=(f"p{i}",), prefetch=1)
                                for i in range(partitions)], exchange="direct", broker=broker)


def visibility_expiries(result: Result, visibility_timeout: float) -> np.ndarray:
    """Per record: how many times the message's visibility timeout (s) ran out while
    its consumer still worked on it (0 for jobs never started or not finished), counting
    from the start of service: each one would let another consumer receive it again."""
    _checks.instance("result", result, Result, "a Result of mqlb.simulate")
    visibility_timeout = _checks.seconds("visibility_timeout", visibility_timeout)
    r = result.records
    busy = np.where(np.isfinite(r["start"]) & np.isfinite(r["done"]), r["done"] - r["start"], 0.0)
    return np.maximum(np.ceil(busy / visibility_timeout) - 1, 0).astype(int)
