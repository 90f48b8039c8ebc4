"""Settings of the local Starknet node (the Madara stand-in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator_pipelines.errors import InvalidInputError

# Each storage write costs two felts (key, value) in the DA encoding and a blob holds
# 4096 felts: above this many writes a single block could need more than 6 blobs.
MAX_LARGE_BLOCK_STORAGE_WRITES = 11_000

DEFAULT_SEQUENCER_ADDRESS = 0x01176A1BD84444C89232EC27754698E5D2E7E1A7F1539F12027F28B23EC9F3D8
# The L1 contract withdrawals are addressed to (the L1 side of the token bridge): by default
# anvil's fourth development account, so the devnet can consume them with a known key.
DEFAULT_L1_BRIDGE_ADDRESS = 0x90F79BF6EB2C4F870365E785982E1F101E93B906


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
    ``withdrawal_every`` N > 0 makes every N-th block carry a withdrawal (a message
    to ``l1_bridge_address`` on L1). With ``l1_rpc_url`` and ``core_contract`` set,
    every ``LogMessageToL2`` of that contract becomes an L1 handler in the next block.
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
    withdrawal_every: int = 5
    l1_bridge_address: int = DEFAULT_L1_BRIDGE_ADDRESS
    l1_rpc_url: str | None = None
    core_contract: str | None = None
    max_l1_handlers_per_block: int = 50

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
        if self.withdrawal_every < 0:
            raise InvalidInputError(f"withdrawal_every must be >= 0, got {self.withdrawal_every}")
        if not 0 < self.l1_bridge_address < 2**160:
            raise InvalidInputError(f"l1_bridge_address must be a 20-byte L1 address, got {self.l1_bridge_address:#x}")
        if (self.l1_rpc_url is None) != (self.core_contract is None):
            raise InvalidInputError("l1_rpc_url and core_contract go together: both or neither")
        if self.max_l1_handlers_per_block < 1:
            raise InvalidInputError(
                f"max_l1_handlers_per_block must be >= 1, got {self.max_l1_handlers_per_block}"
            )
        if self.genesis_accounts < 2:
            raise InvalidInputError(f"genesis_accounts must be >= 2, got {self.genesis_accounts}")
        if not self.chain_id or len(self.chain_id) > 31 or not self.chain_id.isascii():
            raise InvalidInputError(
                f"chain_id must be 1..31 ASCII characters (a Cairo short string), got {self.chain_id!r}"
            )
