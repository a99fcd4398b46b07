"""The timeline of a run: the system's state sampled at even intervals."""

from __future__ import annotations

import math

import numpy as np

from . import _checks
from .result import Timeline


def _delay_to(now: float, when: float) -> float:
    """The delay that SimPy adds to ``now`` to land exactly on ``when``."""
    delay = when - now
    for _ in range(4):
        if now + delay < when:
            delay = math.nextafter(delay, math.inf)
        elif now + delay > when:
            delay = math.nextafter(delay, -math.inf)
        else:
            break
    return delay


class Sampler:
    """The timeline: the state every ``every`` seconds from time 0.

    The state changes only at events, so a stretch of samples before the next
    event is recorded at once, as one state and a count: a run costs in
    proportion to its events, however long it idles. Beyond
    ``_checks.max_samples`` samples the spacing doubles (every second sample is kept).
    """

    def __init__(self, env, net, run, every: float, room: int | None = None):
        self.env, self.net, self.run, self.every = env, net, run, every
        self.times: list = []      # sample times (s)
        self.runs: list = []       # [count, state]: consecutive samples with one state
        self.next = 0.0            # time of the next sample (s)
        bound = _checks.max_samples(len(net.nodes), len(net.queue_lengths))
        self.room = bound if room is None else min(room, bound)   # most samples kept

    def state(self):
        nodes, net = self.net.nodes, self.net
        return (net.queue_lengths, [n.held + net.in_transit(n) for n in nodes], [len(n.serving) for n in nodes],
                [n.memory for n in nodes], [n.up for n in nodes], self.run.in_system)

    def process(self):
        env, times, runs = self.env, self.times, self.runs
        while True:
            state = self.state()
            upcoming = env.peek()            # nothing changes before this event
            t, count = self.next, 0
            while True:
                times.append(t)
                count += 1
                t += self.every
                if len(times) > self.room:
                    runs.append([count, state])
                    count = 0
                    self._coarsen()
                    t = times[-1] + self.every
                if not t < upcoming or math.isinf(upcoming):
                    break
                while len(times) >= self.room or (upcoming - t) / self.every > self.room - len(times):
                    runs.append([count, state])    # too many samples ahead: coarsen first
                    count = 0
                    self._coarsen()
                    t = times[-1] + self.every
                if not t < upcoming:
                    break
            if count:
                runs.append([count, state])
            self.next = t
            if math.isinf(upcoming):
                return                       # nothing left to happen
            yield env.timeout(_delay_to(env.now, t))

    def _coarsen(self) -> None:
        """Keep every second sample (indices 0, 2, 4, ...); double the spacing."""
        first, kept = 0, []
        for count, state in self.runs:
            evens = (first + count + 1) // 2 - (first + 1) // 2
            if evens:
                kept.append([evens, state])
            first += count
        self.runs[:] = kept
        self.times[:] = self.times[::2]
        self.every *= 2

    def timeline(self, crash_log) -> Timeline:
        counts = np.array([c for c, _ in self.runs], dtype=np.int64)
        n, nodes = len(self.times), len(self.net.nodes)

        def column(k, dtype, width):
            values = np.array([r[1][k] for r in self.runs], dtype=dtype).reshape(len(self.runs), width)
            return np.repeat(values, counts, axis=0).reshape(n, width)

        return Timeline(
            time=np.array(self.times, dtype=float),
            queue=column(0, np.int64, len(self.net.queue_lengths)),
            in_flight=column(1, np.int64, nodes),
            in_service=column(2, np.int64, nodes),
            memory_mb=column(3, float, nodes),
            up=column(4, bool, nodes),
            in_system=column(5, np.int64, 1).reshape(n),
            crashes=np.array(crash_log, dtype=[("time", float), ("server", np.int32)]),
        )
