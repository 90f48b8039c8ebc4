"""The OS state diff with previous values: what a ``full_output = 1`` SNOS run writes.

A SNOS run that is a child of an aggregation is run with ``full_output = 1`` and
``use_kzg_da = 0``: its output ends with the state diff *including the value before*
each change, so that the aggregator can squash several children (first previous
value, last new value) and drop what did not change over the whole range. Two
encodings of that diff exist in real outputs:

``unpacked`` (what cairo-lang 0.14.0's aggregator ``output_parser.py`` reads)::

    n_contracts, per contract:
        address, prev_nonce, new_nonce, prev_class_hash, new_class_hash, n_updates,
        (key, prev_value, new_value) per storage update
    n_classes, (class_hash, prev_compiled_class_hash, new_compiled_class_hash) per class

``packed`` (later OS versions, e.g. Atlantic's 0.14 children): the two nonces and the
update count share one word, as in the 0.13.3+ DA header::

    address, header, prev_class_hash, new_class_hash, (key, prev_value, new_value)...
    header = (((prev_nonce * 2**64 + new_nonce) * B + n_updates) * 2 + is_small) * 2 + class_flag
    is_small = n_updates < 2**8, B = 2**8 if is_small else 2**64,
    class_flag = prev_class_hash != new_class_hash

The diff that goes to L1 (``full_output = 0``) is derived from it by
:meth:`OsStateDiff.da_state_diff`: entries whose previous value equals the new one are
not published, a contract with nothing left is left out, a nonce is published only
when it changed and a class hash only when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.da_encoding import (
    N_UPDATES_BOUND,
    N_UPDATES_SMALL_BOUND,
    NONCE_BOUND,
    DaContractUpdate,
    DaStateDiff,
)
from orchestrator_pipelines.starknet.felt import STARK_PRIME, felt_hex

ENCODING_UNPACKED = "unpacked"
ENCODING_PACKED = "packed"
FULL_ENCODINGS = (ENCODING_UNPACKED, ENCODING_PACKED)


@dataclass(frozen=True)
class StorageChange:
    """One storage slot: its value before and after."""

    key: int
    prev_value: int
    new_value: int


@dataclass(frozen=True)
class ContractChange:
    """One contract's entry in a full-output state diff."""

    address: int
    prev_nonce: int
    new_nonce: int
    prev_class_hash: int
    new_class_hash: int
    storage: tuple[StorageChange, ...] = ()


@dataclass(frozen=True)
class ClassChange:
    """A class whose compiled class hash was set (declared: previous is 0) or migrated."""

    class_hash: int
    prev_compiled_class_hash: int
    new_compiled_class_hash: int


@dataclass(frozen=True)
class OsStateDiff:
    """A state diff with previous values, in the order the OS writes it."""

    contracts: tuple[ContractChange, ...] = ()
    classes: tuple[ClassChange, ...] = field(default_factory=tuple)

    def da_state_diff(self) -> DaStateDiff:
        """What the OS publishes with ``full_output = 0``: only what actually changed."""
        contracts = []
        for contract in self.contracts:
            storage = tuple((s.key, s.new_value) for s in contract.storage if s.prev_value != s.new_value)
            nonce_changed = contract.prev_nonce != contract.new_nonce
            class_changed = contract.prev_class_hash != contract.new_class_hash
            if not storage and not nonce_changed and not class_changed:
                continue
            contracts.append(
                DaContractUpdate(
                    address=contract.address,
                    nonce=contract.new_nonce if nonce_changed else 0,
                    class_hash=contract.new_class_hash if class_changed else None,
                    storage=storage,
                )
            )
        classes = tuple(
            (c.class_hash, c.new_compiled_class_hash)
            for c in self.classes
            if c.prev_compiled_class_hash != c.new_compiled_class_hash
        )
        return DaStateDiff(contracts=tuple(contracts), declared_classes=classes)

    def to_json(self) -> dict:
        return {
            "contracts": [
                {
                    "address": felt_hex(c.address),
                    "prev_nonce": felt_hex(c.prev_nonce),
                    "new_nonce": felt_hex(c.new_nonce),
                    "prev_class_hash": felt_hex(c.prev_class_hash),
                    "new_class_hash": felt_hex(c.new_class_hash),
                    "storage": [
                        {"key": felt_hex(s.key), "prev_value": felt_hex(s.prev_value), "new_value": felt_hex(s.new_value)}
                        for s in c.storage
                    ],
                }
                for c in self.contracts
            ],
            "classes": [
                {
                    "class_hash": felt_hex(c.class_hash),
                    "prev_compiled_class_hash": felt_hex(c.prev_compiled_class_hash),
                    "new_compiled_class_hash": felt_hex(c.new_compiled_class_hash),
                }
                for c in self.classes
            ],
        }


