"""When a ZKsync OS batch is sealed: the server's batcher rules as pure functions.

As zksync-os-server's ``batcher/seal_criteria.rs`` and ``batcher/mod.rs``: a
batch takes blocks in order; before adding the next block, the batch is
sealed (without it) when adding it would exceed a limit:

- more than ``batcher_blocks_per_batch_limit`` blocks (default 10);
- more than ``sequencer_block_pubdata_limit_bytes`` of pubdata (110,000);
- more than 16,384 L2→L1 logs (``MAX_NUMBER_OF_LOGS``, the logs tree size);
- a second execution version (an upgrade starts a new batch).

A block that alone exceeds a limit still forms a batch of its own (refusing it
would stall the chain). A batch whose blocks all fit is sealed by
``batcher_batch_timeout``, measured from its first block's timestamp (so a
restart does not move the deadline), and as soon as it is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator_pipelines.errors import InvalidInputError

MAX_NUMBER_OF_LOGS = 16_384


@dataclass(frozen=True)
class SealPolicy:
    blocks_per_batch_limit: int = 10
    batch_timeout_s: float = 1.0
    pubdata_limit_bytes: int = 110_000
    max_l2_to_l1_logs: int = MAX_NUMBER_OF_LOGS

    def __post_init__(self) -> None:
        if self.blocks_per_batch_limit < 1 or self.pubdata_limit_bytes < 1 or self.max_l2_to_l1_logs < 1:
            raise InvalidInputError("seal limits must be at least 1")
        if self.batch_timeout_s <= 0:
            raise InvalidInputError(f"batch timeout must be positive, got {self.batch_timeout_s}")


@dataclass(frozen=True)
class BlockSummary:
    """What sealing needs of one block."""

    number: int
    timestamp: int
    pubdata_bytes: int
    l2_to_l1_logs: int
    execution_version: int


@dataclass(frozen=True)
class SealedBatch:
    batch_number: int
    first_block: int
    last_block: int
    reason: str

    @property
    def n_blocks(self) -> int:
        return self.last_block - self.first_block + 1


@dataclass
class _Accumulator:
    blocks: int = 0
    pubdata: int = 0
    logs: int = 0
    versions: frozenset = frozenset()

    def plus(self, block: BlockSummary) -> _Accumulator:
        return _Accumulator(
            self.blocks + 1, self.pubdata + block.pubdata_bytes, self.logs + block.l2_to_l1_logs,
            self.versions | {block.execution_version},
        )

    def exceeded(self, policy: SealPolicy) -> str | None:
        """The first limit this content is over, in the server's order, or None."""
        if self.pubdata > policy.pubdata_limit_bytes:
            return "pubdata"
        if self.logs > policy.max_l2_to_l1_logs:
            return "l2_l1_logs"
        if len(self.versions) > 1:
            return "execution_version_change"
        if self.blocks > policy.blocks_per_batch_limit:
            return "blocks_per_batch"
        return None


def seal_batches(
    blocks: list[BlockSummary], policy: SealPolicy, *, first_batch: int, now: float
) -> list[SealedBatch]:
    """The batches sealed from ``blocks`` (consecutive, starting a new batch); the open rest is left.

    Pure: the same blocks, policy and clock give the same batches, so the
    sensor's decision is reproducible from what it observed.
    """
    for previous, current in zip(blocks, blocks[1:]):
        if current.number != previous.number + 1:
            raise InvalidInputError(f"block {current.number} does not follow block {previous.number}")
    sealed: list[SealedBatch] = []
    start = 0
    accumulated = _Accumulator()
    index = 0
    while index < len(blocks):
        block = blocks[index]
        with_block = accumulated.plus(block)
        reason = with_block.exceeded(policy)
        if reason is not None and accumulated.blocks > 0:
            sealed.append(SealedBatch(first_batch + len(sealed), blocks[start].number, blocks[index - 1].number, reason))
            start, accumulated = index, _Accumulator()
            continue  # the block opens the next batch
        accumulated = with_block
        index += 1
        if reason is not None:  # a block over a limit on its own is a batch by itself
            sealed.append(SealedBatch(first_batch + len(sealed), block.number, block.number, f"{reason}_single_block"))
            start, accumulated = index, _Accumulator()
        elif accumulated.blocks == policy.blocks_per_batch_limit:
            sealed.append(SealedBatch(first_batch + len(sealed), blocks[start].number, block.number, "blocks_per_batch"))
            start, accumulated = index, _Accumulator()
    if accumulated.blocks and now >= blocks[start].timestamp + policy.batch_timeout_s:
        sealed.append(SealedBatch(first_batch + len(sealed), blocks[start].number, blocks[-1].number, "timeout"))
    return sealed
