"""What the aggregated (Starknet 0.14) end-to-end tests share, whatever drives the pipeline.

The in-process test on SQLite, its PostgreSQL variant and the unattended
``dagster-daemon`` test start the same aggregated devnet, fail the same first
child proof, send the same bridge traffic before the pipeline runs and check
the same outcome on L1 afterwards; only the instance and who ticks the sensors
differ.

Bridge traffic through aggregation: a deposit sent on L1 before anything
settles is executed on L2 as an L1 handler, and a withdrawal the node's
generator makes is refused on L1. Once the aggregator batches settle, each
aggregated output carries its children's message segments concatenated in
order; the settlement transaction of the aggregator batch holding the deposit
is the L1 block where ``l1ToL2Messages(hash)`` drops to 0, and that of the
batch holding the withdrawal is the block where it becomes consumable
(read at the block before and at the block itself), after which it is taken
once and a second take reverts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import requests
from dagster import DagsterInstance
from starknet_py.net.client_models import L1HandlerTransaction
from starknet_py.net.full_node_client import FullNodeClient

from orchestrator_pipelines.aggregation_partitions import aggregator_key, snos_partition_key
from orchestrator_pipelines.aggregation_status import find_block
from orchestrator_pipelines.assets.aggregation_common import (
    AGGREGATOR_PIE,
    aggregator_artifact,
    load_aggregator_manifest,
)
from orchestrator_pipelines.clients.artifacts import ArtifactStore
from orchestrator_pipelines.clients.l1_messaging import L1MessagingClient, SentMessageToL2
from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import max_snos_batches
from orchestrator_pipelines.devnet.l1_deploy import aggregator_program_hash
from orchestrator_pipelines.devnet.snos_runner import DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
from orchestrator_pipelines.devnet.stack import DevnetStack
from orchestrator_pipelines.devnet.starknet_node.generator import HANDLE_DEPOSIT_SELECTOR, L2_TOKEN_BRIDGE_ADDRESS
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.starknet.aggregator import AggregatorPie
from orchestrator_pipelines.starknet.messages import l1_to_l2_message_hash, l2_to_l1_message_hash
from orchestrator_pipelines.starknet.os_output import MessageToL1
from tests.pipeline.e2e_helpers import AGGREGATED_ASSETS, latest_metadata, settlement_client

# Blocks of 0.5 s, 2-block SNOS batches in 4-block aggregator batches: 2 children per aggregator batch.
AGGREGATED_DEVNET = {
    "starknet_version": "0.14.1",
    "block_time_s": 0.5,
    "prover_delay_s": 0.3,
    "large_block_every": 0,
    "max_batch_blocks": 4,
    "env": {"ORCHESTRATOR_MAX_BLOCKS_PER_SNOS_BATCH": "2", "ORCHESTRATOR_MAX_BATCH_AGE_SECONDS": "60"},
}

DEPOSIT_WEI = 3 * 10**15
MESSAGE_FEE_WEI = 10**14
RECIPIENT = 0x05A1D2E3F4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5
L2_TRAFFIC_DEADLINE_S = 60


def devnet_prover_control(stack: DevnetStack, env: Mapping[str, str], control: str, count: int = 1) -> None:
    """``POST /_devnet/<control>?count=N`` on the devnet prover: the misbehaviour it injects, for the next N."""
    answer = requests.post(
        f"{stack.prover_url}/_devnet/{control}", params={"count": count},
        headers={"api-key": env["ORCHESTRATOR_ATLANTIC_API_KEY"]}, timeout=10,
    )
    assert answer.status_code == 200, answer.text


def fail_next_child_proof(stack: DevnetStack, env: Mapping[str, str]) -> None:
    """The first child query the prover receives ends FAILED: its bucket fails and is rebuilt."""
    devnet_prover_control(stack, env, "fail-next")


@dataclass(frozen=True)
class BridgeTraffic:
    """A deposit sent on L1 and executed on L2, and a withdrawal made on L2, before anything settled."""

    deposit: SentMessageToL2
    deposit_block: int
    withdrawal: MessageToL1
    withdrawal_block: int

    @property
    def last_block(self) -> int:
        return max(self.deposit_block, self.withdrawal_block)


def _l2_messages_to(client: FullNodeClient, block: int, l1_address: int) -> list[MessageToL1]:
    return [
        MessageToL1(from_address=m.l2_address, to_address=m.l1_address, payload=list(m.payload))
        for item in client.get_block_with_receipts_sync(block_number=block).transactions
        for m in item.receipt.messages_sent
        if m.l1_address == l1_address
    ]


def send_bridge_traffic(stack: DevnetStack, env: Mapping[str, str]) -> BridgeTraffic:
    """Deposit on L1, wait (with a deadline) for its L1 handler and a withdrawal on L2; neither is settled yet."""
    settlement = settlement_client(env)
    depositor = L1MessagingClient(stack.l1_rpc_url, stack.depositor_account.private_key, stack.core_contract)
    l1_bridge = L1MessagingClient(stack.l1_rpc_url, stack.l1_bridge_account.private_key, stack.core_contract)
    deposit = depositor.send_message_to_l2(
        L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [RECIPIENT, DEPOSIT_WEI, 0], fee_wei=MESSAGE_FEE_WEI
    )
    assert settlement.l1_to_l2_messages(deposit.message_hash) == MESSAGE_FEE_WEI + 1

    client = FullNodeClient(node_url=stack.starknet_rpc_url)
    bridge = int(l1_bridge.address, 16)
    deposit_block = withdrawal_block = None
    withdrawal = None
    scanned = 0
    deadline = time.monotonic() + L2_TRAFFIC_DEADLINE_S
    while deposit_block is None or withdrawal is None:
        assert time.monotonic() < deadline, (
            f"in {L2_TRAFFIC_DEADLINE_S} s the node made no L1 handler for nonce {deposit.nonce} "
            f"(found: {deposit_block}) or no withdrawal (found: {withdrawal_block}) up to block {scanned}"
        )
        head = client.get_block_number_sync()
        for number in range(scanned + 1, head + 1):
            block = client.get_block_with_txs_sync(block_number=number)
            for tx in block.transactions:
                if isinstance(tx, L1HandlerTransaction) and tx.nonce == deposit.nonce:
                    assert (tx.contract_address, tx.entry_point_selector) == (L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR)
                    assert tx.calldata == [int(depositor.address, 16), RECIPIENT, DEPOSIT_WEI, 0]
                    receipt = client.get_transaction_receipt_sync(tx.hash)
                    assert receipt.message_hash == int.from_bytes(deposit.message_hash, "big")
                    deposit_block = number
            if withdrawal is None:
                sent = _l2_messages_to(client, number, bridge)
                if sent:
                    withdrawal, withdrawal_block = sent[0], number
            scanned = number
        time.sleep(0.2)

    # Nothing is settled yet: the withdrawal cannot be taken on L1, the deposit still waits there.
    with pytest.raises(OrchestratorError, match="consumeMessageFromL2 reverted: INVALID_MESSAGE_TO_CONSUME"):
        l1_bridge.consume_message_from_l2(withdrawal.from_address, withdrawal.payload)
    assert settlement.l1_to_l2_messages(deposit.message_hash) == MESSAGE_FEE_WEI + 1
    return BridgeTraffic(deposit, deposit_block, withdrawal, withdrawal_block)


@dataclass(frozen=True)
class AggregatedOutcome:
    keys: list[str]
    manifests: list
    settlement_txs: set[str]


def check_aggregated_settlement(
    instance: DagsterInstance, store: ArtifactStore, env: Mapping[str, str], target: int
) -> AggregatedOutcome:
    """``target`` aggregator batches of >= 2 SNOS batches, contiguous from block 1, each settled by its own
    transaction under the core contract's aggregator program hash; the first one's aggregation rebuilt once."""
    children = max_snos_batches(load_settings(env))
    keys = [aggregator_key(i) for i in range(target)]
    manifests = [load_aggregator_manifest(store, key) for key in keys]
    assert manifests[0].first_block == 1
    for previous, current in zip(manifests, manifests[1:]):
        assert current.first_block == previous.last_block + 1
    for key, manifest in zip(keys, manifests):
        assert len(manifest.snos_batches) >= 2, f"aggregator batch {key} has {len(manifest.snos_batches)} SNOS batches"
        for asset in AGGREGATED_ASSETS:
            assert is_materialized(instance, asset, key), f"{asset} of aggregator batch {key} not materialized"
        for position in range(1, len(manifest.snos_batches) + 1):
            child = str(snos_partition_key(key, position, children))
            assert is_materialized(instance, "child_proof", child), f"child_proof {child} not materialized"

    # The first aggregation failed (its child failed) and was rebuilt from a new bucket.
    first = latest_metadata(instance, "aggregator_proof", keys[0])
    assert first["attempt"] == 2, first
    assert all(latest_metadata(instance, "aggregator_proof", key)["attempt"] == 1 for key in keys[1:])

    # Settled on L1 under the core contract's aggregator program hash, one transaction per aggregator batch.
    settlement = settlement_client(env)
    chain = settlement.state()
    assert chain.block_number >= manifests[-1].last_block
    aggregator_hash = aggregator_program_hash(env["ORCHESTRATOR_ETHEREUM_RPC_URL"], settlement.core_contract.address)
    assert aggregator_hash == DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
    txs = set()
    for key in keys:
        proof = latest_metadata(instance, "aggregator_proof", key)
        assert int(proof["aggregator_program_hash"], 16) == aggregator_hash
        assert proof["fact_valid_on_l1"] is True
        update = latest_metadata(instance, "aggregator_state_update", key)
        if not update["already_on_chain"]:
            txs.add(update["tx_hash"])
    assert len(txs) == target

    # A settled block is found from the artifacts: its aggregator batch, SNOS batch and L1 transaction.
    where = find_block(store, manifests[1].first_block)
    assert where is not None and where.aggregator_batch == keys[1] and where.snos_position == 1
    assert where.settlement_tx and where.settlement_tx["tx_hash"] in txs
    return AggregatedOutcome(keys=keys, manifests=manifests, settlement_txs=txs)


def _holding(outcome: AggregatedOutcome, block: int) -> int:
    for index, manifest in enumerate(outcome.manifests):
        if manifest.first_block <= block <= manifest.last_block:
            return index
    raise AssertionError(f"block {block} is in none of the settled aggregator batches {outcome.keys}")


def check_bridge_traffic_settled(
    instance: DagsterInstance,
    store: ArtifactStore,
    stack: DevnetStack,
    env: Mapping[str, str],
    outcome: AggregatedOutcome,
    traffic: BridgeTraffic,
) -> None:
    """The messages went through aggregation: in the aggregated outputs, consumed/consumable exactly at the
    settlement of the aggregator batch holding them, and the withdrawal taken once."""
    settlement = settlement_client(env)
    client = FullNodeClient(node_url=stack.starknet_rpc_url)
    l1_bridge = L1MessagingClient(stack.l1_rpc_url, stack.l1_bridge_account.private_key, stack.core_contract)
    bridge = int(l1_bridge.address, 16)
    deposit_hash = traffic.deposit.message_hash
    withdrawal_hash = l2_to_l1_message_hash(traffic.withdrawal)

    # Each aggregated output carries its children's message segments, concatenated in order, and they are
    # the messages the node's blocks sent and executed.
    for key, manifest in zip(outcome.keys, outcome.manifests):
        pie = AggregatorPie.from_zip(store.get_bytes(aggregator_artifact(key, AGGREGATOR_PIE)))
        assert len(pie.children) == len(manifest.snos_batches)
        to_l1 = [m for child in pie.children for m in child.output.messages_to_l1]
        to_l2 = [m for child in pie.children for m in child.output.messages_to_l2]
        assert pie.aggregated.messages_to_l1 == to_l1, f"aggregator batch {key}: messages to L1 not its children's"
        assert pie.aggregated.messages_to_l2 == to_l2, f"aggregator batch {key}: messages to L2 not its children's"
        sent = [m for n in range(manifest.first_block, manifest.last_block + 1) for m in _l2_messages_to(client, n, bridge)]
        assert [l2_to_l1_message_hash(m) for m in pie.aggregated.messages_to_l1] == [
            l2_to_l1_message_hash(m) for m in sent
        ], f"aggregator batch {key}: messages to L1 differ from the node's blocks {manifest.first_block}..{manifest.last_block}"
        update = latest_metadata(instance, "aggregator_state_update", key)
        assert (update["messages_to_l1"], update["messages_to_l2"]) == (len(to_l1), len(to_l2))
        holds_deposit = manifest.first_block <= traffic.deposit_block <= manifest.last_block
        assert [l1_to_l2_message_hash(m) for m in to_l2] == ([deposit_hash] if holds_deposit else [])

    # The deposit is consumed by the settlement of its aggregator batch, not before.
    deposit_update = latest_metadata(instance, "aggregator_state_update", outcome.keys[_holding(outcome, traffic.deposit_block)])
    at = deposit_update["l1_block"]
    assert settlement.l1_to_l2_messages(deposit_hash, at - 1) == MESSAGE_FEE_WEI + 1
    assert settlement.l1_to_l2_messages(deposit_hash, at) == 0
    assert settlement.l1_to_l2_messages(deposit_hash) == 0

    # The withdrawal becomes consumable with the settlement of its aggregator batch, not before; once only.
    withdrawal_update = latest_metadata(
        instance, "aggregator_state_update", outcome.keys[_holding(outcome, traffic.withdrawal_block)]
    )
    at = withdrawal_update["l1_block"]
    assert settlement.l2_to_l1_messages(withdrawal_hash, at - 1) == 0
    assert settlement.l2_to_l1_messages(withdrawal_hash, at) == 1
    _, consumed = l1_bridge.consume_message_from_l2(traffic.withdrawal.from_address, traffic.withdrawal.payload)
    assert consumed == withdrawal_hash and settlement.l2_to_l1_messages(withdrawal_hash) == 0
    with pytest.raises(OrchestratorError, match="INVALID_MESSAGE_TO_CONSUME"):
        l1_bridge.consume_message_from_l2(traffic.withdrawal.from_address, traffic.withdrawal.payload)
