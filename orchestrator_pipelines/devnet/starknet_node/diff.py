"""The state diff of one block as the node keeps it, and its JSON-RPC form.

The node keeps diffs as plain dicts (address -> key -> value) because the generator
builds them write by write and the chain state replays them into its history; the
JSON-RPC shape (``starknet_getStateUpdate``'s ``state_diff``) is produced only at
the edge, sorted by address and key like real nodes answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

FELT_MASK_250 = (1 << 250) - 1


def felt_hex(value: int) -> str:
    return hex(value)


def parse_felt(value: Any, where: str) -> int:
    """A felt from its JSON-RPC form (0x-prefixed hex); ValueError names ``where``."""
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a 0x-prefixed hex felt, got {value!r}")


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

    def to_rpc_json(self) -> dict[str, Any]:
        return {
            "storage_diffs": [
                {
                    "address": felt_hex(address),
                    "storage_entries": [
                        {"key": felt_hex(key), "value": felt_hex(entries[key])}
                        for key in sorted(entries)
                    ],
                }
                for address, entries in sorted(self.storage.items())
            ],
            "nonces": [
                {"contract_address": felt_hex(a), "nonce": felt_hex(n)}
                for a, n in sorted(self.nonces.items())
            ],
            "deployed_contracts": [
                {"address": felt_hex(a), "class_hash": felt_hex(c)}
                for a, c in sorted(self.deployed.items())
            ],
            "declared_classes": [
                {"class_hash": felt_hex(c), "compiled_class_hash": felt_hex(cc)}
                for c, cc in sorted(self.declared.items())
            ],
            "deprecated_declared_classes": [felt_hex(c) for c in sorted(self.deprecated_declared)],
            "replaced_classes": [
                {"contract_address": felt_hex(a), "class_hash": felt_hex(c)}
                for a, c in sorted(self.replaced.items())
            ],
        }

    @classmethod
    def from_rpc_json(cls, data: dict[str, Any]) -> BlockDiff:
        diff = cls()
        for item in data["storage_diffs"]:
            address = parse_felt(item["address"], "storage_diffs.address")
            for entry in item["storage_entries"]:
                diff.write(
                    address,
                    parse_felt(entry["key"], "storage_entries.key"),
                    parse_felt(entry["value"], "storage_entries.value"),
                )
        for item in data["nonces"]:
            diff.nonces[parse_felt(item["contract_address"], "nonces.contract_address")] = parse_felt(
                item["nonce"], "nonces.nonce"
            )
        for item in data["deployed_contracts"]:
            diff.deployed[parse_felt(item["address"], "deployed_contracts.address")] = parse_felt(
                item["class_hash"], "deployed_contracts.class_hash"
            )
        for item in data["declared_classes"]:
            diff.declared[parse_felt(item["class_hash"], "declared_classes.class_hash")] = parse_felt(
                item["compiled_class_hash"], "declared_classes.compiled_class_hash"
            )
        diff.deprecated_declared = [
            parse_felt(c, "deprecated_declared_classes") for c in data["deprecated_declared_classes"]
        ]
        for item in data["replaced_classes"]:
            diff.replaced[parse_felt(item["contract_address"], "replaced_classes.contract_address")] = (
                parse_felt(item["class_hash"], "replaced_classes.class_hash")
            )
        return diff
