"""The batch records ZKsync OS settles on L1, in the shapes of zksync-os-server.

- :class:`StoredBatchInfo`: what the chain contract keeps per batch, as
  ``storedBatchHash(n) = keccak(abi.encode(info))``. For ZKsync OS
  ``batchHash`` is the full state commitment, ``commitment`` the batch output
  hash, and ``indexRepeatedStorageChanges`` / ``timestamp`` are always 0.
- :class:`CommitBatchInfo`: one batch as committed (``CommitBatchInfoZKsyncOS``
  of protocol v29, plus the fields the server keeps beside it: the chain
  address and the upgrade transaction hash). It always carries the full rollup
  DA input; the validium form is chosen only when the commit calldata is made.
- :class:`PriorityOpsBatchInfo`: the priority operations a batch consumed,
  with their Merkle paths in the L1 priority tree (execute calldata).
- :class:`DAMode`: rollup (calldata pubdata) or validium, as the chain's
  ``getPubdataPricingMode()`` says.

``to_dict`` / ``from_dict`` use the server's serde field names, so a batch
envelope of zksync-os-server (``batch.previous_stored_batch_info``,
``batch.commit_batch_info``) loads as is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from eth_abi import encode
from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.hexbytes import hex0x, to_address, to_bytes, to_uint, to_word

ZERO_WORD = bytes(32)
ZERO_ADDRESS = bytes(20)
EMPTY_KECCAK = keccak(b"")  # 0xc5d24601…: the rolling hash of no priority operations

STORED_BATCH_INFO_ABI = "(uint64,bytes32,uint64,uint256,bytes32,bytes32,bytes32,uint256,bytes32)"
COMMIT_BATCH_INFO_ABI = (
    "(uint64,bytes32,uint256,bytes32,bytes32,bytes32,address,bytes32,uint64,uint64,uint256,bytes)"
)
PRIORITY_OPS_BATCH_INFO_ABI = "(bytes32[],bytes32[],bytes32[])"
INTEROP_ROOT_ABI = "(uint256,uint256,bytes32[])"


class DAMode(enum.IntEnum):
    """The chain's pubdata pricing mode (``PubdataPricingMode`` on L1: Rollup = 0, Validium = 1)."""

    ROLLUP = 0
    VALIDIUM = 1

    @classmethod
    def parse(cls, value: Any) -> "DAMode":
        if isinstance(value, DAMode):
            return value
        if isinstance(value, str) and value.strip().lower() in ("rollup", "validium"):
            return cls[value.strip().upper()]
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return cls(value)
        raise InvalidInputError(f"DA mode {value!r} is neither rollup (0) nor validium (1)")


@dataclass(frozen=True)
class StoredBatchInfo:
    batch_number: int
    state_commitment: bytes
    number_of_layer1_txs: int
    priority_operations_hash: bytes
    dependency_roots_rolling_hash: bytes
    l2_to_l1_logs_root_hash: bytes
    commitment: bytes
    # Kept by the server for its own checks; not part of what L1 hashes (L1 stores timestamp 0).
    last_block_timestamp: int = 0

    def abi_tuple(self) -> tuple:
        return (
            self.batch_number,
            self.state_commitment,
            0,  # indexRepeatedStorageChanges: unused by ZKsync OS
            self.number_of_layer1_txs,
            self.priority_operations_hash,
            self.dependency_roots_rolling_hash,
            self.l2_to_l1_logs_root_hash,
            0,  # timestamp: unused by ZKsync OS
            self.commitment,
        )

    def hash(self) -> bytes:
        """``keccak(abi.encode(StoredBatchInfo))``: what ``storedBatchHash(batch_number)`` returns."""
        return keccak(encode([STORED_BATCH_INFO_ABI], [self.abi_tuple()]))

    @classmethod
    def from_abi_tuple(cls, value: tuple) -> "StoredBatchInfo":
        number, batch_hash, _index, l1_txs, priority_hash, dependency_hash, logs_root, _ts, commitment = value
        return cls(
            batch_number=int(number),
            state_commitment=bytes(batch_hash),
            number_of_layer1_txs=int(l1_txs),
            priority_operations_hash=bytes(priority_hash),
            dependency_roots_rolling_hash=bytes(dependency_hash),
            l2_to_l1_logs_root_hash=bytes(logs_root),
            commitment=bytes(commitment),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_number": self.batch_number,
            "state_commitment": hex0x(self.state_commitment),
            "number_of_layer1_txs": self.number_of_layer1_txs,
            "priority_operations_hash": hex0x(self.priority_operations_hash),
            "dependency_roots_rolling_hash": hex0x(self.dependency_roots_rolling_hash),
            "l2_to_l1_logs_root_hash": hex0x(self.l2_to_l1_logs_root_hash),
            "commitment": hex0x(self.commitment),
            "last_block_timestamp": self.last_block_timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "stored_batch_info") -> "StoredBatchInfo":
        try:
            return cls(
                batch_number=to_uint(data["batch_number"], f"{where}.batch_number", 64),
                state_commitment=to_word(data["state_commitment"], f"{where}.state_commitment"),
                number_of_layer1_txs=to_uint(data["number_of_layer1_txs"], f"{where}.number_of_layer1_txs"),
                priority_operations_hash=to_word(
                    data["priority_operations_hash"], f"{where}.priority_operations_hash"
                ),
                dependency_roots_rolling_hash=to_word(
                    data["dependency_roots_rolling_hash"], f"{where}.dependency_roots_rolling_hash"
                ),
                l2_to_l1_logs_root_hash=to_word(data["l2_to_l1_logs_root_hash"], f"{where}.l2_to_l1_logs_root_hash"),
                commitment=to_word(data["commitment"], f"{where}.commitment"),
                last_block_timestamp=to_uint(data.get("last_block_timestamp", 0), f"{where}.last_block_timestamp", 64),
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}: field {exc.args[0]!r} is missing") from None


