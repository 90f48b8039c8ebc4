"""The partitions of the two-level pipeline: aggregator batches, and SNOS batches inside them.

Aggregator-level assets (one L1 state update each) are partitioned by the
dynamic ``aggregator_batches`` set, keys ``000042``. SNOS-level assets (one OS
run and one child proof each) are partitioned by a two-dimensional
``MultiPartitionsDefinition``: the same dynamic ``aggregator_batch`` dimension
times a static ``snos_batch`` dimension holding the child's position in its
aggregator batch (``01`` .. ``10`` with the default 100-block aggregator
batches of 10-block SNOS batches). The lineage between the levels is Dagster's
built-in ``MultiToSingleDimensionPartitionMapping`` on the ``aggregator_batch``
dimension, which the UI and the daemon understand: open an aggregator batch and
its SNOS batches are the row of the same key; select one cell to re-execute
one child; select a range of aggregator batches to backfill them.

Why this grain: partitions grow with the aggregator batches (864 a day at one
block a second with 100-block batches; the SNOS level has ``max_snos_batches``
times that). A position an aggregator batch does not use (a batch closed on
time with 3 SNOS batches has no ``04``) stays unmaterialized: the SNOS assets
skip it. Settled aggregator batches older than the retention window are
deleted from the dynamic set (their artifacts and L1 records stay), which keeps
both levels at a steady count instead of growing for the chain's whole life.
"""

from __future__ import annotations

import warnings

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    MultiToSingleDimensionPartitionMapping,
    StaticPartitionsDefinition,
)

from orchestrator_pipelines.partitions import KEY_WIDTH

AGGREGATOR_BATCHES = "aggregator_batches"
AGGREGATOR_DIMENSION = "aggregator_batch"
SNOS_DIMENSION = "snos_batch"

aggregator_batches_partitions = DynamicPartitionsDefinition(name=AGGREGATOR_BATCHES)

# SNOS-level asset -> its aggregator batch (and back: an aggregator batch -> all its SNOS batches).
# (Built in, understood by the UI and the daemon; Dagster marks it beta, which is no concern here.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    TO_AGGREGATOR_BATCH = MultiToSingleDimensionPartitionMapping(partition_dimension_name=AGGREGATOR_DIMENSION)


def aggregator_key(index: int) -> str:
    if index < 0:
        raise ValueError(f"aggregator batch index must be >= 0, got {index}")
    return f"{index:0{KEY_WIDTH}d}"


def aggregator_index(key: str) -> int:
    if not key.isdigit():
        raise ValueError(f"not an aggregator batch partition key: {key!r}")
    return int(key)


def position_width(max_children: int) -> int:
    return max(2, len(str(max_children)))


def position_key(position: int, max_children: int) -> str:
    """Child position (1-based) -> ``"03"``: zero-padded so the UI sorts children in order."""
    if not 1 <= position <= max_children:
        raise ValueError(f"SNOS batch position {position} outside 1..{max_children}")
    return f"{position:0{position_width(max_children)}d}"


def snos_batches_partitions(max_children: int) -> MultiPartitionsDefinition:
    """aggregator batch x child position, for aggregator batches of at most ``max_children`` SNOS batches."""
    positions = [position_key(p, max_children) for p in range(1, max_children + 1)]
    return MultiPartitionsDefinition(
        {AGGREGATOR_DIMENSION: aggregator_batches_partitions, SNOS_DIMENSION: StaticPartitionsDefinition(positions)}
    )


def snos_partition_key(aggregator: str, position: int, max_children: int) -> MultiPartitionKey:
    return MultiPartitionKey({AGGREGATOR_DIMENSION: aggregator, SNOS_DIMENSION: position_key(position, max_children)})


def split_snos_key(key: str | MultiPartitionKey) -> tuple[str, int]:
    """``"000004|03"`` (or the MultiPartitionKey) -> (``"000004"``, 3)."""
    if isinstance(key, MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims[AGGREGATOR_DIMENSION], int(dims[SNOS_DIMENSION])
    # Dimensions are joined in name order: aggregator_batch, then snos_batch.
    aggregator, _, position = str(key).partition("|")
    if not aggregator.isdigit() or not position.isdigit():
        raise ValueError(f"not a SNOS batch partition key: {key!r}")
    return aggregator, int(position)
