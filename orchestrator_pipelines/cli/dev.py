"""``orchestrator dev``: the devnet stack plus ``dagster dev`` — the whole pipeline on one machine.

It starts anvil (with the core contract), the Starknet node and the prover,
points the code location at them through the ``ORCHESTRATOR_*`` environment,
and runs ``dagster dev`` (webserver + daemon) with the sensors running, so
batches flow from new blocks to settled state updates without a click.
Ctrl-C or SIGTERM stops Dagster, then the devnet, within 10 s, also when the
command was started with SIGINT ignored (``nohup``, a service manager); if it
is killed outright, its children get a SIGTERM from the kernel and stop too.

Dagster's instance lives under the devnet's state directory by default, so
the two are reset together (``make clean``) and never disagree about which
blocks were batched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from orchestrator_pipelines.devnet.children import child_preexec, interrupt_on_stop_signals
from orchestrator_pipelines.errors import OrchestratorError

REPO_ROOT = Path(__file__).resolve().parents[2]
# How long ``dagster dev`` may take to stop its webserver and daemon before its
# process group is killed: the devnet must still stop within 10 s of the signal.
DAGSTER_STOP_TIMEOUT_S = 6.0


def register(subparsers: Any) -> None:
    dev = subparsers.add_parser("dev", help="run the devnet stack and `dagster dev` with the sensors running")
    dev.add_argument("--state-dir", type=Path, default=Path(".devnet"), help="devnet state, artifacts and Dagster home")
    dev.add_argument("--dagster-home", type=Path, default=None, help="Dagster instance directory (default: STATE_DIR/dagster_home)")
    dev.add_argument("--host", default="127.0.0.1", help="Dagster UI host (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    dev.add_argument("--block-time", type=float, default=2.0, help="Starknet block time in seconds (default 2)")
    dev.add_argument("--prover-delay", type=float, default=5.0, help="seconds from proof submission to DONE (default 5)")
    dev.add_argument("--prover-failure-rate", type=float, default=0.0, help="share of proof jobs that fail (0..1)")
    dev.add_argument("--seed", type=int, default=0, help="seed of the generated chain")
    dev.set_defaults(func=run_dev)


def prepare_dagster_home(home: Path) -> Path:
    """Create the instance directory with the project's local dagster.yaml (kept if already there)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", target)
    return home.resolve()


def run_dev(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; either one, even during the start, stops Dagster and then the devnet."""
    with interrupt_on_stop_signals():
        try:
            if os.environ.get("ORCHESTRATOR_STACK", "starknet") == "zksync_os":
                return run_dev_zksync_os(args)
            return run_dev_starknet(args)
        except KeyboardInterrupt:
            return 0


def run_dev_starknet(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.cli.devnet import print_summary
    from orchestrator_pipelines.devnet.env import orchestrator_env
    from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack

    if not 0 < args.port < 65536:
        raise OrchestratorError(f"--port must be within 1..65535, got {args.port}")
    state_dir = args.state_dir.resolve()
    home = prepare_dagster_home(args.dagster_home or state_dir / "dagster_home")
    config = DevnetConfig(
        state_dir=state_dir,
        block_time_s=args.block_time,
        prover_delay_s=args.prover_delay,
        prover_failure_rate=args.prover_failure_rate,
        seed=args.seed,
    )
    with DevnetStack(config) as stack:
        print_summary(stack)
        env = {**os.environ, **orchestrator_env(stack.info(), state_dir / "artifacts"), "DAGSTER_HOME": str(home)}
        return _run_dagster_dev(args, env, home)


def _run_dagster_dev(args: argparse.Namespace, env: dict[str, str], home: Path) -> int:
    """Run ``dagster dev`` under the process guard until it exits or this process is asked to stop.

    The guard, not this process, owns ``dagster dev``'s process group: if this
    process is SIGKILLed, the kernel's SIGTERM to the guard still takes the
    webserver, daemon, code servers and runs down within the grace period.
    """
    command = [sys.executable, "-m", "orchestrator_pipelines.devnet.process_guard",
               "--grace", f"{DAGSTER_STOP_TIMEOUT_S:g}", "--",
               sys.executable, "-m", "dagster", "dev", "-m", "orchestrator_pipelines.definitions",
               "-h", args.host, "-p", str(args.port)]
    print(f"dagster dev: http://{args.host}:{args.port}  (DAGSTER_HOME {home})", flush=True)
    guard = subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL, preexec_fn=child_preexec())
    try:
        return guard.wait()
    except KeyboardInterrupt:
        guard.terminate()
        try:
            guard.wait(timeout=DAGSTER_STOP_TIMEOUT_S + 2)
        except subprocess.TimeoutExpired:
            guard.kill()  # dagster dev gets its SIGTERM from the kernel
            guard.wait()
        return 0


def run_dev_zksync_os(args: argparse.Namespace) -> int:
    """The ZKsync OS devnet (anvil + L1 contracts, node, prover API, fake provers) and ``dagster dev``."""
    from orchestrator_pipelines.devnet.zksync_os.stack import ZkOsDevnet, ZkOsDevnetConfig

    if not 0 < args.port < 65536:
        raise OrchestratorError(f"--port must be within 1..65535, got {args.port}")
    state_dir = (args.state_dir / "zksync_os").resolve()
    home = prepare_dagster_home(args.dagster_home or state_dir / "dagster_home")
    config = ZkOsDevnetConfig(state_dir=state_dir, block_time_s=args.block_time, seed=args.seed)
    with ZkOsDevnet(config) as devnet:
        info = devnet.info()
        print(
            "ZKsync OS devnet up\n"
            f"  l2 rpc (node)    {info['l2']['rpc_url']}  (chain {info['l2']['chain_id']})\n"
            f"  l1 rpc (anvil)   {info['l1']['rpc_url']}  (chain id {info['l1']['chain_id']})\n"
            f"  bridgehub        {info['l1']['bridgehub']}\n"
            f"  prover api       {info['prover_api']['url']}  (fake FRI and SNARK provers attached)",
            flush=True,
        )
        env = {**os.environ, **devnet.orchestrator_env(state_dir / "artifacts"), "DAGSTER_HOME": str(home)}
        return _run_dagster_dev(args, env, home)
