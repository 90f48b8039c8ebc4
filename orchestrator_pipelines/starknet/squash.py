"""Merge the state diffs of consecutive blocks into one diff for a batch.

A batch settles several blocks with one OS run and one DA payload, so what
goes on L1 is the net change over the batch, not each block's change: a slot
written in three blocks is published once with its final value, and a slot
that ends where it started need not be published at all.
"""

from __future__ import annotations

from typing import Callable, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.state_update import (
    ContractStorageDiff,
    DeclaredClass,
    DeployedContract,
    NonceUpdate,
    ReplacedClass,
    StateDiff,
    StateUpdate,
    StorageEntry,
)

# pre_state(address, key) -> the storage value before the first block of the batch.
PreState = Callable[[int, int], int]


def check_chained(updates: Sequence[StateUpdate]) -> None:
    """Raise unless each update starts from the root the previous one ended at."""
    for index in range(1, len(updates)):
        previous, current = updates[index - 1], updates[index]
        if current.old_root != previous.new_root:
            raise InvalidInputError(
                f"state update #{index} (block_hash {hex(current.block_hash)}): old_root "
                f"{hex(current.old_root)} does not follow new_root {hex(previous.new_root)} of "
                f"update #{index - 1}: the blocks are not consecutive"
            )


def squash_state_updates(
    updates: Sequence[StateUpdate],
    pre_state: PreState | None = None,
) -> StateDiff:
    """The net state diff of consecutive blocks, sorted deterministically.

    Storage: last write wins; with ``pre_state``, writes whose final value
    equals the value before the batch are dropped. Nonces and class hashes:
    the value set by the last block that set them. A contract deployed in the
    batch and later replaced is reported as deployed with its final class.
    Declared classes are unioned (a later block's compiled class hash wins), and
    so are 0.14.1's migrated compiled classes.
    """
    check_chained(updates)

    storage: dict[int, dict[int, int]] = {}
    nonces: dict[int, int] = {}
    deployed: dict[int, int] = {}
    replaced: dict[int, int] = {}
    declared: dict[int, int] = {}
    migrated: dict[int, int] = {}
    deprecated: set[int] = set()

    for update in updates:
        diff = update.state_diff
        for contract in diff.storage_diffs:
            slots = storage.setdefault(contract.address, {})
            for entry in contract.storage_entries:
                slots[entry.key] = entry.value
        for nonce in diff.nonces:
            nonces[nonce.contract_address] = nonce.nonce
        for deployment in diff.deployed_contracts:
            deployed[deployment.address] = deployment.class_hash
            replaced.pop(deployment.address, None)
        for replacement in diff.replaced_classes:
            if replacement.contract_address in deployed:
                deployed[replacement.contract_address] = replacement.class_hash
            else:
                replaced[replacement.contract_address] = replacement.class_hash
        for declaration in diff.declared_classes:
            declared[declaration.class_hash] = declaration.compiled_class_hash
        for migration in diff.migrated_compiled_classes:
            migrated[migration.class_hash] = migration.compiled_class_hash
        deprecated.update(diff.deprecated_declared_classes)

    storage_diffs = []
    for address in sorted(storage):
        slots = storage[address]
        entries = [
            StorageEntry(key=key, value=value)
            for key, value in sorted(slots.items())
            if pre_state is None or pre_state(address, key) != value
        ]
        if entries:
            storage_diffs.append(ContractStorageDiff(address=address, storage_entries=entries))

    return StateDiff(
        storage_diffs=storage_diffs,
        nonces=[NonceUpdate(contract_address=a, nonce=n) for a, n in sorted(nonces.items())],
        deployed_contracts=[DeployedContract(address=a, class_hash=h) for a, h in sorted(deployed.items())],
        declared_classes=[
            DeclaredClass(class_hash=h, compiled_class_hash=c) for h, c in sorted(declared.items())
        ],
        deprecated_declared_classes=sorted(deprecated),
        replaced_classes=[ReplacedClass(contract_address=a, class_hash=h) for a, h in sorted(replaced.items())],
        migrated_compiled_classes=[
            DeclaredClass(class_hash=h, compiled_class_hash=c) for h, c in sorted(migrated.items())
        ],
    )
