"""Start RabbitMQ, nginx and HAProxy on 127.0.0.1 with private configs and dirs."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import LOOPBACK, Proc, ProcessGroup, SocketWatch, free_port, wait_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
#: Erlang's distribution listener on loopback: for the server and, through
#: ERL_FLAGS, for every other `erl` started with the broker's environment.
DIST_ARGS = "-kernel inet_dist_use_interface {127,0,0,1}"


def _which(name: str, extra: list[str] = ()) -> str | None:
    for cand in extra:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def epmd_path() -> str | None:
    cands = sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd")) + ["/usr/lib/erlang/bin/epmd"]
    return _which("epmd", cands)


def _ms(seconds: float) -> str:
    """A duration both nginx and HAProxy accept."""
    return f"{int(round(seconds * 1000))}ms"


def missing_binaries() -> list[str]:
    """What the lab needs and cannot find (empty list = ready)."""
    missing = []
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        missing.append("rabbitmq-server")
    if not epmd_path():
        missing.append("epmd (erlang)")
    if not _which("nginx"):
        missing.append("nginx")
    if not _which("haproxy"):
        missing.append("haproxy")
    try:
        import pika  # noqa: F401
    except ImportError:
        missing.append("pika (python)")
    return missing


# --------------------------------------------------------------------------- RabbitMQ

@dataclass
class Rabbit:
    port: int
    epmd_port: int
    dist_port: int
    nodename: str
    env: dict
    beam: Proc
    epmd: Proc
    startup_s: float = 0.0
    startup_sockets: list = field(default_factory=list)  # every listener seen while it started
    startup_samples: int = 0                              # how many times the watch looked

    def url_params(self):
        import pika
        return pika.ConnectionParameters(host=LOOPBACK, port=self.port, heartbeat=30,
                                         blocked_connection_timeout=30)

    def server_version(self) -> str:
        """Version reported by the broker itself in the AMQP handshake."""
        import pika
        conn = pika.BlockingConnection(self.url_params())
        try:
            props = conn._impl.server_properties or {}
            v = props.get("version", b"")
            return v.decode() if isinstance(v, bytes) else str(v)
        finally:
            conn.close()


def start_rabbitmq(group: ProcessGroup, name: str = "rabbit") -> Rabbit:
    base = group.workdir / name
    home = base / "home"
    for d in (home, base / "mnesia", base / "log"):
        d.mkdir(parents=True, exist_ok=True)
    port, epmd_port, dist_port = free_port(), free_port(), free_port()
    nodename = f"mqlb{port}@localhost"
    conf = base / "rabbitmq.conf"
    conf.write_text(
        "listeners.tcp.1 = 127.0.0.1:%d\n"
        "loopback_users.guest = true\n"
        "disk_free_limit.absolute = 50MB\n"
        "log.console = false\n"
        "log.file.level = warning\n" % port)
    plugins = base / "enabled_plugins"
    plugins.write_text("[].\n")
    # Erlang distribution and epmd stay on loopback. RabbitMQ's prelaunch makes sure
    # an epmd runs (it would spawn a daemon of its own that we could not track), so
    # we start epmd first, in the foreground, on a free port, and stop it by PID.
    # Note: epmd always adds the loopback of each address family, so besides
    # 127.0.0.1 it also listens on ::1 (IPv6 loopback; still not reachable from
    # other hosts).
    # During start-up RabbitMQ's prelaunch also runs a short-lived Erlang node of its
    # own ("epmd-starter-N", to make sure epmd runs) that gets none of the server's
    # arguments: without ERL_FLAGS, which every `erl` reads from its environment,
    # its distribution listener is on 0.0.0.0 for a few seconds.
    dist_args = DIST_ARGS
    env = {
        "ERL_FLAGS": dist_args,
        "HOME": str(home),
        "ERL_EPMD_ADDRESS": LOOPBACK,
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_NODENAME": nodename,
        "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": dist_args,
        "RABBITMQ_ALLOW_INPUT": "",
    }
    t0 = time.monotonic()
    started: list[Proc] = []
    # Watch every listening socket of epmd, the broker and their children from the
    # first moment to the end of start-up (short-lived helpers included).
    with SocketWatch(lambda: [p.pid for p in started], interval=0.02, where="broker start-up") as watch:
        epmd = group.start(f"{name}-epmd", [epmd_path(), "-address", LOOPBACK, "-port", str(epmd_port)],
                           env=env, stop_signal=signal.SIGTERM, stop_timeout=3)
        started.append(epmd)
        wait_port(epmd_port, 5, epmd, "epmd")
        beam = group.start(f"{name}-server", [str(RABBIT_BIN / "rabbitmq-server")], env=env,
                           stop_signal=signal.SIGTERM, stop_timeout=20)
        started.append(beam)
        r = Rabbit(port, epmd_port, dist_port, nodename, env, beam, epmd)
        wait_port(port, 60, beam, "rabbitmq-server")
        _wait_amqp(r, 30)
    r.startup_s = time.monotonic() - t0
    r.startup_sockets = watch.sockets
    r.startup_samples = watch.samples
    outside = watch.outside_loopback()
    if outside:
        raise RuntimeError(f"RabbitMQ listened beyond loopback during start-up: {outside}")
    return r


def _wait_amqp(r: Rabbit, timeout: float) -> None:
    """The port can accept before the broker is ready: wait for a real AMQP handshake."""
    import pika
    deadline = time.monotonic() + timeout
    while True:
        try:
            pika.BlockingConnection(r.url_params()).close()
            return
        except Exception:
            if time.monotonic() > deadline or not r.beam.alive():
                raise
            time.sleep(0.1)


# --------------------------------------------------------------------------- nginx

@dataclass
class Upstream:
    port: int
    proc: Proc
    conf: Path
    extra: dict = field(default_factory=dict)


def start_nginx(group: ProcessGroup, name: str, backends: list[int], policy: str = "round_robin",
                max_conns: int | None = None, read_timeout_s: float = 60.0,
                connect_timeout_s: float = 2.0) -> Upstream:
    prefix = group.workdir / name
    (prefix / "conf").mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    mc = f" max_conns={max_conns}" if max_conns else ""
    servers = "\n".join(f"        server 127.0.0.1:{b}{mc};" for b in backends)
    balance = {"round_robin": "", "least_conn": "        least_conn;\n"}[policy]
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream workers {{
{balance}{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://workers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout {_ms(connect_timeout_s)};
            proxy_read_timeout {_ms(read_timeout_s)};
            proxy_send_timeout {_ms(read_timeout_s)};
        }}
    }}
}}
""")
    proc = group.start(name, [_which("nginx"), "-p", str(prefix), "-e", str(prefix / "logs" / "error.log"), "-c", str(conf)],
                       stop_signal=signal.SIGQUIT, stop_timeout=5)
    wait_port(port, 10, proc, "nginx")
    return Upstream(port, proc, conf, {"policy": policy, "max_conns": max_conns})