def squash_os_state_diffs(diffs: Iterable[OsStateDiff]) -> OsStateDiff:
    """The net diff of consecutive runs, as the aggregator squashes its children.

    For every contract, slot and class: the previous value of its first appearance and
    the new value of its last. Sorted by address, key and class hash (the order of a
    squashed Cairo dict). Nothing is dropped here: dropping unchanged entries is part of
    the ``full_output = 0`` encoding (:meth:`OsStateDiff.da_state_diff`).
    """
    contracts: dict[int, list] = {}
    storage: dict[int, dict[int, list[int]]] = {}
    classes: dict[int, list[int]] = {}
    for index, diff in enumerate(diffs):
        for contract in diff.contracts:
            entry = contracts.get(contract.address)
            if entry is None:
                contracts[contract.address] = [
                    contract.prev_nonce,
                    contract.new_nonce,
                    contract.prev_class_hash,
                    contract.new_class_hash,
                ]
            else:
                if (entry[1], entry[3]) != (contract.prev_nonce, contract.prev_class_hash):
                    raise InvalidInputError(
                        f"state diff #{index}: contract {felt_hex(contract.address)} starts from nonce "
                        f"{contract.prev_nonce} / class {felt_hex(contract.prev_class_hash)}, but the previous run "
                        f"ended at nonce {entry[1]} / class {felt_hex(entry[3])}"
                    )
                entry[1], entry[3] = contract.new_nonce, contract.new_class_hash
            slots = storage.setdefault(contract.address, {})
            for change in contract.storage:
                slot = slots.get(change.key)
                if slot is None:
                    slots[change.key] = [change.prev_value, change.new_value]
                else:
                    if slot[1] != change.prev_value:
                        raise InvalidInputError(
                            f"state diff #{index}: contract {felt_hex(contract.address)} key {felt_hex(change.key)} "
                            f"starts from {felt_hex(change.prev_value)}, the previous run ended at {felt_hex(slot[1])}"
                        )
                    slot[1] = change.new_value
        for change in diff.classes:
            known = classes.get(change.class_hash)
            if known is None:
                classes[change.class_hash] = [change.prev_compiled_class_hash, change.new_compiled_class_hash]
            else:
                known[1] = change.new_compiled_class_hash
    return OsStateDiff(
        contracts=tuple(
            ContractChange(
                address=address,
                prev_nonce=values[0],
                new_nonce=values[1],
                prev_class_hash=values[2],
                new_class_hash=values[3],
                storage=tuple(
                    StorageChange(key=key, prev_value=pv, new_value=nv)
                    for key, (pv, nv) in sorted(storage[address].items())
                ),
            )
            for address, values in sorted(contracts.items())
        ),
        classes=tuple(ClassChange(h, pv, nv) for h, (pv, nv) in sorted(classes.items())),
    )


def _packed_header(contract: ContractChange) -> int:
    n_updates = len(contract.storage)
    for name, value in (("prev_nonce", contract.prev_nonce), ("new_nonce", contract.new_nonce)):
        if not 0 <= value < NONCE_BOUND:
            raise InvalidInputError(f"contract {felt_hex(contract.address)}: {name} {value} does not fit in 64 bits")
    if n_updates >= N_UPDATES_BOUND:
        raise InvalidInputError(f"contract {felt_hex(contract.address)}: {n_updates} storage updates do not fit")
    is_small = n_updates < N_UPDATES_SMALL_BOUND
    bound = N_UPDATES_SMALL_BOUND if is_small else N_UPDATES_BOUND
    class_flag = int(contract.prev_class_hash != contract.new_class_hash)
    value = contract.prev_nonce * NONCE_BOUND + contract.new_nonce
    return ((value * bound + n_updates) * 2 + int(is_small)) * 2 + class_flag


def encode_full_state_diff(diff: OsStateDiff, encoding: str = ENCODING_PACKED) -> list[int]:
    """The felts of a full-output state diff in ``encoding`` (``packed`` or ``unpacked``)."""
    if encoding not in FULL_ENCODINGS:
        raise InvalidInputError(f"full state diff: unknown encoding {encoding!r} (expected {', '.join(FULL_ENCODINGS)})")
    felts = [len(diff.contracts)]
    for c in diff.contracts:
        if encoding == ENCODING_UNPACKED:
            felts += [c.address, c.prev_nonce, c.new_nonce, c.prev_class_hash, c.new_class_hash, len(c.storage)]
        else:
            felts += [c.address, _packed_header(c), c.prev_class_hash, c.new_class_hash]
        for s in c.storage:
            felts += [s.key, s.prev_value, s.new_value]
    felts.append(len(diff.classes))
    for k in diff.classes:
        felts += [k.class_hash, k.prev_compiled_class_hash, k.new_compiled_class_hash]
    for index, value in enumerate(felts):
        if not 0 <= value < STARK_PRIME:
            raise InvalidInputError(f"full state diff: word {index} ({value}) is not a felt")
    return felts


