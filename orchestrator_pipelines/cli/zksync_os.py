"""``orchestrator prover-api`` and ``orchestrator fake-prover fri|snark``: the ZKsync OS proving side.

``prover-api`` serves the prover jobs the Dagster assets offer (store: the
``ORCHESTRATOR_PROVER_API_DATABASE_URL`` PostgreSQL database in production, a
SQLite file for development); it runs as its own process beside the daemon.
``fake-prover`` attaches to it over HTTP exactly like a real prover binary.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from orchestrator_pipelines.errors import OrchestratorError


def register(subparsers: Any) -> None:
    api = subparsers.add_parser("prover-api", help="serve the ZKsync OS prover API (FRI and SNARK jobs)")
    api.add_argument("--host", default=None, help="listen address (default: from ORCHESTRATOR_PROVER_API_ADDRESS)")
    api.add_argument("--port", type=int, default=None, help="listen port (default: from ORCHESTRATOR_PROVER_API_ADDRESS)")
    api.add_argument("--database-url", default=None, help="postgresql://… or a SQLite path (default: settings)")
    api.set_defaults(func=run_prover_api)

    fake = subparsers.add_parser("fake-prover", help="a fake FRI or SNARK prover that uses the prover API over HTTP")
    fake.add_argument("kind", choices=("fri", "snark"))
    fake.add_argument("--url", default=None, help="prover API URL (default: ORCHESTRATOR_PROVER_API_URL)")
    fake.add_argument("--id", default=None, help="prover id reported to the API (default: fake_<kind>_prover)")
    fake.add_argument("--workers", type=int, default=1, help="provers to run in parallel (default 1)")
    fake.add_argument("--poll-interval", type=float, default=1.0, help="seconds between picks when idle (default 1)")
    fake.add_argument("--compute-time", type=float, default=0.0, help="seconds spent per job (default 0)")
    fake.add_argument("--timeout-frequency", type=float, default=0.0, help="share of jobs dropped without a proof (0..1)")
    fake.add_argument("--seed", type=int, default=0)
    fake.set_defaults(func=run_fake_prover)


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def run_prover_api(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.config import load_settings
    from orchestrator_pipelines.zksync_os.prover_api.server import ProverApiServer
    from orchestrator_pipelines.zksync_os.prover_api.store import ProverApiLimits, ProverJobStore

    settings = load_settings()
    host, _, port = settings.prover_api_address.rpartition(":")
    host = args.host or host or "0.0.0.0"
    port = args.port if args.port is not None else int(port)
    if not 0 <= port < 65536:
        raise OrchestratorError(f"--port must be within 0..65535, got {port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limits = ProverApiLimits(
        fri_job_timeout_s=settings.prover_api_fri_job_timeout_s,
        snark_job_timeout_s=settings.prover_api_snark_job_timeout_s,
        max_assigned_batch_range=settings.prover_api_max_assigned_batch_range,
        max_fris_per_snark=settings.prover_api_max_fris_per_snark,
    )
    store = ProverJobStore(args.database_url or settings.prover_api_database_url, limits)
    with ProverApiServer(store, host=host, port=port) as server:
        print(server.url, flush=True)
        _wait_for_signal()
    return 0


def run_fake_prover(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.config import load_settings
    from orchestrator_pipelines.zksync_os.prover_api.fake_provers import FakeProver, FakeProverConfig

    if args.workers < 1:
        raise OrchestratorError(f"--workers must be at least 1, got {args.workers}")
    url = args.url or load_settings().prover_api_url
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    provers = [
        FakeProver(
            url,
            FakeProverConfig(
                kind=args.kind,
                prover_id=f"{args.id or f'fake_{args.kind}_prover'}-{index}" if args.workers > 1 else (args.id or f"fake_{args.kind}_prover"),
                poll_interval_s=args.poll_interval,
                compute_time_s=args.compute_time,
                timeout_frequency=args.timeout_frequency,
                seed=args.seed + index,
            ),
        )
        for index in range(args.workers)
    ]
    for prover in provers:
        prover.start_thread()
    print(f"{args.workers} fake {args.kind.upper()} prover(s) polling {url}", flush=True)
    _wait_for_signal()
    for prover in provers:
        prover.stop()
    return 0
