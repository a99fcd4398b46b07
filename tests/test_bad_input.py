"""Every public constructor refuses each invalid value with a message that
names the parameter, shows the value and says what is allowed."""

import functools
import math
import os
import threading
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

import mqlb
from mqlb import (Broker, Client, Hybrid, JobClass, LoadBalancer, MessageQueue, Queue, Server, make_workload,
                  simulate, simulate_each, sweep)

from mqlb import decision  # noqa: E402  (the wider advisor's cases)

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
    # other brokers: a partitioned log, the visibility timeout
    (mqlb.partitioned_log, dict(partitions=0), ValueError, ["partitions", "0", ">= 1"]),
    (mqlb.partitioned_log, dict(partitions=2, consumer=Server(slots=2)), ValueError,
     ["consumer", "slots=1", "slots=2"]),
    (mqlb.partitioned_log, dict(partitions=2, consumer="fast"), TypeError, ["consumer", "'fast'", "Server"]),
    (mqlb.keyed, dict(workload=WL, partitions=2, keys=[1, 2]), ValueError, ["keys", "one key per job", "[1, 2]"]),
    (mqlb.keyed, dict(workload=WL, partitions=2.5), TypeError, ["partitions", "2.5", "whole number"]),
    (mqlb.keyed, dict(workload="jobs", partitions=2), TypeError, ["workload", "'jobs'", "Workload"]),
    (mqlb.visibility_expiries, dict(result="r", visibility_timeout=30), TypeError, ["result", "'r'", "Result"]),
    # Clients that back off: retry budget, adaptive throttling, circuit breaker
    (mqlb.RetryBudget, dict(ratio=1.5), ValueError, ["retry_budget ratio", "1.5", "between 0 and 1"]),
    (mqlb.RetryBudget, dict(ratio=-0.1), ValueError, ["retry_budget ratio", "-0.1", "between 0 and 1"]),
    (mqlb.RetryBudget, dict(tokens=math.inf), ValueError, ["retry_budget tokens", "inf", "between 0 and"]),
    (mqlb.RetryBudget, dict(tokens="ten"), TypeError, ["retry_budget tokens", "'ten'", "real number"]),
    (mqlb.CircuitBreaker, dict(failures=0), ValueError, ["breaker failures", "0", ">= 1"]),
    (mqlb.CircuitBreaker, dict(open_s=0), ValueError, ["breaker open_s", "0", "> 0"]),
    (mqlb.CircuitBreaker, dict(half_open_probes=1.5), TypeError, ["breaker half_open_probes", "1.5", "whole number"]),
    (Client, dict(retry_budget=0.1), TypeError, ["retry_budget", "0.1", "RetryBudget"]),
    (Client, dict(throttle_k=0.5), ValueError, ["throttle_k", "0.5", ">= 1"]),
    (Client, dict(throttle_k=math.inf), ValueError, ["throttle_k", "inf", "finite"]),
    (Client, dict(throttle_k=2, throttle_window=0), ValueError, ["throttle_window", "0", "> 0"]),
    (Client, dict(breaker=dict(failures=5)), TypeError, ["breaker", "failures", "CircuitBreaker"]),
    # broker limits, early acks, Celery presets, asynchronous request-reply
    (Broker, dict(memory_mb=0), ValueError, ["memory_mb", "0", "> 0"]),
    (Broker, dict(high_watermark=1.5), ValueError, ["high_watermark", "1.5", "<= 1"]),
    (Broker, dict(high_watermark=0), ValueError, ["high_watermark", "0", "> 0"]),
    (Broker, dict(message_kb=-1), ValueError, ["message_kb", "-1", "> 0"]),
    (Broker, dict(persistent_write_s=-0.1), ValueError, ["persistent_write_s", "-0.1"]),
    (Queue, dict(name="q", consumers=[S], ack="auto"), ValueError, ["ack", "'auto'", "'late'", "'early'"]),
    (MessageQueue, dict(consumers=[S], ack=True), ValueError, ["ack", "True", "'late'"]),
    (mqlb.presets.celery_default, dict(workers=0), ValueError, ["workers", "0", ">= 1"]),
    (mqlb.presets.celery_queue, dict(workers=1, acks_late="yes"), TypeError, ["acks_late", "'yes'", "True or False"]),
    (mqlb.asyncreply.polling, dict(result=simulate(MessageQueue(consumers=[S]), WL), poll_s=0), ValueError,
     ["poll_s", "0", "> 0"]),
    (mqlb.asyncreply.polling, dict(result=WL, poll_s=1.0), TypeError, ["result", "Result"]),
    # the wider advisor: autoscaled consumers, the path split, the advisor's controls
    (mqlb.Autoscaler, dict(metric="cpu"), ValueError, ["metric", "'backlog'", "'age'", "'cpu'"]),
    (mqlb.Autoscaler, dict(interval_s=0), ValueError, ["interval_s", "0", "> 0"]),
    (mqlb.Autoscaler, dict(start_s=-1), ValueError, ["start_s", "-1", ">= 0"]),
    (mqlb.Autoscaler, dict(max_consumers=0), ValueError, ["max_consumers", "0", ">= 1"]),
    (mqlb.Autoscaler, dict(threshold="high"), TypeError, ["threshold", "'high'", "real number"]),
    (mqlb.Queue, dict(name="q", consumers=[S] * 3, autoscaler=mqlb.Autoscaler(max_consumers=2)), ValueError,
     ["max_consumers", "3", "'q'", "got 2"]),
    (mqlb.Queue, dict(name="q", consumers=[S], autoscaler=mqlb.Autoscaler(min_consumers=2)), ValueError,
     ["min_consumers", "'q'", "got 2"]),
    (mqlb.Queue, dict(name="q", consumers=[S], autoscaler=5), TypeError, ["autoscaler", "5", "Autoscaler"]),
    (mqlb.PathSplit, dict(pools={}, routes={}), TypeError, ["pools", "{}", "LoadBalancer"]),
    (mqlb.PathSplit, dict(pools={"api": S}, routes={}), TypeError, ["pools['api']", "LoadBalancer"]),
    (mqlb.PathSplit, dict(pools={"api": LoadBalancer([S])}, routes={"heavy": "jobs"}), ValueError,
     ["routes['heavy']", "'api'", "'jobs'"]),
    (mqlb.PathSplit, dict(pools={"api": LoadBalancer([S])}, routes={}, default="x"), ValueError,
     ["default", "'api'", "'x'"]),
    (simulate, dict(system=mqlb.PathSplit(pools={"api": LoadBalancer([S])}, routes={}), workload=WL), ValueError,
     ["job class", "no route", "'api'"]),
    (decision.Setting, dict(client_timeout_s=0), ValueError, ["client_timeout_s", "0", "> 0"]),
    (decision.Setting, dict(retries=-1), ValueError, ["retries", "-1", ">= 0"]),
    (decision.Setting, dict(prefetch=0), ValueError, ["prefetch", "0", "None"]),
    (decision.Setting, dict(conns_per_server=1.5), TypeError, ["conns_per_server", "1.5", "whole number"]),
    (decision.advise, dict(setting=decision.Setting(rate=30.0)), ValueError, ["90%", "add machines"]),
    (decision.advise, dict(setting=decision.Setting(heavy_memory_mb=2500.0)), ValueError,
     ["2500 MB", "does not fit"]),
    (decision.candidates, dict(setting=decision.Setting(), names=("LB push", "Kafka")), ValueError,
     ["names", "'Kafka'", "'MQ autoscaled'"]),
    # balancer policies: several instances, stale counts, the registry
    (LoadBalancer, dict(servers=[S], balancers=0), ValueError, ["balancers", "0", ">= 1"]),
    (LoadBalancer, dict(servers=[S], balancers=1.5), TypeError, ["balancers", "1.5", "whole number"]),
    (LoadBalancer, dict(servers=[S], balancers=2, max_conns=3), ValueError, ["balancers=2", "max_conns=None", "3"]),
    (LoadBalancer, dict(servers=[S], info_delay=-1), ValueError, ["info_delay", "-1", ">= 0"]),
    (LoadBalancer, dict(servers=[S], info_delay=math.inf), ValueError, ["info_delay", "inf", "finite"]),
    (LoadBalancer, dict(servers=[S], policy=["random"]), ValueError, ["policy", "['random']", "'join_idle_queue'"]),
    (mqlb.policies.register, dict(name="least connections", label="x"), ValueError, ["policy name", "identifier"]),
    # slow and failing servers, passive outlier ejection
    (mqlb.Slow, dict(at_s=-1, server=0), ValueError, ["at_s", "-1", ">= 0"]),
    (mqlb.Slow, dict(at_s=0, server=0, factor=2), ValueError, ["factor", "2", "<= 1"]),
    (mqlb.Slow, dict(at_s=0, server=0, factor=0), ValueError, ["factor", "0", "> 0"]),
    (mqlb.FailFast, dict(at_s=0, server=-1), ValueError, ["server", "-1", ">= 0"]),
    (mqlb.FailFast, dict(at_s=0, server=0, duration_s=0), ValueError, ["duration_s", "0", "> 0"]),
    (mqlb.FailFast, dict(at_s=0, server=0, error_s=-0.5), ValueError, ["error_s", "-0.5", ">= 0"]),
    (mqlb.Ejection, dict(consecutive=0), ValueError, ["consecutive", "0", ">= 1"]),
    (mqlb.Ejection, dict(max_fraction=1.5), ValueError, ["max_fraction", "1.5", "<= 1"]),
    (mqlb.Ejection, dict(base_s=30, max_s=10), ValueError, ["max_s", "10", ">= base_s"]),
    (mqlb.Ejection, dict(slow_s=0), ValueError, ["slow_s", "0", "> 0"]),
    (LoadBalancer, dict(servers=[S], ejection=5), TypeError, ["ejection", "5", "Ejection"]),
    (simulate, dict(system=LoadBalancer([S]), workload=WL, failures=[mqlb.Slow(0, 2)]), ValueError,
     ["Slow server", "2", "0 to 0"]),
    (simulate, dict(system=MessageQueue(consumers=[S]), workload=WL, failures=[mqlb.FailFast(0, 0)]), ValueError,
     ["FailFast server", "load balancer", "consumer"]),
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


