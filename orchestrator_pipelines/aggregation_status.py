"""Which aggregator batch and SNOS batch hold a block, and where they stand, from the artifacts alone.

Retired aggregator batches are no longer partitions, but their manifests and
settlement records stay in the artifact store; aggregator batches are
consecutive block ranges, so a block is found by bisecting their manifests
(a few reads, whatever the chain's length).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestrator_pipelines.aggregation_batching import AggregatorBatchingState, AggregatorBatchManifest, SnosRange
from orchestrator_pipelines.aggregation_partitions import aggregator_key
from orchestrator_pipelines.assets.aggregation_common import MANIFEST, aggregator_artifact, batching_state_key
from orchestrator_pipelines.assets.common import SETTLEMENT_TX
from orchestrator_pipelines.clients.artifacts import ArtifactStore


@dataclass(frozen=True)
class BlockLocation:
    block: int
    aggregator_batch: str
    manifest: AggregatorBatchManifest | None
    snos_position: int | None
    snos_batch: SnosRange | None
    settlement_tx: dict[str, Any] | None

    @property
    def stage(self) -> str:
        if self.manifest is None:
            return "open"
        return "settled" if self.settlement_tx else "closed"


def find_block(store: ArtifactStore, block: int) -> BlockLocation | None:
    """The aggregator batch holding ``block`` (None if no aggregator batch reached it yet)."""
    state_key = batching_state_key()
    if not store.exists(state_key):
        return None
    state = AggregatorBatchingState.from_json(store.get_bytes(state_key))
    if state.open is not None and state.open.first_block <= block <= state.open.last_block:
        position = next((i + 1 for i, s in enumerate(state.open.snos_batches) if s.first_block <= block <= s.last_block), None)
        snos = state.open.snos_batches[position - 1] if position else None
        return BlockLocation(block, aggregator_key(state.open.index), None, position, snos, None)
    low, high = 0, state.next_aggregator_index - 1
    while low <= high:
        middle = (low + high) // 2
        key = aggregator_key(middle)
        if not store.exists(aggregator_artifact(key, MANIFEST)):
            return None
        manifest = AggregatorBatchManifest.from_json(store.get_bytes(aggregator_artifact(key, MANIFEST)))
        if block < manifest.first_block:
            high = middle - 1
        elif block > manifest.last_block:
            low = middle + 1
        else:
            position = next(i + 1 for i, s in enumerate(manifest.snos_batches) if s.first_block <= block <= s.last_block)
            tx_key = aggregator_artifact(key, SETTLEMENT_TX)
            tx = json.loads(store.get_bytes(tx_key)) if store.exists(tx_key) else None
            return BlockLocation(block, key, manifest, position, manifest.snos_batches[position - 1], tx)
    return None
