"""The state diff of one block as the node keeps it, and its JSON-RPC form.

The node keeps diffs as plain dicts (address -> key -> value) because the generator
builds them write by write and the chain state replays them into its history; at
the edge they become the shared ``StateDiff`` model, whose JSON-RPC form the node
serves and writes to its block log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from orchestrator_pipelines.starknet.state_update import (
    ContractStorageDiff,
    DeclaredClass,
    DeployedContract,
    NonceUpdate,
    ReplacedClass,
    StateDiff,
    StorageEntry,
)

FELT_MASK_250 = (1 << 250) - 1


@dataclass
class BlockDiff:
    """Everything one block changed: storage, nonces, deployments, declarations, replacements."""

    storage: dict[int, dict[int, int]] = field(default_factory=dict)
    nonces: dict[int, int] = field(default_factory=dict)
    deployed: dict[int, int] = field(default_factory=dict)
    declared: dict[int, int] = field(default_factory=dict)
    deprecated_declared: list[int] = field(default_factory=list)
    replaced: dict[int, int] = field(default_factory=dict)

    def write(self, address: int, key: int, value: int) -> None:
        self.storage.setdefault(address, {})[key] = value

    @property
    def storage_write_count(self) -> int:
        return sum(len(entries) for entries in self.storage.values())

    @property
    def length(self) -> int:
        """The spec's ``state_diff_length``: the number of individual updates."""
        return (
            self.storage_write_count
            + len(self.nonces)
            + len(self.deployed)
            + len(self.declared)
            + len(self.deprecated_declared)
            + len(self.replaced)
        )

    def digest(self) -> int:
        """A 250-bit hash of the canonical (sorted) diff.

        Blake2s rather than Poseidon: a large block has thousands of writes and the
        pure-Python Poseidon costs about 40 µs a felt. The value only has to bind
        the root and the block hash to the diff; it is not a Starknet commitment.
        """
        h = hashlib.blake2s(digest_size=32)
        for section in self._canonical_sections():
            h.update(len(section).to_bytes(8, "big"))
            for felt in section:
                h.update(felt.to_bytes(32, "big"))
        return int.from_bytes(h.digest(), "big") & FELT_MASK_250

    def _canonical_sections(self) -> list[list[int]]:
        storage: list[int] = []
        for address in sorted(self.storage):
            entries = self.storage[address]
            storage.append(address)
            storage.append(len(entries))
            for key in sorted(entries):
                storage += [key, entries[key]]
        return [
            storage,
            [x for a in sorted(self.nonces) for x in (a, self.nonces[a])],
            [x for a in sorted(self.deployed) for x in (a, self.deployed[a])],
            [x for c in sorted(self.declared) for x in (c, self.declared[c])],
            sorted(self.deprecated_declared),
            [x for a in sorted(self.replaced) for x in (a, self.replaced[a])],
        ]

    def to_model(self) -> StateDiff:
        """The diff as the shared formats model, sorted by address and key like real nodes answer."""
        return StateDiff(
            storage_diffs=[
                ContractStorageDiff(
                    address=address,
                    storage_entries=[StorageEntry(key=k, value=entries[k]) for k in sorted(entries)],
                )
                for address, entries in sorted(self.storage.items())
            ],
            nonces=[NonceUpdate(contract_address=a, nonce=n) for a, n in sorted(self.nonces.items())],
            deployed_contracts=[DeployedContract(address=a, class_hash=c) for a, c in sorted(self.deployed.items())],
            declared_classes=[
                DeclaredClass(class_hash=c, compiled_class_hash=cc) for c, cc in sorted(self.declared.items())
            ],
            deprecated_declared_classes=sorted(self.deprecated_declared),
            replaced_classes=[
                ReplacedClass(contract_address=a, class_hash=c) for a, c in sorted(self.replaced.items())
            ],
        )

    @classmethod
    def from_model(cls, model: StateDiff) -> BlockDiff:
        diff = cls()
        for item in model.storage_diffs:
            entries = diff.storage.setdefault(item.address, {})
            for entry in item.storage_entries:
                entries[entry.key] = entry.value
        diff.nonces = {n.contract_address: n.nonce for n in model.nonces}
        diff.deployed = {d.address: d.class_hash for d in model.deployed_contracts}
        diff.declared = {d.class_hash: d.compiled_class_hash for d in model.declared_classes}
        diff.deprecated_declared = list(model.deprecated_declared_classes)
        diff.replaced = {r.contract_address: r.class_hash for r in model.replaced_classes}
        return diff

    def to_rpc_json(self) -> dict[str, Any]:
        return self.to_model().to_rpc_json()

    @classmethod
    def from_rpc_json(cls, data: dict[str, Any]) -> BlockDiff:
        return cls.from_model(StateDiff.parse(data))
