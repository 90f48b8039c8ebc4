"""The orchestrator's Prometheus metrics, in their own registry.

The names are a public interface (Grafana dashboard, alert rules), so they are
defined once here and documented in deploy/README.md. Values come from what
the pipeline already records on each materialization (block range, durations,
gas, fee, blob count), which makes the metrics independent of where a step ran.

This module knows nothing of Dagster: :class:`OrchestratorMetrics` takes plain
values; the exporter translates Dagster events into these calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STAGES: tuple[str, ...] = ("batch", "snos_output", "proof", "da_blob", "state_update")
# Stages whose blob_count is what was (or will be) posted on L1.
BLOB_STAGES = frozenset({"da_blob", "state_update"})

_MINUTE = 60.0
_HOUR = 3600.0
STAGE_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 15 * _MINUTE, _HOUR)
# Block production to settlement spans minutes (devnet) to many hours (SHARP on mainnet).
BLOCK_TO_SETTLED_BUCKETS = (
    _MINUTE, 5 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR, 4 * _HOUR, 8 * _HOUR,
    12 * _HOUR, 24 * _HOUR, 48 * _HOUR,
)  # fmt: skip
PROVER_DURATION_BUCKETS = (
    10, 30, _MINUTE, 5 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR, 4 * _HOUR, 8 * _HOUR,
)  # fmt: skip


def number(value: Any) -> float | None:
    """``value`` as a float when it is numeric (int, float or a numeric string), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(int(text, 0)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return None
    return None


class OrchestratorMetrics:
    """All metrics of one exporter process, registered in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self._highest: dict[tuple[str, str], float] = {}
        r = self.registry
        self.last_block = Gauge(
            "orchestrator_last_block",
            "Highest L2 block number covered by a materialization of the stage.",
            ["stage"],
            registry=r,
        )
        self.last_batch = Gauge(
            "orchestrator_last_batch",
            "Highest batch index materialized by the stage.",
            ["stage"],
            registry=r,
        )
        self.materializations = Counter(
            "orchestrator_materializations",
            "Materializations recorded per stage.",
            ["stage"],
            registry=r,
        )
        self.stage_duration = Histogram(
            "orchestrator_stage_duration_seconds",
            "Wall time of a stage's own work (duration_s metadata).",
            ["stage"],
            buckets=STAGE_DURATION_BUCKETS,
            registry=r,
        )
        self.block_to_settled = Histogram(
            "orchestrator_block_to_settled_seconds",
            "Time from a batch's last block to its state update on L1.",
            buckets=BLOCK_TO_SETTLED_BUCKETS,
            registry=r,
        )
        self.prover_duration = Histogram(
            "orchestrator_prover_duration_seconds",
            "Time from proof submission to a verified proof.",
            buckets=PROVER_DURATION_BUCKETS,
            registry=r,
        )
        self.run_failures = Counter(
            "orchestrator_run_failures",
            "Failed Dagster runs per job.",
            ["job"],
            registry=r,
        )
        self.step_retries = Counter(
            "orchestrator_step_retries",
            "Step retries (retry policy or RetryRequested) per step.",
            ["step"],
            registry=r,
        )
        self.l1_gas_used = Gauge(
            "orchestrator_l1_gas_used",
            "Execution gas used by the latest settlement transaction.",
            registry=r,
        )
        self.l1_fee_wei = Gauge(
            "orchestrator_l1_fee_wei",
            "Total fee (execution + blob gas) of the latest settlement transaction, in wei.",
            registry=r,
        )
        self.l1_fees_paid = Counter(
            "orchestrator_l1_fees_paid_wei",
            "Sum of settlement transaction fees seen by this exporter, in wei.",
            registry=r,
        )
        self.blobs_per_batch = Gauge(
            "orchestrator_blobs_per_batch",
            "Blobs of the latest batch that built or posted blobs.",
            registry=r,
        )
        self.exporter_last_success = Gauge(
            "orchestrator_exporter_last_success_timestamp_seconds",
            "Unix time of the exporter's last complete collection pass.",
            registry=r,
        )
        self.exporter_errors = Counter(
            "orchestrator_exporter_errors",
            "Collection passes that failed (e.g. the database was unreachable).",
            registry=r,
        )
        for stage in STAGES:
            # Export every stage from the start so dashboards show 0 rather than "no data".
            self.materializations.labels(stage=stage)
            self.stage_duration.labels(stage=stage)

    def _raise_gauge(self, gauge: Gauge, stage: str, value: float) -> None:
        # Re-materializing an old partition must not move a "highest" gauge backwards.
        key = (id(gauge), stage)
        if value > self._highest.get(key, float("-inf")):
            self._highest[key] = value
            gauge.labels(stage=stage).set(value)

    def observe_materialization(
        self, stage: str, partition: str | None, metadata: Mapping[str, Any]
    ) -> None:
        """Update the metrics from one materialization of ``stage`` (metadata as plain values)."""
        self.materializations.labels(stage=stage).inc()
        last_block = number(metadata.get("last_block"))
        if last_block is not None:
            self._raise_gauge(self.last_block, stage, last_block)
        batch_index = number(partition) if partition is not None and partition.isdigit() else None
        if batch_index is not None:
            self._raise_gauge(self.last_batch, stage, batch_index)
        duration = number(metadata.get("duration_s"))
        if duration is not None and duration >= 0:
            self.stage_duration.labels(stage=stage).observe(duration)
        prover = number(metadata.get("prover_duration_s"))
        if prover is not None and prover >= 0:
            self.prover_duration.observe(prover)
        settled_after = number(metadata.get("block_to_settled_s"))
        if stage == "state_update" and settled_after is not None and settled_after >= 0:
            self.block_to_settled.observe(settled_after)
        gas = number(metadata.get("gas_used"))
        if gas is not None:
            self.l1_gas_used.set(gas)
        fee = number(metadata.get("fee_wei"))
        if fee is not None and fee >= 0:
            self.l1_fee_wei.set(fee)
            self.l1_fees_paid.inc(fee)
        blobs = number(metadata.get("blob_count"))
        if stage in BLOB_STAGES and blobs is not None:
            self.blobs_per_batch.set(blobs)

    def observe_run_failure(self, job: str) -> None:
        self.run_failures.labels(job=job or "unknown").inc()

    def observe_step_retry(self, step: str) -> None:
        self.step_retries.labels(step=step or "unknown").inc()
