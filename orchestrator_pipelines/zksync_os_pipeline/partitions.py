"""``zkos_batches``: one dynamic partition per ZKsync OS batch, keyed by batch number (0 is genesis)."""

from __future__ import annotations

from dagster import DagsterInstance, DynamicPartitionsDefinition

from orchestrator_pipelines.partitions import KEY_WIDTH

ZKOS_BATCHES = "zkos_batches"
zkos_batches_partitions = DynamicPartitionsDefinition(name=ZKOS_BATCHES)
ARTIFACT_PREFIX = "zksync_os/batches"


def zkos_key(batch_number: int) -> str:
    if batch_number < 0:
        raise ValueError(f"batch number must be >= 0, got {batch_number}")
    return f"{batch_number:0{KEY_WIDTH}d}"


def zkos_number(key: str) -> int:
    if not key.isdigit():
        raise ValueError(f"not a ZKsync OS batch key: {key!r}")
    return int(key)


def artifact_key(batch_number: int, name: str) -> str:
    """``zksync_os/batches/000042/batch.json``: one prefix per batch, beside the Starknet stack's."""
    return f"{ARTIFACT_PREFIX}/{zkos_key(batch_number)}/{name}"


def newest_batch(instance: DagsterInstance) -> int | None:
    page = instance.get_paginated_dynamic_partitions(ZKOS_BATCHES, limit=1, ascending=False)
    return zkos_number(page.results[0]) if page.results else None
