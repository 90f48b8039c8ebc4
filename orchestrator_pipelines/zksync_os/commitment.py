"""The hashes that tie a ZKsync OS batch to L1 (zksync-os-server ``commitment.rs``, ``prove.rs``).

- DA: the rollup ``operatorDAInput`` is ``stateDiffHash (32 zero bytes) ‖
  keccak(pubdata) ‖ blob count 1 ‖ blob linear hash (32 zero bytes) ‖ source 0
  (calldata) ‖ pubdata ‖ blob commitment (32 zero bytes)``; the ``daCommitment``
  is keccak of its first 97 bytes, which L1's rollup DA validator recomputes.
  A validium commits the same ``daCommitment`` but sends 32 zero bytes as input.
- Batch output hash (the stored ``commitment``): keccak of the packed
  ``chainId u256 ‖ firstBlockTimestamp u64 ‖ lastBlockTimestamp u64 ‖
  l2DaValidator ‖ daCommitment ‖ numberOfLayer1Txs u256 ‖
  priorityOperationsHash ‖ l2LogsTreeRoot ‖ upgradeTxHash ‖
  dependencyRootsRollingHash``, as the v29 Executor builds it.
- State commitment: :mod:`orchestrator_pipelines.zksync_os.state_commitment`
  after the batch's last block.
- Proof public input: per batch ``keccak(prev.batchHash ‖ batchHash ‖
  commitment) >> 32``, folded over a range as ``acc = keccak(acc ‖ PI) >> 32``;
  the development proof is ``[3, 0, 13, acc]``, which L1 accepts only on
  development chain ids.
- Priority operations: the rolling hash ``h = keccak(h ‖ txHash)`` from
  ``keccak("")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.model import (
    EMPTY_KECCAK,
    ZERO_ADDRESS,
    ZERO_WORD,
    CommitBatchInfo,
    DAMode,
    StoredBatchInfo,
)
from orchestrator_pipelines.zksync_os.state_commitment import block_hashes_blake, state_commitment

PUBDATA_SOURCE_CALLDATA = 0
PUBDATA_SOURCE_BLOBS = 1
# The calldata DA validator's limit (one blob's worth: 4096 field elements × 31 bytes).
MAX_CALLDATA_PUBDATA_BYTES = 126_976
DA_INPUT_HEADER_BYTES = 97  # state diff hash 32 + pubdata hash 32 + blob count 1 + linear hash 32
BLOB_COMMITMENT_BYTES = 32

FAKE_PROOF_TYPE = 3
FAKE_PROOF_MAGIC_VALUE = 13
OHBENDER_PROOF_TYPE = 2
# L1 accepts the development proof only on these chain ids (anvil / hardhat and Sepolia).
DEV_PROOF_CHAIN_IDS = (31337, 11155111)
PUBLIC_INPUT_SHIFT_BITS = 32


def pubdata_hash(pubdata: bytes) -> bytes:
    return keccak(bytes(pubdata))


def da_input_header(pubdata: bytes) -> bytes:
    """The 97 bytes the L2 DA validator outputs: what ``daCommitment`` commits to."""
    return ZERO_WORD + pubdata_hash(pubdata) + bytes([1]) + ZERO_WORD


def da_commitment(pubdata: bytes) -> bytes:
    return keccak(da_input_header(pubdata))


def rollup_operator_da_input(pubdata: bytes) -> bytes:
    """The full calldata-rollup ``operatorDAInput`` for ``pubdata``."""
    return da_input_header(pubdata) + bytes([PUBDATA_SOURCE_CALLDATA]) + bytes(pubdata) + ZERO_WORD


def operator_da_input_for_mode(commit_info: CommitBatchInfo, mode: DAMode) -> bytes:
    return commit_info.operator_da_input if DAMode.parse(mode) is DAMode.ROLLUP else ZERO_WORD


@dataclass(frozen=True)
class RollupDAInput:
    state_diff_hash: bytes
    pubdata_hash: bytes
    blobs_provided: int
    blob_linear_hashes: tuple[bytes, ...]
    source: int
    pubdata: bytes
    blob_commitment: bytes


def parse_rollup_operator_da_input(data: bytes, where: str = "operator_da_input") -> RollupDAInput:
    """Split a calldata-rollup ``operatorDAInput`` into its parts, refusing what L1 would refuse."""
    data = bytes(data)
    if len(data) < 65:
        raise InvalidInputError(f"{where}: {len(data)} bytes is shorter than the 65-byte header")
    blobs = data[64]
    if len(data) < 65 + 32 * blobs:
        raise InvalidInputError(f"{where}: too short for {blobs} blob linear hashes")
    linear = tuple(data[65 + 32 * i : 97 + 32 * i] for i in range(blobs))
    rest = data[65 + 32 * blobs :]
    if not rest:
        raise InvalidInputError(f"{where}: the pubdata source byte is missing")
    source, tail = rest[0], rest[1:]
    if source != PUBDATA_SOURCE_CALLDATA:
        raise InvalidInputError(f"{where}: pubdata source {source} is not calldata (0)")
    if blobs != 1:
        raise InvalidInputError(f"{where}: calldata DA carries exactly one blob, got {blobs}")
    if len(tail) < BLOB_COMMITMENT_BYTES:
        raise InvalidInputError(f"{where}: the 32-byte blob commitment is missing")
    pubdata, commitment = tail[:-BLOB_COMMITMENT_BYTES], tail[-BLOB_COMMITMENT_BYTES:]
    if len(pubdata) > MAX_CALLDATA_PUBDATA_BYTES:
        raise InvalidInputError(
            f"{where}: pubdata of {len(pubdata)} bytes exceeds the calldata limit of {MAX_CALLDATA_PUBDATA_BYTES}"
        )
    if keccak(pubdata) != data[32:64]:
        raise InvalidInputError(f"{where}: pubdata hash 0x{data[32:64].hex()} is not keccak of the pubdata")
    return RollupDAInput(
        state_diff_hash=data[:32],
        pubdata_hash=data[32:64],
        blobs_provided=blobs,
        blob_linear_hashes=linear,
        source=source,
        pubdata=pubdata,
        blob_commitment=commitment,
    )


def batch_output_hash(info: CommitBatchInfo) -> bytes:
    """The batch output hash L1 stores as ``commitment`` (v29 ``_commitOneBatchZKsyncOS``)."""
    return keccak(
        info.chain_id.to_bytes(32, "big")
        + info.first_block_timestamp.to_bytes(8, "big")
        + info.last_block_timestamp.to_bytes(8, "big")
        + bytes(info.l2_da_validator)
        + bytes(info.da_commitment)
        + info.number_of_layer1_txs.to_bytes(32, "big")
        + bytes(info.priority_operations_hash)
        + bytes(info.l2_to_l1_logs_root_hash)
        + bytes(info.upgrade_tx_hash or ZERO_WORD)
        + bytes(info.dependency_roots_rolling_hash)
    )


def stored_batch_hash(info: StoredBatchInfo) -> bytes:
    return info.hash()


def priority_operations_rolling_hash(tx_hashes: Sequence[bytes]) -> bytes:
    """``h = keccak(h ‖ txHash)`` from ``keccak("")``: what commit states and execute recomputes."""
    acc = EMPTY_KECCAK
    for tx_hash in tx_hashes:
        acc = keccak(acc + bytes(tx_hash))
    return acc


def genesis_state_commitment(*, state_root: bytes, leaf_count: int, genesis_block_hash: bytes) -> bytes:
    """The state commitment of block 0: no earlier block hashes (255 zero words), timestamp 0."""
    return state_commitment(state_root, leaf_count, 0, block_hashes_blake([], genesis_block_hash), 0)


@dataclass(frozen=True)
class BlockForBatch:
    """What a batch needs of one block (the node serves all of it per block)."""

    number: int
    timestamp: int
    block_hash: bytes
    previous_255_block_hashes: tuple[bytes, ...]  # oldest first; fewer near genesis
    state_root: bytes
    leaf_count: int
    pubdata: bytes
    l1_tx_hashes: tuple[bytes, ...] = ()
    l2_to_l1_logs: tuple[bytes, ...] = ()  # 88-byte encoded leaves, in order
    upgrade_tx_hash: bytes | None = None
    extra: dict = field(default_factory=dict, compare=False)


def build_commit_batch_info(
    blocks: Sequence[BlockForBatch],
    *,
    batch_number: int,
    chain_id: int,
    chain_address: bytes,
    l2_da_validator: bytes = ZERO_ADDRESS,
) -> CommitBatchInfo:
    """The batch's ``CommitBatchInfo`` from its blocks, as the server's batcher builds it."""
    from orchestrator_pipelines.zksync_os.l2_logs import batch_logs_root

    if not blocks:
        raise InvalidInputError(f"batch {batch_number}: a batch needs at least one block")
    for previous, current in zip(blocks, blocks[1:]):
        if current.number != previous.number + 1:
            raise InvalidInputError(
                f"batch {batch_number}: block {current.number} does not follow block {previous.number}"
            )
    pubdata = b"".join(bytes(b.pubdata) for b in blocks)
    l1_tx_hashes = [h for b in blocks for h in b.l1_tx_hashes]
    upgrades = [b.upgrade_tx_hash for b in blocks if b.upgrade_tx_hash is not None]
    if len(upgrades) > 1:
        raise InvalidInputError(f"batch {batch_number}: more than one upgrade transaction")
    last = blocks[-1]
    return CommitBatchInfo(
        batch_number=batch_number,
        new_state_commitment=state_commitment(
            last.state_root,
            last.leaf_count,
            last.number,
            block_hashes_blake(list(last.previous_255_block_hashes), last.block_hash),
            last.timestamp,
        ),
        number_of_layer1_txs=len(l1_tx_hashes),
        priority_operations_hash=priority_operations_rolling_hash(l1_tx_hashes),
        dependency_roots_rolling_hash=ZERO_WORD,
        l2_to_l1_logs_root_hash=batch_logs_root([leaf for b in blocks for leaf in b.l2_to_l1_logs]),
        l2_da_validator=bytes(l2_da_validator),
        da_commitment=da_commitment(pubdata),
        first_block_timestamp=blocks[0].timestamp,
        last_block_timestamp=last.timestamp,
        chain_id=chain_id,
        chain_address=bytes(chain_address),
        operator_da_input=rollup_operator_da_input(pubdata),
        upgrade_tx_hash=upgrades[0] if upgrades else None,
    )


def _shift_right_32(word: bytes) -> int:
    return int.from_bytes(word, "big") >> PUBLIC_INPUT_SHIFT_BITS


def batch_public_input(previous: StoredBatchInfo, batch: StoredBatchInfo) -> int:
    """``keccak(prev.batchHash ‖ batchHash ‖ commitment) >> 32``."""
    return _shift_right_32(keccak(previous.state_commitment + batch.state_commitment + batch.commitment))


def fold_public_inputs(public_inputs: Sequence[int]) -> int:
    """``acc = PI_0``, then ``acc = keccak(acc ‖ PI_i) >> 32``: the range proof's one public input."""
    if not public_inputs:
        raise InvalidInputError("a proof covers at least one batch")
    acc = public_inputs[0]
    for value in public_inputs[1:]:
        acc = _shift_right_32(keccak(acc.to_bytes(32, "big") + value.to_bytes(32, "big")))
    return acc


