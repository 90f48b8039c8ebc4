"""Batches built from the node stand-in's blocks: the domain's commit info, genesis, gaps refused."""

from __future__ import annotations

import pytest

from orchestrator_pipelines.devnet.zksync_os.node import NodeConfig, ZkOsNode
from orchestrator_pipelines.devnet.zksync_os.node_chain import ChainConfig, Deposit
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.batch_record import BatchRecord, batch_prover_input, build_batch_record, genesis_record
from orchestrator_pipelines.zksync_os.commitment import batch_output_hash, priority_operations_rolling_hash
from orchestrator_pipelines.zksync_os.l2_logs import EMPTY_BATCH_LOGS_ROOT
from orchestrator_pipelines.zksync_os.node_client import ZkOsNodeClient
from orchestrator_pipelines.zksync_os.prover_api.proofs import decode_words

CHAIN = b"\x11" * 20


@pytest.fixture
def node():
    with ZkOsNode(NodeConfig(block_time_s=0, chain=ChainConfig(withdrawal_every=2))) as node:
        yield node


def test_a_batch_commits_to_the_node_state_after_its_last_block(node):
    for n in range(6):
        if n == 1:
            node.chain.add_deposit(Deposit(0, b"\x01" * 32, "0x00000000000000000000000000000000000000aa", 5))
        node.produce_block()
    client = ZkOsNodeClient(node.url)
    genesis = genesis_record(client.block_for_batch(0))
    assert genesis.stored.state_commitment == node.chain.blocks[0].state_commitment
    blocks = [client.block_for_batch(n) for n in (1, 2, 3)]
    record = build_batch_record(batch_number=1, blocks=blocks, previous=genesis, chain_id=270, chain_address=CHAIN,
                                l2_da_validator=b"\x00" * 20, seal_reason="timeout")
    assert record.commit_info.new_state_commitment == node.chain.blocks[3].state_commitment
    assert record.l1_tx_hashes == (b"\x01" * 32,) and record.first_priority_id == 0 and record.next_priority_id == 1
    assert record.commit_info.priority_operations_hash == priority_operations_rolling_hash([b"\x01" * 32])
    assert record.commit_info.l2_to_l1_logs_root_hash != EMPTY_BATCH_LOGS_ROOT  # deposit and withdrawal logs
    assert record.stored.commitment == batch_output_hash(record.commit_info)
    assert record.previous == genesis.stored
    assert BatchRecord.from_json(record.to_json()) == record
    words = decode_words(batch_prover_input(record, blocks))
    assert words[1:3] == [1, 3]
    assert batch_prover_input(record, blocks) == batch_prover_input(record, blocks)

    nxt = build_batch_record(batch_number=2, blocks=[client.block_for_batch(4)], previous=record, chain_id=270,
                             chain_address=CHAIN, l2_da_validator=b"\x00" * 20, seal_reason="timeout")
    assert nxt.previous == record.stored and nxt.first_priority_id == 1 and nxt.l1_tx_hashes == ()


def test_gaps_are_refused_with_one_line(node):
    for _ in range(4):
        node.produce_block()
    client = ZkOsNodeClient(node.url)
    genesis = genesis_record(client.block_for_batch(0))
    with pytest.raises(InvalidInputError, match="starts at block 2, but batch 0 ended at block 0"):
        build_batch_record(batch_number=1, blocks=[client.block_for_batch(2)], previous=genesis, chain_id=270,
                           chain_address=CHAIN, l2_da_validator=b"\x00" * 20, seal_reason="timeout")
    with pytest.raises(InvalidInputError, match="does not follow batch 0"):
        build_batch_record(batch_number=2, blocks=[client.block_for_batch(1)], previous=genesis, chain_id=270,
                           chain_address=CHAIN, l2_da_validator=b"\x00" * 20, seal_reason="timeout")