@dataclass(frozen=True)
class CommitBatchInfo:
    batch_number: int
    new_state_commitment: bytes
    number_of_layer1_txs: int
    priority_operations_hash: bytes
    dependency_roots_rolling_hash: bytes
    l2_to_l1_logs_root_hash: bytes
    l2_da_validator: bytes
    da_commitment: bytes
    first_block_timestamp: int
    last_block_timestamp: int
    chain_id: int
    chain_address: bytes
    operator_da_input: bytes
    upgrade_tx_hash: bytes | None = None

    def abi_tuple(self, mode: DAMode = DAMode.ROLLUP) -> tuple:
        """``CommitBatchInfoZKsyncOS`` (v29); a validium sends 32 zero bytes instead of the pubdata."""
        da_input = self.operator_da_input if DAMode.parse(mode) is DAMode.ROLLUP else ZERO_WORD
        return (
            self.batch_number,
            self.new_state_commitment,
            self.number_of_layer1_txs,
            self.priority_operations_hash,
            self.dependency_roots_rolling_hash,
            self.l2_to_l1_logs_root_hash,
            self.l2_da_validator,
            self.da_commitment,
            self.first_block_timestamp,
            self.last_block_timestamp,
            self.chain_id,
            da_input,
        )

    def to_stored(self) -> "StoredBatchInfo":
        """The StoredBatchInfo L1 keeps once this batch is committed (commitment = batch output hash)."""
        from orchestrator_pipelines.zksync_os.commitment import batch_output_hash

        return StoredBatchInfo(
            batch_number=self.batch_number,
            state_commitment=self.new_state_commitment,
            number_of_layer1_txs=self.number_of_layer1_txs,
            priority_operations_hash=self.priority_operations_hash,
            dependency_roots_rolling_hash=self.dependency_roots_rolling_hash,
            l2_to_l1_logs_root_hash=self.l2_to_l1_logs_root_hash,
            commitment=batch_output_hash(self),
            last_block_timestamp=self.last_block_timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_number": self.batch_number,
            "new_state_commitment": hex0x(self.new_state_commitment),
            "number_of_layer1_txs": self.number_of_layer1_txs,
            "priority_operations_hash": hex0x(self.priority_operations_hash),
            "dependency_roots_rolling_hash": hex0x(self.dependency_roots_rolling_hash),
            "l2_to_l1_logs_root_hash": hex0x(self.l2_to_l1_logs_root_hash),
            "l2_da_validator": hex0x(self.l2_da_validator),
            "da_commitment": hex0x(self.da_commitment),
            "first_block_timestamp": self.first_block_timestamp,
            "last_block_timestamp": self.last_block_timestamp,
            "chain_id": self.chain_id,
            "chain_address": hex0x(self.chain_address),
            "operator_da_input": hex0x(self.operator_da_input),
            "upgrade_tx_hash": hex0x(self.upgrade_tx_hash) if self.upgrade_tx_hash is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "commit_batch_info") -> "CommitBatchInfo":
        try:
            upgrade = data.get("upgrade_tx_hash")
            return cls(
                batch_number=to_uint(data["batch_number"], f"{where}.batch_number", 64),
                new_state_commitment=to_word(data["new_state_commitment"], f"{where}.new_state_commitment"),
                number_of_layer1_txs=to_uint(data["number_of_layer1_txs"], f"{where}.number_of_layer1_txs"),
                priority_operations_hash=to_word(
                    data["priority_operations_hash"], f"{where}.priority_operations_hash"
                ),
                dependency_roots_rolling_hash=to_word(
                    data["dependency_roots_rolling_hash"], f"{where}.dependency_roots_rolling_hash"
                ),
                l2_to_l1_logs_root_hash=to_word(data["l2_to_l1_logs_root_hash"], f"{where}.l2_to_l1_logs_root_hash"),
                l2_da_validator=to_address(data["l2_da_validator"], f"{where}.l2_da_validator"),
                da_commitment=to_word(data["da_commitment"], f"{where}.da_commitment"),
                first_block_timestamp=to_uint(data["first_block_timestamp"], f"{where}.first_block_timestamp", 64),
                last_block_timestamp=to_uint(data["last_block_timestamp"], f"{where}.last_block_timestamp", 64),
                chain_id=to_uint(data["chain_id"], f"{where}.chain_id"),
                chain_address=to_address(data["chain_address"], f"{where}.chain_address"),
                operator_da_input=to_bytes(data["operator_da_input"], f"{where}.operator_da_input"),
                upgrade_tx_hash=None if upgrade is None else to_word(upgrade, f"{where}.upgrade_tx_hash"),
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}: field {exc.args[0]!r} is missing") from None


