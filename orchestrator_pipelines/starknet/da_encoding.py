"""The Starknet data-availability encoding of a state diff as felts.

These felts are what the Starknet OS publishes (and commits to with KZG), so
the encoding must match the OS of the Starknet version being settled:

    [n_contracts,
     per contract, by ascending address:
        address, header word, [class_hash if the class changed],
        (key, value) per storage write, by ascending key,
     n_declared_classes,
     (class_hash, compiled_class_hash) per declared class, by ascending hash]

From 0.14.1 the classes whose compiled class hash was migrated (SNIP-34,
``migrated_compiled_classes``) are listed with the declared classes.

The header word packs the contract's counters and changed in 0.13.3:

* before 0.13.3: ``class_flag << 128 | nonce << 64 | n_updates``, where nonce
  is the contract's current nonce (changed or not);
* 0.13.3 and later: ``((nonce * B + n_updates) * 2 + is_small) * 2 + class_flag``
  with ``is_small = n_updates < 256`` and ``B = 2**8`` if small else ``2**64``;
  nonce is the new nonce if it changed in the diff and 0 otherwise. From
  0.13.3 the felts are then compressed (see :mod:`compression`).

Contracts with nothing to publish (no storage write, no class change, no
nonce change) are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.compression import compress, decompress
from orchestrator_pipelines.starknet.felt import STARK_PRIME, felt_hex
from orchestrator_pipelines.starknet.state_update import StateDiff

# Where the current nonce of a contract comes from: a mapping address -> nonce,
# or a function (e.g. a starknet_getNonce call at the batch's last block).
NonceSource = Union[Mapping[int, int], Callable[[int], int], None]

COMPRESSION_SINCE = (0, 13, 3)
# System contracts (block hashes at 0x1, address aliases at 0x2) have no nonce.
SYSTEM_CONTRACTS = frozenset({1, 2})

LEGACY_NONCE_BOUND = 2**64
LEGACY_N_UPDATES_BOUND = 2**64
NONCE_BOUND = 2**64
N_UPDATES_BOUND = 2**64
N_UPDATES_SMALL_BOUND = 2**8

_VERSION = re.compile(r"^v?(\d+(?:\.\d+){1,3})$")


def parse_starknet_version(version: str) -> tuple[int, ...]:
    """"0.13.2.1" -> (0, 13, 2, 1); raises InvalidInputError on anything else."""
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if match is None:
        raise InvalidInputError(f"starknet version: expected digits and dots like '0.13.3', got {version!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def uses_compression(starknet_version: str) -> bool:
    """True when the OS of this version compresses its DA (0.13.3 and later)."""
    return _is_new_layout(starknet_version)


def _is_new_layout(starknet_version: str) -> bool:
    return parse_starknet_version(starknet_version) >= COMPRESSION_SINCE


@dataclass(frozen=True)
class DaContractUpdate:
    """One contract's entry in the DA data."""

    address: int
    nonce: int
    class_hash: int | None
    storage: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "address": felt_hex(self.address),
            "nonce": felt_hex(self.nonce),
            "class_hash": None if self.class_hash is None else felt_hex(self.class_hash),
            "storage": [{"key": felt_hex(k), "value": felt_hex(v)} for k, v in self.storage],
        }


@dataclass(frozen=True)
class DaStateDiff:
    """The DA view of a state diff: exactly what the felts say, nothing more."""

    contracts: tuple[DaContractUpdate, ...]
    declared_classes: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "contracts": [contract.to_json() for contract in self.contracts],
            "declared_classes": [
                {"class_hash": felt_hex(h), "compiled_class_hash": felt_hex(c)} for h, c in self.declared_classes
            ],
        }


def _nonce_lookup(source: NonceSource) -> Callable[[int], int] | None:
    if source is None or callable(source):
        return source
    mapping = source

    def lookup(address: int) -> int:
        if address in mapping:
            return mapping[address]
        if address in SYSTEM_CONTRACTS:
            return 0
        raise InvalidInputError(f"nonces: no nonce given for contract {felt_hex(address)}")

    return lookup


def da_state_diff(diff: StateDiff, nonces: NonceSource, starknet_version: str) -> DaStateDiff:
    """Select and order what the DA data of ``diff`` contains for this version."""
    new_layout = _is_new_layout(starknet_version)
    lookup = _nonce_lookup(nonces)

    storage: dict[int, dict[int, int]] = {}
    for contract in diff.storage_diffs:
        slots = storage.setdefault(contract.address, {})
        for entry in contract.storage_entries:
            slots[entry.key] = entry.value
    changed_nonces = {n.contract_address: n.nonce for n in diff.nonces}
    deployed = {d.address: d.class_hash for d in diff.deployed_contracts}
    class_hashes = {r.contract_address: r.class_hash for r in diff.replaced_classes}
    class_hashes.update(deployed)

    addresses = {a for a, slots in storage.items() if slots} | set(changed_nonces) | set(class_hashes)
    contracts = []
    for address in sorted(addresses):
        if address in changed_nonces:
            nonce = changed_nonces[address]
        elif new_layout or address in deployed:
            nonce = 0
        elif lookup is None:
            raise InvalidInputError(
                f"nonces: the pre-0.13.3 encoding needs the current nonce of contract {felt_hex(address)}"
            )
        else:
            nonce = lookup(address)
        if not 0 <= nonce < NONCE_BOUND:
            raise InvalidInputError(f"nonce of contract {felt_hex(address)} does not fit in 64 bits: {nonce}")
        slots = storage.get(address, {})
        contracts.append(
            DaContractUpdate(
                address=address,
                nonce=nonce,
                class_hash=class_hashes.get(address),
                storage=tuple(sorted(slots.items())),
            )
        )
    # 0.14.1 migrations set a compiled class hash as a declaration does; the DA lists both.
    declared = {d.class_hash: d.compiled_class_hash for d in diff.migrated_compiled_classes}
    declared.update({d.class_hash: d.compiled_class_hash for d in diff.declared_classes})
    return DaStateDiff(contracts=tuple(contracts), declared_classes=tuple(sorted(declared.items())))