# --------------------------------------------------------------------------- HAProxy

def start_haproxy(group: ProcessGroup, name: str, backends: list[int], maxconn: int | None = 4,
                  balance: str = "roundrobin", queue_timeout_s: float = 30.0,
                  server_timeout_s: float = 60.0, abortonclose: bool = False,
                  priority_class_by_path: dict[str, int] | None = None) -> Upstream:
    """HAProxy with per-server ``maxconn`` and its queue. ``priority_class_by_path``
    maps a path prefix to an ``http-request set-priority-class`` (lower leaves the
    queue first; other requests keep class 0)."""
    d = group.workdir / name
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    mc = f" maxconn {maxconn}" if maxconn else ""
    servers = "\n".join(f"    server w{i} 127.0.0.1:{b}{mc}" for i, b in enumerate(backends))
    # unix socket paths are limited to ~100 bytes: keep it in a short private dir
    sock_dir = Path(tempfile.mkdtemp(prefix="mqlb-hap-"))
    group.on_exit(lambda: shutil.rmtree(sock_dir, ignore_errors=True))
    sock = sock_dir / "stats.sock"
    rules = "".join(f"    http-request set-priority-class int({cls}) if {{ path_beg {prefix} }}\n"
                    for prefix, cls in (priority_class_by_path or {}).items())
    conf = d / "haproxy.cfg"
    conf.write_text(f"""global
    maxconn 2000
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client {_ms(server_timeout_s)}
    timeout server {_ms(server_timeout_s)}
    timeout queue {_ms(queue_timeout_s)}
{"    option abortonclose" if abortonclose else "    no option abortonclose"}
frontend fe
    bind 127.0.0.1:{port}
    default_backend workers
backend workers
    balance {balance}
{rules}{servers}
""")
    proc = group.start(name, [_which("haproxy"), "-db", "-f", str(conf)],
                       stop_signal=signal.SIGUSR1, stop_timeout=5)
    wait_port(port, 10, proc, "haproxy")
    return Upstream(port, proc, conf, {"maxconn": maxconn, "balance": balance,
                                       "queue_timeout_s": queue_timeout_s,
                                       "abortonclose": abortonclose,
                                       "priority_class_by_path": priority_class_by_path,
                                       "stats": str(sock)})


def haproxy_queue_max(sock_path: str) -> dict:
    """Per backend/server max queue length seen (HAProxy's own qmax counter)."""
    lines = haproxy_stat(sock_path).splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == "workers":
            out[row["svname"]] = int(row.get("qmax") or 0)
    return out


def haproxy_stat(sock_path: str) -> str:
    import socket as _s
    with _s.socket(_s.AF_UNIX, _s.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()
