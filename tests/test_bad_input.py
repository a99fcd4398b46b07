"""Every public constructor refuses each invalid value with a message that
names the parameter, shows the value and says what is allowed."""

import functools
import math
import threading

import numpy as np
import pytest

import mqlb
from mqlb import (Broker, Client, Hybrid, JobClass, LoadBalancer, MessageQueue, Queue, Server, make_workload,
                  simulate, simulate_each, sweep)

S = Server()
WL = make_workload(mqlb.Poisson(1.0), mqlb.Exponential(1.0), n_jobs=10, seed=1)

CASES = [
    # (what is built, its arguments, error, words the message must contain)
    (mqlb.Poisson, dict(rate=0), ValueError, ["rate", "0", "> 0"]),
    (mqlb.Poisson, dict(rate=-2.5), ValueError, ["rate", "-2.5", "> 0"]),
    (mqlb.Poisson, dict(rate=math.inf), ValueError, ["rate", "inf", "finite"]),
    (mqlb.Poisson, dict(rate=math.nan), ValueError, ["rate", "NaN"]),
    (mqlb.Poisson, dict(rate="fast"), TypeError, ["rate", "'fast'", "real number"]),
    (mqlb.Constant, dict(rate=0), ValueError, ["rate", "0", "> 0"]),
    (mqlb.Spike, dict(base=1, peak=5, start=10, end=5), ValueError, ["end", "start", "> start"]),
    (mqlb.Spike, dict(base=-1, peak=5, start=0, end=5), ValueError, ["base", "-1", ">= 0"]),
    (mqlb.Spike, dict(base=1, peak=0, start=0, end=5), ValueError, ["peak", "0", "> 0"]),
    (mqlb.OnOff, dict(rate_on=1, rate_off=0, mean_on=0, mean_off=1), ValueError, ["mean_on", "0", "> 0"]),
    (mqlb.Exponential, dict(mean=0), ValueError, ["mean", "0", "> 0"]),
    (mqlb.Exponential, dict(mean=True), TypeError, ["mean", "True", "real number"]),
    (mqlb.Deterministic, dict(value=-1), ValueError, ["value", "-1", ">= 0"]),
    (mqlb.Gamma, dict(mean=1, c2=0), ValueError, ["c2", "0", "> 0"]),
    (mqlb.HyperExponential, dict(mean=1, c2=0.5), ValueError, ["c2", "0.5", ">= 1"]),
    (mqlb.LogNormal, dict(mean=1, c2=-1), ValueError, ["c2", "-1", "> 0"]),
    (mqlb.BoundedPareto, dict(alpha=1.5, low=10, high=1), ValueError, ["high", "low", "> low"]),
    (mqlb.BoundedPareto, dict(alpha=0, low=1, high=10), ValueError, ["alpha", "0", "> 0"]),
    (mqlb.with_c2, dict(mean=1, c2=-0.1), ValueError, ["c2", "-0.1", ">= 0"]),
    (JobClass, dict(name="", size=mqlb.Exponential(1)), ValueError, ["name", "''", "non-empty"]),
    (JobClass, dict(name="a b", size=mqlb.Exponential(1)), ValueError, ["name", "'a b'", "without spaces"]),
    (JobClass, dict(name="x", size=2.0), TypeError, ["size", "2.0", "Distribution"]),
    (JobClass, dict(name="x", size=mqlb.Exponential(1), memory_mb=-5), ValueError, ["memory_mb", "-5", ">= 0"]),
    (JobClass, dict(name="x", size=mqlb.Exponential(1), share=0), ValueError, ["share", "0", "> 0"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), size=mqlb.Exponential(1), seed=1), ValueError,
     ["n_jobs", "duration", "exactly one"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), size=mqlb.Exponential(1), n_jobs=-3, seed=1), ValueError,
     ["n_jobs", "-3", ">= 0"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), size=mqlb.Exponential(1), n_jobs=5, seed=-1), ValueError,
     ["seed", "-1", ">= 0"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), size=mqlb.Exponential(1), n_jobs=5, seed=1.5), TypeError,
     ["seed", "1.5", "whole number"]),
    (make_workload, dict(arrivals="poisson", size=mqlb.Exponential(1), n_jobs=5, seed=1), TypeError,
     ["arrivals", "'poisson'", "ArrivalProcess"]),
    (make_workload, dict(arrivals=[3, 1, 2], size=mqlb.Exponential(1), seed=1), ValueError,
     ["arrival", "sorted"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), n_jobs=5, seed=1), ValueError, ["size", "classes"]),
    (make_workload, dict(arrivals=mqlb.Poisson(1), classes=[JobClass("a", mqlb.Exponential(1))] * 2,
                         n_jobs=5, seed=1), ValueError, ["class names", "unique"]),
    (Server, dict(speed=0), ValueError, ["speed", "0", "> 0"]),
    (Server, dict(slots=0), ValueError, ["slots", "0", ">= 1", "None"]),
    (Server, dict(slots=2.5), TypeError, ["slots", "2.5", "whole number"]),
    (Server, dict(backlog=-1), ValueError, ["backlog", "-1", ">= 0"]),
    (Server, dict(memory_mb=0), ValueError, ["memory_mb", "0", "> 0"]),
    (Server, dict(restart_s=-1), ValueError, ["restart_s", "-1", "> 0"]),
    (Server, dict(restart_s=0), ValueError, ["restart_s", "0", "> 0"]),
    (Server, dict(discipline="lifo"), ValueError, ["discipline", "'lifo'", "'fcfs'", "'ps'"]),
    (LoadBalancer, dict(servers=[]), ValueError, ["servers", "non-empty"]),
    (LoadBalancer, dict(servers=[S, "big box"]), TypeError, ["servers", "'big box'", "Server"]),
    (LoadBalancer, dict(servers=[S], policy="fastest"), ValueError, ["policy", "'fastest'", "'round_robin'"]),
    (LoadBalancer, dict(servers=[S], max_conns=0), ValueError, ["max_conns", "0", ">= 1"]),
    (LoadBalancer, dict(servers=[S], on_full="wait"), ValueError, ["on_full", "'wait'", "'queue'"]),
    (LoadBalancer, dict(servers=[S], queue_timeout=0), ValueError, ["queue_timeout", "0", "> 0"]),
    (LoadBalancer, dict(servers=[S, S], weights=[1]), ValueError, ["weights", "one entry per server"]),
    (LoadBalancer, dict(servers=[S], weights=[0]), ValueError, ["weights", "0", "> 0"]),
    (LoadBalancer, dict(servers=[S], latency=-0.1), ValueError, ["latency", "-0.1", ">= 0"]),
    (LoadBalancer, dict(servers=[S], health_checks="yes"), TypeError, ["health_checks", "'yes'", "True or False"]),
    (MessageQueue, dict(consumers=[]), ValueError, ["consumers", "non-empty"]),
    (MessageQueue, dict(consumers=[S], prefetch=0), ValueError, ["prefetch", "0", ">= 1", "None"]),
    (MessageQueue, dict(consumers=[S], max_length=-1), ValueError, ["max_length", "-1", ">= 0"]),
    (MessageQueue, dict(consumers=[S], overflow="drop_tail"), ValueError, ["overflow", "'drop_tail'", "'drop_head'"]),
    (MessageQueue, dict(consumers=[S], delivery_limit=0), ValueError, ["delivery_limit", "0", ">= 1"]),
    (MessageQueue, dict(consumers=[S], message_ttl=0), ValueError, ["message_ttl", "0", "> 0"]),
    (MessageQueue, dict(consumers=[S], exchange="headers"), ValueError, ["exchange", "'headers'", "'topic'"]),
    (MessageQueue, dict(consumers=[S], broker="rabbit"), TypeError, ["broker", "'rabbit'", "Broker"]),
    (MessageQueue, dict(consumers=[S], queues=[Queue("q", [S])]), ValueError, ["consumers", "queues", "not both"]),
    (MessageQueue, dict(queues=[Queue("q", [S]), Queue("q", [S])]), ValueError, ["queue names", "unique"]),
    (Queue, dict(name="q", consumers=[S], bindings="image.*"), TypeError, ["bindings", "'image.*'", "list"]),
    (Broker, dict(deliver_latency=-1), ValueError, ["deliver_latency", "-1", ">= 0"]),
    (Broker, dict(poll_interval=math.inf), ValueError, ["poll_interval", "inf", "finite"]),
    (Client, dict(timeout=0), ValueError, ["timeout", "0", "> 0"]),
    (Client, dict(retries=-1), ValueError, ["retries", "-1", ">= 0"]),
    (Client, dict(backoff=-1), ValueError, ["backoff", "-1", ">= 0"]),
    (Client, dict(backoff_multiplier=0.5), ValueError, ["backoff_multiplier", "0.5", ">= 1"]),
    (Client, dict(jitter=1), TypeError, ["jitter", "1", "True or False"]),
    (Hybrid, dict(front=S, back=MessageQueue(consumers=[S]), back_kinds=["video"]), TypeError,
     ["front", "LoadBalancer"]),
    (Hybrid, dict(front=LoadBalancer([S]), back=MessageQueue(consumers=[S]), back_kinds=[]), ValueError,
     ["back_kinds", "[]"]),
    (simulate, dict(system="nginx", workload=WL), TypeError, ["system", "'nginx'", "LoadBalancer"]),
    (simulate, dict(system=LoadBalancer([S]), workload=[1, 2]), TypeError, ["workload", "Workload"]),
    (simulate, dict(system=LoadBalancer([S]), workload=WL, until=0), ValueError, ["until", "0", "> 0"]),
    (simulate, dict(system=LoadBalancer([S]), workload=WL, failures=[(1.0, 3)]), ValueError,
     ["failure server", "3", "0 to 0"]),
    (simulate, dict(system=LoadBalancer([S]), workload=WL, failures=[1.0]), TypeError, ["failures", "1.0", "pairs"]),
    (simulate, dict(system=LoadBalancer([S]), workload=WL, client=3), TypeError, ["client", "3", "Client"]),
    (sweep, dict(fn=len, grid={"x": 3}), TypeError, ["grid['x']", "3", "list"]),
    (sweep, dict(fn=functools.partial(lambda x, lock: x, lock=threading.Lock()), grid={"x": [1]}), TypeError,
     ["fn", "worker processes", "lock"]),
    (sweep, dict(fn=len, grid="abc"), TypeError, ["grid", "dict of lists"]),
    (simulate_each, dict(systems=[LoadBalancer([S])], workload=WL), TypeError, ["systems", "list", "dict"]),
    (simulate_each, dict(systems={"lb": LoadBalancer([S])}, workload=WL, executor="pool"), TypeError,
     ["executor", "'pool'", "Executor"]),
]


@pytest.mark.parametrize("build, kwargs, error, words", CASES,
                         ids=[f"{c[0].__name__}-{'-'.join(f'{k}={v!r}'[:30] for k, v in c[1].items())}" for c in CASES])
def test_invalid_value_is_refused_clearly(build, kwargs, error, words):
    with pytest.raises(error) as info:
        build(**kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def test_a_run_that_would_redeliver_for_ever_is_refused():
    heavy = make_workload(mqlb.Poisson(1.0), classes=[JobClass("big", mqlb.Exponential(1.0), memory_mb=500)],
                          n_jobs=5, seed=1)
    with pytest.raises(ValueError, match=r"500 MB.*'jobs'.*delivery_limit"):
        simulate(MessageQueue(consumers=[Server(memory_mb=100)]), heavy)


def test_workload_arrays_are_read_only():
    with pytest.raises(ValueError):
        WL.size[0] = 3.0
    assert isinstance(WL.arrival, np.ndarray)
