"""The chain the node serves: blocks, their state diffs, and state history.

Roots and hashes are deterministic stand-ins, not Starknet's: the global state
root is ``new_root(n) = Poseidon(old_root(n), digest(diff(n)))`` instead of the
root of the contracts/classes Patricia-Merkle tries, and the block hash is a
Poseidon hash over the header fields. They chain the way the real ones do
(``old_root(n+1) == new_root(n)``, each block names its parent's hash), which is
what the orchestrator checks; nothing here can prove a Merkle path.

Storage, nonces and class hashes keep every value with the block that set it, so
``getStorageAt``/``getNonce``/``getClassHashAt`` answer at any past block.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Generic, Hashable, TypeVar

from poseidon_py.poseidon_hash import poseidon_hash, poseidon_hash_many
from starknet_py.cairo.felt import encode_shortstring

from orchestrator_pipelines.devnet.starknet_node.diff import BlockDiff
from orchestrator_pipelines.devnet.starknet_node.transactions import L1_HANDLER, Transaction
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.felt import felt_hex, parse_felt
from orchestrator_pipelines.starknet.state_update import StateUpdate

BLOCK_HASH_PREFIX = encode_shortstring("STARKNET_BLOCK_HASH0")


@dataclass(frozen=True)
class ResourcePrice:
    """A gas price in wei (ETH) and fri (STRK), as in the block header."""

    wei: int
    fri: int

    def to_rpc_json(self) -> dict[str, str]:
        return {"price_in_wei": felt_hex(self.wei), "price_in_fri": felt_hex(self.fri)}

    @classmethod
    def from_rpc_json(cls, data: dict[str, str]) -> ResourcePrice:
        return cls(parse_felt(data["price_in_wei"], "price_in_wei"), parse_felt(data["price_in_fri"], "price_in_fri"))


@dataclass(frozen=True)
class GasPrices:
    l1_gas: ResourcePrice
    l1_data_gas: ResourcePrice
    l2_gas: ResourcePrice


@dataclass(frozen=True)
class BlockContent:
    """What the generator decides for a block; the chain adds roots and hashes."""

    diff: BlockDiff
    transactions: tuple[Transaction, ...]
    gas_prices: GasPrices


@dataclass(frozen=True)
class Block:
    number: int
    block_hash: int
    parent_hash: int
    timestamp: int
    old_root: int
    new_root: int
    sequencer_address: int
    starknet_version: str
    gas_prices: GasPrices
    transactions: tuple[Transaction, ...]
    transaction_commitment: int
    state_diff_commitment: int
    diff: BlockDiff

    @property
    def transaction_hashes(self) -> list[int]:
        return [tx.transaction_hash for tx in self.transactions]

    def header_rpc_json(self) -> dict[str, Any]:
        """The header part of ``starknet_getBlockWithTxHashes`` (RPC 0.10)."""
        return {
            "status": "ACCEPTED_ON_L2",
            "block_hash": felt_hex(self.block_hash),
            "parent_hash": felt_hex(self.parent_hash),
            "block_number": self.number,
            "new_root": felt_hex(self.new_root),
            "timestamp": self.timestamp,
            "sequencer_address": felt_hex(self.sequencer_address),
            "l1_gas_price": self.gas_prices.l1_gas.to_rpc_json(),
            "l1_data_gas_price": self.gas_prices.l1_data_gas.to_rpc_json(),
            "l2_gas_price": self.gas_prices.l2_gas.to_rpc_json(),
            "l1_da_mode": "BLOB",
            "starknet_version": self.starknet_version,
            "event_commitment": felt_hex(0),
            "transaction_commitment": felt_hex(self.transaction_commitment),
            "receipt_commitment": felt_hex(self.transaction_commitment),
            "state_diff_commitment": felt_hex(self.state_diff_commitment),
            "event_count": 0,
            "transaction_count": len(self.transactions),
            "state_diff_length": self.diff.length,
        }

    def state_update(self) -> StateUpdate:
        """The block's ``starknet_getStateUpdate`` result as the shared formats model."""
        return StateUpdate(
            block_hash=self.block_hash,
            old_root=self.old_root,
            new_root=self.new_root,
            state_diff=self.diff.to_model(),
        )

    def to_record(self) -> dict[str, Any]:
        """The block as one JSON object for the on-disk block log."""
        return {
            "block_number": self.number,
            "block_hash": felt_hex(self.block_hash),
            "parent_hash": felt_hex(self.parent_hash),
            "timestamp": self.timestamp,
            "old_root": felt_hex(self.old_root),
            "new_root": felt_hex(self.new_root),
            "sequencer_address": felt_hex(self.sequencer_address),
            "starknet_version": self.starknet_version,
            "l1_gas_price": self.gas_prices.l1_gas.to_rpc_json(),
            "l1_data_gas_price": self.gas_prices.l1_data_gas.to_rpc_json(),
            "l2_gas_price": self.gas_prices.l2_gas.to_rpc_json(),
            "transactions": [tx.to_record() for tx in self.transactions],
            "state_diff": self.diff.to_rpc_json(),
        }


