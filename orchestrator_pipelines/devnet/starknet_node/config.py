"""Settings of the local Starknet node (the Madara stand-in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator_pipelines.errors import InvalidInputError

# Each storage write costs two felts (key, value) in the DA encoding and a blob holds
# 4096 felts: above this many writes a single block could need more than 6 blobs.
MAX_LARGE_BLOCK_STORAGE_WRITES = 11_000

DEFAULT_SEQUENCER_ADDRESS = 0x01176A1BD84444C89232EC27754698E5D2E7E1A7F1539F12027F28B23EC9F3D8


@dataclass(frozen=True)
class NodeConfig:
    """How the node listens, how fast it makes blocks and what they contain.

    ``block_time_s`` 0 means blocks are made only by ``NodeServer.produce_block``.
    ``genesis_timestamp`` None uses the wall clock; set it to make the whole chain,
    hashes included, reproducible from the seed (block n is stamped
    ``genesis_timestamp + n * max(1, round(block_time_s))``).
    ``large_block_every`` N > 0 makes every N-th block carry
    ``large_block_storage_writes`` extra full-width storage writes, enough to need
    several blobs, so batching and multi-blob settlement are exercised.
    """

    host: str = "127.0.0.1"
    port: int = 0
    block_time_s: float = 2.0
    seed: int = 0
    data_dir: Path | str | None = None
    chain_id: str = "MADARA_DEVNET"
    starknet_version: str = "0.13.4"
    large_block_every: int = 25
    large_block_storage_writes: int = 5_000
    max_transactions_per_block: int = 6
    genesis_accounts: int = 8
    genesis_timestamp: int | None = None
    sequencer_address: int = DEFAULT_SEQUENCER_ADDRESS

    def __post_init__(self) -> None:
        if self.block_time_s < 0:
            raise InvalidInputError(f"block_time_s must be >= 0, got {self.block_time_s}")
        if not 0 <= self.port <= 65535:
            raise InvalidInputError(f"port must be in 0..65535, got {self.port}")
        if self.large_block_every < 0:
            raise InvalidInputError(f"large_block_every must be >= 0, got {self.large_block_every}")
        if not 0 <= self.large_block_storage_writes <= MAX_LARGE_BLOCK_STORAGE_WRITES:
            raise InvalidInputError(
                f"large_block_storage_writes must be in 0..{MAX_LARGE_BLOCK_STORAGE_WRITES} "
                f"(more would need over 6 blobs for one block), got {self.large_block_storage_writes}"
            )
        if self.max_transactions_per_block < 1:
            raise InvalidInputError(
                f"max_transactions_per_block must be >= 1, got {self.max_transactions_per_block}"
            )
        if self.genesis_accounts < 2:
            raise InvalidInputError(f"genesis_accounts must be >= 2, got {self.genesis_accounts}")
        if not self.chain_id or len(self.chain_id) > 31 or not self.chain_id.isascii():
            raise InvalidInputError(
                f"chain_id must be 1..31 ASCII characters (a Cairo short string), got {self.chain_id!r}"
            )