class _Words:
    def __init__(self, felts: Sequence[int], encoding: str):
        self.felts = felts
        self.encoding = encoding
        self.pos = 0

    def take(self, what: str) -> int:
        if self.pos >= len(self.felts):
            raise InvalidInputError(
                f"full state diff ({self.encoding}): truncated at word {self.pos}, expected {what}"
            )
        value = self.felts[self.pos]
        self.pos += 1
        return value

    def count(self, what: str, words_each: int) -> int:
        index = self.pos
        value = self.take(what)
        if value * words_each > len(self.felts) - self.pos:
            raise InvalidInputError(
                f"full state diff ({self.encoding}): word {index} ({what}) is {value}, "
                f"more than the {len(self.felts) - self.pos} words left can hold"
            )
        return value


def _split_packed_header(word: int, address: int) -> tuple[int, int, int, bool]:
    class_flag = word & 1
    is_small = word >> 1 & 1
    bound = N_UPDATES_SMALL_BOUND if is_small else N_UPDATES_BOUND
    nonces, n_updates = divmod(word >> 2, bound)
    prev_nonce, new_nonce = divmod(nonces, NONCE_BOUND)
    if prev_nonce >= NONCE_BOUND:
        raise InvalidInputError(f"full state diff (packed): contract {felt_hex(address)} header {word:#x} is too wide")
    return prev_nonce, new_nonce, n_updates, bool(class_flag)


def parse_full_state_diff(felts: Sequence[int], encoding: str) -> OsStateDiff:
    """Parse a full-output state diff; every word must be consumed."""
    if encoding not in FULL_ENCODINGS:
        raise InvalidInputError(f"full state diff: unknown encoding {encoding!r} (expected {', '.join(FULL_ENCODINGS)})")
    r = _Words(felts, encoding)
    contracts = []
    n_contracts = r.count("the number of contracts", 4)
    for index in range(n_contracts):
        address = r.take(f"contract #{index} address")
        if encoding == ENCODING_UNPACKED:
            prev_nonce, new_nonce = r.take("prev_nonce"), r.take("new_nonce")
            prev_class, new_class = r.take("prev_class_hash"), r.take("new_class_hash")
            n_updates = r.count(f"contract #{index} n_updates", 3)
        else:
            start = r.pos
            prev_nonce, new_nonce, n_updates, class_flag = _split_packed_header(r.take("header"), address)
            prev_class, new_class = r.take("prev_class_hash"), r.take("new_class_hash")
            if class_flag != (prev_class != new_class):
                raise InvalidInputError(
                    f"full state diff (packed): contract #{index} ({felt_hex(address)}) header at word {start} "
                    f"says class changed={class_flag}, but the class hashes say otherwise"
                )
            if 3 * n_updates > len(felts) - r.pos:
                raise InvalidInputError(
                    f"full state diff (packed): contract #{index} ({felt_hex(address)}) announces {n_updates} "
                    f"updates, only {len(felts) - r.pos} words are left"
                )
        storage = tuple(
            StorageChange(key=r.take("key"), prev_value=r.take("prev_value"), new_value=r.take("new_value"))
            for _ in range(n_updates)
        )
        contracts.append(ContractChange(address, prev_nonce, new_nonce, prev_class, new_class, storage))
    n_classes = r.count("the number of classes", 3)
    classes = tuple(
        ClassChange(r.take("class_hash"), r.take("prev_compiled_class_hash"), r.take("new_compiled_class_hash"))
        for _ in range(n_classes)
    )
    if r.pos != len(felts):
        raise InvalidInputError(
            f"full state diff ({encoding}): {len(felts) - r.pos} words left over after the classes (word {r.pos})"
        )
    return OsStateDiff(contracts=tuple(contracts), classes=classes)


def detect_full_encoding(felts: Sequence[int]) -> str:
    """The encoding a full-output state diff is in: the one that parses exactly.

    Refuses to guess when both fit (possible only for a diff without contracts or
    with contracts in an improbable shape) or when neither does.
    """
    fits = []
    errors = []
    for encoding in FULL_ENCODINGS:
        try:
            parse_full_state_diff(felts, encoding)
            fits.append(encoding)
        except InvalidInputError as exc:
            errors.append(str(exc))
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise InvalidInputError(f"full state diff fits no known encoding: {'; '.join(errors)}")
    # An empty diff or only unchanged contracts: both encodings read the same values.
    if parse_full_state_diff(felts, fits[0]) == parse_full_state_diff(felts, fits[1]):
        return fits[0]
    raise InvalidInputError("full state diff fits both the packed and unpacked encodings; give the encoding")
