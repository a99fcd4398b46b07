"""The fast path's two hot loops, compiled with Numba.

Each function is the loop of a recursion in :mod:`mqlb.fastpath`, on NumPy
arrays of float64 times (s). Compiled without ``fastmath`` and without
parallelism: every time is the same IEEE operation, in the same order, as
the event engine's (``max(arrival, free) + work``), so the results stay equal
to it bit for bit. ``cache=True`` keeps the machine code next to this module,
so only the first run on a machine pays the compilation.
"""

import numba
import numpy as np


@numba.njit(cache=True)
def shared_queue_found(clock, work, n):
    """The free time each job finds in a shared FCFS queue of ``n`` equal consumers.

    The Kiefer-Wolfowitz recursion: a job takes the consumer free earliest and
    starts at ``max(arrival, free)``; that consumer is free again ``work``
    seconds later. The free times sit in a binary min-heap (all ``-inf`` at
    first); only the popped minima are returned, and every correct heap pops
    the same values, so the heap's layout does not matter.
    """
    heap = np.full(n, -np.inf)
    found = np.empty(len(clock))
    for j in range(len(clock)):
        f = heap[0]
        found[j] = f
        t = clock[j]
        d = (t if t > f else f) + work[j]
        i = 0                                       # sift the new free time down from the root
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and heap[child + 1] < heap[child]:
                child += 1
            if heap[child] >= d:
                break
            heap[i] = heap[child]
            i = child
        heap[i] = d
    return found


@numba.njit(cache=True)
def least_connections_done(clock, work, speed, divide):
    """Least connections to single-slot servers of equal weight: (done, server).

    The balancer takes the server with the fewest open requests, ties going
    to the first at or after its round-robin position (wrapping), which then
    moves past the chosen server; before each arrival, a heap of departures
    settles every request finished strictly before it. A server starts a job
    at ``max(arrival, free)`` and is done ``work`` seconds later, or
    ``work / speed[server]`` if ``divide`` (unequal speeds; equal speeds pass
    ``size / speed`` in ``work``). Two equal done times make the order of
    departures ambiguous: the caller must refuse them.
    """
    n, count = len(speed), len(clock)
    conns = np.zeros(n, dtype=np.int64)
    free = np.full(n, -np.inf)
    done = np.empty(count)
    server = np.empty(count, dtype=np.int64)
    heap_time = np.empty(count)                     # departures: a binary min-heap of done times
    heap_server = np.empty(count, dtype=np.int64)   # ... and whose they are
    pending = 0                                     # departures in the heap
    nxt = 0                                         # the round-robin position for ties
    for j in range(count):
        t = clock[j]
        while pending > 0 and heap_time[0] < t:     # settle the departures before this arrival
            conns[heap_server[0]] -= 1
            pending -= 1
            last_time, last_server = heap_time[pending], heap_server[pending]
            i = 0
            while True:
                child = 2 * i + 1
                if child >= pending:
                    break
                if child + 1 < pending and heap_time[child + 1] < heap_time[child]:
                    child += 1
                if heap_time[child] >= last_time:
                    break
                heap_time[i], heap_server[i] = heap_time[child], heap_server[child]
                i = child
            if pending > 0:
                heap_time[i], heap_server[i] = last_time, last_server
        chosen, low = nxt, conns[nxt]               # fewest connections, first from nxt on, wrapping
        for k in range(1, n):
            i = nxt + k
            if i >= n:
                i -= n
            if conns[i] < low:
                chosen, low = i, conns[i]
        nxt = chosen + 1 if chosen + 1 < n else 0
        conns[chosen] += 1
        f = free[chosen]
        d = (t if t > f else f) + (work[j] / speed[chosen] if divide else work[j])
        free[chosen] = d
        done[j] = d
        server[j] = chosen
        i = pending                                 # push the departure: sift up
        pending += 1
        while i > 0:
            parent = (i - 1) // 2
            if heap_time[parent] <= d:
                break
            heap_time[i], heap_server[i] = heap_time[parent], heap_server[parent]
            i = parent
        heap_time[i], heap_server[i] = d, chosen
    return done, server