def seal_block(
    *,
    number: int,
    parent_hash: int,
    old_root: int,
    timestamp: int,
    sequencer_address: int,
    starknet_version: str,
    content: BlockContent,
) -> Block:
    """Compute the roots, commitments and hash of a block from its content."""
    state_diff_commitment = content.diff.digest()
    new_root = poseidon_hash(old_root, state_diff_commitment)
    transaction_commitment = poseidon_hash_many([tx.transaction_hash for tx in content.transactions])
    block_hash = poseidon_hash_many(
        [
            BLOCK_HASH_PREFIX,
            number,
            new_root,
            sequencer_address,
            timestamp,
            len(content.transactions),
            transaction_commitment,
            state_diff_commitment,
            encode_shortstring(starknet_version),
            parent_hash,
        ]
    )
    return Block(
        number=number,
        block_hash=block_hash,
        parent_hash=parent_hash,
        timestamp=timestamp,
        old_root=old_root,
        new_root=new_root,
        sequencer_address=sequencer_address,
        starknet_version=starknet_version,
        gas_prices=content.gas_prices,
        transactions=content.transactions,
        transaction_commitment=transaction_commitment,
        state_diff_commitment=state_diff_commitment,
        diff=content.diff,
    )


def block_from_record(record: dict[str, Any]) -> Block:
    """Rebuild a block from its log record, recomputing (and so checking) its hash."""
    content = BlockContent(
        diff=BlockDiff.from_rpc_json(record["state_diff"]),
        transactions=tuple(Transaction.from_record(t) for t in record["transactions"]),
        gas_prices=GasPrices(
            l1_gas=ResourcePrice.from_rpc_json(record["l1_gas_price"]),
            l1_data_gas=ResourcePrice.from_rpc_json(record["l1_data_gas_price"]),
            l2_gas=ResourcePrice.from_rpc_json(record["l2_gas_price"]),
        ),
    )
    block = seal_block(
        number=int(record["block_number"]),
        parent_hash=parse_felt(record["parent_hash"], "parent_hash"),
        old_root=parse_felt(record["old_root"], "old_root"),
        timestamp=int(record["timestamp"]),
        sequencer_address=parse_felt(record["sequencer_address"], "sequencer_address"),
        starknet_version=str(record["starknet_version"]),
        content=content,
    )
    if block.block_hash != parse_felt(record["block_hash"], "block_hash"):
        raise OrchestratorError(
            f"block {block.number} in the block log does not hash to its recorded block_hash "
            f"{record['block_hash']}: the log is corrupt"
        )
    return block


K = TypeVar("K", bound=Hashable)


class _History(Generic[K]):
    """Values per key with the block number that set each, for point-in-time reads.

    Most storage slots are written once (a large block adds thousands), so a key
    written once is kept as one ``(block, value)`` tuple; a key written again
    becomes a list of two parallel lists (blocks, values) searched by bisection.
    """

    def __init__(self) -> None:
        self._entries: dict[K, tuple[int, int] | list[list[int]]] = {}

    def set(self, key: K, block_number: int, value: int) -> None:
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = (block_number, value)
        elif isinstance(entry, tuple):
            first_block, first_value = entry
            if first_block == block_number:
                self._entries[key] = (block_number, value)
            else:
                self._entries[key] = [[first_block, block_number], [first_value, value]]
        else:
            blocks, values = entry
            if blocks[-1] == block_number:
                values[-1] = value
            else:
                blocks.append(block_number)
                values.append(value)

    def at(self, key: K, block_number: int) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if isinstance(entry, tuple):
            return entry[1] if entry[0] <= block_number else None
        blocks, values = entry
        i = bisect_right(blocks, block_number)
        return values[i - 1] if i else None

    def latest(self, key: K) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        return entry[1] if isinstance(entry, tuple) else entry[1][-1]


