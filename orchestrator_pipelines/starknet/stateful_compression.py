"""Starknet 0.13.4+ stateful compression: contract addresses and storage keys replaced by aliases.

Since 0.13.4 the OS does not publish a 251-bit address or storage key twice across the
chain's life: the first time a key is written it is given a short *alias*, recorded in
the storage of the alias contract (``0x2``: key -> alias, the next free alias at key 0),
and the DA carries the alias instead. The rules (cairo-lang
``starknet/core/os/state/aliases.cairo``):

- contracts at addresses up to :data:`MAX_NON_COMPRESSED_CONTRACT_ADDRESS` (15: the
  block-hash and alias contracts among them) are published as they are, keys included;
- keys and addresses below :data:`MIN_VALUE_FOR_ALIAS_ALLOC` (128) are their own alias;
- for every modified contract, by ascending address: each written storage key (ascending),
  then the contract's address, gets the existing alias or the next free one;
- the counter starts at :data:`INITIAL_AVAILABLE_ALIAS` (128) the first time.

The OS allocates block by block, so the aliases a range's diff needs come from the
blocks' own writes to ``0x2`` and, for keys aliased before the range, from ``0x2``'s
storage before the range (read through a callable, e.g. ``starknet_getStorageAt`` at
the block before the range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import felt_hex
from orchestrator_pipelines.starknet.state_update import (
    ContractStorageDiff,
    DeployedContract,
    NonceUpdate,
    ReplacedClass,
    StateDiff,
    StorageEntry,
)

ALIAS_CONTRACT_ADDRESS = 2
ALIAS_COUNTER_STORAGE_KEY = 0
MAX_NON_COMPRESSED_CONTRACT_ADDRESS = 15
MIN_VALUE_FOR_ALIAS_ALLOC = 128
INITIAL_AVAILABLE_ALIAS = MIN_VALUE_FOR_ALIAS_ALLOC

# read_alias(key) -> the value of the alias contract's storage at ``key`` before the range
# (0 when the key has no alias yet; at key 0, the next free alias, 0 before the first).
AliasReader = Callable[[int], int]


@dataclass
class AliasTable:
    """The aliases a range uses: what existed before it, and what it allocated."""

    read_before: AliasReader
    counter_before: int = 0
    next_alias: int = 0
    allocated: dict[int, int] = field(default_factory=dict)
    known: dict[int, int] = field(default_factory=dict)

    @classmethod
    def start(cls, read_before: AliasReader) -> AliasTable:
        counter = _read(read_before, ALIAS_COUNTER_STORAGE_KEY)
        return cls(read_before=read_before, counter_before=counter, next_alias=counter or INITIAL_AVAILABLE_ALIAS)

    def alias_of(self, key: int) -> int:
        """The alias of ``key``, allocating the next free one if it has none."""
        if key < MIN_VALUE_FOR_ALIAS_ALLOC:
            return key
        alias = self.known.get(key)
        if alias is None:
            alias = _read(self.read_before, key)
            if alias == 0:
                alias = self.next_alias
                self.next_alias += 1
                self.allocated[key] = alias
            self.known[key] = alias
        return alias

    def lookup(self, key: int) -> int:
        """The alias of a key that must already have one (the replacement phase)."""
        if key < MIN_VALUE_FOR_ALIAS_ALLOC:
            return key
        if key not in self.known:
            raise InvalidInputError(f"stateful compression: key {felt_hex(key)} was never given an alias")
        return self.known[key]

    def storage_writes(self) -> dict[int, int]:
        """The writes to the alias contract: new aliases and the counter (if it moved)."""
        writes = dict(self.allocated)
        if self.next_alias != self.counter_before:
            writes[ALIAS_COUNTER_STORAGE_KEY] = self.next_alias
        return writes


def _read(reader: AliasReader, key: int) -> int:
    value = reader(key)
    if not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"alias contract storage at {felt_hex(key)}: not a felt: {value!r}")
    return value


def modified_contracts(diff: StateDiff) -> list[int]:
    """Contracts with something to publish, ascending (the alias contract's own writes aside)."""
    addresses = {d.address for d in diff.storage_diffs if d.storage_entries}
    addresses |= {n.contract_address for n in diff.nonces}
    addresses |= {d.address for d in diff.deployed_contracts}
    addresses |= {r.contract_address for r in diff.replaced_classes}
    addresses.discard(ALIAS_CONTRACT_ADDRESS)
    return sorted(addresses)


def _storage_keys(diff: StateDiff) -> dict[int, list[int]]:
    keys: dict[int, set[int]] = {}
    for contract in diff.storage_diffs:
        keys.setdefault(contract.address, set()).update(e.key for e in contract.storage_entries)
    return {address: sorted(values) for address, values in keys.items()}


def allocate_block(table: AliasTable, diff: StateDiff) -> None:
    """Allocate the aliases one block's diff needs, in the OS's order."""
    keys = _storage_keys(diff)
    for address in modified_contracts(diff):
        if address <= MAX_NON_COMPRESSED_CONTRACT_ADDRESS:
            continue
        for key in keys.get(address, ()):
            table.alias_of(key)
        table.alias_of(address)


def allocate_range(block_diffs: Iterable[StateDiff], read_before: AliasReader) -> AliasTable:
    """The alias table after the blocks of a range, allocated block by block as the OS does."""
    table = AliasTable.start(read_before)
    for diff in block_diffs:
        allocate_block(table, diff)
    return table


def check_alias_writes(diff: StateDiff, table: AliasTable) -> None:
    """Refuse a squashed diff whose writes to ``0x2`` are not the aliases the rules allocate."""
    written = {
        e.key: e.value
        for d in diff.storage_diffs
        if d.address == ALIAS_CONTRACT_ADDRESS
        for e in d.storage_entries
    }
    expected = table.storage_writes()
    for key in sorted(set(written) | set(expected)):
        if written.get(key) != expected.get(key):
            got = "nothing" if key not in written else felt_hex(written[key])
            want = "nothing" if key not in expected else felt_hex(expected[key])
            raise InvalidInputError(
                f"stateful compression: the diff writes {got} to alias contract key {felt_hex(key)}, "
                f"the alias rules give {want}"
            )


def with_alias_writes(diff: StateDiff, table: AliasTable) -> StateDiff:
    """``diff`` with the alias contract's writes set to exactly those of ``table``."""
    writes = table.storage_writes()
    others = [d for d in diff.storage_diffs if d.address != ALIAS_CONTRACT_ADDRESS]
    if writes:
        others.append(
            ContractStorageDiff(
                address=ALIAS_CONTRACT_ADDRESS,
                storage_entries=[StorageEntry(key=k, value=v) for k, v in sorted(writes.items())],
            )
        )
    return diff.model_copy(update={"storage_diffs": sorted(others, key=lambda d: d.address)})


def replace_aliases(diff: StateDiff, table: AliasTable) -> StateDiff:
    """The diff as the DA publishes it: addresses and storage keys replaced by their aliases.

    Contracts up to address 15 keep their keys; class hashes and values are never aliased.
    The result is sorted by (aliased) address and key, the order the DA encoding uses.
    """

    def address(value: int) -> int:
        return value if value <= MAX_NON_COMPRESSED_CONTRACT_ADDRESS else table.lookup(value)

    storage_diffs = []
    for contract in diff.storage_diffs:
        skip = contract.address <= MAX_NON_COMPRESSED_CONTRACT_ADDRESS
        entries = [
            StorageEntry(key=e.key if skip else table.lookup(e.key), value=e.value) for e in contract.storage_entries
        ]
        storage_diffs.append(
            ContractStorageDiff(address=address(contract.address), storage_entries=sorted(entries, key=lambda e: e.key))
        )
    return diff.model_copy(
        update={
            "storage_diffs": sorted(storage_diffs, key=lambda d: d.address),
            "nonces": sorted(
                (NonceUpdate(contract_address=address(n.contract_address), nonce=n.nonce) for n in diff.nonces),
                key=lambda n: n.contract_address,
            ),
            "deployed_contracts": sorted(
                (DeployedContract(address=address(d.address), class_hash=d.class_hash) for d in diff.deployed_contracts),
                key=lambda d: d.address,
            ),
            "replaced_classes": sorted(
                (
                    ReplacedClass(contract_address=address(r.contract_address), class_hash=r.class_hash)
                    for r in diff.replaced_classes
                ),
                key=lambda r: r.contract_address,
            ),
        }
    )


def stateful_compress(
    squashed: StateDiff,
    block_diffs: Sequence[StateDiff],
    read_before: AliasReader,
    require_alias_writes: bool = False,
) -> StateDiff:
    """The range's squashed diff after stateful compression, as a 0.13.4+ OS publishes it.

    ``block_diffs`` are the range's blocks, in order (the OS allocates per block);
    ``read_before`` reads the alias contract before the range. If the squashed diff
    already carries writes to ``0x2`` (a node that runs the same rules writes them),
    they must be the ones the rules give; otherwise (or with ``require_alias_writes``
    false and none present) they are added.
    """
    table = allocate_range(block_diffs, read_before)
    has_writes = any(d.address == ALIAS_CONTRACT_ADDRESS and d.storage_entries for d in squashed.storage_diffs)
    if has_writes or require_alias_writes:
        check_alias_writes(squashed, table)
    else:
        squashed = with_alias_writes(squashed, table)
    # Keys written only in the squashed diff (not in any block) still need an alias.
    allocate_block(table, squashed)
    return replace_aliases(squashed, table)
