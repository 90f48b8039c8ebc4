"""``orchestrator devnet ...``: run the local devnet and rebuild its contracts.

``devnet up`` runs the whole stack in the foreground, prints where everything
is, then one line per new Starknet block, and stops every service on Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable, TextIO

from orchestrator_pipelines.cli import devnet_messages
from orchestrator_pipelines.errors import OrchestratorError


def register(subparsers: Any) -> None:
    devnet = subparsers.add_parser("devnet", help="run the local devnet (anvil, Starknet node, prover)")
    sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="SUBCOMMAND")

    up = sub.add_parser("up", help="start anvil + contracts, the Starknet node and the prover in the foreground")
    up.add_argument("--state-dir", type=Path, default=Path(".devnet"), help="where state, logs and devnet.json go")
    up.add_argument("--block-time", type=float, default=2.0, help="Starknet block time in seconds (default 2)")
    up.add_argument("--l1-block-time", type=float, default=None, help="anvil block time (default: a block per tx)")
    up.add_argument("--prover-delay", type=float, default=5.0, help="seconds from proof submission to DONE")
    up.add_argument("--prover-failure-rate", type=float, default=0.0, help="share of proof jobs that fail (0..1)")
    up.add_argument("--prover-api-key", default=None, help="API key the prover expects")
    up.add_argument("--seed", type=int, default=0, help="seed of the generated Starknet chain and prover failures")
    up.add_argument("--port-anvil", type=int, default=0, help="anvil port (default: a free one)")
    up.add_argument("--port-starknet", type=int, default=0, help="Starknet RPC port (default: a free one)")
    up.add_argument("--port-prover", type=int, default=0, help="prover port (default: a free one)")
    up.add_argument("--no-persist", action="store_true", help="start fresh chains and keep no state on exit")
    up.add_argument(
        "--core-contract-artifact",
        type=Path,
        default=None,
        metavar="FILE",
        help="deploy this compiled core contract (JSON with abi and bytecode) instead of the project's own",
    )
    up.set_defaults(func=run_up)

    up.add_argument("--withdrawal-every", type=int, default=5, help="a generated L2 withdrawal every N blocks; 0: never")

    build = sub.add_parser("build-contracts", help="recompile contracts/*.sol into the committed artifacts")
    build.add_argument("--out-dir", type=Path, default=None, help="write there instead of the committed artifacts")
    build.set_defaults(func=run_build_contracts)

    devnet_messages.register(sub)


def run_build_contracts(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.devnet.contract_build import ARTIFACTS_DIR, compile_contracts, write_artifacts

    for path in write_artifacts(compile_contracts(), args.out_dir or ARTIFACTS_DIR):
        print(f"wrote {path}")
    return 0


def _check_ranges(args: argparse.Namespace) -> None:
    if args.block_time < 0:
        raise OrchestratorError(f"--block-time must be >= 0, got {args.block_time}")
    if args.withdrawal_every < 0:
        raise OrchestratorError(f"--withdrawal-every must be >= 0, got {args.withdrawal_every}")
    if args.prover_delay < 0:
        raise OrchestratorError(f"--prover-delay must be >= 0, got {args.prover_delay}")
    if not 0.0 <= args.prover_failure_rate <= 1.0:
        raise OrchestratorError(f"--prover-failure-rate must be within 0..1, got {args.prover_failure_rate}")
    for name in ("port_anvil", "port_starknet", "port_prover"):
        port = getattr(args, name)
        if not 0 <= port <= 65535:
            raise OrchestratorError(f"--{name.replace('_', '-')} must be within 0..65535, got {port}")


def run_up(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.devnet.stack import DEFAULT_PROVER_API_KEY, DevnetConfig, DevnetStack

    _check_ranges(args)
    config = DevnetConfig(
        state_dir=args.state_dir,
        block_time_s=args.block_time,
        l1_block_time_s=args.l1_block_time,
        prover_delay_s=args.prover_delay,
        prover_failure_rate=args.prover_failure_rate,
        prover_api_key=args.prover_api_key or DEFAULT_PROVER_API_KEY,
        seed=args.seed,
        anvil_port=args.port_anvil or None,
        starknet_port=args.port_starknet,
        prover_port=args.port_prover,
        persist=not args.no_persist,
        node_options={"withdrawal_every": args.withdrawal_every},
        core_contract_artifact=args.core_contract_artifact,
    )
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        with DevnetStack(config) as stack:
            print_summary(stack)
            follow_blocks(stack, stop)
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("devnet stopped", flush=True)
    return 0


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handle)
    return previous


def print_summary(stack: Any, out: TextIO | None = None) -> None:
    info = stack.info()
    lines = [
        "devnet up",
        f"  starknet rpc     {info['starknet']['rpc_url']}  (chain {info['starknet']['chain_id']})",
        f"  l1 rpc (anvil)   {info['l1']['rpc_url']}  (chain id {info['l1']['chain_id']})",
        f"  prover           {info['prover']['url']}  (api key {info['prover']['api_key']})",
        f"  core contract    {info['l1']['core_contract']}"
        + (f"  (build {info['l1']['core_contract_artifact']})" if info["l1"].get("core_contract_artifact") else ""),
        f"  fact registry    {info['l1']['fact_registry']}",
        f"  settlement key   account {info['l1']['settlement_account']['address']}",
        f"  fact registrar   account {info['l1']['fact_registrar_account']['address']}",
        f"  token bridge     l2 {info['messaging']['l2_token_bridge']}  l1 account "
        f"{info['messaging']['l1_bridge_account']['address']}  (withdrawal every "
        f"{info['messaging']['withdrawal_every']} blocks)",
        f"  genesis          block {info['starknet']['genesis']['block_number']} "
        f"hash {hex(info['starknet']['genesis']['block_hash'])}",
        f"  devnet.json      {stack.info_path}",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), file=out, flush=True)


def follow_blocks(
    stack: Any,
    stop: threading.Event,
    out: TextIO | None = None,
    poll_interval_s: float | None = None,
    on_block: Callable[[int], None] | None = None,
) -> None:
    """Print one line per new Starknet block until ``stop`` is set."""
    interval = poll_interval_s or max(0.1, min(1.0, stack.config.block_time_s / 4 or 1.0))
    last = stack.starknet_block_number()
    while not stop.wait(interval):
        try:
            head = stack.starknet_block_number()
        except Exception as exc:  # a slow answer is not worth stopping the devnet for
            print(f"starknet node did not answer: {exc}", file=out, flush=True)
            continue
        for number in range(last + 1, head + 1):
            block = stack.starknet_rpc("starknet_getBlockWithTxHashes", {"block_number": number})
            print(
                f"starknet block {number}  hash {block['block_hash']}  txs {len(block.get('transactions', []))}",
                file=out,
                flush=True,
            )
            if on_block is not None:
                on_block(number)
        last = max(last, head)
