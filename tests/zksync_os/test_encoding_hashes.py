"""Encodings and hashes of the ZKsync OS L1 formats against a real testnet batch envelope
(zksync-os-server ``batcher_model.rs``) and the real selectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.commitment import (
    BlockForBatch,
    MAX_CALLDATA_PUBDATA_BYTES,
    batch_output_hash,
    batch_public_input,
    build_commit_batch_info,
    da_commitment,
    fake_proof,
    fold_public_inputs,
    parse_rollup_operator_da_input,
    priority_operations_rolling_hash,
    rollup_operator_da_input,
    snark_public_input,
)
from orchestrator_pipelines.zksync_os.encoding import (
    COMMIT_SELECTOR,
    COMMIT_SIGNATURE,
    EXECUTE_SELECTOR,
    EXECUTE_SIGNATURE,
    PROVE_SELECTOR,
    PROVE_SIGNATURE,
    commit_calldata,
    decode_call,
    decode_commit_calldata,
    execute_calldata,
    prove_calldata,
    selector,
)
from orchestrator_pipelines.zksync_os.l2_logs import (
    EMPTY_BATCH_LOGS_ROOT,
    L2ToL1Log,
    batch_logs_root,
    log_proof,
    root_from_proof,
    user_message_log,
)
from orchestrator_pipelines.zksync_os.model import (
    EMPTY_KECCAK,
    CommitBatchInfo,
    DAMode,
    PriorityOpsBatchInfo,
    StoredBatchInfo,
)
from orchestrator_pipelines.zksync_os.priority_tree import PriorityTree, root_from_paths

ENVELOPE = json.loads((Path(__file__).parent / "data" / "testnet_batch_envelope.json").read_text())
TESTNET_DA_COMMITMENT = "0x86b130c978627d2acb4a68c823cfc31efadf6482862566d364cc4bc15e500e2b"
TESTNET_PUBDATA_HASH = "0xc966b4cd6f7fcb13b2deb0dc9355f9ab6a2e5863bd75942c580ba73148cd4815"
EMPTY_LOGS_ROOT = "0x692f35c99f9c698852289ffecf07f6dd45770904521149d79aa85aae598fa375"


@pytest.fixture()
def commit_info() -> CommitBatchInfo:
    return CommitBatchInfo.from_dict(ENVELOPE["batch"]["commit_batch_info"])


@pytest.fixture()
def previous() -> StoredBatchInfo:
    return StoredBatchInfo.from_dict(ENVELOPE["batch"]["previous_stored_batch_info"])


def test_selectors_are_those_of_the_v29_executor() -> None:
    assert selector(COMMIT_SIGNATURE) == COMMIT_SELECTOR == bytes.fromhex("0db9eb87")
    assert selector(PROVE_SIGNATURE) == PROVE_SELECTOR == bytes.fromhex("9271e450")
    assert selector(EXECUTE_SIGNATURE) == EXECUTE_SELECTOR == bytes.fromhex("a085344d")


def test_testnet_operator_da_input_splits_into_its_parts(commit_info: CommitBatchInfo) -> None:
    parts = parse_rollup_operator_da_input(commit_info.operator_da_input)
    assert parts.state_diff_hash == bytes(32)
    assert "0x" + parts.pubdata_hash.hex() == TESTNET_PUBDATA_HASH
    assert keccak(parts.pubdata) == parts.pubdata_hash
    assert parts.blobs_provided == 1 and parts.blob_linear_hashes == (bytes(32),)
    assert parts.source == 0 and parts.blob_commitment == bytes(32)
    assert len(parts.pubdata) == len(commit_info.operator_da_input) - 97 - 1 - 32 == 122


def test_testnet_da_commitment_and_da_input_are_rebuilt_from_the_pubdata(commit_info: CommitBatchInfo) -> None:
    pubdata = parse_rollup_operator_da_input(commit_info.operator_da_input).pubdata
    assert "0x" + da_commitment(pubdata).hex() == TESTNET_DA_COMMITMENT
    assert commit_info.da_commitment == da_commitment(pubdata)
    assert rollup_operator_da_input(pubdata) == commit_info.operator_da_input


def test_empty_logs_root_and_empty_priority_hash_match_the_testnet_batches(
    commit_info: CommitBatchInfo, previous: StoredBatchInfo
) -> None:
    assert "0x" + EMPTY_BATCH_LOGS_ROOT.hex() == EMPTY_LOGS_ROOT == "0x" + batch_logs_root([]).hex()
    assert commit_info.l2_to_l1_logs_root_hash == EMPTY_BATCH_LOGS_ROOT
    assert previous.l2_to_l1_logs_root_hash == EMPTY_BATCH_LOGS_ROOT
    assert commit_info.priority_operations_hash == priority_operations_rolling_hash([]) == EMPTY_KECCAK


def test_batch_output_hash_is_the_packed_v29_preimage(commit_info: CommitBatchInfo) -> None:
    preimage = (
        commit_info.chain_id.to_bytes(32, "big")
        + commit_info.first_block_timestamp.to_bytes(8, "big")
        + commit_info.last_block_timestamp.to_bytes(8, "big")
        + commit_info.l2_da_validator
        + commit_info.da_commitment
        + (0).to_bytes(32, "big")
        + commit_info.priority_operations_hash
        + commit_info.l2_to_l1_logs_root_hash
        + bytes(32)
        + commit_info.dependency_roots_rolling_hash
    )
    assert len(preimage) == 32 + 8 + 8 + 20 + 32 * 6
    assert batch_output_hash(commit_info) == keccak(preimage)
    stored = commit_info.to_stored()
    assert stored.commitment == keccak(preimage)
    assert stored.state_commitment == commit_info.new_state_commitment


def test_stored_batch_hash_is_keccak_of_the_abi_encoded_struct(previous: StoredBatchInfo) -> None:
    words = [
        previous.batch_number.to_bytes(32, "big"), previous.state_commitment, bytes(32),
        previous.number_of_layer1_txs.to_bytes(32, "big"), previous.priority_operations_hash,
        previous.dependency_roots_rolling_hash, previous.l2_to_l1_logs_root_hash, bytes(32), previous.commitment,
    ]
    assert previous.hash() == keccak(b"".join(words))


def test_commit_calldata_of_the_testnet_batch(commit_info: CommitBatchInfo, previous: StoredBatchInfo) -> None:
    calldata = commit_calldata(previous, commit_info, DAMode.ROLLUP)
    assert calldata[:4] == COMMIT_SELECTOR
    call = decode_call(calldata)
    assert call.version == 2 and call.process_from == call.process_to == 10
    assert call.chain_address == commit_info.chain_address
    prev, batch = decode_commit_calldata(calldata)
    assert prev == StoredBatchInfo.from_abi_tuple(previous.abi_tuple())
    assert batch[11] == commit_info.operator_da_input and batch[7] == commit_info.da_commitment
    assert batch[10] == 8022833


def test_validium_commit_sends_32_zero_bytes_but_the_same_da_commitment(
    commit_info: CommitBatchInfo, previous: StoredBatchInfo
) -> None:
    _, batch = decode_commit_calldata(commit_calldata(previous, commit_info, DAMode.VALIDIUM))
    assert batch[11] == bytes(32)
    assert batch[7] == commit_info.da_commitment


def test_commit_refuses_a_batch_that_does_not_follow(commit_info: CommitBatchInfo, previous: StoredBatchInfo) -> None:
    with pytest.raises(InvalidInputError, match="batch 10 does not follow batch 10"):
        commit_calldata(commit_info.to_stored(), commit_info, DAMode.ROLLUP)


def _stored(n: int) -> StoredBatchInfo:
    return StoredBatchInfo(
        batch_number=n, state_commitment=keccak(b"state%d" % n), number_of_layer1_txs=0,
        priority_operations_hash=EMPTY_KECCAK, dependency_roots_rolling_hash=bytes(32),
        l2_to_l1_logs_root_hash=EMPTY_BATCH_LOGS_ROOT, commitment=keccak(b"out%d" % n),
    )


def test_public_inputs_fold_over_a_range_and_make_the_fake_proof() -> None:
    prev, batches = _stored(4), [_stored(5), _stored(6), _stored(7)]
    pis = []
    p = prev
    for b in batches:
        pi = int.from_bytes(keccak(p.state_commitment + b.state_commitment + b.commitment), "big") >> 32
        assert batch_public_input(p, b) == pi and pi < 2**224
        pis.append(pi)
        p = b
    acc = pis[0]
    for pi in pis[1:]:
        acc = int.from_bytes(keccak(acc.to_bytes(32, "big") + pi.to_bytes(32, "big")), "big") >> 32
    assert fold_public_inputs(pis) == snark_public_input(prev, batches) == acc
    assert fake_proof(prev, batches) == [3, 0, 13, acc]
    assert snark_public_input(prev, batches[:1]) == pis[0]


def test_prove_and_execute_calldata_layouts() -> None:
    prev, batches = _stored(4), [_stored(5), _stored(6), _stored(7)]
    proof = fake_proof(prev, batches)
    call = decode_call(prove_calldata(b"\x11" * 20, prev, batches, proof))
    assert call.selector == PROVE_SELECTOR and call.version == 1
    assert (call.process_from, call.process_to) == (5, 7)
    assert StoredBatchInfo.from_abi_tuple(call.payload[0]) == StoredBatchInfo.from_abi_tuple(prev.abi_tuple())
    assert [StoredBatchInfo.from_abi_tuple(b).batch_number for b in call.payload[1]] == [5, 6, 7]
    assert list(call.payload[2]) == proof

    ops = [PriorityOpsBatchInfo() for _ in batches]
    call = decode_call(execute_calldata(b"\x11" * 20, batches, ops))
    assert call.selector == EXECUTE_SELECTOR and call.version == 1
    assert len(call.payload[0]) == 3 and len(call.payload[1]) == 3
    assert [list(r) for r in call.payload[2]] == [[], [], []]
    with pytest.raises(InvalidInputError, match="prove: batch 6 where batch 5 was expected"):
        prove_calldata(b"\x11" * 20, prev, [_stored(6)], proof)
    with pytest.raises(InvalidInputError, match="1 L1 txs but 0 priority op hashes"):
        execute_calldata(b"\x11" * 20, [_stored(5).__class__(**{**_stored(5).__dict__, "number_of_layer1_txs": 1})],
                         [PriorityOpsBatchInfo()])


def test_calldata_da_refuses_what_l1_refuses() -> None:
    good = rollup_operator_da_input(b"\x01" * 10)
    with pytest.raises(InvalidInputError, match="not keccak of the pubdata"):
        parse_rollup_operator_da_input(good[:98] + b"\x02" + good[99:])
    with pytest.raises(InvalidInputError, match="exceeds the calldata limit of 126976"):
        parse_rollup_operator_da_input(rollup_operator_da_input(bytes(MAX_CALLDATA_PUBDATA_BYTES + 1)))
    parse_rollup_operator_da_input(rollup_operator_da_input(bytes(MAX_CALLDATA_PUBDATA_BYTES)))
    with pytest.raises(InvalidInputError, match="source 1 is not calldata"):
        parse_rollup_operator_da_input(good[:97] + b"\x01" + good[98:])


def test_build_commit_batch_info_from_blocks() -> None:
    hashes = tuple(keccak(b"b%d" % i) for i in range(255))
    deposit = keccak(b"deposit")
    log = user_message_log(0, b"\x22" * 20, b"withdraw")
    blocks = [
        BlockForBatch(number=11, timestamp=100, block_hash=keccak(b"h11"), previous_255_block_hashes=hashes,
                      state_root=keccak(b"r11"), leaf_count=40, pubdata=b"\x01\x02", l1_tx_hashes=(deposit,)),
        BlockForBatch(number=12, timestamp=101, block_hash=keccak(b"h12"), previous_255_block_hashes=hashes,
                      state_root=keccak(b"r12"), leaf_count=41, pubdata=b"\x03", l2_to_l1_logs=(log.encode(),)),
    ]
    info = build_commit_batch_info(blocks, batch_number=3, chain_id=270, chain_address=b"\x33" * 20)
    assert info.number_of_layer1_txs == 1
    assert info.priority_operations_hash == keccak(EMPTY_KECCAK + deposit)
    assert info.da_commitment == da_commitment(b"\x01\x02\x03")
    assert (info.first_block_timestamp, info.last_block_timestamp) == (100, 101)
    assert info.l2_to_l1_logs_root_hash == batch_logs_root([log.encode()]) != EMPTY_BATCH_LOGS_ROOT
    with pytest.raises(InvalidInputError, match="block 13 does not follow block 11"):
        build_commit_batch_info([blocks[0], BlockForBatch(**{**blocks[1].__dict__, "number": 13})],
                                batch_number=3, chain_id=270, chain_address=b"\x33" * 20)


def test_commit_info_round_trips_through_json(commit_info: CommitBatchInfo) -> None:
    assert CommitBatchInfo.from_dict(json.loads(json.dumps(commit_info.to_dict()))) == commit_info
    with pytest.raises(InvalidInputError, match="commit_batch_info.da_commitment: expected 32 bytes, got 2"):
        CommitBatchInfo.from_dict({**commit_info.to_dict(), "da_commitment": "0xabcd"})
    with pytest.raises(InvalidInputError, match="field 'chain_id' is missing"):
        CommitBatchInfo.from_dict({k: v for k, v in commit_info.to_dict().items() if k != "chain_id"})


def test_l2_log_leaf_layout_and_proof() -> None:
    log = L2ToL1Log(0, True, 7, b"\x80" * 20, b"\x01" * 32, b"\x02" * 32)
    encoded = log.encode()
    assert len(encoded) == 88 and encoded[:4] == b"\x00\x01\x00\x07"
    assert L2ToL1Log.decode(encoded) == log
    leaves = [L2ToL1Log(0, True, i, b"\x80" * 20, keccak(b"%d" % i), bytes(32)).encode() for i in range(5)]
    root = batch_logs_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = log_proof(leaves, index)
        assert len(proof) == 15 and root_from_proof(leaf, index, proof) == root


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_priority_tree_paths_prove_every_range_against_the_root(n: int, data) -> None:
    tree = PriorityTree(keccak(b"tx%d" % i) for i in range(n))
    total = data.draw(st.integers(min_value=1, max_value=n))
    start = data.draw(st.integers(min_value=0, max_value=total - 1))
    count = data.draw(st.integers(min_value=1, max_value=total - start))
    info = tree.batch_info(start, count, total)
    assert root_from_paths(info.left_path, info.right_path, start, info.item_hashes) == tree.root(total)


def test_priority_tree_roots_as_on_l1() -> None:
    a, b, c = keccak(b"a"), keccak(b"b"), keccak(b"c")
    assert PriorityTree([a]).root() == a
    assert PriorityTree([a, b]).root() == keccak(a + b)
    assert PriorityTree([a, b, c]).root() == keccak(keccak(a + b) + keccak(c + EMPTY_KECCAK))
