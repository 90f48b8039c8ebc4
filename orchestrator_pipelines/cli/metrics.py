"""``orchestrator metrics serve``: the Prometheus exporter as a long-running process.

It reads the Dagster instance named by ``$DAGSTER_HOME`` (the same dagster.yaml
the daemon uses), so one exporter covers every run launcher. SIGTERM and
Ctrl-C stop it cleanly, as a container orchestrator expects.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any


def register(subparsers: Any) -> None:
    metrics = subparsers.add_parser("metrics", help="Prometheus metrics of the settlement pipeline")
    metrics_sub = metrics.add_subparsers(dest="metrics_command", required=True, metavar="SUBCOMMAND")
    serve = metrics_sub.add_parser(
        "serve", help="serve /metrics, updated from the Dagster instance's event log ($DAGSTER_HOME)"
    )
    serve.add_argument("--port", type=int, default=9108, help="HTTP port (default 9108)")
    serve.add_argument("--addr", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    serve.add_argument(
        "--interval", type=float, default=15.0, metavar="SECONDS",
        help="seconds between two reads of the event log (default 15)",
    )
    serve.add_argument(
        "--page-size", type=int, default=500,
        help="events read per query; a backlog is read over several intervals (default 500)",
    )
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ValueError(f"--interval must be positive, got {args.interval}")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")

    from dagster import DagsterInstance

    from orchestrator_pipelines.metrics.exporter import DagsterEventCollector, serve

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with DagsterInstance.get() as instance:
        collector = DagsterEventCollector(instance, page_size=args.page_size)
        serve(instance, args.port, args.interval, addr=args.addr, stop=stop, collector=collector)
    return 0
