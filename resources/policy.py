"""The operator's knobs for batching, proving retries and settlement pacing."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.aggregation_batching import AggregationPolicy
from orchestrator_pipelines.batching import BatchPolicy
from orchestrator_pipelines.config import AGGREGATOR_BATCH_BLOCKS, DIRECT_BATCH_BLOCKS
from orchestrator_pipelines.config import setting_default as default

# The first Starknet version whose blocks ``aggregation = auto`` settles through aggregation.
AGGREGATED_FROM_VERSION = "0.14.0"


class PipelinePolicyResource(ConfigurableResource):
    """Values come from the settings (``build_resources``); defaults are the settings' own."""

    max_batch_blocks: int = DIRECT_BATCH_BLOCKS
    max_batch_age_s: int = default("max_batch_age_s")
    max_blobs: int = default("max_blobs")
    min_block: int | None = default("min_block")
    max_block: int | None = default("max_block")
    max_batches_per_tick: int = default("max_batches_per_tick")
    max_blocks_per_tick: int | None = default("max_blocks_per_tick")
    max_unsettled_batches: int = default("max_unsettled_batches")
    max_proof_attempts: int = default("max_proof_attempts")
    proof_timeout_s: int = default("proof_timeout_s")
    max_submit_attempts: int = default("max_submit_attempts")
    submit_retry_after_s: float = default("submit_retry_after_s")
    aggregation_timeout_s: int = default("aggregation_timeout_s")
    max_settle_attempts: int = default("max_settle_attempts")
    settle_skip_ahead_per_tick: int = default("settle_skip_ahead_per_tick")
    stall_alert_minutes: int = default("stall_alert_minutes")
    aggregation: str = default("aggregation")
    aggregator_batch_blocks: int = AGGREGATOR_BATCH_BLOCKS
    blob_size_buffer: int = default("blob_size_buffer")
    max_aggregator_input_size: int = default("max_aggregator_input_size")
    max_blocks_per_snos_batch: int = default("max_blocks_per_snos_batch")
    fixed_blocks_per_snos_batch: int | None = default("fixed_blocks_per_snos_batch")
    settled_retention_hours: int = default("settled_retention_hours")

    def batch_policy(self) -> BatchPolicy:
        return BatchPolicy(
            max_blocks=self.max_batch_blocks,
            max_age_s=self.max_batch_age_s,
            max_blobs=self.max_blobs,
            first_block_to_process=self.min_block,
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
