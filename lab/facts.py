"""Versions of the pieces and facts about the machine, for the record."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys


def _dpkg(pkg: str) -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cmd_version(argv: list[str], pattern: str) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        m = re.search(pattern, out.stdout + out.stderr)
        return m.group(1) if m else None
    except (OSError, subprocess.SubprocessError):
        return None


def _erlang_otp() -> str | None:
    try:
        out = subprocess.run(["erl", "-noshell", "-eval",
                              'io:format("~s", [erlang:system_info(otp_release)]), halt().'],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions(rabbit=None) -> dict:
    try:
        import pika
        pika_v = pika.__version__
    except ImportError:
        pika_v = None
    import numpy
    v = {
        "rabbitmq": (rabbit.server_version() if rabbit else None),
        "rabbitmq_package": _dpkg("rabbitmq-server"),
        "erlang_otp": _erlang_otp(),
        "erlang_package": _dpkg("erlang-base"),
        "nginx": _cmd_version(["nginx", "-v"], r"nginx/(\S+)"),
        "nginx_package": _dpkg("nginx"),
        "haproxy": _cmd_version(["haproxy", "-v"], r"version (\S+)"),
        "haproxy_package": _dpkg("haproxy"),
        "python": platform.python_version(),
        "pika": pika_v,
        "numpy": numpy.__version__,
    }
    return v


def machine_facts() -> dict:
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cores": usable, "cpu_model": model,
            "memory_gib": round(mem_kb / 1048576, 1) if mem_kb else None,
            "os": platform.platform(), "kernel": platform.release(),
            "machine": platform.machine(), "python_impl": sys.implementation.name}