# -- the adversarial audit's inputs (issue 11) ------------------------------------------
# Each once hung, ran out of memory or failed with a raw error. Each now gets a
# clear error naming the parameter, the value and what is allowed, or a result
# that is right; the timeout marker turns a regression into a failure, not a hang.

def _always_down_balancer():
    """One server, crashed at 0 s for a million seconds; without health checks
    the balancer keeps sending to it, and every request is rejected at once."""
    return LoadBalancer([Server(restart_s=1e6)], health_checks=False)


def _many_hashes():
    return MessageQueue(queues=[Queue("q", [S], bindings=["#." * 60 + "x"])], exchange="topic")


AUDIT = [
    # (id, call, error, words the message must contain)
    ("onoff-vanishing-on", lambda: make_workload(mqlb.OnOff(10, 0, 1e-300, 1e-300), mqlb.Exponential(1), n_jobs=10,
                                                 seed=0), ValueError, ["mean_on=1e-300", "switch", "longer"]),
    ("onoff-short-on-n_jobs", lambda: make_workload(mqlb.OnOff(10, 0, 1e-12, 1), mqlb.Exponential(1), n_jobs=10,
                                                    seed=0), ValueError, ["mean_on=1e-12", "switch"]),
    ("duration-1e308", lambda: make_workload(mqlb.Poisson(1), mqlb.Exponential(1), duration=1e308, seed=0),
     ValueError, ["duration", "1e+308", "at most"]),
    ("duration-1e12", lambda: make_workload(mqlb.Poisson(1), mqlb.Exponential(1), duration=1e12, seed=0),
     ValueError, ["duration=1000000000000.0", "1e+12 jobs", "GB", "2,000,000"]),
    ("n_jobs-1e9", lambda: make_workload(mqlb.Poisson(1), mqlb.Exponential(1), n_jobs=10**9, seed=0),
     ValueError, ["n_jobs=1000000000", "32 GB", "2,000,000"]),
    ("explicit-3e6-jobs", lambda: make_workload(np.arange(3_000_000.0), mqlb.Exponential(1), seed=0),
     ValueError, ["3,000,000", "at most 2,000,000"]),
    ("poll_interval-1e-9", lambda: simulate(MessageQueue(consumers=[S], broker=Broker(poll_interval=1e-9)), WL),
     ValueError, ["poll_interval=1e-09", "polls", "poll_interval >="]),
    ("retries-1e9-always-rejecting", lambda: simulate(_always_down_balancer(), WL, client=Client(retries=10**9),
                                                      failures=[(0.0, 0)]),
     ValueError, ["retries=1000000000", "attempts", "20,000,000"]),
    ("backoff-1e308", lambda: Client(backoff=1e308), ValueError, ["backoff", "1e+308", "at most"]),
    ("retries-1024-backoff", lambda: Client(retries=1024, backoff=1.0), ValueError,
     ["retries", "backoff_multiplier", "2**1023"]),
    ("sample_every-1e-9", lambda: simulate(LoadBalancer([S]), WL, sample_every=1e-9), ValueError,
     ["sample_every=1e-09", "samples", "at most 500,000", "sample_every >="]),
    ("sample_every-many-servers", lambda: simulate(LoadBalancer([S] * 1000), WL, sample_every=0.001), ValueError,
     ["sample_every=0.001", "at most 1,998 for this system"]),
    ("restart_s-1e308", lambda: Server(restart_s=1e308), ValueError, ["restart_s", "1e+308", "at most"]),
    ("Poisson-1e308", lambda: mqlb.Poisson(1e308), ValueError, ["rate", "1e+308", "at most"]),
    ("Exponential-1e308", lambda: mqlb.Exponential(1e308), ValueError, ["mean", "1e+308", "at most"]),
    ("Deterministic-1e308", lambda: mqlb.Deterministic(1e308), ValueError, ["value", "1e+308", "at most"]),
    ("HyperExponential-c2-1e17", lambda: mqlb.HyperExponential(1, 1e17), ValueError, ["c2", "1e+17", "at most 1e+06"]),
    ("BoundedPareto-low-1e-300", lambda: mqlb.BoundedPareto(1.5, 1e-300, 10), ValueError,
     ["low", "1e-300", "at least"]),
    ("Gamma-c2-1e308", lambda: mqlb.Gamma(1, 1e308), ValueError, ["c2", "1e+308", "at most 100"]),
    ("ragged-arrivals", lambda: make_workload([[1, 2], [3]], mqlb.Exponential(1), seed=0), TypeError,
     ["arrivals", "[[1, 2], [3]]", "flat sequence"]),
    ("string-arrivals", lambda: make_workload(["a", "b"], mqlb.Exponential(1), seed=0), TypeError,
     ["arrivals", "['a', 'b']", "numbers"]),
    ("float-kind", lambda: simulate(MessageQueue(consumers=[S]), mqlb.Workload(np.array([0.0, 1.0]), np.ones(2),
                                                                              np.zeros(2), np.zeros(2))),
     TypeError, ["kind", "float64", "whole numbers"]),
    ("weights-int", lambda: LoadBalancer([S], weights=5), TypeError, ["weights", "5", "list"]),
    ("back_kinds-int", lambda: Hybrid(LoadBalancer([S]), MessageQueue(consumers=[S]), back_kinds=5), TypeError,
     ["back_kinds", "5", "list"]),
    ("failures-int", lambda: simulate(LoadBalancer([S]), WL, failures=5), TypeError, ["failures", "5", "pairs"]),
    ("topic-key-3000-words", lambda: _many_hashes().route("a." * 3000 + "b"), ValueError,
     ["key", "6001 bytes", "at most 255"]),
    ("class-name-300-bytes", lambda: JobClass("x" * 300, mqlb.Exponential(1)), ValueError,
     ["name", "300 bytes", "at most 255"]),
    ("binding-300-bytes", lambda: Queue("q", [S], bindings=["#." * 150]), ValueError,
     ["bindings", "300 bytes", "at most 255"]),
    ("max_events-0", lambda: simulate(LoadBalancer([S]), WL, max_events=0), ValueError, ["max_events", "0", ">= 1"]),
    # which work to save: priorities, queue order, CoDel
    ("lb-priorities-no-queue", lambda: LoadBalancer([S], priorities={"api": -1}), ValueError,
     ["priorities", "max_conns", "on_full='queue'", "None"]),
    ("lb-lifo-rejecting", lambda: LoadBalancer([S], max_conns=1, queue_order="lifo"), ValueError,
     ["queue_order", "on_full='queue'", "'reject'"]),
    ("lb-codel-no-queue", lambda: LoadBalancer([S], codel=mqlb.CoDel()), ValueError, ["codel", "max_conns"]),
    ("lb-queue_order", lambda: LoadBalancer([S], max_conns=1, on_full="queue", queue_order="random"), ValueError,
     ["queue_order", "'random'", "'adaptive_lifo'"]),
    ("lb-priority-class-5000", lambda: LoadBalancer([S], max_conns=1, on_full="queue", priorities={"api": 5000}),
     ValueError, ["priorities['api']", "5000", "-2047 to 2047"]),
    ("lb-priorities-list", lambda: LoadBalancer([S], max_conns=1, on_full="queue", priorities=[1, 2]), TypeError,
     ["priorities", "[1, 2]", "dict"]),
    ("lb-lifo_after_s", lambda: LoadBalancer([S], max_conns=1, on_full="queue", lifo_after_s=-1), ValueError,
     ["lifo_after_s", "-1", ">= 0"]),
    ("lb-codel-str", lambda: LoadBalancer([S], max_conns=1, on_full="queue", codel="on"), TypeError,
     ["codel", "'on'", "CoDel"]),
    ("codel-target-above-interval", lambda: mqlb.CoDel(target_s=1.0, interval_s=0.1), ValueError,
     ["target_s", "1.0", "interval_s"]),
    ("codel-target-0", lambda: mqlb.CoDel(target_s=0), ValueError, ["target_s", "0", "> 0"]),
    ("queue-priority-256", lambda: Queue("q", [S], priorities={"video": 256}), ValueError,
     ["priorities['video']", "256", "0 to 255"]),
    ("queue-priority-float", lambda: Queue("q", [S], priorities={"video": 1.5}), ValueError,
     ["priorities['video']", "1.5", "whole number"]),
]


