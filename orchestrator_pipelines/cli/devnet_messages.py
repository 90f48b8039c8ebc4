"""``orchestrator devnet deposit`` / ``devnet withdraw-consume``: bridge traffic on a running devnet.

``deposit`` sends ``sendMessageToL2`` from the devnet's depositor account to the
L2 token bridge (``handle_deposit(recipient, amount)``, fee attached); the node
executes it as an L1 handler in its next block. ``withdraw-consume`` takes the
withdrawals of one L2 block (messages to the L1 bridge in its receipts) off the
core contract with ``consumeMessageFromL2`` from the L1 bridge account, which
works only once the batch holding the block is settled, and only once per copy.
Both read addresses and keys from the running devnet's ``devnet.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError

DEFAULT_MESSAGE_FEE_WEI = 10**14


def register(sub: Any) -> None:
    deposit = sub.add_parser("deposit", help="send a bridge deposit to L2 (sendMessageToL2 with its fee)")
    deposit.add_argument("--state-dir", type=Path, default=Path(".devnet"), help="the running devnet's state directory")
    deposit.add_argument("--recipient", required=True, help="L2 account to credit (0x felt)")
    deposit.add_argument("--amount", type=int, required=True, help="amount of the bridged token, in wei")
    deposit.add_argument("--fee", type=int, default=DEFAULT_MESSAGE_FEE_WEI, help="message fee in wei (msg.value)")
    deposit.set_defaults(func=run_deposit)

    consume = sub.add_parser(
        "withdraw-consume", help="consume on L1 the withdrawals of an L2 block (consumeMessageFromL2)"
    )
    consume.add_argument("--state-dir", type=Path, default=Path(".devnet"), help="the running devnet's state directory")
    consume.add_argument("--block", type=int, required=True, help="L2 block whose withdrawals to consume")
    consume.set_defaults(func=run_withdraw_consume)


def _messaging(info: dict[str, Any], account: str) -> Any:
    from orchestrator_pipelines.clients.l1_messaging import L1MessagingClient

    key = info["messaging"][account]["private_key"]
    return L1MessagingClient(info["l1"]["rpc_url"], key, info["l1"]["core_contract"])


def _load(state_dir: Path) -> dict[str, Any]:
    from orchestrator_pipelines.devnet.stack import load_devnet_info

    info = load_devnet_info(state_dir)
    if "messaging" not in info:
        raise OrchestratorError(f"{state_dir}/devnet.json has no messaging section; restart the devnet")
    return info


def run_deposit(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.starknet.felt import parse_felt

    recipient = parse_felt(args.recipient, "--recipient")
    if not 0 < args.amount < 2**251:
        raise InvalidInputError(f"--amount must be positive and below 2**251, got {args.amount}")
    if args.fee <= 0:
        raise InvalidInputError(f"--fee must be positive (the core contract refuses a zero fee), got {args.fee}")
    info = _load(args.state_dir)
    bridge = int(info["messaging"]["l2_token_bridge"], 16)
    selector = int(info["messaging"]["deposit_selector"], 16)
    amount_low, amount_high = args.amount & (2**128 - 1), args.amount >> 128
    sent = _messaging(info, "depositor_account").send_message_to_l2(
        bridge, selector, [recipient, amount_low, amount_high], fee_wei=args.fee
    )
    print(f"deposit sent: l1 tx {sent.tx_hash}  nonce {sent.nonce}  message hash 0x{sent.message_hash.hex()}")
    print("the node executes it as an L1 handler in its next block (starknet_getMessagesStatus by the l1 tx hash)")
    return 0


def run_withdraw_consume(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.clients.madara import MadaraClient

    if args.block < 1:
        raise InvalidInputError(f"--block must be 1 or more (block 0 is the genesis), got {args.block}")
    info = _load(args.state_dir)
    l1_bridge = _messaging(info, "l1_bridge_account")
    to_bridge = [
        m
        for m in MadaraClient(info["starknet"]["rpc_url"]).messages(args.block, args.block).to_l1
        if m.to_address == int(l1_bridge.address, 16)
    ]
    if not to_bridge:
        print(f"block {args.block} sent no withdrawal to the L1 bridge {l1_bridge.address}")
        return 0
    failed = 0
    for message in to_bridge:
        try:
            tx_hash, message_hash = l1_bridge.consume_message_from_l2(message.from_address, message.payload)
        except OrchestratorError as exc:
            failed += 1
            print(f"not consumed: {exc} (is the block's batch settled? was it consumed already?)")
            continue
        print(f"consumed 0x{message_hash.hex()} in l1 tx {tx_hash}  payload {[hex(w) for w in message.payload]}")
    return 1 if failed else 0
