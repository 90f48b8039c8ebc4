"""The ``batches`` dynamic partitions and the few instance queries over them.

Every batch asset is partitioned by the same ``batches`` definition (identity
mapping), because Dagster maps two different dynamic partition sets one-to-one
silently and custom mappings are invisible to the UI and the daemon. The
block -> batch grouping happens in the batching sensor instead.

The queries here are bounded (a page, the latest record): sensors call them
every few seconds and must stay fast at 100,000 batches.
"""

from __future__ import annotations

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DynamicPartitionsDefinition

BATCHES = "batches"
KEY_WIDTH = 6

batches_partitions = DynamicPartitionsDefinition(name=BATCHES)


def batch_partition_key(index: int) -> str:
    """``42`` -> ``"000042"``: zero-padded so that keys sort like the batches."""
    if index < 0:
        raise ValueError(f"batch index must be >= 0, got {index}")
    return f"{index:0{KEY_WIDTH}d}"


def batch_index(key: str) -> int:
    if not key.isdigit():
        raise ValueError(f"not a batch partition key: {key!r}")
    return int(key)


def last_batch_key(instance: DagsterInstance) -> str | None:
    """The newest batch partition, in one bounded query."""
    page = instance.get_paginated_dynamic_partitions(BATCHES, limit=1, ascending=False)
    return page.results[0] if page.results else None


def is_materialized(instance: DagsterInstance, asset: str, key: str) -> bool:
    """Whether partition ``key`` of ``asset`` has a materialization (one indexed lookup)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key]), limit=1
    )
    return bool(records.records)


def latest_materialized_key(instance: DagsterInstance, asset: str) -> str | None:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    if event is None or event.asset_materialization is None:
        return None
    return event.asset_materialization.partition


def unsettled_batch_keys(instance: DagsterInstance, limit: int = 100) -> list[str]:
    """Batches after the newest settled one, oldest first, at most ``limit``.

    Settlement is strictly ordered and batch keys are consecutive indexes, so
    "not yet settled" is the index range between the newest ``state_update``
    materialization and the newest partition: two latest-record lookups,
    whatever the number of batches.
    """
    newest = last_batch_key(instance)
    if newest is None:
        return []
    settled = latest_materialized_key(instance, "state_update")
    start = 0 if settled is None else batch_index(settled) + 1
    stop = min(batch_index(newest) + 1, start + limit)
    return [batch_partition_key(index) for index in range(start, stop)]