@pytest.mark.timeout(5)
@pytest.mark.parametrize("call, error, words", [a[1:] for a in AUDIT], ids=[a[0] for a in AUDIT])
def test_audit_input_is_refused_clearly(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


@pytest.mark.timeout(5)
def test_a_billion_slots_cost_what_they_use():
    """Server(slots=10**9) ran out of memory making its slots; now it gives the
    records of an unlimited server."""
    big = simulate(LoadBalancer([Server(slots=10**9)]), WL).records
    unlimited = simulate(LoadBalancer([Server(slots=None)]), WL).records
    assert big.tobytes() == unlimited.tobytes()


@pytest.mark.timeout(5)
def test_a_restart_after_a_billion_seconds_finishes():
    """The consumer is killed at 1 s and comes back 1e9 s later: the run lasts
    that long, every job completes, and the timeline stays small."""
    res = simulate(MessageQueue(consumers=[Server(restart_s=1e9)]), WL, failures=[(1.0, 0)])
    assert res.stopped_early is None
    assert res.summary().completed == len(WL)
    assert res.records["end"].max() > 1e9
    assert len(res.timeline.time) <= 2000                       # the default timeline's bound
    spacing = np.diff(res.timeline.time)
    np.testing.assert_allclose(spacing, spacing[0], rtol=1e-6)


@pytest.mark.timeout(5)
def test_immediate_retries_against_an_always_rejecting_balancer():
    res = simulate(_always_down_balancer(), WL, client=Client(retries=1024), failures=[(0.0, 0)])
    assert res.outcome_counts()["rejected"] == len(WL)
    assert np.all(res.records["attempts"] == 1025)


@pytest.mark.timeout(5)
def test_many_hashes_match_in_polynomial_time():
    mq = _many_hashes()
    assert mq.route("a." * 100 + "x") == [0]
    assert mq.route("a." * 100 + "y") == []


@pytest.mark.timeout(5)
def test_a_huge_but_valid_poisson_rate_gives_sorted_arrivals():
    wl = make_workload(mqlb.Poisson(1e9), mqlb.Exponential(1), n_jobs=1000, seed=0)
    assert np.all(np.diff(wl.arrival) >= 0) and wl.arrival[-1] == pytest.approx(1e-6, rel=0.2)


def _die(x):
    """A sweep function whose worker process dies (as if killed by the OOM killer)."""
    os._exit(3)


@pytest.mark.timeout(30)
def test_a_dead_sweep_worker_is_reported_clearly():
    with pytest.raises(BrokenProcessPool) as info:
        sweep(_die, {"x": [1, 2]}, progress=False)
    message = str(info.value)
    for word in ("worker process died", "_die(**{'x': 1})", "out of memory"):
        assert word in message, f"{word!r} missing from: {message}"


def test_side_by_side_refuses_a_pool_that_is_not_a_function():
    from concurrent.futures import ThreadPoolExecutor

    with pytest.raises(TypeError, match=r"pool must be a function returning an Executor.*got <concurrent"):
        with mqlb.side_by_side(ThreadPoolExecutor(1)):    # the pool itself, not a function returning it
            pass