def header_word(contract: DaContractUpdate, new_layout: bool) -> int:
    """The packed (class flag, nonce, number of updates) word of one contract."""
    n_updates = len(contract.storage)
    class_flag = int(contract.class_hash is not None)
    if not new_layout:
        return class_flag << 128 | contract.nonce << 64 | n_updates
    is_small = n_updates < N_UPDATES_SMALL_BOUND
    bound = N_UPDATES_SMALL_BOUND if is_small else N_UPDATES_BOUND
    return ((contract.nonce * bound + n_updates) * 2 + int(is_small)) * 2 + class_flag


def encode_da_state_diff(da: DaStateDiff, starknet_version: str) -> list[int]:
    """The uncompressed DA felts of an already selected :class:`DaStateDiff`."""
    new_layout = _is_new_layout(starknet_version)
    felts = [len(da.contracts)]
    for contract in da.contracts:
        felts += [contract.address, header_word(contract, new_layout)]
        if contract.class_hash is not None:
            felts.append(contract.class_hash)
        for key, value in contract.storage:
            felts += [key, value]
    felts.append(len(da.declared_classes))
    for class_hash, compiled_class_hash in da.declared_classes:
        felts += [class_hash, compiled_class_hash]
    return felts


def encode_state_diff(diff: StateDiff, nonces: NonceSource, starknet_version: str) -> list[int]:
    """The uncompressed DA felts of a (squashed) state diff.

    ``nonces`` gives the current nonce of a contract; the pre-0.13.3 layout
    needs it for every contract whose nonce did not change in the diff. The
    0.13.3+ layout publishes only changed nonces and does not consult it.
    """
    return encode_da_state_diff(da_state_diff(diff, nonces, starknet_version), starknet_version)


def da_felts(diff: StateDiff, nonces: NonceSource, starknet_version: str) -> list[int]:
    """The felts that go into the blobs: encoded, and compressed from 0.13.3."""
    felts = encode_state_diff(diff, nonces, starknet_version)
    return compress(felts) if uses_compression(starknet_version) else felts


def _split_header(word: int, new_layout: bool, where: str) -> tuple[bool, int, int]:
    if not new_layout:
        if word >> 129:
            raise InvalidInputError(f"{where}: header word {hex(word)} has bits above bit 128")
        return bool(word >> 128 & 1), word >> 64 & (LEGACY_NONCE_BOUND - 1), word & (LEGACY_N_UPDATES_BOUND - 1)
    class_flag = word & 1
    is_small = word >> 1 & 1
    bound = N_UPDATES_SMALL_BOUND if is_small else N_UPDATES_BOUND
    nonce, n_updates = divmod(word >> 2, bound)
    return bool(class_flag), nonce, n_updates


def decode_state_diff(felts: Sequence[int], starknet_version: str) -> DaStateDiff:
    """Parse uncompressed DA felts back into a :class:`DaStateDiff`.

    Trailing felts after the payload must be zero (blob padding).
    """
    new_layout = _is_new_layout(starknet_version)
    position = 0

    def take(what: str) -> int:
        nonlocal position
        if position >= len(felts):
            raise InvalidInputError(f"DA felts truncated: expected {what} at offset {position}")
        value = felts[position]
        if not 0 <= value < STARK_PRIME:
            raise InvalidInputError(f"DA felts: {what} at offset {position} is not a felt: {value}")
        position += 1
        return value

    n_contracts = take("the number of contracts")
    if n_contracts > len(felts):
        raise InvalidInputError(f"DA felts: {n_contracts} contracts cannot fit in {len(felts)} felts")
    contracts = []
    for index in range(n_contracts):
        address = take(f"contract #{index} address")
        class_flag, nonce, n_updates = _split_header(take(f"contract #{index} header word"), new_layout, f"contract #{index}")
        class_hash = take(f"contract #{index} class hash") if class_flag else None
        if 2 * n_updates > len(felts) - position:
            raise InvalidInputError(
                f"DA felts truncated: contract #{index} ({felt_hex(address)}) announces {n_updates} storage updates"
            )
        storage = tuple((take(f"contract #{index} key"), take(f"contract #{index} value")) for _ in range(n_updates))
        contracts.append(DaContractUpdate(address=address, nonce=nonce, class_hash=class_hash, storage=storage))
    n_classes = take("the number of declared classes")
    if 2 * n_classes > len(felts) - position:
        raise InvalidInputError(f"DA felts truncated: {n_classes} declared classes announced")
    declared = tuple((take("declared class hash"), take("compiled class hash")) for _ in range(n_classes))
    for offset in range(position, len(felts)):
        if felts[offset] != 0:
            raise InvalidInputError(
                f"DA felts: non-zero felt at offset {offset} after the end of the state diff ({position} felts)"
            )
    return DaStateDiff(contracts=tuple(contracts), declared_classes=declared)


def decode_da_felts(felts: Sequence[int], starknet_version: str) -> DaStateDiff:
    """Inverse of :func:`da_felts`: decompress when the version compresses, then decode."""
    if uses_compression(starknet_version):
        felts = decompress(felts)
    return decode_state_diff(felts, starknet_version)
