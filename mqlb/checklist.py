"""A configuration checklist: the book's rules, with the reader's own numbers put in.

The chapters find a handful of rules that decide whether a queue or a balancer
keeps a service standing (a prefetch that fits the consumer's memory, a cap on
connections, a queue no longer than the clients' patience, stale work dropped).
:func:`checklist` turns them into settings for RabbitMQ, nginx, HAProxy and an
autoscaler, computed from one description of the service, :class:`Service`.

Every line gives the setting, its value, the rule with the numbers put in, and
where the book shows why (``backed_by``: a MyST reference) and where the
software documents it (``source``: a bibliography key).

    >>> from mqlb.checklist import Service, checklist
    >>> lines = checklist(Service(job_s=2.0, job_memory_mb=500, server_memory_mb=2000, servers=4,
    ...                           patience_s=30, rate=1.0, peak_rate=2.5))
    >>> next(l.value for l in lines if l.setting == "server maxconn")
    '4'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _checks

__all__ = ["BROKER_WATERMARK", "Line", "Service", "TARGET_UTILISATION", "checklist", "markdown_table"]

#: Utilisation to plan for: above it the response time climbs the hockey stick.
TARGET_UTILISATION = 0.7

#: RabbitMQ's vm_memory_high_watermark default up to 3.13 (4.0 raised it to 0.6).
BROKER_WATERMARK = 0.4


@dataclass(frozen=True)
class Service:
    """What the checklist needs to know about a service (machines of equal speed)."""

    job_s: float                 # mean work of one job on one machine (s)
    job_memory_mb: float         # memory one job holds while it runs (MB)
    server_memory_mb: float      # memory a machine has for jobs (MB)
    servers: int                 # machines (consumers or upstream servers)
    patience_s: float            # how long a client waits for the answer (s)
    rate: float                  # jobs/s in normal traffic
    peak_rate: float             # jobs/s in the surge you plan for
    longest_job_s: float | None = None   # the longest job you expect (s); default 10 × job_s
    hop_s: float = 0.001         # one broker hop, e.g. delivery or acknowledgement (s)
    message_kb: float = 64.0     # one message in the broker: payload and overhead (KB)

    def __post_init__(self):
        for name in ("job_s", "server_memory_mb", "patience_s", "rate", "peak_rate"):
            _checks.positive(name, getattr(self, name))
        _checks.non_negative("job_memory_mb", self.job_memory_mb)
        _checks.non_negative("hop_s", self.hop_s)
        _checks.positive("message_kb", self.message_kb)
        _checks.count("servers", self.servers)
        if self.longest_job_s is not None and _checks.positive("longest_job_s", self.longest_job_s) < self.job_s:
            raise ValueError(f"longest_job_s must be at least job_s ({self.job_s!r}), got {self.longest_job_s!r}")
        if self.job_memory_mb > self.server_memory_mb:
            raise ValueError(f"a job of job_memory_mb={self.job_memory_mb!r} MB does not fit in a machine of "
                             f"server_memory_mb={self.server_memory_mb!r} MB: no setting can run it")
        if self.patience_s <= self.job_s:
            raise ValueError(f"patience_s={self.patience_s!r} is not longer than a job (job_s={self.job_s!r}): "
                             f"clients give up before an average job could finish even without waiting; answer "
                             f"at once and let them fetch the result later (asynchronous request-reply)")
        if self.peak_rate < self.rate:
            raise ValueError(f"peak_rate must be at least rate ({self.rate!r}), got {self.peak_rate!r}")

    @property
    def capacity(self) -> float:
        """Jobs per second all machines can finish (each does one second of work per second)."""
        return self.servers / self.job_s

    @property
    def per_machine(self) -> int:
        """Jobs one machine can hold in memory at once."""
        return max(1, int(self.server_memory_mb // self.job_memory_mb)) if self.job_memory_mb else 10 ** 6

    @property
    def slack_s(self) -> float:
        """Longest a job may wait before it starts and still be answered in time (s)."""
        return self.patience_s - self.job_s


@dataclass(frozen=True)
class Line:
    """One setting of the checklist."""

    software: str        # "RabbitMQ", "Celery", "nginx", "HAProxy" or "autoscaling"
    setting: str         # the directive or argument
    value: str           # what to set, for this service
    rule: str            # the rule, with the service's numbers put in
    backed_by: str       # where the book shows it (MyST markup)
    source: str          # bibliography key of the software's documentation ("" for the book's own rule)


def checklist(service: Service) -> list[Line]:
    """The settings for ``service``, one :class:`Line` each, RabbitMQ first."""
    _checks.instance("service", service, Service, "a Service")
    s = service
    fit = s.per_machine
    fit_text = "no limit from memory" if s.job_memory_mb == 0 else f"{s.server_memory_mb:g} MB ÷ {s.job_memory_mb:g} MB"
    credit = 1 + 2 * s.hop_s / s.job_s                     # jobs a consumer must hold to never wait for the next
    prefetch = max(1, min(fit, math.ceil(credit)))
    ready = max(0, math.floor(s.capacity * s.slack_s / 2))  # ready messages that start in time, with a margin
    longest = s.longest_job_s if s.longest_job_s is not None else 10 * s.job_s
    ack_timeout = max(1800.0, 2 * prefetch * longest)
    need = math.ceil(s.rate * s.job_s / TARGET_UTILISATION)
    need_peak = math.ceil(s.peak_rate * s.job_s / TARGET_UTILISATION)
    held = ready + s.servers * prefetch                      # most messages the broker holds with these bounds
    held_mb = held * s.message_kb / 1024
    broker_mb = held_mb / BROKER_WATERMARK
    lines = [
        Line("RabbitMQ", "prefetch (basic.qos), manual acks", str(prefetch),
             f"at most what a consumer can hold ({fit_text} = {fit}), and at least 1 + 2 hops ÷ job time "
             f"(1 + 2 × {s.hop_s * 1000:g} ms ÷ {s.job_s:g} s = {credit:.4g}) so that it never idles between jobs",
             "{ref}`ex-06-prefetch-memory`, {ref}`ex-06-prefetch-tradeoff`", "rabbitmq_prefetch"),
        Line("RabbitMQ", "x-max-length, x-overflow", f"{ready}, reject-publish (or reject-publish-dlx)",
             f"no more ready messages than can start within half the patience left after the work (the other "
             f"half is a margin for long jobs ahead): capacity × (patience − job time) ÷ 2 = {s.capacity:.3g}/s × "
             f"{s.slack_s:g} s ÷ 2; a refused publish tells the client at once",
             "the C6 verdict in {doc}`09-decision-guide`", "rabbitmq_maxlength"),
        Line("RabbitMQ", "x-message-ttl", f"{s.slack_s * 1000:.0f} ms",
             f"a message that waited longer than patience − job time ({s.patience_s:g} − {s.job_s:g} s) can no "
             f"longer be answered in time: drop it instead of working on it",
             "{doc}`08-the-traffic-surge`", "rabbitmq_ttl"),
        Line("RabbitMQ", "delivery-limit and a dead-letter exchange", "3",
             "a message that crashed its consumer three times is moved aside for a person to look at",
             "{doc}`09-decision-guide`, dead-letter queues", "rabbitmq_quorum"),
        Line("RabbitMQ", "consumer_timeout", f"{ack_timeout:.0f} s",
             f"longer than a consumer may hold a message: prefetch × longest job × 2 = {prefetch} × {longest:g} s × 2 "
             f"(the default is 1 800 s)", "", "rabbitmq_consumers"),
        Line("RabbitMQ", "publisher confirms", "on",
             "the producer learns of a refused or lost publish instead of assuming it arrived", "",
             "rabbitmq_reliability"),
        Line("RabbitMQ", "vm_memory_high_watermark", f"{BROKER_WATERMARK:g}; RAM for messages ≥ {broker_mb:.3g} MB",
             f"the messages the bounds above let the broker hold, ready + consumers × prefetch = {ready} + "
             f"{s.servers} × {prefetch} = {held} of {s.message_kb:g} KB = {held_mb:.3g} MB, must stay below the "
             f"watermark (RAM × {BROKER_WATERMARK:g}, beside the broker's own memory), or its memory alarm "
             f"blocks every publisher before the queue bound refuses anyone",
             "{doc}`08-the-traffic-surge`, the broker's own limits", "rabbitmq_memory"),
        Line("RabbitMQ", "persistent messages (delivery_mode 2, durable queues)",
             f"for work that must survive a broker restart; a disk that writes {s.peak_rate:g} messages/s",
             f"each persistent message is written once: the disk must keep up with the surge's "
             f"{s.peak_rate:g} publishes/s (under {1000 / s.peak_rate:.0f} ms a write), or publishers are slowed",
             "{doc}`08-the-traffic-surge`, the broker's own limits", "rabbitmq_persistence"),
        Line("RabbitMQ", "x-max-priority, and a priority per message", "2 levels: light requests 1, heavy jobs 0",
             "where light requests share a queue with heavy jobs, let them overtake the backlog (a consumer "
             "finishes what it holds, so keep prefetch low); a few levels are enough",
             "{doc}`10-which-work-to-save`, {doc}`90-real-systems`", "rabbitmq_priority"),
        Line("Celery", "task_acks_late, worker_prefetch_multiplier", "True, 1 (the defaults are False, 4)",
             "acknowledge after the task, so a worker that dies hands its tasks back instead of losing them; "
             "reserve one message per process, so short tasks do not wait behind a long one in a busy "
             "worker's buffer while another worker idles", "{doc}`06-when-a-message-queue-fits`, defaults people run",
             "celery_configuration"),
        Line("nginx", "server … max_conns, with a shared zone", f"{fit} per server",
             f"no more requests per server than fit in its memory ({fit_text}); without a `zone` the limit "
             f"counts per worker process", "{numref}`fig-07-memory`", "nginx_upstream"),
        Line("nginx", "least_conn (one nginx) or random two least_conn (several)", "on",
             "send each request to a server with few open requests", "{doc}`04-load-balancers`", "nginx_upstream"),
        Line("nginx", "max_fails, fail_timeout", "1, 10 s (the defaults)",
             "passive health checks are on by default: a server that failed is skipped for 10 s; keep them on, "
             "or least connections sends most traffic to a server that answers errors fast",
             "{doc}`13-slow-and-failing-servers`", "nginx_upstream"),
        Line("nginx", "proxy_read_timeout; proxy_next_upstream", f"{s.patience_s:g} s; error timeout, no non_idempotent",
             "wait no longer than the client does; retry on another server only requests that are safe to repeat",
             "{doc}`08-the-traffic-surge`, retries", "nginx_proxy"),
        Line("HAProxy", "server maxconn", f"{fit}",
             f"no more requests per server than fit in its memory ({fit_text}); the rest wait in HAProxy's queue",
             "{numref}`fig-07-memory`", "haproxy_config"),
        Line("HAProxy", "timeout queue", f"{s.slack_s:g} s",
             f"below the client's timeout minus the job time ({s.patience_s:g} − {s.job_s:g} s): a request that "
             f"waited longer cannot be answered in time", "{ref}`ex-07-queue-timeout`", "haproxy_config"),
        Line("HAProxy", "maxqueue (per server)", f"{math.ceil(ready / s.servers)}",
             f"the same bound as the broker's queue, shared by {s.servers} servers", "the C6 verdict in "
             "{doc}`09-decision-guide`", "haproxy_config"),
        Line("HAProxy", "option abortonclose", "on",
             "drop a queued request whose client has gone, instead of working for nobody",
             "{doc}`07-when-a-load-balancer-fits`", "haproxy_config"),
        Line("HAProxy", "http-request set-priority-class", "int(-1) for light requests (by path)",
             "light requests leave HAProxy's queue before heavy ones (lower class first); it orders only the "
             "queue, so it needs maxconn", "{doc}`10-which-work-to-save`, {doc}`90-real-systems`",
             "haproxy_priority"),
        Line("HAProxy", "balance", "leastconn (or random(2) with several balancers)",
             "send each request to a server with few open requests; balancers that see only their own "
             "connections herd on least connections, two random choices stay robust",
             "{doc}`04-load-balancers`, {doc}`12-balancers-that-dont-know-everything`", "haproxy_config"),
        Line("clients", "retries", "at most 2 retries, with backoff and jitter, within a retry budget of 10 %",
             "backoff alone leaves a retry storm stuck; a budget (a token bucket that answers refill) or a "
             "circuit breaker ends it", "{doc}`11-clients-that-back-off`", "brooker2022retries"),
        Line("autoscaling", "consumers for normal traffic", f"{need}",
             f"work per second ÷ target utilisation = {s.rate:g}/s × {s.job_s:g} s ÷ {TARGET_UTILISATION:g}",
             "{doc}`02-why-services-fall-over`", ""),
        Line("autoscaling", "consumers for the surge", f"{need_peak}",
             f"{s.peak_rate:g}/s × {s.job_s:g} s ÷ {TARGET_UTILISATION:g}; until they are running, the queue "
             f"absorbs the excess of {max(0.0, s.peak_rate - s.capacity):.3g} jobs/s",
             "{doc}`08-the-traffic-surge`", ""),
        Line("autoscaling", "scale out when", f"oldest message older than {s.slack_s / 2:g} s",
             f"on the age of the oldest message (or backlog ÷ capacity), not on CPU: act at half the slack "
             f"({s.slack_s:g} s ÷ 2), before messages expire", "{doc}`08-the-traffic-surge`", ""),
    ]
    return lines


def markdown_table(lines) -> str:
    """The checklist as MyST Markdown: a table per software (setting, value, rule, where to look)."""
    out = []
    for software in dict.fromkeys(line.software for line in lines):
        out += [f"**{software}**", "", "| setting | value | rule | see |", "|---|---|---|---|"]
        for line in (l for l in lines if l.software == software):
            see = "; ".join(x for x in (line.backed_by, f"{{cite}}`{line.source}`" if line.source else "") if x)
            out.append(f"| `{line.setting}` | {line.value} | {line.rule} | {see or '–'} |")
        out.append("")
    return "\n".join(out)
