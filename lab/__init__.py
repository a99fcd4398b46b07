"""Real-systems lab for the book: RabbitMQ, nginx and HAProxy on 127.0.0.1.

``python -m lab run --out lab/results/latest.json`` starts the pieces with private
configs, runs three bounded experiments (light requests, a burst of heavy jobs, a
consumer killed mid-run), stops every process by PID and writes a JSON record.
``python -m lab check`` says whether the needed programs are installed.

Needs (as root, Debian/Ubuntu): ``apt-get install rabbitmq-server nginx haproxy``
and ``pip install pika``. The book's default build only reads the recorded JSON.
"""
from .services import missing_binaries  # noqa: F401

DEFAULT_RESULTS = "lab/results/latest.json"
