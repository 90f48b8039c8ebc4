"""The node executes the core contract's L1->L2 messages: real anvil, real contract, read with starknet-py."""

from __future__ import annotations

from pathlib import Path

import pytest
from starknet_py.net.client_models import L1HandlerTransaction
from starknet_py.net.full_node_client import FullNodeClient

from orchestrator_pipelines.clients.l1_messaging import L1MessagingClient
from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack
from orchestrator_pipelines.devnet.starknet_node.generator import (
    BRIDGED_TOKEN_ADDRESS,
    HANDLE_DEPOSIT_SELECTOR,
    L2_TOKEN_BRIDGE_ADDRESS,
    balance_key,
)

pytestmark = pytest.mark.e2e

FEE_WEI = 10**13
RECIPIENT = 0x0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDE
NO_CONTRACT = 0x0777777777777777777777777777777777777777777777777777777777777


def stack_config(state_dir: Path) -> DevnetConfig:
    return DevnetConfig(
        state_dir=state_dir,
        block_time_s=0,
        prover_delay_s=0,
        persist=True,
        node_options={"large_block_every": 0, "withdrawal_every": 0},
    )


def l1_handlers(client: FullNodeClient, number: int) -> list[L1HandlerTransaction]:
    block = client.get_block_with_txs_sync(block_number=number)
    return [tx for tx in block.transactions if isinstance(tx, L1HandlerTransaction)]


def test_messages_run_once_in_nonce_order_across_a_restart_and_only_where_l2_has_a_contract(tmp_path: Path) -> None:
    state_dir = tmp_path / "devnet"
    with DevnetStack(stack_config(state_dir)) as stack:
        l1 = L1MessagingClient(stack.l1_rpc_url, stack.depositor_account.private_key, stack.core_contract)
        client = FullNodeClient(node_url=stack.starknet_rpc_url)
        first = l1.send_message_to_l2(L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [RECIPIENT, 5, 0], FEE_WEI)
        second = l1.send_message_to_l2(L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [RECIPIENT, 7, 0], FEE_WEI)
        stray = l1.send_message_to_l2(NO_CONTRACT, HANDLE_DEPOSIT_SELECTOR, [1, 2, 3], FEE_WEI)
        assert stack.node.produce_block() == 1
        handlers = l1_handlers(client, 1)
        assert [h.nonce for h in handlers] == [first.nonce, second.nonce]  # the stray message is not executable
        assert client.get_storage_at_sync(BRIDGED_TOKEN_ADDRESS, balance_key(RECIPIENT), block_number=1) == 12
        # Sent while the node is down: executed after the restart, and nothing runs twice.
        third = l1.send_message_to_l2(L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [RECIPIENT, 11, 0], FEE_WEI)
        block_1_hash = client.get_block_with_tx_hashes_sync(block_number=1).block_hash

    with DevnetStack(stack_config(state_dir)) as restarted:
        client = FullNodeClient(node_url=restarted.starknet_rpc_url)
        assert client.get_block_with_tx_hashes_sync(block_number=1).block_hash == block_1_hash
        assert restarted.node.produce_block() == 2
        assert restarted.node.produce_block() == 3
        assert [h.nonce for h in l1_handlers(client, 2)] == [third.nonce]
        assert l1_handlers(client, 3) == []
        assert client.get_storage_at_sync(BRIDGED_TOKEN_ADDRESS, balance_key(RECIPIENT), block_number=3) == 23
        status = restarted.starknet_rpc("starknet_getMessagesStatus", first.tx_hash)
        assert [int(s["transaction_hash"], 16) for s in status] == [handlers[0].hash]
    assert stray.nonce == second.nonce + 1
