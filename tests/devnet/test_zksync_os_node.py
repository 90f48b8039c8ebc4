"""The ZKsync OS node stand-in: web3.py reads it, blocks carry what the batcher needs, deposits enter in order."""

from __future__ import annotations

import base64

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

from orchestrator_pipelines.devnet.zksync_os.node import L2_CANONICAL_TX, NodeConfig, ZkOsNode
from orchestrator_pipelines.devnet.zksync_os.node_chain import ChainConfig
from orchestrator_pipelines.zksync_os.prover_api.proofs import decode_words
from orchestrator_pipelines.zksync_os.state_commitment import block_hashes_blake, state_commitment


@pytest.fixture
def node():
    with ZkOsNode(NodeConfig(block_time_s=0, chain=ChainConfig(chain_id=271, withdrawal_every=2, upgrade_at_block=4))) as node:
        yield node


def test_web3_reads_blocks_transactions_receipts_and_balances(node):
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.chain_id == 271
    assert w3.eth.block_number == 0
    for _ in range(4):
        node.produce_block()
    assert w3.eth.block_number == 4
    block = w3.eth.get_block(2, full_transactions=True)
    assert block.number == 2 and block.parentHash == w3.eth.get_block(1).hash
    assert w3.eth.get_block(block.hash).number == 2
    withdrawal = block.transactions[-1]
    receipt = w3.eth.get_transaction_receipt(withdrawal.hash)
    assert receipt.status == 1 and receipt.blockNumber == 2
    (log,) = receipt["l2ToL1Logs"]
    assert log["sender"] == "0x0000000000000000000000000000000000008008"
    assert log["isService"] is True
    sender = withdrawal["from"]
    assert w3.eth.get_balance(sender) < 10**24
    assert w3.eth.get_transaction_count(sender) >= 1
    assert w3.eth.get_block("safe").number == 0 and w3.eth.get_block("finalized").number == 0
    response = w3.provider.make_request("eth_getBlockByNumber", ["0x63", False])
    assert response["result"] is None
    unknown = w3.provider.make_request("eth_sendBogus", [])
    assert "does not exist" in unknown["error"]["message"]


def test_batcher_input_carries_state_commitment_inputs_logs_and_prover_input(node):
    for _ in range(4):
        node.produce_block()
    w3 = Web3(Web3.HTTPProvider(node.url))
    data = w3.provider.make_request("unstable_getBlockBatchInput", [4])["result"]
    assert data["number"] == 4 and data["executionVersion"] == 5  # upgraded at block 4
    assert w3.provider.make_request("unstable_getBlockBatchInput", [3])["result"]["executionVersion"] == 4
    previous = [bytes.fromhex(h[2:]) for h in data["previousBlockHashes"]]
    assert len(previous) == 255 and previous[:251] == [b"\x00" * 32] * 251
    assert previous[-1] == bytes(w3.eth.get_block(3).hash)
    recomputed = state_commitment(
        bytes.fromhex(data["stateRoot"][2:]), data["leafCount"], 4,
        block_hashes_blake(previous[251:], bytes.fromhex(data["hash"][2:])), data["timestamp"],
    )
    assert "0x" + recomputed.hex() == data["stateCommitment"]
    pubdata = bytes.fromhex(data["pubdata"][2:])
    assert pubdata[:32] == bytes.fromhex(data["hash"][2:])  # pubdata opens with the block hash
    (log,) = data["l2ToL1Logs"]
    (message,) = data["l2ToL1Messages"]
    assert log["value"] == "0x" + keccak(bytes.fromhex(message[2:])).hex()
    assert bytes.fromhex(message[2:])[:4] == bytes.fromhex("6c0960f9")
    words = decode_words(data["proverInput"])
    assert words[1] == 4 and words[2] == 5
    assert base64.b64decode(data["proverInput"]) == b"".join(w.to_bytes(4, "little") for w in words)


def test_blocks_are_deterministic_for_a_seed():
    def chain_hashes(seed: int) -> list[str]:
        node = ZkOsNode(NodeConfig(block_time_s=0, chain=ChainConfig(seed=seed)))
        blocks = [node.chain.produce(1_700_000_000 + i) for i in range(3)]
        return [b.hash.hex() for b in blocks]

    assert chain_hashes(1) == chain_hashes(1)
    assert chain_hashes(1) != chain_hashes(2)


def _priority_request(priority_id: int, to: str, value: int) -> dict:
    tx_hash = keccak(text=f"deposit-{priority_id}")
    transaction = (255, 0, int(to, 16), 300_000, 800, 0, 0, 0, priority_id, 0, [value, 0, 0, 0], b"", b"", [], b"", b"")
    data = abi_encode(["uint256", "bytes32", "uint64", L2_CANONICAL_TX, "bytes[]"], [priority_id, tx_hash, 0, transaction, []])
    return {"data": "0x" + data.hex(), "blockNumber": "0x5", "topics": []}


def test_deposits_enter_the_next_block_in_priority_order_each_once(node):
    recipient = "0x00000000000000000000000000000000000000aa"
    node._on_priority_request(_priority_request(1, recipient, 7))
    node.produce_block()
    assert node.chain.head.l1_txs == []  # id 0 not seen yet: nothing is skipped
    node._on_priority_request(_priority_request(0, recipient, 5))
    node._on_priority_request(_priority_request(0, recipient, 5))
    block = node.produce_block()
    assert [tx.priority_id for tx in block.l1_txs] == [0, 1]
    assert block.txs[:2] == block.l1_txs  # L1 transactions first
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.get_balance(Web3.to_checksum_address(recipient)) == 12
    data = w3.provider.make_request("unstable_getBlockBatchInput", ["latest"])["result"]
    assert data["l1TxCount"] == 2 and data["firstPriorityId"] == 0
    assert data["l1TxHashes"] == ["0x" + keccak(text="deposit-0").hex(), "0x" + keccak(text="deposit-1").hex()]
    node._on_priority_request(_priority_request(1, recipient, 7))
    assert node.produce_block().l1_txs == []
