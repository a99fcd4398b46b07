"""Load clients: open-loop HTTP through a balancer, and RabbitMQ request/reply.

Every request has a scheduled arrival time; its response time and its patience
(client timeout) are counted from that time. All loops are bounded in count and
in time.
"""
from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import time
import uuid


def poisson_schedule(rate: float, n: int, rng) -> list[float]:
    gaps = rng.exponential(1.0 / rate, size=n)
    gaps[0] = 0.0
    return list(gaps.cumsum())


def _per_request(value, n: int) -> list:
    """One value for every request, or the given list of ``n`` values."""
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def http_run(port: int, schedule: list[float], ms, mb: float, timeout: float,
             threads: int, prefix: str, start_delay: float = 0.05,
             path="/job") -> list[dict]:
    """Send ``POST <path>`` at the scheduled offsets; return one record per request.

    ``ms`` (job milliseconds) and ``path`` are one value for all requests or one
    per request."""
    n = len(schedule)
    ms, path = _per_request(ms, n), _per_request(path, n)
    ids = [f"{prefix}-{i}" for i in range(n)]
    recs = [{"id": ids[i], "t_sched": 0.0, "t_send": None, "t_done": None, "status": None,
             "outcome": None} for i in range(n)]
    work: queue.Queue = queue.Queue()

    def client():
        while True:
            i = work.get()
            if i is None:
                return
            rec = recs[i]
            rec["t_send"] = now = time.time()
            left = rec["t_sched"] + timeout - now
            if left <= 0:
                rec["t_done"], rec["status"], rec["outcome"] = now, "timeout", "timed_out"
                continue
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=left)
            try:
                conn.request("POST", f"{path[i]}?id={rec['id']}&ms={ms[i]}&mb={mb}",
                             headers={"Content-Length": "0"})
                resp = conn.getresponse()
                resp.read()
                rec["status"] = resp.status
            except (socket.timeout, TimeoutError):
                rec["status"] = "timeout"
            except OSError as e:
                rec["status"] = f"error:{type(e).__name__}"
            finally:
                conn.close()
            rec["t_done"] = time.time()
            st = rec["status"]
            if st == "timeout" or st == 504:
                rec["outcome"] = "timed_out"
            elif isinstance(st, int) and 200 <= st < 300:
                rec["outcome"] = "ok"
            else:
                rec["outcome"] = "error"  # refined later with the worker logs
    pool = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    t0 = time.time() + start_delay
    for i, off in enumerate(schedule):
        recs[i]["t_sched"] = t0 + off
        delay = t0 + off - time.time()
        if delay > 0:
            time.sleep(delay)
        work.put(i)
    for _ in pool:
        work.put(None)
    hard_stop = t0 + schedule[-1] + timeout + 5.0
    for t in pool:
        t.join(max(0.0, hard_stop - time.time()))
    for r in recs:
        if r["outcome"] is None:
            r["outcome"], r["status"] = "timed_out", "no-answer"
    return recs


def mq_rpc_run(params, queue_name: str, schedule: list[float], ms, mb: float,
               timeout: float, prefix: str, persistent: bool = False,
               ttl_ms: int | None = None, start_delay: float = 0.05, priority=None) -> dict:
    """Request/reply over RabbitMQ: publish jobs with reply_to + correlation_id.

    ``ms`` (job milliseconds) and ``priority`` (the AMQP message priority, None =
    none) are one value for all messages or one per message.
    Returns {"records": [...], "depth_after_publish": int | None}.
    """
    import pika

    n = len(schedule)
    ms, priority = _per_request(ms, n), _per_request(priority, n)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    reply_q = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
    recs = [{"id": f"{prefix}-{i}", "t_sched": 0.0, "t_send": None, "t_done": None,
             "status": None, "outcome": None, "late_reply": None} for i in range(n)]
    by_corr: dict[str, dict] = {}

    def on_reply(_ch, _method, props, _body):
        rec = by_corr.get(props.correlation_id)
        if rec is None:
            return
        now = time.time()
        if rec["outcome"] is None:
            rec["t_done"], rec["status"], rec["outcome"] = now, "reply", "ok"
        elif rec["late_reply"] is None:
            rec["late_reply"] = now

    ch.basic_consume(queue=reply_q, on_message_callback=on_reply, auto_ack=True)
    t0 = time.time() + start_delay
    for i, off in enumerate(schedule):
        recs[i]["t_sched"] = t0 + off
    i = 0
    depth = None
    hard_stop = t0 + schedule[-1] + timeout + 5.0
    while time.time() < hard_stop:
        now = time.time()
        while i < n and recs[i]["t_sched"] <= now:
            rec = recs[i]
            corr = uuid.uuid4().hex
            by_corr[corr] = rec
            props = pika.BasicProperties(reply_to=reply_q, correlation_id=corr,
                                         delivery_mode=2 if persistent else 1,
                                         expiration=str(ttl_ms) if ttl_ms else None,
                                         priority=priority[i])
            rec["t_send"] = time.time()
            ch.basic_publish(exchange="", routing_key=queue_name, properties=props,
                             body=json.dumps({"id": rec["id"], "ms": ms[i], "mb": mb}).encode())
            i += 1
            if i == n:
                depth = ch.queue_declare(queue=queue_name, passive=True).method.message_count
        for rec in recs[:i]:
            if rec["outcome"] is None and now > rec["t_sched"] + timeout:
                rec["t_done"], rec["status"], rec["outcome"] = now, "timeout", "timed_out"
        if i == n and all(r["outcome"] is not None for r in recs):
            break
        nxt = recs[i]["t_sched"] if i < n else now + 0.005
        conn.process_data_events(time_limit=max(0.0, min(nxt - time.time(), 0.005)))
    for r in recs:
        if r["outcome"] is None:
            r["outcome"], r["status"], r["t_done"] = "timed_out", "no-answer", time.time()
    try:
        conn.close()
    except Exception:
        pass
    return {"records": recs, "depth_after_publish": depth}
