"""The operator's knobs for batching, proving retries and settlement pacing."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.batching import BatchPolicy


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

    def batch_policy(self) -> BatchPolicy:
        return BatchPolicy(
            max_blocks=self.max_batch_blocks,
            max_age_s=self.max_batch_age_s,
            max_blobs=self.max_blobs,
            last_block_to_process=self.max_block,
        )
