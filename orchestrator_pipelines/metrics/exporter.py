"""Prometheus exporter that reads the Dagster instance's event log.

Steps may run in the daemon's process, a Kubernetes Job or an ECS task; what
they all share is the instance's event log. So instead of pushing metrics from
inside steps, this process follows the event log with a cursor (one storage id
per event kind), reads new asset materializations, run failures and step
retries in bounded pages, and updates :class:`OrchestratorMetrics`. A large
backlog (first start against 100,000 batches) is consumed over several passes,
so ``/metrics`` keeps answering meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    EventRecordsFilter,
    RunStatusChangeRecordsFilter,
)
from prometheus_client import start_http_server

from orchestrator_pipelines.metrics.registry import STAGES, OrchestratorMetrics

logger = logging.getLogger(__name__)


@dataclass
class ExporterCursor:
    """Last storage id processed, per asset stage and for run failures and step retries."""

    materializations: dict[str, int] = field(default_factory=dict)
    run_failure: int = 0
    step_retry: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "materializations": self.materializations,
                "run_failure": self.run_failure,
                "step_retry": self.step_retry,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "ExporterCursor":
        data = json.loads(text)
        return cls(
            materializations={str(k): int(v) for k, v in data.get("materializations", {}).items()},
            run_failure=int(data.get("run_failure", 0)),
            step_retry=int(data.get("step_retry", 0)),
        )


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster ``MetadataValue`` objects to their raw values (ints, floats, strings)."""
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


class DagsterEventCollector:
    """Follows the event log and feeds new events into the metrics."""

    def __init__(
        self,
        instance: DagsterInstance,
        metrics: OrchestratorMetrics | None = None,
        *,
        stages: Sequence[str] = STAGES,
        page_size: int = 500,
        max_pages_per_pass: int = 20,
        cursor: ExporterCursor | None = None,
    ):
        if page_size < 1 or max_pages_per_pass < 1:
            raise ValueError("page_size and max_pages_per_pass must be at least 1")
        self.instance = instance
        self.metrics = metrics if metrics is not None else OrchestratorMetrics()
        self.stages = tuple(stages)
        self.page_size = page_size
        self.max_pages_per_pass = max_pages_per_pass
        self.cursor = cursor if cursor is not None else ExporterCursor()
        self._warned_sharded = False

    def _collect_materializations(self, stage: str) -> int:
        processed = 0
        for _ in range(self.max_pages_per_pass):
            after = self.cursor.materializations.get(stage, 0)
            result = self.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(stage), after_storage_id=after or None),
                limit=self.page_size,
                ascending=True,
            )
            for record in result.records:
                materialization = record.asset_materialization
                if materialization is not None:
                    self.metrics.observe_materialization(
                        stage, materialization.partition, plain_metadata(materialization.metadata)
                    )
                self.cursor.materializations[stage] = record.storage_id
                processed += 1
            if len(result.records) < self.page_size:
                break
        return processed

    def _collect_run_failures(self) -> int:
        processed = 0
        for _ in range(self.max_pages_per_pass):
            result = self.instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(
                    DagsterEventType.RUN_FAILURE, after_storage_id=self.cursor.run_failure or None
                ),
                limit=self.page_size,
                ascending=True,
            )
            for record in result.records:
                self.metrics.observe_run_failure(record.event_log_entry.job_name or "")
                self.cursor.run_failure = record.storage_id
                processed += 1
            if len(result.records) < self.page_size:
                break
        return processed

    def _collect_step_retries(self) -> int:
        storage = self.instance.event_log_storage
        if storage.is_run_sharded:
            # Per-run SQLite shards have no global event id to follow; every deploy/
            # variant uses PostgreSQL, where step retries are counted.
            if not self._warned_sharded:
                logger.warning("step retries are not counted on a run-sharded (SQLite) event log")
                self._warned_sharded = True
            return 0
        processed = 0
        for _ in range(self.max_pages_per_pass):
            records = storage.get_event_records(
                EventRecordsFilter(
                    DagsterEventType.STEP_UP_FOR_RETRY, after_cursor=self.cursor.step_retry or None
                ),
                limit=self.page_size,
                ascending=True,
            )
            for record in records:
                self.metrics.observe_step_retry(record.event_log_entry.step_key or "")
                self.cursor.step_retry = record.storage_id
                processed += 1
            if len(records) < self.page_size:
                break
        return processed

    def collect_once(self) -> int:
        """One pass over every event kind; returns how many events were processed."""
        processed = sum(self._collect_materializations(stage) for stage in self.stages)
        processed += self._collect_run_failures()
        processed += self._collect_step_retries()
        self.metrics.exporter_last_success.set(time.time())
        return processed

    def collect_safely(self) -> int:
        """:meth:`collect_once`, but a failing pass is counted and logged instead of raised."""
        try:
            return self.collect_once()
        except Exception as exc:  # the exporter must outlive a database restart
            self.metrics.exporter_errors.inc()
            logger.warning("metrics collection pass failed: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return 0


def serve(
    instance: DagsterInstance,
    port: int = 9108,
    interval_s: float = 15.0,
    *,
    addr: str = "0.0.0.0",
    stop: threading.Event | None = None,
    collector: DagsterEventCollector | None = None,
) -> None:
    """Serve ``/metrics`` on ``addr:port`` and collect every ``interval_s`` until ``stop`` is set."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    collector = collector if collector is not None else DagsterEventCollector(instance)
    stop = stop if stop is not None else threading.Event()
    server, thread = start_http_server(port, addr=addr, registry=collector.metrics.registry)
    logger.info("serving orchestrator metrics on http://%s:%d/metrics", addr, server.server_port)
    try:
        while True:
            collector.collect_safely()
            if stop.wait(interval_s):
                break
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
