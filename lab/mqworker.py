"""A RabbitMQ consumer process for the lab (needs pika).

    python mqworker.py --amqp-port P --queue Q --consumers 4 --prefetch 1 \
        --budget-mb 120 --log jobs.log --name c0

The process runs ``consumers`` consumers, each on its own connection and channel
with ``basic.qos(prefetch_count=prefetch)`` and manual acknowledgements. A message
is a JSON job ``{"id", "ms", "mb"}``: the consumer allocates ``mb`` MiB (touching
every page), works ``ms`` milliseconds, publishes a reply if the message has a
``reply_to`` (request/reply with correlation id), then acks. Memory held by all
consumers of the process above the budget kills the process (``os._exit(86)``);
its unacked messages go back to the queue and are redelivered.

Log lines: ``<unix time> <event> <job id> <worker> [redelivered=0|1] [k=consumer]``
with events deliver, start, end, ack, crash.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time

import pika

from jobmemory import JobMemory  # a sibling module: the workers run as scripts


class Budget(JobMemory):
    """The consumer process's memory budget, shared by its consumers."""


def consume(args, budget: Budget, k: int, ready: threading.Event, errors: list) -> None:
    try:
        params = pika.ConnectionParameters(host="127.0.0.1", port=args.amqp_port, heartbeat=60,
                                           connection_attempts=20, retry_delay=0.2)
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=args.prefetch)

        def on_message(chan, method, props, body):
            job = json.loads(body)
            job_id = str(job.get("id"))
            ms = float(job.get("ms", 10))
            mb = float(job.get("mb", 0))
            budget.log("deliver", job_id, f"redelivered={int(bool(method.redelivered))} k={k}")
            buf = budget.hold(job_id, mb)
            try:
                budget.log("start", job_id)
                time.sleep(ms / 1000.0)
                budget.log("end", job_id)
                if props.reply_to:
                    chan.basic_publish(
                        exchange="", routing_key=props.reply_to,
                        properties=pika.BasicProperties(correlation_id=props.correlation_id),
                        body=json.dumps({"id": job_id, "worker": budget.name}).encode())
                chan.basic_ack(delivery_tag=method.delivery_tag)
                budget.log("ack", job_id, f"k={k}")
            finally:
                del buf
                budget.release(mb)

        ch.basic_consume(queue=args.queue, on_message_callback=on_message, auto_ack=False)
        ready.set()
        ch.start_consuming()
    except Exception as e:  # report and let the process die: the controller sees it
        errors.append(repr(e))
        ready.set()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--amqp-port", type=int, required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--prefetch", type=int, default=1)
    ap.add_argument("--budget-mb", type=float, default=None)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file", default=None)
    ap.add_argument("--name", default="c")
    a = ap.parse_args(argv)
    budget = Budget(a.name, a.budget_mb, a.log)
    errors: list = []
    threads, events = [], []
    for i in range(a.consumers):
        ev = threading.Event()
        t = threading.Thread(target=consume, args=(a, budget, i, ev, errors), daemon=True)
        t.start()
        threads.append(t)
        events.append(ev)
    for ev in events:
        ev.wait(30)
    if errors:
        print("consumer errors:", errors, flush=True)
        os._exit(2)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write(str(os.getpid()))
    while True:
        time.sleep(0.5)
        if errors or not all(t.is_alive() for t in threads):
            print("consumer stopped:", errors, flush=True)
            os._exit(3)


if __name__ == "__main__":
    main()
