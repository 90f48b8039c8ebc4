"""The operator's knobs for batching, proving retries and settlement pacing."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.aggregation_batching import AggregationPolicy
from orchestrator_pipelines.batching import BatchPolicy

# The first Starknet version whose blocks ``aggregation = auto`` settles through aggregation.
AGGREGATED_FROM_VERSION = "0.14.0"


class PipelinePolicyResource(ConfigurableResource):
    max_batch_blocks: int = 10
    max_batch_age_s: int = 60
    max_blobs: int = 6
    min_block: int | None = None
    max_block: int | None = None
    max_batches_per_tick: int = 10
    max_unsettled_batches: int = 50
    max_proof_attempts: int = 3
    stall_alert_minutes: int = 30
    aggregation: str = "off"
    aggregator_batch_blocks: int = 100
    blob_size_buffer: int = 15
    max_aggregator_input_size: int = 750_000
    max_blocks_per_snos_batch: int = 10
    fixed_blocks_per_snos_batch: int | None = None
    settled_retention_hours: int = 168

    def batch_policy(self) -> BatchPolicy:
        return BatchPolicy(
            max_blocks=self.max_batch_blocks,
            max_age_s=self.max_batch_age_s,
            max_blobs=self.max_blobs,
            last_block_to_process=self.max_block,
            stop_before_version=AGGREGATED_FROM_VERSION if self.aggregation == "auto" else None,
        )

    def aggregation_policy(self) -> AggregationPolicy:
        return AggregationPolicy(
            max_batch_size=self.aggregator_batch_blocks,
            max_batch_time_s=self.max_batch_age_s,
            max_num_blobs=self.max_blobs,
            blob_size_buffer=self.blob_size_buffer,
            max_aggregator_input_size=self.max_aggregator_input_size,
            max_blocks_per_snos_batch=self.max_blocks_per_snos_batch,
            fixed_blocks_per_snos_batch=self.fixed_blocks_per_snos_batch,
            last_block=self.max_block,
        )
