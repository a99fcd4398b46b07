"""A balancer that splits by path: each job class to its own pool, no broker.

The proxy reads the request's path (nginx ``location``, HAProxy ``acl`` +
``use_backend``) and sends each job class to the pool (a
:class:`~mqlb.loadbalancer.LoadBalancer`) it is routed to: light requests to
one pool answered at once, heavy jobs to a pool with a connection cap and the
balancer's own queue (``max_conns`` + ``on_full="queue"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from .loadbalancer import LoadBalancer, LoadBalancerRun


@dataclass(frozen=True)
class PathSplit:
    """pools: {pool name: LoadBalancer}; routes: {job class name: pool name};
    default: the pool of job classes not in ``routes`` (None = such a class is
    refused when the run starts)."""

    pools: dict
    routes: dict
    default: str | None = None

    def __post_init__(self):
        if not isinstance(self.pools, dict) or not self.pools:
            raise TypeError(f"pools must be a non-empty dict of pool name -> LoadBalancer, got {self.pools!r}")
        for name, pool in self.pools.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"pools must be named by non-empty strings, got {name!r}")
            _checks.instance(f"pools[{name!r}]", pool, LoadBalancer, "a LoadBalancer")
        if not isinstance(self.routes, dict):
            raise TypeError(f"routes must be a dict of job class name -> pool name, got {self.routes!r}")
        for kind, pool in self.routes.items():
            if not isinstance(kind, str):
                raise TypeError(f"routes must be keyed by job class names, got {kind!r}")
            _checks.choice(f"routes[{kind!r}]", pool, tuple(self.pools))
        if self.default is not None:
            _checks.choice("default", self.default, tuple(self.pools))
        object.__setattr__(self, "pools", dict(self.pools))
        object.__setattr__(self, "routes", dict(self.routes))

    def __hash__(self):
        return hash((tuple(self.pools.items()), tuple(self.routes.items()), self.default))

    @property
    def capacity(self) -> float:
        """Work-seconds per second all pools together can do."""
        return sum(pool.capacity for pool in self.pools.values())

    def pool_of(self, kind: str) -> int:
        """Index of the pool a job class goes to."""
        name = self.routes.get(kind, self.default)
        if name is None:
            raise ValueError(f"job class {kind!r} has no route: add it to routes (one of the pools "
                             f"{', '.join(map(repr, self.pools))}) or give a default pool")
        return list(self.pools).index(name)

    def _layout(self, workload):
        """Records: one per job, its queue index = its pool's index."""
        table = np.array([self.pool_of(name) for name in workload.kinds], dtype=np.int16)
        return np.arange(len(workload)), table[workload.kind], tuple(self.pools)

    def _start(self, env, run, seed: int):
        return PathSplitRun(env, self, run, seed)


class PathSplitRun:
    """The pools running in one simulation, sharing the clock and the books."""

    def __init__(self, env, spec: PathSplit, run, seed: int):
        self.run = run
        self.pools, self.nodes, self.specs, names = [], [], [], []
        for k, (name, pool) in enumerate(spec.pools.items()):
            lb = LoadBalancerRun(env, pool, run, seed + k, first_number=len(self.nodes))
            self.pools.append(lb)
            self.nodes += lb.nodes
            self.specs += list(pool.servers)
            names += [f"{name}[{i}]" for i in range(len(lb.nodes))]
        self.node_names = tuple(names)

    @property
    def queue_lengths(self):
        return tuple(n for lb in self.pools for n in lb.queue_lengths)

    def in_transit(self, node) -> int:
        return 0

    def send(self, task) -> None:
        self.pools[self.run.queue_of(task)].send(task)
