"""What the two-level (aggregation) assets share: the artifact layout, manifests, tags, failure handling.

Every artifact of aggregator batch ``000042`` lives under
``aggregator_batches/000042/``; those of its SNOS batch at position 3 under
``aggregator_batches/000042/snos_03/``. One prefix per aggregator batch, so an
operator lists, copies or expires a settled batch (children included) at once.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

from dagster import AssetExecutionContext, Failure

from orchestrator_pipelines.aggregation_batching import AggregatorBatchManifest, SnosBatchManifest
from orchestrator_pipelines.clients.artifacts import ArtifactStore
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError

AGGREGATION_GROUP = "aggregation"
AGGREGATOR_PREFIX = "aggregator_batches"

# Run tag: which aggregation (bucket) attempt a run works for.
AGGREGATION_ATTEMPT_TAG = "orchestrator/aggregation-attempt"

# Artifact names.
BATCHING_STATE = "batching_state.json"  # directly under aggregator_batches/
OPENED = "opened.json"  # the batch as it was opened (index, first block, start time)
MANIFEST = "manifest.json"  # the closed batch (SNOS batches, block range, close reason)
AGGREGATION = "aggregation.json"  # the current aggregation (bucket) id and attempt
AGGREGATION_CLOSED = "aggregation_closed.json"
AGGREGATOR_PIE = "aggregator_pie.zip"
DA_SEGMENT = "da_blob.json"
PROGRAM_OUTPUT = "program_output.json"
SNOS_PIE = "pie.zip"
CHILD_SUBMISSION = "child_submission.json"


def aggregator_artifact(aggregator: str, name: str) -> str:
    if not aggregator.isdigit():
        raise OrchestratorError(f"invalid aggregator batch key for an artifact: {aggregator!r}")
    return f"{AGGREGATOR_PREFIX}/{aggregator}/{name}"


def snos_artifact(aggregator: str, position: int, name: str) -> str:
    return aggregator_artifact(aggregator, f"snos_{position:02d}/{name}")


def batching_state_key() -> str:
    return f"{AGGREGATOR_PREFIX}/{BATCHING_STATE}"


def read_json_at(store: ArtifactStore, key: str) -> Any:
    return json.loads(store.get_bytes(key))


def load_aggregator_manifest(store: ArtifactStore, aggregator: str) -> AggregatorBatchManifest:
    key = aggregator_artifact(aggregator, MANIFEST)
    if not store.exists(key):
        raise InvalidInputError(f"aggregator batch {aggregator} is not closed yet (no {key})")
    return AggregatorBatchManifest.from_json(store.get_bytes(key))


def load_snos_manifest(store: ArtifactStore, aggregator: str, position: int) -> SnosBatchManifest | None:
    key = snos_artifact(aggregator, position, MANIFEST)
    return SnosBatchManifest.from_json(store.get_bytes(key)) if store.exists(key) else None


def current_aggregation(store: ArtifactStore, aggregator: str) -> dict[str, Any] | None:
    key = aggregator_artifact(aggregator, AGGREGATION)
    return read_json_at(store, key) if store.exists(key) else None


def aggregator_range_metadata(manifest: AggregatorBatchManifest) -> dict[str, Any]:
    return {
        "first_block": manifest.first_block,
        "last_block": manifest.last_block,
        "n_blocks": manifest.n_blocks,
        "starknet_version": manifest.starknet_version,
        "snos_batches": len(manifest.snos_batches),
    }


def snos_range_metadata(manifest: SnosBatchManifest) -> dict[str, Any]:
    return {
        "aggregator_batch": f"{manifest.aggregator_index:06d}",
        "position": manifest.position,
        "snos_batch_index": manifest.index,
        "first_block": manifest.first_block,
        "last_block": manifest.last_block,
        "n_blocks": manifest.n_blocks,
        "starknet_version": manifest.starknet_version,
    }


@contextmanager
def fail_fast(context: AssetExecutionContext, what: str) -> Iterator[None]:
    """A deterministic domain error fails the step at once (no retry), saying which batch."""
    try:
        yield
    except OrchestratorError as exc:
        raise Failure(description=f"{context.asset_key.to_user_string()} of {what}: {exc}", allow_retries=False) from exc


def attempt_of(context: AssetExecutionContext) -> int:
    return int(context.run.tags.get(AGGREGATION_ATTEMPT_TAG, "1"))
