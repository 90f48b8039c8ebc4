"""The ZKsync OS chain state commitment a batch commits to (``newStateCommitment``).

As ZKsync OS's ``ChainStateCommitment::hash``: Blake2s-256 of the state tree
root ‖ its leaf count (u64 BE) ‖ block number (u64 BE) ‖ the Blake2s of the
last 256 block hashes (the previous 255, oldest first, then the block's own) ‖
the block timestamp (u64 BE). The genesis commitment uses 255 zero hashes and
timestamp 0, as the server's ``load_genesis_stored_batch_info``.
"""

from __future__ import annotations

import hashlib

from orchestrator_pipelines.errors import InvalidInputError

ZERO_HASH = b"\x00" * 32


def _blake2s(data: bytes) -> bytes:
    return hashlib.blake2s(data, digest_size=32).digest()


def block_hashes_blake(previous_255: list[bytes], current: bytes) -> bytes:
    """Blake2s of the 256 most recent block hashes; missing older ones (near genesis) are zero."""
    if len(previous_255) > 255:
        raise InvalidInputError(f"expected at most 255 previous block hashes, got {len(previous_255)}")
    hashes = [ZERO_HASH] * (255 - len(previous_255)) + list(previous_255) + [current]
    for value in hashes:
        if len(value) != 32:
            raise InvalidInputError(f"block hash must be 32 bytes, got {len(value)}")
    return _blake2s(b"".join(hashes))


def state_commitment(state_root: bytes, leaf_count: int, block_number: int, blocks_blake: bytes, timestamp: int) -> bytes:
    if len(state_root) != 32 or len(blocks_blake) != 32:
        raise InvalidInputError("state root and block hashes digest must be 32 bytes")
    return _blake2s(
        state_root
        + leaf_count.to_bytes(8, "big")
        + block_number.to_bytes(8, "big")
        + blocks_blake
        + timestamp.to_bytes(8, "big")
    )
