"""One sealed ZKsync OS batch as the pipeline stores it (``batch.json``) and its prover input.

The record is everything the later steps need without asking the node again:
the previous batch's ``StoredBatchInfo`` (what commit sends as ``prev``), the
``CommitBatchInfo`` built by the domain's batcher rules (state commitment,
priority operations, L2→L1 logs root, DA input and commitment, timestamps),
the ``StoredBatchInfo`` L1 will keep, the priority id range (execute proves
it in the priority tree) and the seal reason.

The prover input stands in for the server's RISC-V witness: u32 words made of
a header (tag, batch number, block count, previous and new state commitment)
followed by the node's per-block inputs, deterministic for the same blocks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.commitment import build_commit_batch_info, genesis_state_commitment
from orchestrator_pipelines.zksync_os.model import CommitBatchInfo, StoredBatchInfo, genesis_stored_batch_info
from orchestrator_pipelines.zksync_os.node_client import NodeBlock
from orchestrator_pipelines.zksync_os.prover_api.proofs import decode_words, encode_words

BATCH_PROVER_INPUT_TAG = 0x48435442  # "BTCH" as a little-endian u32


@dataclass(frozen=True)
class BatchRecord:
    batch_number: int
    first_block: int
    last_block: int
    previous: StoredBatchInfo | None  # None for the genesis batch
    commit_info: CommitBatchInfo | None  # None for the genesis batch
    stored: StoredBatchInfo
    first_priority_id: int
    l1_tx_hashes: tuple[bytes, ...]
    n_l2_to_l1_logs: int
    pubdata_bytes: int
    execution_version: int
    seal_reason: str
    first_block_timestamp: int
    last_block_timestamp: int

    @property
    def next_priority_id(self) -> int:
        return self.first_priority_id + len(self.l1_tx_hashes)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "batch_number": self.batch_number,
                "first_block": self.first_block,
                "last_block": self.last_block,
                "previous": None if self.previous is None else self.previous.to_dict(),
                "commit_info": None if self.commit_info is None else self.commit_info.to_dict(),
                "stored": self.stored.to_dict(),
                "first_priority_id": self.first_priority_id,
                "l1_tx_hashes": ["0x" + h.hex() for h in self.l1_tx_hashes],
                "n_l2_to_l1_logs": self.n_l2_to_l1_logs,
                "pubdata_bytes": self.pubdata_bytes,
                "execution_version": self.execution_version,
                "seal_reason": self.seal_reason,
                "first_block_timestamp": self.first_block_timestamp,
                "last_block_timestamp": self.last_block_timestamp,
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> BatchRecord:
        try:
            data: dict[str, Any] = json.loads(raw)
            return cls(
                batch_number=int(data["batch_number"]),
                first_block=int(data["first_block"]),
                last_block=int(data["last_block"]),
                previous=None if data["previous"] is None else StoredBatchInfo.from_dict(data["previous"], "previous"),
                commit_info=None if data["commit_info"] is None else CommitBatchInfo.from_dict(data["commit_info"]),
                stored=StoredBatchInfo.from_dict(data["stored"], "stored"),
                first_priority_id=int(data["first_priority_id"]),
                l1_tx_hashes=tuple(bytes.fromhex(h[2:]) for h in data["l1_tx_hashes"]),
                n_l2_to_l1_logs=int(data["n_l2_to_l1_logs"]),
                pubdata_bytes=int(data["pubdata_bytes"]),
                execution_version=int(data["execution_version"]),
                seal_reason=str(data["seal_reason"]),
                first_block_timestamp=int(data["first_block_timestamp"]),
                last_block_timestamp=int(data["last_block_timestamp"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInputError(f"batch.json: {type(exc).__name__}: {exc}") from None


def genesis_record(block0: NodeBlock) -> BatchRecord:
    """Batch 0: the chain's genesis block, as L1 was created with it (timestamp 0 in the commitment)."""
    b = block0.block
    if b.number != 0:
        raise InvalidInputError(f"the genesis batch is block 0, got block {b.number}")
    commitment = genesis_state_commitment(state_root=b.state_root, leaf_count=b.leaf_count, genesis_block_hash=b.block_hash)
    return BatchRecord(
        batch_number=0, first_block=0, last_block=0, previous=None, commit_info=None,
        stored=genesis_stored_batch_info(commitment), first_priority_id=0, l1_tx_hashes=(),
        n_l2_to_l1_logs=0, pubdata_bytes=0, execution_version=block0.execution_version, seal_reason="genesis",
        first_block_timestamp=0, last_block_timestamp=0,
    )


def build_batch_record(
    *,
    batch_number: int,
    blocks: Sequence[NodeBlock],
    previous: BatchRecord,
    chain_id: int,
    chain_address: bytes,
    l2_da_validator: bytes,
    seal_reason: str,
) -> BatchRecord:
    """Batch ``batch_number`` from its blocks, after ``previous``; refuses a gap in blocks or priority ids."""
    if batch_number != previous.batch_number + 1:
        raise InvalidInputError(f"batch {batch_number} does not follow batch {previous.batch_number}")
    if not blocks or blocks[0].block.number != previous.last_block + 1:
        first = blocks[0].block.number if blocks else None
        raise InvalidInputError(
            f"batch {batch_number} starts at block {first}, but batch {previous.batch_number} ended at block {previous.last_block}"
        )
    expected_id = previous.next_priority_id
    for node_block in blocks:
        if node_block.block.l1_tx_hashes:
            if node_block.first_priority_id != expected_id:
                raise InvalidInputError(
                    f"block {node_block.block.number}: its first L1 transaction has priority id "
                    f"{node_block.first_priority_id}, expected {expected_id}"
                )
            expected_id += len(node_block.block.l1_tx_hashes)
    versions = {b.execution_version for b in blocks}
    if len(versions) != 1:
        raise InvalidInputError(f"batch {batch_number} mixes execution versions {sorted(versions)}")
    info = build_commit_batch_info(
        [b.block for b in blocks], batch_number=batch_number, chain_id=chain_id,
        chain_address=chain_address, l2_da_validator=l2_da_validator,
    )
    return BatchRecord(
        batch_number=batch_number,
        first_block=blocks[0].block.number,
        last_block=blocks[-1].block.number,
        previous=previous.stored,
        commit_info=info,
        stored=info.to_stored(),
        first_priority_id=previous.next_priority_id,
        l1_tx_hashes=tuple(h for b in blocks for h in b.block.l1_tx_hashes),
        n_l2_to_l1_logs=sum(len(b.block.l2_to_l1_logs) for b in blocks),
        pubdata_bytes=sum(len(b.block.pubdata) for b in blocks),
        execution_version=versions.pop(),
        seal_reason=seal_reason,
        first_block_timestamp=blocks[0].block.timestamp,
        last_block_timestamp=blocks[-1].block.timestamp,
    )


def batch_prover_input(record: BatchRecord, blocks: Sequence[NodeBlock]) -> str:
    """The batch's stand-in prover input (base64 little-endian u32 words)."""
    if record.previous is None or record.commit_info is None:
        raise InvalidInputError("the genesis batch is not proven")
    words = [BATCH_PROVER_INPUT_TAG, record.batch_number & 0xFFFFFFFF, len(blocks)]
    for digest in (record.previous.state_commitment, record.commit_info.new_state_commitment):
        words += [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
    for node_block in blocks:
        words += decode_words(node_block.prover_input)
    return encode_words(words)
