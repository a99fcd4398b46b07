"""mqlb: message queues and load balancers, simulated.

A small discrete-event model (on SimPy) of the two ways the book compares to
keep a service standing under a traffic surge: a load balancer that pushes
each request to a server at once, and a message queue whose consumers pull
only what they can handle. Generate a workload once, run any system on it,
and read one record per job.

    >>> import mqlb
    >>> wl = mqlb.make_workload(mqlb.Poisson(rate=3.2), mqlb.Exponential(1.0), n_jobs=1000, seed=1)
    >>> lb = mqlb.LoadBalancer(servers=[mqlb.Server()] * 4, policy="least_connections")
    >>> res = mqlb.simulate(lb, wl)
    >>> res.summary().completed
    1000
"""

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)

from .arrivals import ArrivalProcess, Constant, OnOff, Poisson, Spike
from .client import Client
from .distributions import (BoundedPareto, Deterministic, Distribution, Exponential, Gamma, HyperExponential,
                            LogNormal, with_c2)
from .hybrid import Hybrid
from .loadbalancer import POLICIES, LoadBalancer
from .messagequeue import EXCHANGES, Broker, MessageQueue, Queue
from .result import OUTCOMES, RECORD_DTYPE, Result, Summary, Timeline
from .server import Server
from .budget import StoppedEarly
from .simulate import simulate
from .sweep import grid_points, shared_pool, side_by_side, simulate_each, sweep
from .workload import JobClass, Workload, make_workload
# which work to save: queue order, priorities, CoDel
from .queueorder import QUEUE_ORDERS, CoDel
# other brokers: a partitioned log (Kafka), a polled queue's visibility timeout (SQS)
from .brokers import keyed, partitioned_log, visibility_expiries
# Clients that back off (retry budget, adaptive throttling, circuit breaker)
from .client import CircuitBreaker, RetryBudget
# broker limits, Celery presets, asynchronous request-reply
from . import asyncreply, presets
from .messagequeue import ACKS
# path split, autoscaled consumers (the wider advisor)
from .autoscale import Autoscaler
from .pathsplit import PathSplit
# balancer policies: the registry
from . import policies
# slow and failing servers, passive outlier ejection
from .degradations import FailFast, Slow
from .ejection import Ejection

__all__ = [
    "ArrivalProcess", "Constant", "OnOff", "Poisson", "Spike",
    "Client",
    "BoundedPareto", "Deterministic", "Distribution", "Exponential", "Gamma", "HyperExponential", "LogNormal", "with_c2",
    "Hybrid", "POLICIES", "LoadBalancer",
    "EXCHANGES", "Broker", "MessageQueue", "Queue",
    "OUTCOMES", "RECORD_DTYPE", "Result", "Summary", "Timeline",
    "Server",
    "StoppedEarly", "simulate", "grid_points", "shared_pool", "side_by_side", "simulate_each", "sweep",
    "JobClass", "Workload", "make_workload",
    # which work to save: queue order, priorities, CoDel
    "QUEUE_ORDERS", "CoDel",
    # other brokers: a partitioned log (Kafka), a polled queue's visibility timeout (SQS)
    "keyed", "partitioned_log", "visibility_expiries",
    # Clients that back off
    "CircuitBreaker", "RetryBudget",
    # broker limits, Celery presets, asynchronous request-reply
    "ACKS", "asyncreply", "presets",
    # path split, autoscaled consumers (the wider advisor)
    "Autoscaler", "PathSplit",
    # balancer policies: the registry
    "policies",
    # slow and failing servers, passive outlier ejection
    "FailFast", "Slow", "Ejection",
]
