"""A minimal hand-written SimPy model of four servers: the fair baseline.

It is what a careful reader would write in twenty lines with SimPy and no
library: a source process that sleeps until each arrival and spawns one
process per job; a job process that requests a ``simpy.Resource``, holds it
for its service time and records its response time. Nothing else (no
records, timelines, timeouts or failures), so it is a lower bound on the cost
of a SimPy model of the same system.

Three ways of sending jobs to the four servers, matching the cases the
benchmark times against mqlb:

- ``shared_queue``: one Resource of capacity 4; every job waits in one FIFO
  queue and takes the first free server. This is a message queue whose four
  consumers take one message at a time (prefetch 1), i.e. M/M/4.
- ``random_split``: four Resources of capacity 1; each job goes to one chosen
  at random (a load balancer with the random policy).
- ``least_connections``: four Resources of capacity 1; each job goes to the
  one holding the fewest jobs, in service plus queued (ties: round robin,
  scanning from the server after the last one picked, as mqlb does).

Run it alone to see the mean response of each against theory:

    python bench/handwritten_mm4.py
"""

from __future__ import annotations

import time

import numpy as np
import simpy

ARRIVAL_RATE = 3.2  # jobs/s
SERVICE_RATE = 1.0  # jobs/s per server (mean size 1 s)
SERVERS = 4
N_JOBS = 100_000
SEED = 1


def draw_jobs(n_jobs=N_JOBS, arrival_rate=ARRIVAL_RATE, service_rate=SERVICE_RATE, seed=SEED):
    """Poisson arrival times (s, sorted) and exponential sizes (s), pre-drawn."""
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / arrival_rate, n_jobs))
    size = rng.exponential(1.0 / service_rate, n_jobs)
    return arrival, size


def draw_choices(n_jobs=N_JOBS, servers=SERVERS, seed=SEED):
    """The server each job goes to under random splitting, pre-drawn."""
    return np.random.default_rng([seed, 7]).integers(0, servers, n_jobs)


def shared_queue(arrival, size, servers=SERVERS):
    """One queue in front of ``servers`` servers; returns response times (s)."""
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=servers)
    responses = []

    def job(arrived, work):
        with pool.request() as request:
            yield request
            yield env.timeout(work)
        responses.append(env.now - arrived)

    def source():
        for arrived, work in zip(arrival.tolist(), size.tolist()):
            yield env.timeout(arrived - env.now)
            env.process(job(arrived, work))

    env.process(source())
    env.run()
    return responses


def random_split(arrival, size, choices, servers=SERVERS):
    """Each job to the server in ``choices``; returns response times (s)."""
    env = simpy.Environment()
    pool = [simpy.Resource(env, capacity=1) for _ in range(servers)]
    responses = []

    def job(arrived, work, server):
        with server.request() as request:
            yield request
            yield env.timeout(work)
        responses.append(env.now - arrived)

    def source():
        for arrived, work, choice in zip(arrival.tolist(), size.tolist(), choices.tolist()):
            yield env.timeout(arrived - env.now)
            env.process(job(arrived, work, pool[choice]))

    env.process(source())
    env.run()
    return responses


def least_connections(arrival, size, servers=SERVERS):
    """Each job to the server holding the fewest jobs; returns response times (s)."""
    env = simpy.Environment()
    pool = [simpy.Resource(env, capacity=1) for _ in range(servers)]
    responses = []

    def job(arrived, work, server):
        with server.request() as request:
            yield request
            yield env.timeout(work)
        responses.append(env.now - arrived)

    def source():
        start = 0  # ties go round robin: scan from the server after the last pick
        for arrived, work in zip(arrival.tolist(), size.tolist()):
            yield env.timeout(arrived - env.now)
            best, fewest = start, servers + len(arrival)
            for k in range(servers):
                i = (start + k) % servers
                held = pool[i].count + len(pool[i].queue)
                if held < fewest:
                    best, fewest = i, held
            start = (best + 1) % servers
            env.process(job(arrived, work, pool[best]))

    env.process(source())
    env.run()
    return responses


def main():
    arrival, size = draw_jobs()
    choices = draw_choices()
    # Closed forms for comparison: M/M/4 and four independent M/M/1 at rho = 0.8.
    theory = {"shared_queue": 1.7455, "random_split": 5.0, "least_connections": None}
    runs = {
        "shared_queue": lambda: shared_queue(arrival, size),
        "random_split": lambda: random_split(arrival, size, choices),
        "least_connections": lambda: least_connections(arrival, size),
    }
    print(f"{'case':<20}{'jobs/s':>12}{'mean response (s)':>20}{'theory (s)':>12}")
    for case, run in runs.items():
        started = time.perf_counter()
        responses = run()
        elapsed = time.perf_counter() - started
        expected = "" if theory[case] is None else f"{theory[case]:.4f}"
        print(f"{case:<20}{len(responses) / elapsed:>12,.0f}{np.mean(responses):>20.4f}{expected:>12}")


if __name__ == "__main__":
    main()
