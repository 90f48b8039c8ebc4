"""The operator's runbook over the Dagster instance: where a block is, which batches failed, retry, close.

What the Madara orchestrator's admin HTTP routes answered from MongoDB, read
here from the Dagster instance (runs, materializations, partitions) and the
batch manifests in the artifact store, so the answers are the ones the UI
shows. Every query is bounded: a block is found by bisecting the consecutive
batch keys (a manifest read per step), listings take a page of batches.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.batching import BatchManifest
from orchestrator_pipelines.clients.artifacts import ArtifactStore
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.partitions import BATCHES, batch_index, batch_partition_key, last_batch_key

# The batch assets in pipeline order: a batch's stage is the last one materialized.
STAGES = ("batch", "snos_output", "da_blob", "proof_request", "proof", "state_update")
PARTITION_TAG = "dagster/partition"
PARENT_RUN_TAG = "dagster/parent_run_id"
# The batching sensor reads this key of the instance's key-value store: set, it closes the open batch.
CLOSE_OPEN_KEY = "orchestrator/close_open_batch"


@dataclass
class BatchStatus:
    batch: str
    first_block: int
    last_block: int
    starknet_version: str
    stage: str
    settled: bool
    l1_tx: str | None = None
    l1_block: int | None = None
    failed_runs: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _latest_metadata(instance: DagsterInstance, asset: str, key: str) -> dict[str, Any] | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    return {name: value.value for name, value in records[0].asset_materialization.metadata.items()}


def failed_runs(instance: DagsterInstance, key: str | None = None, limit: int = 200) -> list[Any]:
    """Failed runs that are still the latest of their job for their batch (not fixed by a later run)."""
    tags = {PARTITION_TAG: key} if key is not None else {}
    failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE], tags=tags), limit=limit)
    still_failed = []
    for run in failed:
        partition = run.tags.get(PARTITION_TAG)
        latest = instance.get_runs(
            RunsFilter(job_name=run.job_name, tags={PARTITION_TAG: partition} if partition else {}), limit=1
        )
        if latest and latest[0].run_id == run.run_id:
            still_failed.append(run)
    return still_failed


def batch_status(instance: DagsterInstance, store: ArtifactStore, key: str) -> BatchStatus:
    manifest = load_manifest(store, key)
    stage, settled_meta = "closed", None
    for asset in STAGES:
        meta = _latest_metadata(instance, asset, key)
        if meta is None:
            break
        stage = asset
        if asset == "state_update":
            settled_meta = meta
    failed = [
        {"run_id": run.run_id, "job": run.job_name} for run in failed_runs(instance, key)
    ]
    return BatchStatus(
        batch=key,
        first_block=manifest.first_block,
        last_block=manifest.last_block,
        starknet_version=manifest.starknet_version,
        stage="settled" if settled_meta is not None else stage,
        settled=settled_meta is not None,
        l1_tx=(settled_meta or {}).get("tx_hash"),
        l1_block=(settled_meta or {}).get("l1_block"),
        failed_runs=failed,
    )


def batch_holding_block(instance: DagsterInstance, store: ArtifactStore, block: int) -> str | None:
    """The key of the batch whose range holds ``block``, or None when no batch has it yet."""
    newest = last_batch_key(instance)
    if newest is None:
        return None
    low, high = 0, batch_index(newest)
    while low <= high:
        middle = (low + high) // 2
        manifest: BatchManifest = load_manifest(store, batch_partition_key(middle))
        if block < manifest.first_block:
            high = middle - 1
        elif block > manifest.last_block:
            low = middle + 1
        else:
            return batch_partition_key(middle)
    return None


def block_status(instance: DagsterInstance, store: ArtifactStore, block: int) -> dict[str, Any]:
    if block < 0:
        raise InvalidInputError(f"block number must be >= 0, got {block}")
    key = batch_holding_block(instance, store, block)
    if key is None:
        return {"block": block, "batch": None, "stage": "not batched yet"}
    return {"block": block, **batch_status(instance, store, key).to_dict()}


def list_batches(
    instance: DagsterInstance, store: ArtifactStore, *, only_failed: bool = False, limit: int = 20
) -> list[BatchStatus]:
    """The newest ``limit`` batches (oldest first); with ``only_failed``, those with a run still failed."""
    if only_failed:
        keys = sorted({run.tags[PARTITION_TAG] for run in failed_runs(instance) if PARTITION_TAG in run.tags})
        keys = keys[-limit:]
    else:
        page = instance.get_paginated_dynamic_partitions(BATCHES, limit=limit, ascending=False)
        keys = sorted(page.results)
    return [batch_status(instance, store, key) for key in keys]


def retry_failed(instance: DagsterInstance, definitions_module: str = "orchestrator_pipelines.definitions") -> list[dict[str, str]]:
    """Re-execute every still-failed run from its failure, in this process, as the UI's "Re-execute from failure"."""
    from dagster import ReexecutionOptions, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repository = ReconstructableRepository.for_module(definitions_module, "defs")
    results = []
    for run in reversed(failed_runs(instance)):  # oldest first: settlement order
        job = repository.get_reconstructable_job(run.job_name)
        # As the UI does: the new run keeps the partition and the operator's tags, not Dagster's bookkeeping.
        tags = {k: v for k, v in run.tags.items() if not k.startswith("dagster/") or k == PARTITION_TAG}
        options = ReexecutionOptions.from_failure(run.run_id, instance)
        with execute_job(job, instance=instance, tags=tags, reexecution_options=options) as result:
            results.append({
                "failed_run_id": run.run_id,
                "job": run.job_name,
                "batch": run.tags.get(PARTITION_TAG, ""),
                "new_run_id": result.run_id,
                "status": result.dagster_run.status.value,
            })
    return results


def request_close_open(instance: DagsterInstance) -> str:
    """Ask the batching sensor to close the open batch at its next tick, whatever its age."""
    requested_at = str(int(time.time()))
    instance.run_storage.set_cursor_values({CLOSE_OPEN_KEY: requested_at})
    return requested_at


def close_open_requested(instance: DagsterInstance) -> bool:
    return bool(instance.run_storage.get_cursor_values({CLOSE_OPEN_KEY}).get(CLOSE_OPEN_KEY))


def clear_close_open(instance: DagsterInstance) -> None:
    instance.run_storage.set_cursor_values({CLOSE_OPEN_KEY: ""})
