"""Two-level batching (Starknet 0.14 aggregation): the pure rules, with no I/O and no Dagster.

Blocks are cut into **aggregator batches** (one L1 state update each, proven
by the aggregator program over its children) and, inside each, into **SNOS
batches** (one Starknet OS run and one child proof each). The rules and the
variables are the Madara orchestrator's (``triggers/batching/aggregator.rs``,
``triggers/batching/snos.rs``):

An open aggregator batch is closed, before the next block is added, when

1. ``aggregator_input``: the aggregator input upper bound with that block would
   pass ``MAX_AGGREGATOR_INPUT_SIZE`` (Madara's formula, :func:`child_input_bound`);
2. ``version_change``: the block has another Starknet version;
3. ``max_batch_time``: the batch was opened ``MAX_BATCH_TIME_SECONDS`` ago or
   more (counted from when the batch was started, also checked when no new
   block arrived, so a quiet chain still settles);
4. ``blob_budget``: the batch's squashed, compressed state diff with the block
   would not fit ``MAX_NUM_BLOBS x 4096 - BLOB_SIZE_BUFFER`` felts;

and right after a block is added when it holds ``MAX_BATCH_SIZE`` blocks
(``max_batch_size``) or reached the operator's ``MAX_BLOCK`` (``last_block``).
Madara checks the size when the next block arrives; closing at once saves a
block time of latency and gives the same ranges.

SNOS batches never cross an aggregator batch. One closes as soon as it holds
``MAX_BLOCKS_PER_SNOS_BATCH`` blocks (or exactly ``FIXED_BLOCKS_PER_SNOS_BATCH``
when that is set), or when its aggregator batch closes: a SNOS batch is
started (its OS run and child proof requested) as soon as its blocks exist,
not when the aggregator batch closes. Madara's SNOS batches also close on the
sequencer's bouncer weights, which a JSON-RPC node does not serve; the
aggregator input bound and the block count bound them here.

A block that alone exceeds the input bound or the blob budget cannot be
batched at all: the step stops before it and says so (``stalled``), as
Madara stops before an oversized block.

The state between two evaluations (:class:`AggregatorBatchingState`) is plain
JSON plus the open batch's squashed diff, so the sensor can store it in the
artifact store and resume exactly where it was.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateDiff, StateUpdate

FIELD_ELEMENTS_PER_BLOB = 4096

# Madara's aggregator input bound (felts), per ``aggregator_input_size_from_counts``:
# the bootloader's task count, then per child its (size, program hash) wrapper and
# the fixed SNOS output words, the message segments, and the full-output state diff
# (a contract header, a storage write and a class update each counted in full).
AGGREGATOR_N_TASKS_WORDS = 1
AGGREGATOR_CHILD_WRAPPER_WORDS = 2
SNOS_OUTPUT_FIXED_WORDS = 14
SNOS_FULL_CONTRACT_HEADER_WORDS = 6
SNOS_FULL_STORAGE_UPDATE_WORDS = 3
SNOS_FULL_CLASS_UPDATE_WORDS = 3


@dataclass(frozen=True)
class AggregationPolicy:
    """Madara's batching variables, with their meanings (see the README's configuration table)."""

    max_batch_size: int = 100
    max_batch_time_s: float = 3600.0
    max_num_blobs: int = 6
    blob_size_buffer: int = 15
    max_aggregator_input_size: int = 750_000
    max_blocks_per_snos_batch: int = 10
    fixed_blocks_per_snos_batch: int | None = None
    last_block: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_blocks_per_snos_batch < 1:
            raise InvalidInputError("aggregation policy: batch sizes must be at least 1 block")
        if self.fixed_blocks_per_snos_batch is not None and self.fixed_blocks_per_snos_batch < 1:
            raise InvalidInputError("aggregation policy: FIXED_BLOCKS_PER_SNOS_BATCH must be at least 1")
        if self.blob_felt_budget < 1:
            raise InvalidInputError(
                f"aggregation policy: BLOB_SIZE_BUFFER {self.blob_size_buffer} leaves no room in "
                f"{self.max_num_blobs} blobs"
            )

    @property
    def blob_felt_budget(self) -> int:
        """``MAX_NUM_BLOBS x 4096 - BLOB_SIZE_BUFFER``: what the squashed, compressed diff may take."""
        return self.max_num_blobs * FIELD_ELEMENTS_PER_BLOB - self.blob_size_buffer

    @property
    def snos_batch_size(self) -> int:
        return self.fixed_blocks_per_snos_batch or self.max_blocks_per_snos_batch

    @property
    def max_snos_batches(self) -> int:
        """The most SNOS batches one aggregator batch can hold (the child dimension's size)."""
        return -(-self.max_batch_size // self.snos_batch_size)


@dataclass(frozen=True)
class AggregationBlock:
    """What the rules need to know about one block: its header facts and its state update."""

    number: int
    timestamp: int
    starknet_version: str
    state_update: StateUpdate
    message_segment_length: int = 0


def full_output_counts(diff: StateDiff) -> tuple[int, int, int]:
    """(modified contracts, storage writes, declared classes) as a full-output OS run lists them."""
    contracts = {d.address for d in diff.storage_diffs}
    contracts |= {n.contract_address for n in diff.nonces}
    contracts |= {d.address for d in diff.deployed_contracts}
    contracts |= {r.contract_address for r in diff.replaced_classes}
    storage = sum(len(d.storage_entries) for d in diff.storage_diffs)
    declared = len(diff.declared_classes) + len(diff.deprecated_declared_classes)
    declared += len(getattr(diff, "migrated_compiled_classes", None) or [])
    return len(contracts), storage, declared


def initial_input_bound(diff: StateDiff, message_segment_length: int = 0) -> int:
    """Madara's aggregator input upper bound of a batch holding just this block (one child)."""
    contracts, storage, declared = full_output_counts(diff)
    return (
        AGGREGATOR_N_TASKS_WORDS
        + SNOS_OUTPUT_FIXED_WORDS
        + AGGREGATOR_CHILD_WRAPPER_WORDS
        + message_segment_length
        + contracts * SNOS_FULL_CONTRACT_HEADER_WORDS
        + storage * SNOS_FULL_STORAGE_UPDATE_WORDS
        + declared * SNOS_FULL_CLASS_UPDATE_WORDS
    )


def child_input_bound(diff: StateDiff, message_segment_length: int = 0) -> int:
    """What one more block adds to the bound: counted as a whole child (no squashing savings)."""
    return initial_input_bound(diff, message_segment_length) - AGGREGATOR_N_TASKS_WORDS


def compressed_da_size(diff: StateDiff, starknet_version: str) -> int:
    """Felts of the diff's DA encoding, compressed (0.13.3+ publishes only changed nonces)."""
    return len(da_felts(diff, None, starknet_version))


DaSize = Callable[[StateDiff, str], int]


@dataclass(frozen=True)
class SnosBatchManifest:
    """A closed SNOS batch: one OS run and one child proof, child ``position`` (1-based) of its aggregator batch."""

    index: int
    aggregator_index: int
    position: int
    first_block: int
    last_block: int
    starknet_version: str
    close_reason: str

    @property
    def n_blocks(self) -> int:
        return self.last_block - self.first_block + 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "SnosBatchManifest":
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"invalid SNOS batch manifest: {exc}") from None


@dataclass(frozen=True)
class SnosRange:
    index: int
    first_block: int
    last_block: int


@dataclass(frozen=True)
class AggregatorBatchManifest:
    """A closed aggregator batch: its block range, its SNOS batches in order, why it closed."""

    index: int
    first_block: int
    last_block: int
    starknet_version: str
    close_reason: str
    started_at: float
    closed_at: float
    da_felts: int
    input_size_bound: int
    first_block_timestamp: int
    last_block_timestamp: int
    snos_batches: list[SnosRange] = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return self.last_block - self.first_block + 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "AggregatorBatchManifest":
        try:
            raw = json.loads(data)
            raw["snos_batches"] = [SnosRange(**s) for s in raw.get("snos_batches", [])]
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInputError(f"invalid aggregator batch manifest: {exc}") from None


@dataclass(frozen=True)
class OpenAggregatorBatch:
    """The aggregator batch being filled; ``snos_batches`` are its SNOS batches already closed."""

    index: int
    first_block: int
    last_block: int
    starknet_version: str
    started_at: float
    da_felts: int
    input_size_bound: int
    first_block_timestamp: int
    last_block_timestamp: int
    snos_batches: tuple[SnosRange, ...] = ()
    open_snos_first_block: int | None = None

    @property
    def n_blocks(self) -> int:
        return self.last_block - self.first_block + 1


@dataclass(frozen=True)
class AggregatorBatchingState:
    """Where batching stands: the next indexes, the next block, the open batch and its squashed diff."""

    next_block: int
    next_aggregator_index: int = 0
    next_snos_index: int = 0
    open: OpenAggregatorBatch | None = None
    squashed: StateDiff | None = None

    def to_json(self) -> bytes:
        open_batch = None
        if self.open is not None:
            open_batch = asdict(self.open)
        return json.dumps(
            {
                "next_block": self.next_block,
                "next_aggregator_index": self.next_aggregator_index,
                "next_snos_index": self.next_snos_index,
                "open": open_batch,
                "squashed": self.squashed.to_rpc_json() if self.squashed is not None else None,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "AggregatorBatchingState":
        try:
            raw = json.loads(data)
            open_raw = raw.get("open")
            open_batch = None
            if open_raw is not None:
                open_raw["snos_batches"] = tuple(SnosRange(**s) for s in open_raw.get("snos_batches", []))
                open_batch = OpenAggregatorBatch(**open_raw)
            squashed = StateDiff.parse(raw["squashed"]) if raw.get("squashed") is not None else None
            return cls(
                next_block=raw["next_block"],
                next_aggregator_index=raw["next_aggregator_index"],
                next_snos_index=raw["next_snos_index"],
                open=open_batch,
                squashed=squashed,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInputError(f"invalid aggregator batching state: {exc}") from None


@dataclass
class AggregationStep:
    """What one evaluation decided, in order: batches opened, SNOS batches and aggregator batches closed."""

    state: AggregatorBatchingState
    opened: list[int] = field(default_factory=list)
    snos_closed: list[SnosBatchManifest] = field(default_factory=list)
    aggregator_closed: list[AggregatorBatchManifest] = field(default_factory=list)
    stalled: str | None = None


class _Batcher:
    """The step's working state; :func:`advance` is the only entry point."""

    def __init__(self, state: AggregatorBatchingState, policy: AggregationPolicy, now: float, da_size: DaSize):
        self.policy = policy
        self.now = now
        self.da_size = da_size
        self.next_block = state.next_block
        self.agg_index = state.next_aggregator_index
        self.snos_index = state.next_snos_index
        self.open = state.open
        self.squashed = state.squashed
        self.step = AggregationStep(state=state)

    def state(self) -> AggregatorBatchingState:
        return AggregatorBatchingState(
            next_block=self.next_block,
            next_aggregator_index=self.agg_index,
            next_snos_index=self.snos_index,
            open=self.open,
            squashed=self.squashed if self.open is not None else None,
        )

    def close_snos(self, reason: str) -> None:
        batch = self.open
        assert batch is not None and batch.open_snos_first_block is not None
        manifest = SnosBatchManifest(
            index=self.snos_index,
            aggregator_index=batch.index,
            position=len(batch.snos_batches) + 1,
            first_block=batch.open_snos_first_block,
            last_block=batch.last_block,
            starknet_version=batch.starknet_version,
            close_reason=reason,
        )
        self.step.snos_closed.append(manifest)
        self.open = replace(
            batch,
            snos_batches=batch.snos_batches + (SnosRange(manifest.index, manifest.first_block, manifest.last_block),),
            open_snos_first_block=None,
        )
        self.snos_index += 1

    def close_aggregator(self, reason: str) -> None:
        if self.open is None:
            return
        if self.open.open_snos_first_block is not None:
            self.close_snos(f"aggregator_batch_closed:{reason}")
        batch = self.open
        self.step.aggregator_closed.append(
            AggregatorBatchManifest(
                index=batch.index,
                first_block=batch.first_block,
                last_block=batch.last_block,
                starknet_version=batch.starknet_version,
                close_reason=reason,
                started_at=batch.started_at,
                closed_at=self.now,
                da_felts=batch.da_felts,
                input_size_bound=batch.input_size_bound,
                first_block_timestamp=batch.first_block_timestamp,
                last_block_timestamp=batch.last_block_timestamp,
                snos_batches=list(batch.snos_batches),
            )
        )
        self.open, self.squashed = None, None
        self.agg_index += 1

    def start(self, block: AggregationBlock, diff: StateDiff) -> bool:
        """Open a batch with ``block``; False (stalled) if the block alone cannot fit any batch."""
        bound = initial_input_bound(diff, block.message_segment_length)
        if bound > self.policy.max_aggregator_input_size:
            self.step.stalled = (
                f"block {block.number}: aggregator input upper bound {bound} exceeds "
                f"MAX_AGGREGATOR_INPUT_SIZE {self.policy.max_aggregator_input_size}"
            )
            return False
        size = self.da_size(diff, block.starknet_version)
        if size > self.policy.blob_felt_budget:
            self.step.stalled = (
                f"block {block.number}: its compressed state diff takes {size} felts, more than the "
                f"blob budget of {self.policy.blob_felt_budget} (MAX_NUM_BLOBS x 4096 - BLOB_SIZE_BUFFER)"
            )
            return False
        self.open = OpenAggregatorBatch(
            index=self.agg_index,
            first_block=block.number,
            last_block=block.number,
            starknet_version=block.starknet_version,
            started_at=self.now,
            da_felts=size,
            input_size_bound=bound,
            first_block_timestamp=block.timestamp,
            last_block_timestamp=block.timestamp,
            open_snos_first_block=block.number,
        )
        self.squashed = diff
        self.step.opened.append(self.agg_index)
        return True

    def reason_to_close_before(self, block: AggregationBlock) -> tuple[str | None, StateDiff | None, int, int]:
        """Why the open batch cannot take ``block`` (or None), with the squashed diff, size and bound if it can."""
        batch, policy = self.open, self.policy
        assert batch is not None and self.squashed is not None
        bound = batch.input_size_bound + child_input_bound(block.state_update.state_diff, block.message_segment_length)
        if bound > policy.max_aggregator_input_size:
            return "aggregator_input", None, 0, 0
        if block.starknet_version != batch.starknet_version:
            return "version_change", None, 0, 0
        if self.now - batch.started_at >= policy.max_batch_time_s:
            return "max_batch_time", None, 0, 0
        squashed = squash_pair(self.squashed, block.state_update.state_diff)
        size = self.da_size(squashed, batch.starknet_version)
        if size > policy.blob_felt_budget:
            return "blob_budget", None, 0, 0
        return None, squashed, size, bound

    def add(self, block: AggregationBlock) -> bool:
        """Place ``block``; False when batching must stop before it."""
        if self.open is not None:
            reason, squashed, size, bound = self.reason_to_close_before(block)
            if reason is not None:
                self.close_aggregator(reason)
            else:
                batch = self.open
                self.open = replace(
                    batch,
                    last_block=block.number,
                    last_block_timestamp=block.timestamp,
                    da_felts=size,
                    input_size_bound=bound,
                    open_snos_first_block=(
                        batch.open_snos_first_block if batch.open_snos_first_block is not None else block.number
                    ),
                )
                self.squashed = squashed
        if self.open is None and not self.start(block, block.state_update.state_diff):
            return False
        self.next_block = block.number + 1
        batch = self.open
        assert batch is not None and batch.open_snos_first_block is not None
        if batch.n_blocks >= self.policy.max_batch_size:
            self.close_aggregator("max_batch_size")
        elif self.policy.last_block is not None and block.number >= self.policy.last_block:
            self.close_aggregator("last_block")
        elif batch.last_block - batch.open_snos_first_block + 1 >= self.policy.snos_batch_size:
            self.close_snos(
                "fixed_blocks_per_snos_batch" if self.policy.fixed_blocks_per_snos_batch else "max_blocks_per_snos_batch"
            )
        return True


def squash_pair(squashed: StateDiff, diff: StateDiff) -> StateDiff:
    """The open batch's squashed diff with one more block's diff on top (last write wins)."""
    zero = 0
    return squash_state_updates(
        [
            StateUpdate(block_hash=zero, old_root=zero, new_root=zero, state_diff=squashed),
            StateUpdate(block_hash=zero, old_root=zero, new_root=zero, state_diff=diff),
        ]
    )


def advance(
    state: AggregatorBatchingState,
    blocks: Sequence[AggregationBlock],
    policy: AggregationPolicy,
    *,
    now: float,
    da_size: DaSize = compressed_da_size,
) -> AggregationStep:
    """Offer the consecutive ``blocks`` (from ``state.next_block`` on) to the batches; close what the rules close.

    Also closes the open aggregator batch on time when no block (or no new
    block) comes. Blocks after a stop (``stalled``, or past ``last_block``)
    are left for a later evaluation.
    """
    batcher = _Batcher(state, policy, now, da_size)
    expected = state.next_block
    for block in blocks:
        if block.number != expected:
            raise InvalidInputError(f"blocks are not consecutive: expected block {expected}, got {block.number}")
        expected += 1
        if policy.last_block is not None and block.number > policy.last_block:
            break
        if not batcher.add(block):
            break
    if batcher.open is not None and now - batcher.open.started_at >= policy.max_batch_time_s:
        batcher.close_aggregator("max_batch_time")
    batcher.step.state = batcher.state()
    return batcher.step
