"""Run the Starknet node alone: ``python -m orchestrator_pipelines.devnet.starknet_node --port 9944``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator_pipelines.devnet.starknet_node",
        description="Serve a generated Starknet chain over JSON-RPC (the local Madara stand-in).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9944)
    parser.add_argument("--block-time", type=float, default=2.0, help="seconds between blocks; 0: none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="keep blocks here and continue the chain on restart")
    parser.add_argument("--chain-id", default="MADARA_DEVNET")
    parser.add_argument("--starknet-version", default="0.13.4")
    parser.add_argument("--large-block-every", type=int, default=25, help="0: never")
    parser.add_argument("--large-block-writes", type=int, default=5_000)
    parser.add_argument("--genesis-timestamp", type=int, default=None)
    parser.add_argument("--withdrawal-every", type=int, default=5, help="a withdrawal every N blocks; 0: never")
    parser.add_argument("--l1-rpc-url", default=None, help="Ethereum RPC of the core contract whose messages to execute")
    parser.add_argument("--core-contract", default=None, help="core contract address (with --l1-rpc-url)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NodeConfig(
        host=args.host,
        port=args.port,
        block_time_s=args.block_time,
        seed=args.seed,
        data_dir=args.data_dir,
        chain_id=args.chain_id,
        starknet_version=args.starknet_version,
        large_block_every=args.large_block_every,
        large_block_storage_writes=args.large_block_writes,
        genesis_timestamp=args.genesis_timestamp,
        withdrawal_every=args.withdrawal_every,
        l1_rpc_url=args.l1_rpc_url,
        core_contract=args.core_contract,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with NodeServer(config) as node:
        print(node.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
