"""The Madara stand-in node, read through starknet-py's FullNodeClient and raw JSON-RPC over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import (
    BlockStatus,
    InvokeTransactionV3,
    L1DAMode,
    TransactionExecutionStatus,
    TransactionFinalityStatus,
)
from starknet_py.net.full_node_client import FullNodeClient

from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.devnet.starknet_node.block_log import BLOCK_LOG_NAME
from orchestrator_pipelines.devnet.starknet_node.generator import (
    BRIDGED_TOKEN_ADDRESS,
    INITIATE_WITHDRAW_SELECTOR,
    L2_TOKEN_BRIDGE_ADDRESS,
    STRK_FEE_TOKEN_ADDRESS,
    balance_key,
    storage_address,
)
from orchestrator_pipelines.devnet.starknet_node.rpc import SPEC_VERSION
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import blobs_needed
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateUpdate

GENESIS_TIMESTAMP = 1_700_000_000
LARGE_EVERY = 10
LARGE_WRITES = 4_000
CHAIN_LENGTH = 60


def deterministic_config(**overrides: Any) -> NodeConfig:
    settings: dict[str, Any] = dict(
        block_time_s=0,
        seed=11,
        genesis_timestamp=GENESIS_TIMESTAMP,
        large_block_every=LARGE_EVERY,
        large_block_storage_writes=LARGE_WRITES,
    )
    settings.update(overrides)
    return NodeConfig(**settings)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def rpc(url: str, method: str, params: Any = None, request_id: int = 1) -> dict[str, Any]:
    payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params if params is not None else []}
    response = requests.post(url, json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def node() -> Iterator[NodeServer]:
    with NodeServer(deterministic_config()) as server:
        for _ in range(CHAIN_LENGTH):
            server.produce_block()
        yield server


@pytest.fixture(scope="module")
def client(node: NodeServer) -> FullNodeClient:
    return FullNodeClient(node_url=node.url)


@pytest.fixture(scope="module")
def updates(client: FullNodeClient, node: NodeServer) -> list[Any]:
    return [client.get_state_update_sync(block_number=n) for n in range(node.state.head + 1)]


def test_blocks_advance_on_the_timer() -> None:
    with NodeServer(NodeConfig(block_time_s=0.2, large_block_every=0)) as server:
        client = FullNodeClient(node_url=server.url)
        assert client.get_block_number_sync() == 0
        wait_until(lambda: client.get_block_number_sync() >= 3, 15, "three timed blocks")
        blocks = [client.get_block_with_tx_hashes_sync(block_number=n) for n in range(4)]
    assert [b.timestamp for b in blocks] == sorted(b.timestamp for b in blocks)
    for parent, child in zip(blocks, blocks[1:]):
        assert child.parent_hash == parent.block_hash


def test_spec_version_chain_id_and_syncing(node: NodeServer, client: FullNodeClient) -> None:
    assert client.spec_version_sync() == SPEC_VERSION
    assert bytes.fromhex(client.get_chain_id_sync()[2:]).decode() == "MADARA_DEVNET"
    assert client.get_syncing_status_sync() is False
    head = client.get_block_hash_and_number_sync()
    assert head.block_number == node.state.head == client.get_block_number_sync()


def test_block_headers_read_back_and_chain(node: NodeServer, client: FullNodeClient) -> None:
    previous = None
    for number in range(node.state.head + 1):
        block = client.get_block_with_tx_hashes_sync(block_number=number)
        assert block.block_number == number
        assert block.status == BlockStatus.ACCEPTED_ON_L2
        assert block.l1_da_mode == L1DAMode.BLOB
        assert block.starknet_version == "0.13.4"
        assert block.transaction_count == len(block.transactions) > 0
        assert block.timestamp == GENESIS_TIMESTAMP + number
        assert block.l1_gas_price.price_in_wei > 0 and block.l1_data_gas_price.price_in_fri > 0
        if previous is None:
            assert block.parent_hash == 0
        else:
            assert block.parent_hash == previous.block_hash
        by_hash = client.get_block_with_tx_hashes_sync(block_hash=block.block_hash)
        assert by_hash == block
        previous = block



def test_state_update_roots_chain_and_match_headers(client: FullNodeClient, updates: list[Any]) -> None:
    assert updates[0].old_root == 0
    for number, update in enumerate(updates):
        header = client.get_block_with_tx_hashes_sync(block_number=number)
        assert update.block_hash == header.block_hash
        assert update.new_root == header.new_root
        if number:
            assert update.old_root == updates[number - 1].new_root
            assert update.new_root != update.old_root
    # The node's JSON is what the shared formats model accepts and chains.
    models = [StateUpdate.parse(rpc_update) for rpc_update in _raw_state_updates(client, len(updates))]
    squash_state_updates(models)


def _raw_state_updates(client: FullNodeClient, count: int) -> list[dict[str, Any]]:
    return [rpc(client.url, "starknet_getStateUpdate", {"block_id": {"block_number": n}})["result"] for n in range(count)]


def test_state_update_filtered_by_contract(client: FullNodeClient, updates: list[Any]) -> None:
    full = updates[3]
    only_fee_token = client.get_state_update_sync(block_number=3, contract_addresses=[STRK_FEE_TOKEN_ADDRESS])
    assert [d.address for d in only_fee_token.state_diff.storage_diffs] == [STRK_FEE_TOKEN_ADDRESS]
    assert only_fee_token.state_diff.storage_diffs[0] in full.state_diff.storage_diffs
    assert only_fee_token.state_diff.nonces == []
    assert only_fee_token.new_root == full.new_root


def test_generated_diffs_have_every_kind_of_change(updates: list[Any]) -> None:
    later = updates[1:]
    assert any(u.state_diff.deployed_contracts for u in later), "no deployment after genesis"
    assert any(u.state_diff.declared_classes for u in later), "no Cairo 1 declaration"
    assert any(u.state_diff.deprecated_declared_classes for u in updates), "no Cairo 0 declaration"
    assert any(u.state_diff.replaced_classes for u in later), "no class replacement"
    assert all(u.state_diff.nonces for u in later), "a block without a sender nonce"
    fee_token_writes = [
        u for u in later if any(d.address == STRK_FEE_TOKEN_ADDRESS for d in u.state_diff.storage_diffs)
    ]
    assert len(fee_token_writes) == len(later), "every block pays fees in the fee token"


def test_nonces_increase_block_over_block(client: FullNodeClient, updates: list[Any]) -> None:
    checked = 0
    for number, update in enumerate(updates[1:], start=1):
        deployed_here = {d.address for d in update.state_diff.deployed_contracts}
        for entry in update.state_diff.nonces:
            assert client.get_contract_nonce_sync(entry.contract_address, block_number=number) == entry.nonce
            if entry.contract_address in deployed_here:
                continue
            before = client.get_contract_nonce_sync(entry.contract_address, block_number=number - 1)
            assert entry.nonce > before
            checked += 1
    assert checked > CHAIN_LENGTH


def test_deployed_and_replaced_classes_via_get_class_hash_at(client: FullNodeClient, updates: list[Any]) -> None:
    for number, update in enumerate(updates):
        for deployed in update.state_diff.deployed_contracts:
            assert client.get_class_hash_at_sync(deployed.address, block_number=number) == deployed.class_hash
            if number:
                with pytest.raises(ClientError) as info:
                    client.get_class_hash_at_sync(deployed.address, block_number=number - 1)
                assert int(info.value.code) == 20
        for replaced in update.state_diff.replaced_classes:
            assert client.get_class_hash_at_sync(replaced.contract_address, block_number=number) == replaced.class_hash
            assert (
                client.get_class_hash_at_sync(replaced.contract_address, block_number=number - 1)
                != replaced.class_hash
            )


def test_storage_at_historical_blocks(node: NodeServer, client: FullNodeClient, updates: list[Any]) -> None:
    sequencer_key = balance_key(node.config.sequencer_address)
    balances = []
    for number, update in enumerate(updates):
        written = {
            e.key: e.value
            for d in update.state_diff.storage_diffs
            if d.address == STRK_FEE_TOKEN_ADDRESS
            for e in d.storage_entries
        }
        balance = client.get_storage_at_sync(STRK_FEE_TOKEN_ADDRESS, sequencer_key, block_number=number)
        assert balance == written.get(sequencer_key, balances[-1] if balances else 0)
        balances.append(balance)
    assert balances[0] == 0
    assert all(later > earlier for earlier, later in zip(balances[1:], balances[2:])), "fees accumulate"
    # A slot written once (an airdrop slot of the large block) reads 0 before and its value from then on.
    airdrop = max(updates[LARGE_EVERY].state_diff.storage_diffs, key=lambda d: len(d.storage_entries))
    slot = airdrop.storage_entries[len(airdrop.storage_entries) // 2]
    assert client.get_storage_at_sync(airdrop.address, slot.key, block_number=LARGE_EVERY - 1) == 0
    assert client.get_storage_at_sync(airdrop.address, slot.key, block_number=LARGE_EVERY) == slot.value
    assert client.get_storage_at_sync(airdrop.address, slot.key, block_number="latest") == slot.value
    # A slot never written reads 0 on a deployed contract.
    assert client.get_storage_at_sync(STRK_FEE_TOKEN_ADDRESS, 0x1234567, block_number=5) == 0


def test_pre_confirmed_and_latest_read_the_latest_state(node: NodeServer, client: FullNodeClient, updates: list[Any]) -> None:
    address = updates[-1].state_diff.nonces[0].contract_address
    latest = client.get_contract_nonce_sync(address, block_number="latest")
    assert client.get_contract_nonce_sync(address) == latest  # starknet-py's default tag is pre_confirmed
    assert latest == client.get_contract_nonce_sync(address, block_number=node.state.head)
    pre_confirmed = client.get_block_with_tx_hashes_sync(block_number="pre_confirmed")
    assert pre_confirmed.block_number == node.state.head + 1 and pre_confirmed.transactions == []


def test_large_block_needs_several_blobs(node: NodeServer, updates: list[Any], client: FullNodeClient) -> None:
    models = [StateUpdate.parse(u) for u in _raw_state_updates(client, len(updates))]
    sizes = {n: sum(len(d.storage_entries) for d in m.state_diff.storage_diffs) for n, m in enumerate(models)}
    large = [n for n, size in sizes.items() if size >= LARGE_WRITES]
    assert large == list(range(LARGE_EVERY, CHAIN_LENGTH + 1, LARGE_EVERY))
    for n in large:
        felts = da_felts(models[n].state_diff, None, "0.13.4")
        assert 2 <= blobs_needed(len(felts)) <= 6
    # A batch of ten blocks that holds one large block needs 2-4 blobs.
    batch = squash_state_updates(models[LARGE_EVERY - 4 : LARGE_EVERY + 6])
    assert 2 <= blobs_needed(len(da_felts(batch, None, "0.13.4"))) <= 4
    assert all(sizes[n] < 100 for n in sizes if n not in large and n > 0)


def test_large_block_size_is_bounded_by_config() -> None:
    with pytest.raises(InvalidInputError, match="large_block_storage_writes"):
        NodeConfig(large_block_storage_writes=50_000)


def test_json_rpc_errors_have_spec_codes(node: NodeServer, client: FullNodeClient) -> None:
    url = node.url
    missing_block = {"block_id": {"block_number": node.state.head + 1000}}
    assert rpc(url, "starknet_getStateUpdate", missing_block)["error"]["code"] == 24
    assert rpc(url, "starknet_getBlockWithTxHashes", {"block_id": {"block_hash": "0x1234"}})["error"]["code"] == 24
    unknown_contract = {"block_id": "latest", "contract_address": "0xdeadbeef"}
    assert rpc(url, "starknet_getNonce", unknown_contract)["error"]["code"] == 20
    assert rpc(url, "starknet_getClassHashAt", unknown_contract)["error"]["code"] == 20
    assert rpc(url, "starknet_getStorageAt", {**unknown_contract, "key": "0x1"})["error"]["code"] == 20
    for bad in (
        {"block_id": "nonsense"},
        {"block_id": {"block_number": -1}},
        {},
        {"block_id": "latest", "extra": 1},
    ):
        assert rpc(url, "starknet_getStateUpdate", bad)["error"]["code"] == -32602, bad
    bad_felt = {"block_id": "latest", "contract_address": "xyz"}
    assert rpc(url, "starknet_getNonce", bad_felt)["error"]["code"] == -32602
    assert rpc(url, "starknet_noSuchMethod")["error"]["code"] == -32601
    parse_error = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert parse_error.json()["error"]["code"] == -32700
    # Positional params work too.
    assert rpc(url, "starknet_getStateUpdate", [{"block_number": 1}])["result"]["block_hash"]
    # starknet-py sees the same codes.
    with pytest.raises(ClientError) as info:
        client.get_block_with_tx_hashes_sync(block_number=node.state.head + 1000)
    assert int(info.value.code) == 24
    with pytest.raises(ClientError) as info:
        client.get_contract_nonce_sync(0xDEADBEEF, block_number="latest")
    assert int(info.value.code) == 20


def test_batch_requests(node: NodeServer) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "starknet_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "starknet_getStateUpdate", "params": {"block_id": {"block_number": 99999}}},
        {"jsonrpc": "2.0", "method": "starknet_blockNumber", "params": []},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 3, "method": "starknet_getBlockWithTxHashes", "params": {"block_id": {"block_number": 2}}},
        {"id": 4, "method": "starknet_blockNumber"},
    ]
    answers = requests.post(node.url + "/rpc/v0_10", json=batch, timeout=10).json()
    by_id = {a["id"]: a for a in answers}
    assert set(by_id) == {1, "two", 3, 4}
    assert by_id[1]["result"] == node.state.head
    assert by_id["two"]["error"]["code"] == 24
    assert by_id[3]["result"]["block_number"] == 2
    assert by_id[4]["error"]["code"] == -32600
    assert requests.post(node.url, json=[], timeout=10).json()["error"]["code"] == -32600


def test_same_seed_same_blocks_other_seed_other_blocks() -> None:
    def chain(seed: int) -> list[dict[str, Any]]:
        with NodeServer(deterministic_config(seed=seed, large_block_every=4, large_block_storage_writes=200)) as server:
            for _ in range(9):
                server.produce_block()
            return [
                rpc(server.url, "starknet_getStateUpdate", {"block_id": {"block_number": n}})["result"]
                for n in range(10)
            ]

    first, again, other = chain(3), chain(3), chain(4)
    assert first == again
    assert [u["block_hash"] for u in first] != [u["block_hash"] for u in other]
    assert first[5]["state_diff"] != other[5]["state_diff"]


def test_restart_from_data_dir_continues_the_chain(tmp_path: Path) -> None:
    config = deterministic_config(data_dir=tmp_path, large_block_every=3, large_block_storage_writes=300)
    with NodeServer(config) as server:
        for _ in range(5):
            server.produce_block()
        before = FullNodeClient(node_url=server.url)
        hashes = [before.get_block_with_tx_hashes_sync(block_number=n).block_hash for n in range(6)]
        nonce_address = before.get_state_update_sync(block_number=5).state_diff.nonces[0].contract_address
        nonce_at_5 = before.get_contract_nonce_sync(nonce_address, block_number=5)

    with NodeServer(config) as restarted:
        after = FullNodeClient(node_url=restarted.url)
        assert after.get_block_number_sync() == 5
        assert [after.get_block_with_tx_hashes_sync(block_number=n).block_hash for n in range(6)] == hashes
        assert after.get_contract_nonce_sync(nonce_address, block_number=5) == nonce_at_5
        assert restarted.produce_block() == 6
        block_6 = after.get_block_with_tx_hashes_sync(block_number=6)
        assert block_6.parent_hash == hashes[5]
        assert after.get_state_update_sync(block_number=6).old_root == after.get_state_update_sync(block_number=5).new_root

    # The restart changed nothing: a node that never stopped makes the same block 6.
    with NodeServer(deterministic_config(large_block_every=3, large_block_storage_writes=300)) as uninterrupted:
        for _ in range(6):
            uninterrupted.produce_block()
        assert uninterrupted.state.block(6).block_hash == block_6.block_hash

    # A line cut short by a crash is dropped; the chain continues from the last whole block.
    log_path = tmp_path / BLOCK_LOG_NAME
    lines = log_path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 7
    log_path.write_bytes(b"".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    with NodeServer(config) as recovered:
        assert recovered.state.head == 5
        assert recovered.produce_block() == 6
        assert recovered.state.block(6).block_hash == block_6.block_hash
    assert len(log_path.read_bytes().splitlines()) == 7


def test_corrupt_block_log_is_refused(tmp_path: Path) -> None:
    config = deterministic_config(data_dir=tmp_path, large_block_every=0)
    with NodeServer(config) as server:
        server.produce_block()
    log_path = tmp_path / BLOCK_LOG_NAME
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    records[1]["timestamp"] += 1
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(Exception, match="block 1 .*corrupt"):
        NodeServer(config)


def test_module_entry_point_serves_rpc(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_pipelines.devnet.starknet_node", "--port", "0", "--block-time", "0.2",
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = FullNodeClient(node_url=url)
        wait_until(lambda: client.get_block_number_sync() >= 2, 20, "blocks from the standalone node")
        assert requests.get(url + "/health", timeout=5).json()["status"] == "ok"
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
    assert (tmp_path / BLOCK_LOG_NAME).exists()


def test_blocks_with_transactions_and_receipts_read_by_starknet_py(node: NodeServer, client: FullNodeClient) -> None:
    genesis = client.get_block_with_txs_sync(block_number=0)
    assert {type(tx).__name__ for tx in genesis.transactions} == {"DeployTransaction"}
    seen_kinds: set[str] = set()
    for number in range(1, node.state.head + 1):
        hashes = client.get_block_with_tx_hashes_sync(block_number=number).transactions
        with_txs = client.get_block_with_txs_sync(block_number=number)
        with_receipts = client.get_block_with_receipts_sync(block_number=number)
        assert [tx.hash for tx in with_txs.transactions] == hashes
        assert [item.transaction for item in with_receipts.transactions] == with_txs.transactions
        for item in with_receipts.transactions:
            tx, receipt = item.transaction, item.receipt
            seen_kinds.add(type(tx).__name__)
            assert receipt.transaction_hash == tx.hash
            assert receipt.execution_status == TransactionExecutionStatus.SUCCEEDED
            assert receipt.finality_status == TransactionFinalityStatus.ACCEPTED_ON_L2
            assert receipt.actual_fee.amount > 0
            if isinstance(tx, InvokeTransactionV3):
                assert tx.calldata[0] == 1 and tx.calldata[3] == len(tx.calldata) - 4  # one __execute__ call
        single = client.get_transaction_receipt_sync(hashes[-1])
        assert (single.block_number, single.block_hash) == (number, with_txs.block_hash)
        assert single.transaction_hash == hashes[-1]
    assert {"InvokeTransactionV3", "DeployAccountTransactionV3"} <= seen_kinds
    assert seen_kinds & {"DeclareTransactionV3", "DeclareTransactionV1"}
    with pytest.raises(ClientError) as info:
        client.get_transaction_receipt_sync(0x1234)
    assert int(info.value.code) == 29
    with pytest.raises(ClientError) as info:
        client.get_messages_status_sync("0x" + "ab" * 31)  # no L1 message was ever executed here
    assert int(info.value.code) == 29


def test_withdrawals_burn_the_bridged_token_and_send_a_message_to_the_l1_bridge() -> None:
    config = deterministic_config(large_block_every=0, withdrawal_every=3)
    with NodeServer(config) as server:
        for _ in range(6):
            server.produce_block()
        client = FullNodeClient(node_url=server.url)
        supply_key = storage_address("ERC20_total_supply")
        for number in range(1, 7):
            block = client.get_block_with_receipts_sync(block_number=number)
            sent = [(item, m) for item in block.transactions for m in item.receipt.messages_sent]
            if number % 3:
                assert sent == []
                continue
            assert len(sent) == 1
            item, message = sent[0]
            assert message.l2_address == L2_TOKEN_BRIDGE_ADDRESS
            assert message.l1_address == config.l1_bridge_address
            kind, l1_recipient, low, high = message.payload
            amount = low + (high << 128)
            assert kind == 0 and 0 < l1_recipient < 2**160 and amount > 0
            assert item.transaction.calldata[1:4] == [L2_TOKEN_BRIDGE_ADDRESS, INITIATE_WITHDRAW_SELECTOR, 3]
            # The burn is in the state diff: only bridge traffic changes the bridged token's supply
            # (transfers in the same block move balances between accounts).
            supply_before = client.get_storage_at_sync(BRIDGED_TOKEN_ADDRESS, supply_key, block_number=number - 1)
            supply_after = client.get_storage_at_sync(BRIDGED_TOKEN_ADDRESS, supply_key, block_number=number)
            assert supply_before - supply_after == amount
            diff = client.get_state_update_sync(block_number=number).state_diff
            token_writes = {e.key for d in diff.storage_diffs if d.address == BRIDGED_TOKEN_ADDRESS for e in d.storage_entries}
            assert balance_key(item.transaction.sender_address) in token_writes
    with NodeServer(deterministic_config(large_block_every=0, withdrawal_every=0)) as quiet:
        for _ in range(6):
            quiet.produce_block()
        blocks = [quiet.state.block(n) for n in range(1, 7)]
        assert not any(tx.messages_sent for b in blocks for tx in b.transactions)
    with pytest.raises(InvalidInputError, match="withdrawal_every"):
        NodeConfig(withdrawal_every=-1)
