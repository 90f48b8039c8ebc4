"""When a batch closes: the pure rules, with no I/O and no Dagster.

A batch is a contiguous block range settled in one ``updateStateKzgDA``
transaction. It closes, in this order of precedence, when:

0. the next block has a Starknet version this orchestrator does not support
   (:func:`unsupported_version`): the open batch closes and batching stops
   there, so nothing is encoded with a guessed layout;
1. the next block has another Starknet version (one OS run proves one version);
2. adding the next block could overflow the blob budget (``max_blobs`` blobs of
   4096 field elements) — checked with an upper bound on the DA size, so the
   batch asset never finds out too late that its diff does not fit;
3. it holds ``max_blocks`` blocks;
4. it reached ``last_block_to_process`` (the operator's MAX_BLOCK);
5. its first block is older than ``max_age_s`` and no more blocks are available
   (a quiet chain still settles within a bounded time).

The rules only look at what the caller passes in (block numbers, timestamps,
versions, diff sizes), so the same chain always yields the same batches, except
for rule 5 which also looks at the clock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from orchestrator_pipelines.errors import InvalidInputError, TooManyBlobsError
from orchestrator_pipelines.starknet.da_encoding import parse_starknet_version

FIELD_ELEMENTS_PER_BLOB = 4096

# The Starknet versions whose OS output and DA layouts the orchestrator knows, as Madara's
# orchestrator supports them: 0.13.2 up to (not including) 0.15.
FIRST_SUPPORTED_VERSION = (0, 13, 2)
FIRST_UNSUPPORTED_VERSION = (0, 15, 0)
SUPPORTED_VERSIONS = "0.13.2 … 0.14.x"


def unsupported_version(version: str) -> str | None:
    """Why blocks of Starknet ``version`` cannot be batched, or None when they can."""
    try:
        parts = tuple(int(part) for part in version.strip().split("."))
    except ValueError:
        return f"Starknet version {version!r} is not a version number (supported: {SUPPORTED_VERSIONS})"
    padded = (parts + (0, 0, 0))[:3]
    if not parts or not FIRST_SUPPORTED_VERSION <= padded < FIRST_UNSUPPORTED_VERSION:
        return f"Starknet version {version} is not supported (supported: {SUPPORTED_VERSIONS})"
    return None


@dataclass(frozen=True)
class BatchPolicy:
    max_blocks: int = 10
    max_age_s: float = 60.0
    max_blobs: int = 6
    last_block_to_process: int | None = None
    first_block_to_process: int | None = None
    # With aggregation "auto": blocks of this Starknet version and later are the aggregated
    # pipeline's; a direct batch closes before the first of them and batching stops there.
    stop_before_version: str | None = None

    @property
    def felt_capacity(self) -> int:
        return self.max_blobs * FIELD_ELEMENTS_PER_BLOB


def unsupported_block(blocks: Sequence["BlockSummary"]) -> tuple["BlockSummary", str] | None:
    """The first block whose Starknet version is not supported, with why; None if all are."""
    for block in blocks:
        reason = unsupported_version(block.starknet_version)
        if reason:
            return block, reason
    return None


@dataclass(frozen=True)
class BlockSummary:
    """What the rules need to know about one block."""

    number: int
    timestamp: int
    starknet_version: str
    da_felts_bound: int


@dataclass(frozen=True)
class BatchManifest:
    """A closed batch: the durable record of which blocks a batch partition holds.

    Written to the artifact store (``batches/<key>/manifest.json``) before the
    partition is added, so every later run, retry or backfill of that partition
    reads the same range.
    """

    index: int
    first_block: int
    last_block: int
    starknet_version: str
    close_reason: str
    da_felts_bound: int
    first_block_timestamp: int
    last_block_timestamp: int

    @property
    def n_blocks(self) -> int:
        return self.last_block - self.first_block + 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "BatchManifest":
        try:
            raw = json.loads(data)
            return cls(**raw)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"invalid batch manifest: {exc}") from None


def da_felts_upper_bound(
    storage_writes: dict[int, int],
    contracts: Iterable[int],
    class_changes: Iterable[int],
    n_declared: int,
) -> int:
    """An upper bound on the DA felts of a diff, before or after compression.

    ``storage_writes`` maps a contract to its number of storage writes,
    ``contracts`` are all contracts in the diff, ``class_changes`` those deployed
    or replaced. Per contract: address, DA word, optional class hash, and a
    (key, value) pair per write; then the two counts and the declared classes.
    Stateless compression never grows data by more than a header and packed
    bucket indices, hence the small margin.
    """
    contracts = set(contracts) | set(storage_writes)
    class_changes = set(class_changes)
    raw = 2 + 2 * n_declared
    for address in contracts:
        raw += 2 + (1 if address in class_changes else 0) + 2 * storage_writes.get(address, 0)
    return raw + raw // 64 + 16


def close_batches(
    blocks: Sequence[BlockSummary],
    policy: BatchPolicy,
    *,
    first_index: int,
    now: float,
    close_open: bool = False,
    more_blocks: bool = False,
) -> list[BatchManifest]:
    """Cut the consecutive ``blocks`` (starting at the first unbatched block) into closed batches.

    Blocks after the last closed batch stay open: the caller offers them again,
    with any newer ones, on its next evaluation; ``close_open`` (an operator's
    request) closes them too, whatever their age. ``more_blocks`` says the caller
    stopped reading before the last block available (a read cut short by a node
    fault): the batches the rules close are the same, but the open one is not
    closed by age or on request, as blocks that belong in it already exist.
    """
    closed: list[BatchManifest] = []
    current: list[BlockSummary] = []
    felts = 0

    def close(reason: str) -> None:
        nonlocal current, felts
        closed.append(
            BatchManifest(
                index=first_index + len(closed),
                first_block=current[0].number,
                last_block=current[-1].number,
                starknet_version=current[0].starknet_version,
                close_reason=reason,
                da_felts_bound=felts,
                first_block_timestamp=current[0].timestamp,
                last_block_timestamp=current[-1].timestamp,
            )
        )
        current, felts = [], 0

    previous: int | None = None
    for block in blocks:
        if previous is not None and block.number != previous + 1:
            raise InvalidInputError(f"blocks are not consecutive: {previous} then {block.number}")
        previous = block.number
        if policy.first_block_to_process is not None and block.number < policy.first_block_to_process:
            raise InvalidInputError(
                f"block {block.number} is below the first block to process ({policy.first_block_to_process})"
            )
        if policy.last_block_to_process is not None and block.number > policy.last_block_to_process:
            break
        if unsupported_version(block.starknet_version):
            if current:
                close("unsupported_version")
            return closed
        if policy.stop_before_version is not None and (
            parse_starknet_version(block.starknet_version) >= parse_starknet_version(policy.stop_before_version)
        ):
            if current:
                close("version_change")
            break
        if block.da_felts_bound > policy.felt_capacity:
            needed = -(-block.da_felts_bound // FIELD_ELEMENTS_PER_BLOB)
            raise TooManyBlobsError(needed, policy.max_blobs)
        if current and block.starknet_version != current[0].starknet_version:
            close("version_change")
        if current and felts + block.da_felts_bound > policy.felt_capacity:
            close("max_blobs")
        current.append(block)
        felts += block.da_felts_bound
        if len(current) >= policy.max_blocks:
            close("max_blocks")
        elif block.number == policy.last_block_to_process:
            close("last_block_to_process")
    if more_blocks:
        return closed
    if current and now - current[0].timestamp >= policy.max_age_s:
        close("max_age")
    elif current and close_open:
        close("operator")
    return closed
