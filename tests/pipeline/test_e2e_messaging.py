"""A bridge deposit and a withdrawal through the whole devnet: L1, the node, a settled batch, L1 again.

Real parts end to end: ``sendMessageToL2`` on anvil's core contract, the node
executing the message as an L1 handler (read back with starknet-py), the
pipeline settling the batch that holds it (sensors ticked and runs executed in
this process), and ``consumeMessageFromL2`` by the L1 bridge, refused before the
batch settles and after its only copy is taken.
"""

from __future__ import annotations

import pytest
import requests
from dagster import AssetCheckKey, AssetKey
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from starknet_py.net.client_models import L1HandlerTransaction, TransactionExecutionStatus, TransactionFinalityStatus
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.schemas.rpc.transactions import MessageStatusSchema

from orchestrator_pipelines.assets.common import load_program_output
from orchestrator_pipelines.assets.state_update import MESSAGES_CHECK, check_messages_on_l1
from orchestrator_pipelines.clients.l1_messaging import L1MessagingClient
from orchestrator_pipelines.devnet.starknet_node.generator import (
    BRIDGED_TOKEN_ADDRESS,
    HANDLE_DEPOSIT_SELECTOR,
    L2_TOKEN_BRIDGE_ADDRESS,
    balance_key,
)
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.partitions import batch_partition_key
from orchestrator_pipelines.starknet.messages import l2_to_l1_message_hash
from orchestrator_pipelines.starknet.os_output import parse_os_output
from tests.pipeline.e2e_helpers import latest_metadata, settle_in_process, settlement_client
from tests.pipeline.sensor_helpers import produce_blocks

BATCH_BLOCKS = 4
DEPOSIT_WEI = 3 * 10**15
MESSAGE_FEE_WEI = 10**14
RECIPIENT = 0x05A1D2E3F4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5


def messages_status(node_url: str, l1_tx_hash: str) -> list:
    """``starknet_getMessagesStatus`` parsed by starknet-py's schema.

    Sent as raw JSON-RPC: starknet-py's ``get_messages_status`` formats the hash as
    a felt and refuses the L1 transaction hashes of 252 bits and more.
    """
    answer = requests.post(
        node_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "starknet_getMessagesStatus", "params": {"transaction_hash": l1_tx_hash}},
        timeout=10,
    ).json()
    assert "result" in answer, answer
    return MessageStatusSchema().load(answer["result"], many=True)


@pytest.mark.e2e
def test_a_deposit_reaches_l2_and_a_withdrawal_is_consumable_once_its_batch_settles(messaging_pipeline):
    pipeline = messaging_pipeline
    stack = pipeline.stack
    settlement = settlement_client(pipeline.env)
    depositor = L1MessagingClient(stack.l1_rpc_url, stack.depositor_account.private_key, stack.core_contract)
    l1_bridge = L1MessagingClient(stack.l1_rpc_url, stack.l1_bridge_account.private_key, stack.core_contract)

    deposit = depositor.send_message_to_l2(
        L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [RECIPIENT, DEPOSIT_WEI, 0], fee_wei=MESSAGE_FEE_WEI
    )
    assert settlement.l1_to_l2_messages(deposit.message_hash) == MESSAGE_FEE_WEI + 1
    produce_blocks(pipeline, BATCH_BLOCKS)

    # The deposit is the first transaction of the next block: an L1 handler with the message's fields.
    client = FullNodeClient(node_url=stack.starknet_rpc_url)
    handler = client.get_block_with_txs_sync(block_number=1).transactions[0]
    assert isinstance(handler, L1HandlerTransaction)
    assert (handler.nonce, handler.contract_address, handler.entry_point_selector) == (
        deposit.nonce, L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR,
    )
    assert handler.calldata == [int(depositor.address, 16), RECIPIENT, DEPOSIT_WEI, 0]
    receipt = client.get_transaction_receipt_sync(handler.hash)
    assert receipt.message_hash == int.from_bytes(deposit.message_hash, "big") and receipt.block_number == 1
    assert client.get_storage_at_sync(BRIDGED_TOKEN_ADDRESS, balance_key(RECIPIENT), block_number=1) == DEPOSIT_WEI
    (status,) = messages_status(stack.starknet_rpc_url, deposit.tx_hash)
    assert status.transaction_hash == handler.hash
    assert status.execution_status == TransactionExecutionStatus.SUCCEEDED
    assert status.finality_status == TransactionFinalityStatus.ACCEPTED_ON_L2

    # The generator's withdrawals in the batch: messages to the L1 bridge, not consumable before settlement.
    withdrawals = [
        m
        for n in range(1, BATCH_BLOCKS + 1)
        for item in client.get_block_with_receipts_sync(block_number=n).transactions
        for m in item.receipt.messages_sent
    ]
    assert len(withdrawals) == BATCH_BLOCKS // 2
    first = withdrawals[0]
    assert (first.l2_address, first.l1_address) == (L2_TOKEN_BRIDGE_ADDRESS, int(l1_bridge.address, 16))
    with pytest.raises(OrchestratorError, match="consumeMessageFromL2 reverted: INVALID_MESSAGE_TO_CONSUME"):
        l1_bridge.consume_message_from_l2(first.l2_address, first.payload)

    settle_in_process(pipeline, 1, deadline_s=90)
    key = batch_partition_key(0)
    assert latest_metadata(pipeline.instance, "batch", key)["messages_to_l2"] == 1
    assert latest_metadata(pipeline.instance, "batch", key)["messages_to_l1"] == len(withdrawals)
    update = latest_metadata(pipeline.instance, "state_update", key)
    assert (update["messages_to_l2"], update["messages_to_l1"]) == (1, len(withdrawals))
    (check,) = pipeline.instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("state_update"), MESSAGES_CHECK), limit=1
    )
    assert check.status == AssetCheckExecutionRecordStatus.SUCCEEDED and check.evaluation.passed

    # Settled: the deposit is consumed on L1, each withdrawal can be taken exactly once.
    assert settlement.l1_to_l2_messages(deposit.message_hash) == 0
    withdrawal_hash = l2_to_l1_message_hash(first.l2_address, first.l1_address, first.payload)
    assert settlement.l2_to_l1_messages(withdrawal_hash) == 1
    _, consumed = l1_bridge.consume_message_from_l2(first.l2_address, first.payload)
    assert consumed == withdrawal_hash and settlement.l2_to_l1_messages(withdrawal_hash) == 0
    with pytest.raises(OrchestratorError, match="INVALID_MESSAGE_TO_CONSUME"):
        l1_bridge.consume_message_from_l2(first.l2_address, first.payload)

    # Read at the latest L1 block instead of the settlement's, the check would now see a taken withdrawal.
    store = pipeline.defs.resources["artifacts"].store()
    output = parse_os_output(load_program_output(store, key))
    assert check_messages_on_l1(settlement, output, update["l1_block"]).passed
    late = check_messages_on_l1(settlement, output, "latest")
    assert not late.passed and late.metadata["not_consumable_on_l1"].value == 1
    assert late.metadata["not_consumable_hashes"].value == "0x" + withdrawal_hash.hex()
