"""A message queue: producers publish, consumers take only what they can handle.

Clients publish each job as a message to an *exchange*, which routes it by its
routing key (the job class name) to one or more named *queues*: ``direct``
(the key equals a binding), ``fanout`` (every queue) or ``topic`` (patterns
such as ``video.*`` or ``image.#``). Each queue hands messages to its consumers
(AMQP ``basic.consume``): a consumer holds at most ``prefetch`` unacknowledged
messages and acknowledges each one after processing it, which returns the
credit. With ``prefetch=None`` (no limit) the broker deals messages out round
robin however busy a consumer is. If a consumer crashes, its unacknowledged
messages go back to the head of the queue and are delivered again.

The broker's own limits (:class:`Broker`): every message it holds, ready or
delivered and not yet acknowledged, costs ``message_kb`` of its memory; when
they reach the memory high watermark, the broker blocks publishers (RabbitMQ's
memory alarm) until acknowledgements bring memory back below the mark. With
``persistent_write_s`` every message is written to one disk, one write at a
time, before it joins its queue. A queue with ``ack="early"`` acknowledges a
message when its consumer starts the work (Celery's default): the credit comes
back at once, and a crash loses what was in service.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import _checks
from .queueorder import MESSAGE_PRIORITIES, PriorityReady, priorities
from .autoscale import Autoscaler, AutoscalerRun
from .result import DEAD_LETTERED, LOST, REJECTED
from .server import Node, Server

EXCHANGES = ("direct", "fanout", "topic")
OVERFLOW = ("drop_head", "reject_publish")
ACKS = ("late", "early")


@dataclass(frozen=True)
class Broker:
    """Timing of the broker hops (seconds).

    publish_latency: client → queue. deliver_latency: queue → consumer.
    ack_latency: consumer's ack → broker (until then the message still uses
    prefetch credit). reply_latency: consumer's result → the waiting client.
    poll_interval: 0 = the broker pushes to consumers (``basic.consume``);
    > 0 = consumers poll (``basic.get``) and, finding the queue empty, ask again
    after this many seconds.

    The broker's own limits (defaults: none). memory_mb: the broker machine's
    memory (MB; inf = no memory alarm). high_watermark: the fraction of it the
    broker may fill with messages before it blocks publishers (RabbitMQ's
    ``vm_memory_high_watermark``; 0.4 is its default up to 3.13, 0.6 from
    4.0). message_kb: memory one held message costs, ready or unacknowledged
    (KB: payload plus overhead). The
    broker blocks a publish while the messages it holds cost at least
    ``high_watermark × memory_mb``, and admits blocked publishes, oldest
    first, as acknowledgements free memory. A client that has given up by
    then (its timeout) withdraws its message. persistent_write_s: seconds to
    write one persistent message to disk (0 = transient messages); one disk
    writes one message at a time, and a message joins its queue when it is
    written.
    """

    publish_latency: float = 0.0
    deliver_latency: float = 0.0
    ack_latency: float = 0.0
    reply_latency: float = 0.0
    poll_interval: float = 0.0
    memory_mb: float = math.inf
    high_watermark: float = 0.4
    message_kb: float = 1.0
    persistent_write_s: float = 0.0

    def __post_init__(self):
        for name in ("publish_latency", "deliver_latency", "ack_latency", "reply_latency", "poll_interval",
                     "persistent_write_s"):
            object.__setattr__(self, name, _checks.seconds(name, getattr(self, name), allow_zero=True))
        object.__setattr__(self, "memory_mb", _checks.positive("memory_mb", self.memory_mb, allow_inf=True))
        object.__setattr__(self, "message_kb", _checks.positive("message_kb", self.message_kb))
        mark = _checks.number("high_watermark", self.high_watermark)
        if not 0.0 < mark <= 1.0:
            raise ValueError(f"high_watermark must be a fraction of the broker's memory, > 0 and <= 1, got {mark!r}")
        object.__setattr__(self, "high_watermark", mark)

    @property
    def message_room(self) -> float:
        """Messages the broker holds before its memory alarm blocks publishers
        (inf without a memory limit): ceil(high_watermark × memory_mb / message size)."""
        if math.isinf(self.memory_mb):
            return math.inf
        return math.ceil(self.high_watermark * self.memory_mb * 1024 / self.message_kb - 1e-9)

    @property
    def round_trip(self) -> float:
        """Seconds of broker overhead one request/reply adds when nothing waits."""
        return self.publish_latency + self.deliver_latency + self.reply_latency


@dataclass(frozen=True)
class Queue:
    """A named queue with its consumers.

    consumers: the consumer processes (a list of :class:`Server`).
    bindings: routing keys (direct) or patterns (topic) that route to this
        queue; None = every message.
    prefetch: most unacknowledged messages per consumer (None = unlimited).
    max_length: most ready messages (None = unlimited); when full, ``overflow``
        "drop_head" dead-letters the oldest, "reject_publish" refuses the new one.
    delivery_limit: dead-letter a message after this many deliveries that
        crashed their consumer (None = redeliver for ever).
    message_ttl: seconds a message may wait in the queue; an expired message
        is dead-lettered when it reaches the head (None = no expiry).
    priorities: job class name (routing key) -> message priority, 0..255, for
        a queue declared with ``x-max-priority``: the highest priority is
        delivered first, first in first out within one; classes not named
        get 0. A consumer finishes what it holds (not preemptive); with
        ``overflow="drop_head"`` the message dropped is the one next in line.
        None = a plain queue.
    ack: "late" (default): a consumer acknowledges a message after processing
        it; "early": when it starts processing it (Celery's default,
        ``task_acks_late=False``): the prefetch credit comes back at the start,
        and a crash loses the messages in service (outcome ``lost``).
    autoscaler: launches and stops consumers at run time
        (:class:`~mqlb.autoscale.Autoscaler`; None = the consumers are fixed).
    """

    name: str
    consumers: tuple
    bindings: tuple | None = None
    prefetch: int | None = 1
    max_length: int | None = None
    overflow: str = "drop_head"
    delivery_limit: int | None = None
    message_ttl: float | None = None
    priorities: dict | None = None
    ack: str = "late"
    autoscaler: Autoscaler | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        consumers = tuple(self.consumers) if isinstance(self.consumers, (list, tuple)) else None
        if not consumers:
            raise ValueError(f"consumers must be a non-empty list of Server for queue {self.name!r}, got {self.consumers!r}")
        for c in consumers:
            _checks.instance("consumers", c, Server, "a list of Server")
        object.__setattr__(self, "consumers", consumers)
        if self.bindings is not None:
            if isinstance(self.bindings, str) or not hasattr(self.bindings, "__iter__") \
                    or not all(isinstance(b, str) and b for b in self.bindings):
                raise TypeError(f"bindings must be a list of non-empty strings or None, got {self.bindings!r}")
            for b in self.bindings:
                check_routing_key("bindings", b)
            object.__setattr__(self, "bindings", tuple(self.bindings))
        object.__setattr__(self, "prefetch", _checks.count("prefetch", self.prefetch, allow_none=True))
        object.__setattr__(self, "max_length", _checks.count("max_length", self.max_length, minimum=0, allow_none=True))
        _checks.choice("overflow", self.overflow, OVERFLOW)
        object.__setattr__(self, "delivery_limit", _checks.count("delivery_limit", self.delivery_limit, allow_none=True))
        if self.message_ttl is not None:
                object.__setattr__(self, "message_ttl", _checks.seconds("message_ttl", self.message_ttl, allow_inf=True))
        object.__setattr__(self, "priorities", priorities("priorities", self.priorities, MESSAGE_PRIORITIES))
        _checks.choice("ack", self.ack, ACKS)
        if self.autoscaler is not None:
            _checks.instance("autoscaler", self.autoscaler, Autoscaler, "an Autoscaler or None")
            self.autoscaler.check_queue(self.name, len(consumers))


MAX_KEY_BYTES = 255
"""Longest routing key or binding, in bytes of UTF-8: RabbitMQ's limit
(https://www.rabbitmq.com/tutorials/tutorial-five-python)."""


def check_routing_key(name: str, key: str) -> str:
    """Refuse a routing key or binding pattern longer than ``MAX_KEY_BYTES``."""
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise ValueError(f"{name} must be at most {MAX_KEY_BYTES} bytes (RabbitMQ's limit for a routing key), "
                         f"got {size} bytes: {_checks.short(key)}")
    return key


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: words split on '.', '*' = one word, '#' = zero or more.

    Dynamic programming over (pattern words, key words): time proportional to
    their product, however many '#' the pattern has.
    """
    p, k = pattern.split("."), key.split(".")
    # reach[j]: the pattern words seen so far can match the first j key words
    reach = [True] + [False] * len(k)
    for word in p:
        if word == "#":
            for j in range(1, len(k) + 1):        # '#' extends any match by zero or more words
                reach[j] = reach[j] or reach[j - 1]
        else:
            for j in range(len(k), 0, -1):        # one word: shift right where it matches
                reach[j] = reach[j - 1] and (word == "*" or word == k[j - 1])
            reach[0] = False
    return reach[len(k)]


def expand_routes(table: list, kind: np.ndarray):
    """One record per (job, destination): ``table[k]`` lists the queue indices
    of job class k. Returns (job id, queue index) arrays, grouped by job."""
    width = max(len(r) for r in table)
    padded = np.array([r + [-1] * (width - len(r)) for r in table], dtype=np.int16)
    counts = np.array([len(r) for r in table])[kind]
    rec_job = np.repeat(np.arange(len(kind)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return rec_job, padded[kind[rec_job], np.arange(len(rec_job)) - first]


@dataclass(frozen=True)
class MessageQueue:
    """Configuration of a broker and its consumers.

    For one queue that receives every job: ``MessageQueue(consumers=[...],
    prefetch=1, max_length=..., overflow=..., delivery_limit=...,
    message_ttl=..., ack=...)``. For several
    queues: ``MessageQueue(queues=[Queue(...), ...], exchange="topic")``.
    """

    consumers: tuple = ()
    prefetch: int | None = 1
    max_length: int | None = None
    overflow: str = "drop_head"
    delivery_limit: int | None = None
    message_ttl: float | None = None
    queues: tuple = ()
    exchange: str = "direct"
    broker: Broker = Broker()
    ack: str = "late"

    def __post_init__(self):
        _checks.choice("exchange", self.exchange, EXCHANGES)
        _checks.instance("broker", self.broker, Broker, "a Broker")
        if self.queues:
            if self.consumers:
                raise ValueError("give either consumers (one queue) or queues, not both")
            queues = tuple(self.queues)
            for q in queues:
                _checks.instance("queues", q, Queue, "a list of Queue")
            names = [q.name for q in queues]
            if len(set(names)) != len(names):
                raise ValueError(f"queue names must be unique, got {names}")
        else:
            queues = (Queue("jobs", self.consumers, None, self.prefetch, self.max_length,
                            self.overflow, self.delivery_limit, self.message_ttl, ack=self.ack),)
        object.__setattr__(self, "queues", queues)
        object.__setattr__(self, "consumers", ())

    @property
    def capacity(self) -> float:
        """Work-seconds per second all consumers together can do."""
        return sum(c.capacity for q in self.queues for c in q.consumers)

    def route(self, key: str) -> list:
        """Indices of the queues a message with routing key ``key`` reaches."""
        check_routing_key("key", key)
        out = []
        for i, q in enumerate(self.queues):
            if self.exchange == "fanout" or q.bindings is None:
                out.append(i)
            elif self.exchange == "direct" and key in q.bindings:
                out.append(i)
            elif self.exchange == "topic" and any(topic_matches(b, key) for b in q.bindings):
                out.append(i)
        return out

    def routes(self, workload):
        """Record layout: (job id, queue index) per message; -1 = unroutable."""
        return expand_routes([self.route(name) or [-1] for name in workload.kinds], workload.kind)

    def _layout(self, workload):
        self.check_workload(workload)
        return (*self.routes(workload), tuple(q.name for q in self.queues))

    def _start(self, env, run, seed: int):
        return MessageQueueRun(env, self, run)

    def check_workload(self, workload, kinds=None) -> None:
        """Refuse a run that would redeliver a message for ever (``kinds``: the
        job classes published to this broker; default all)."""
        for i, q in enumerate(self.queues):
            if q.delivery_limit is not None:
                continue
            reach = [k for k, name in enumerate(workload.kinds)
                     if i in self.route(name) and (kinds is None or name in kinds)]
            mask = np.isin(workload.kind, reach)
            biggest = float(workload.memory_mb[mask].max(initial=0.0))
            room = max(c.memory_mb for c in q.consumers)
            if biggest > room:
                raise ValueError(
                    f"a job needs {biggest:g} MB but every consumer of queue {q.name!r} has at most "
                    f"{room:g} MB: it would crash them and be redelivered for ever; "
                    f"give the queue a delivery_limit or the consumers more memory_mb")


class _Consumer:
    """A consumer's broker-side state: its credit and acks in transit."""

    __slots__ = ("node", "queue", "unacked", "acking", "epoch", "listed", "wake", "early", "active", "launched",
                 "up_s")

    def __init__(self, node, queue, active: bool = True):
        self.node, self.queue = node, queue
        self.active = active      # takes messages (False: not launched yet, starting, or stopped)
        self.launched = 0.0 if active else None   # when its machine was launched (s); None = not running
        self.up_s = 0.0           # seconds its machine ran before its last stop
        self.unacked = 0          # delivered and not yet acked (in transit, buffered, in service, ack on its way)
        self.acking: list = []    # processed, ack still travelling to the broker
        self.epoch = 0            # bumped at each crash: late acks of the old connection are void
        self.listed = False       # in its queue's list of consumers with credit
        self.wake = None          # poll mode: event a waiting consumer sleeps on
        self.early: set = set()   # ack="early": messages acked when their work started, still in service


class _QueueRun:
    def __init__(self, index, spec: Queue, run):
        self.index, self.spec = index, spec
        if spec.priorities is None:
            self.ready = deque()
        else:                              # ready messages by priority (the same methods as a deque)
            by_kind = [spec.priorities.get(name, 0) for name in run.kinds]
            self.ready = PriorityReady([by_kind[k] for k in run.kind])
        self.consumers: list = []
        self.hungry: deque = deque()   # consumers that may have credit, round-robin order
        self.limit = math.inf if spec.prefetch is None else spec.prefetch
        self.early = spec.ack == "early"


class MessageQueueRun:
    """A running broker with its consumers (created by :func:`mqlb.simulate`)."""

    def __init__(self, env, spec: MessageQueue, run, first_number: int = 0, queue_offset: int = 0):
        self.env, self.spec, self.run = env, spec, run
        self.queue_offset = queue_offset      # record queue index of this broker's first queue
        self.timing = spec.broker
        self.queues = [_QueueRun(i, q, run) for i, q in enumerate(spec.queues)]
        self.nodes, self.consumer_of, self.specs, self.node_names = [], [], [], []
        for q in self.queues:
            scaler = q.spec.autoscaler
            fixed = len(q.spec.consumers)
            servers = q.spec.consumers + (q.spec.consumers[-1],) * ((scaler.max_consumers - fixed) if scaler else 0)
            for k, server in enumerate(servers):
                node = Node(env, len(self.nodes), server, self, run, first_number + len(self.nodes))
                consumer = _Consumer(node, q, active=k < fixed)
                q.consumers.append(consumer)
                self.nodes.append(node)
                self.consumer_of.append(consumer)
                self.specs.append(server)
                self.node_names.append(f"{q.spec.name}[{k}]")
                if q.early:
                    node.on_start = self.on_start
        self.node_names = tuple(self.node_names)
        self.polling = self.timing.poll_interval > 0
        self.room = self.timing.message_room   # messages held before the memory alarm
        self.held = 0                          # messages held: being written, ready or unacknowledged
        self.blocked: deque = deque()          # publishes waiting for the alarm to clear, oldest first
        self.unblocking = False                # a resume is scheduled
        self.disk_free = 0.0                   # when the disk finishes its last queued write (s)
        self.alarms: list = []                 # [start, end] of each spell of blocked publishes (s)
        self.delivering = False                # inside _deliver: the dispatch loop relists the consumer
        for c in self.consumer_of:
            if self.polling:
                env.process(self._poller(c))
            else:
                self._list(c)
        self.autoscalers = [AutoscalerRun(env, q.spec.autoscaler, self, q) for q in self.queues if q.spec.autoscaler]
        for scaler in self.autoscalers:
            env.process(scaler.process())

    @property
    def queue_lengths(self):
        return tuple(len(q.ready) for q in self.queues)

    def in_transit(self, node) -> int:
        """Messages processed by ``node`` whose ack has not reached the broker."""
        return len(self.consumer_of[node.index].acking)

    # -- publishing ----------------------------------------------------------------
    def send(self, task) -> None:
        if self.timing.publish_latency > 0:
            self.env.timeout(self.timing.publish_latency).callbacks.append(lambda _e: self._receive(task))
        else:
            self._receive(task)

    # -- the broker's memory and disk --------------------------------------------------
    def _receive(self, task) -> None:
        """A publish reaches the broker: blocked while the memory alarm is on
        (or while older publishes wait), else accepted."""
        if self.blocked or self.held >= self.room:
            if not self.blocked and not (self.alarms and self.alarms[-1][1] is None):
                self.alarms.append([self.env.now, None])
            self.blocked.append(task)
            return
        self._accept(task)

    def _accept(self, task) -> None:
        """Hold the message in memory; a persistent one joins its queue once written."""
        self.held += 1
        write = self.timing.persistent_write_s
        if write > 0:
            self.disk_free = max(self.env.now, self.disk_free) + write
            self.env.timeout(self.disk_free - self.env.now).callbacks.append(lambda _e: self._publish(task))
        else:
            self._publish(task)

    def _release(self) -> None:
        """A message leaves the broker's memory (acked or dropped)."""
        self.held -= 1
        if self.blocked and self.held < self.room and not self.unblocking:
            self.unblocking = True        # resume after the current event: no dispatch inside a dispatch
            self.env.timeout(0).callbacks.append(self._resume)

    def _resume(self, _event) -> None:
        """Memory fell below the mark: admit blocked publishes, oldest first,
        while it stays below; a client that gave up withdraws its message."""
        self.unblocking = False
        while self.blocked and self.held < self.room:
            task = self.blocked.popleft()
            if self.run.client_gone(task):
                self.run.ended(task)
            else:
                self._accept(task)
        if not self.blocked and self.alarms and self.alarms[-1][1] is None:
            self.alarms[-1][1] = self.env.now

    def _drop(self, task, outcome: int) -> None:
        self._release()
        self.run.failed(task, outcome)

    def _publish(self, task) -> None:
        q = self.queues[self.run.queue[task.rec] - self.queue_offset]
        limit = q.spec.max_length
        if limit is not None and len(q.ready) >= limit:
            if q.spec.overflow == "reject_publish" or limit == 0:
                self._drop(task, REJECTED)
                return
            self._drop(q.ready.popleft(), DEAD_LETTERED)
        task.queued = self.env.now
        q.ready.append(task)
        self._dispatch(q)

    # -- delivering ------------------------------------------------------------------
    def _list(self, c) -> None:
        if not c.listed and c.node.up and c.active and c.unacked < c.queue.limit:
            c.listed = True
            c.queue.hungry.append(c)

    def _next_message(self, q):
        """The head of the queue, dead-lettering expired messages on the way."""
        ttl = q.spec.message_ttl
        while q.ready:
            task = q.ready.popleft()
            if ttl is None or self.env.now - task.queued <= ttl:
                return task
            self._drop(task, DEAD_LETTERED)
        return None

    def _dispatch(self, q) -> None:
        """Push ready messages to consumers with credit, round robin."""
        if self.polling:
            return
        ready, hungry, limit, ttl = q.ready, q.hungry, q.limit, q.spec.message_ttl
        while ready and hungry:
            c = hungry.popleft()
            c.listed = False
            if not c.node.up or not c.active or c.unacked >= limit:
                continue
            task = ready.popleft() if ttl is None else self._next_message(q)
            if task is not None:
                self._deliver(c, task)
            if c.unacked < limit:
                c.listed = True
                hungry.append(c)

    def _deliver(self, c, task) -> None:
        c.unacked += 1
        task.deliveries += 1
        self.run.deliveries[task.rec] += 1
        task.ready_at = self.env.now + self.timing.deliver_latency
        self.delivering = True
        c.node.accept(task)
        self.delivering = False

    def _poller(self, c):
        """Poll mode: a consumer with credit asks for a message; an empty queue
        makes it wait ``poll_interval`` before asking again."""
        env, q = self.env, c.queue
        while True:
            if c.node.up and c.active and c.unacked < q.limit:
                task = self._next_message(q)
                if task is not None:
                    self._deliver(c, task)
                    continue
                yield env.timeout(self.timing.poll_interval)
            else:
                c.wake = env.event()
                yield c.wake

    def _credit_back(self, c) -> None:
        if self.polling:
            if c.wake is not None and not c.wake.triggered:
                c.wake.succeed()
        else:
            self._list(c)
            self._dispatch(c.queue)

    # -- consumer events ------------------------------------------------------------
    def on_start(self, node, task) -> None:
        """ack="early": the consumer acks as the work starts; the credit comes back.
        (The ack is counted at once: its travel overlaps the work.)"""
        c = self.consumer_of[node.index]
        c.early.add(task)
        c.unacked -= 1
        self._release()
        if not self.delivering:           # else the dispatch loop lists the consumer again
            self._credit_back(c)

    def on_finish(self, node, task) -> None:
        c = self.consumer_of[node.index]
        self.run.completed(task, self.env.now + self.timing.reply_latency)
        if c.queue.early:
            c.early.discard(task)         # acked when it started
            return
        if self.timing.ack_latency > 0:
            c.acking.append(task)
            epoch = c.epoch
            self.env.timeout(self.timing.ack_latency).callbacks.append(lambda _e: self._acked(c, task, epoch))
        else:
            c.unacked -= 1
            self._release()
            if self.polling:
                self._credit_back(c)
            else:                          # credit back: list the consumer, dispatch
                if not c.listed and c.node.up and c.active:
                    c.listed = True
                    c.queue.hungry.append(c)
                self._dispatch(c.queue)

    def _acked(self, c, task, epoch) -> None:
        if c.epoch != epoch:
            return                        # the connection died first: the message was requeued
        c.acking.remove(task)
        c.unacked -= 1
        self._release()
        self._credit_back(c)

    def on_crash(self, node, tasks) -> None:
        """Unacked messages go back to the head of the queue (in their original
        order); messages acked early are lost with the consumer."""
        c = self.consumer_of[node.index]
        q = c.queue
        if c.early:
            for task in [t for t in tasks if t in c.early]:
                self.run.failed(task, LOST)
            tasks = [t for t in tasks if t not in c.early]
            c.early.clear()
        for task in c.acking:
            self.run.revived(task)        # processed, but the broker never heard: it comes back
        back = sorted(tasks + c.acking, key=lambda t: t.rec)
        c.acking = []
        c.unacked = 0
        c.epoch += 1
        limit = q.spec.delivery_limit
        for task in reversed(back):
            if limit is not None and task.deliveries >= limit:
                self._drop(task, DEAD_LETTERED)
            else:
                q.ready.appendleft(task)
        self._dispatch(q)

    def on_restart(self, node) -> None:
        self._credit_back(self.consumer_of[node.index])

    # -- consumers added and removed at run time (autoscaling) -------------------------
    def launch(self, c, start_s: float) -> None:
        """Launch consumer ``c``'s machine now; it takes messages ``start_s`` s later."""
        c.launched = self.env.now
        self.env.timeout(start_s).callbacks.append(lambda _e: self._activate(c))

    def _activate(self, c) -> None:
        c.active = True
        self._credit_back(c)

    def stop(self, c) -> None:
        """Stop an idle consumer: it takes nothing more and its machine stops costing."""
        c.active = False
        c.up_s += self.env.now - c.launched
        c.launched = None

    def up_seconds(self, now: float) -> list:
        """Seconds each consumer's machine has run by ``now`` (launch to stop)."""
        return [c.up_s + (now - c.launched if c.launched is not None else 0.0) for c in self.consumer_of]