def range_public_inputs(previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo]) -> list[int]:
    """One public input per batch of a consecutive range starting right after ``previous``."""
    inputs = []
    prev = previous
    for batch in batches:
        if batch.batch_number != prev.batch_number + 1:
            raise InvalidInputError(f"batch {batch.batch_number} does not follow batch {prev.batch_number}")
        inputs.append(batch_public_input(prev, batch))
        prev = batch
    return inputs


def snark_public_input(previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo]) -> int:
    return fold_public_inputs(range_public_inputs(previous, batches))


def fake_proof(previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo]) -> list[int]:
    """The development proof ``[3, 0, 13, acc]`` for a range (L1 checks ``acc`` against its own data)."""
    return [FAKE_PROOF_TYPE, 0, FAKE_PROOF_MAGIC_VALUE, snark_public_input(previous, batches)]


def real_proof(proof_bytes: bytes, verifier_version: int = 0) -> list[int]:
    """A SNARK proof for L1: ``[2 | version << 8, 0, words…]`` (the server's OhBender layout)."""
    if len(proof_bytes) % 32:
        raise InvalidInputError(f"SNARK proof: {len(proof_bytes)} bytes is not a multiple of 32")
    words = [int.from_bytes(proof_bytes[i : i + 32], "big") for i in range(0, len(proof_bytes), 32)]
    return [OHBENDER_PROOF_TYPE | (verifier_version << 8), 0, *words]