@dataclass(frozen=True)
class PriorityOpsBatchInfo:
    """``PriorityOpsBatchInfo``: the batch's priority tx hashes and the Merkle paths of their range."""

    left_path: tuple[bytes, ...] = ()
    right_path: tuple[bytes, ...] = ()
    item_hashes: tuple[bytes, ...] = ()

    def abi_tuple(self) -> tuple:
        return (list(self.left_path), list(self.right_path), list(self.item_hashes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "left_path": [hex0x(h) for h in self.left_path],
            "right_path": [hex0x(h) for h in self.right_path],
            "item_hashes": [hex0x(h) for h in self.item_hashes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "priority_ops") -> "PriorityOpsBatchInfo":
        try:
            return cls(
                left_path=tuple(to_word(h, f"{where}.left_path[{i}]") for i, h in enumerate(data["left_path"])),
                right_path=tuple(to_word(h, f"{where}.right_path[{i}]") for i, h in enumerate(data["right_path"])),
                item_hashes=tuple(
                    to_word(h, f"{where}.item_hashes[{i}]") for i, h in enumerate(data["item_hashes"])
                ),
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}: field {exc.args[0]!r} is missing") from None


def genesis_stored_batch_info(state_commitment: bytes) -> StoredBatchInfo:
    """Batch 0 as zksync-os-server and the chain's genesis define it.

    No priority operations, an L2 logs root of zero (``DEFAULT_L2_LOGS_TREE_ROOT_HASH``)
    and a commitment of 1; ``state_commitment`` is
    :func:`~orchestrator_pipelines.zksync_os.commitment.genesis_state_commitment`.
    """
    return StoredBatchInfo(
        batch_number=0,
        state_commitment=to_word(state_commitment, "genesis state_commitment"),
        number_of_layer1_txs=0,
        priority_operations_hash=EMPTY_KECCAK,
        dependency_roots_rolling_hash=ZERO_WORD,
        l2_to_l1_logs_root_hash=ZERO_WORD,
        commitment=(1).to_bytes(32, "big"),
    )


__all__ = [
    "COMMIT_BATCH_INFO_ABI",
    "CommitBatchInfo",
    "DAMode",
    "EMPTY_KECCAK",
    "INTEROP_ROOT_ABI",
    "PRIORITY_OPS_BATCH_INFO_ABI",
    "PriorityOpsBatchInfo",
    "STORED_BATCH_INFO_ABI",
    "StoredBatchInfo",
    "ZERO_ADDRESS",
    "ZERO_WORD",
    "genesis_stored_batch_info",
]