class ChainState:
    """Blocks in order plus the state history they build; safe to read from many threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._blocks: list[Block] = []
        self._by_hash: dict[int, int] = {}
        self._storage: dict[int, _History[int]] = {}
        self._nonces: _History[int] = _History()
        self._class_hashes: _History[int] = _History()
        self._contracts: dict[int, int] = {}
        self._declared: dict[int, int] = {}
        self._deprecated_declared: list[int] = []
        self._transactions: dict[int, tuple[int, int]] = {}
        self._l1_handlers: dict[int, list[int]] = {}
        self._l1_nonces: set[int] = set()
        self._last_l1_block = -1

    @property
    def head(self) -> int:
        """The latest block number, -1 before genesis."""
        with self._lock:
            return len(self._blocks) - 1

    def latest(self) -> Block:
        with self._lock:
            if not self._blocks:
                raise OrchestratorError("the chain has no blocks yet")
            return self._blocks[-1]

    def block(self, number: int) -> Block | None:
        with self._lock:
            return self._blocks[number] if 0 <= number < len(self._blocks) else None

    def block_by_hash(self, block_hash: int) -> Block | None:
        with self._lock:
            number = self._by_hash.get(block_hash)
            return None if number is None else self._blocks[number]

    def append(self, block: Block) -> None:
        """Add the next block and fold its diff into the state history."""
        with self._lock:
            expected_parent = self._blocks[-1].block_hash if self._blocks else 0
            expected_root = self._blocks[-1].new_root if self._blocks else 0
            if block.number != len(self._blocks):
                raise OrchestratorError(f"block {block.number} appended at height {len(self._blocks)}")
            if block.parent_hash != expected_parent or block.old_root != expected_root:
                raise OrchestratorError(
                    f"block {block.number} does not extend the chain: parent hash or old root mismatch"
                )
            n = block.number
            diff = block.diff
            for address, class_hash in diff.deployed.items():
                self._class_hashes.set(address, n, class_hash)
                self._contracts[address] = class_hash
            for address, class_hash in diff.replaced.items():
                self._class_hashes.set(address, n, class_hash)
                self._contracts[address] = class_hash
            for address, entries in diff.storage.items():
                slots = self._storage.setdefault(address, _History())
                for key, value in entries.items():
                    slots.set(key, n, value)
            for address, nonce in diff.nonces.items():
                self._nonces.set(address, n, nonce)
            self._declared.update(diff.declared)
            self._deprecated_declared.extend(diff.deprecated_declared)
            for index, tx in enumerate(block.transactions):
                self._transactions[tx.transaction_hash] = (n, index)
                if tx.kind == L1_HANDLER and tx.l1_transaction_hash is not None:
                    self._l1_handlers.setdefault(tx.l1_transaction_hash, []).append(tx.transaction_hash)
                    self._l1_nonces.add(tx.nonce)
                    self._last_l1_block = max(self._last_l1_block, tx.l1_block_number or 0)
            self._blocks.append(block)
            self._by_hash[block.block_hash] = n

    def transaction(self, tx_hash: int) -> tuple[Block, Transaction] | None:
        """The block holding the transaction and the transaction, None if no block has it."""
        with self._lock:
            where = self._transactions.get(tx_hash)
            if where is None:
                return None
            block = self._blocks[where[0]]
            return block, block.transactions[where[1]]

    def l1_handlers_of(self, l1_tx_hash: int) -> list[tuple[Block, Transaction]]:
        """The L1 handlers executing the messages one L1 transaction sent, in inclusion order."""
        with self._lock:
            found = [self.transaction(h) for h in self._l1_handlers.get(l1_tx_hash, [])]
            return [item for item in found if item is not None]

    def has_l1_message(self, nonce: int) -> bool:
        """Whether the L1->L2 message with this nonce is already executed on this chain."""
        with self._lock:
            return nonce in self._l1_nonces

    @property
    def last_l1_block(self) -> int:
        """The highest L1 block an included message came from (-1: none yet): where watching resumes."""
        with self._lock:
            return self._last_l1_block

    def class_hash_at(self, address: int, block_number: int) -> int | None:
        """The contract's class hash at that block, None if it was not deployed yet."""
        with self._lock:
            return self._class_hashes.at(address, block_number)

    def nonce_at(self, address: int, block_number: int) -> int | None:
        """The contract's nonce at that block (0 if never set), None if not deployed."""
        with self._lock:
            if self._class_hashes.at(address, block_number) is None:
                return None
            return self._nonces.at(address, block_number) or 0

    def storage_at(self, address: int, key: int, block_number: int) -> int | None:
        """The storage value at that block (0 if never written), None if not deployed."""
        with self._lock:
            if self._class_hashes.at(address, block_number) is None:
                return None
            slots = self._storage.get(address)
            return (slots.at(key, block_number) if slots else None) or 0

    def latest_storage(self, address: int, key: int) -> int:
        with self._lock:
            slots = self._storage.get(address)
            return (slots.latest(key) if slots else None) or 0

    def latest_nonce(self, address: int) -> int:
        with self._lock:
            return self._nonces.latest(address) or 0

    def contracts(self) -> dict[int, int]:
        """Every deployed contract with its current class hash, in deployment order."""
        with self._lock:
            return dict(self._contracts)

    def declared_classes(self) -> dict[int, int]:
        """Declared Cairo 1 classes: class hash -> compiled class hash, in declaration order."""
        with self._lock:
            return dict(self._declared)

    def deprecated_declared_classes(self) -> list[int]:
        with self._lock:
            return list(self._deprecated_declared)
