"""Drive the deployment without a daemon: tick the sensors, execute the runs they request, here.

The daemon does the same thing with a run queue and a process per run; doing
it in one process against a real instance (SQLite or PostgreSQL) is how the
end-to-end tests and the pipeline benchmark exercise the real sensors, jobs and
assets deterministically, and how an operator can step a stuck deployment by
hand. Run keys are honoured like the daemon does: a key already used by a run
on this instance is not launched again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from dagster import (
    DagsterInstance,
    DagsterRun,
    Definitions,
    DeleteDynamicPartitionsRequest,
    RunsFilter,
    build_sensor_context,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

PIPELINE_SENSORS = ("batching_sensor", "proof_sensor", "settlement_sensor")


@dataclass
class TickReport:
    sensor: str
    skip_reason: str | None
    runs: list[DagsterRun] = field(default_factory=list)


class LocalRunner:
    def __init__(self, defs: Definitions, instance: DagsterInstance):
        self.defs = defs
        self.instance = instance
        self.cursors: dict[str, str | None] = {}
        self.runs_launched = 0
        self.run_seconds = 0.0

    def tick(self, sensor_name: str) -> TickReport:
        sensor_def = self.defs.resolve_sensor_def(sensor_name)
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            definitions=self.defs,
            instance_ref=self.instance.get_ref() if self.instance.is_persistent else None,
            sensor_name=sensor_name,
            resources=self.defs.resources,
        )
        data = sensor_def.evaluate_tick(context)
        for event in data.asset_events or []:  # as the daemon does: check results a sensor reports
            self.instance.report_runless_asset_event(event)
        for request in data.dynamic_partitions_requests or []:
            name = request.partitions_def_name
            if isinstance(request, DeleteDynamicPartitionsRequest):
                for key in request.partition_keys:
                    if self.instance.has_dynamic_partition(name, key):
                        self.instance.delete_dynamic_partition(name, key)
                continue
            keys = [k for k in request.partition_keys if not self.instance.has_dynamic_partition(name, k)]
            if keys:
                self.instance.add_dynamic_partitions(name, keys)
        self.cursors[sensor_name] = data.cursor
        report = TickReport(sensor_name, data.skip_message)
        for request in data.run_requests or []:
            if request.run_key and self._run_key_used(sensor_name, request.run_key):
                continue
            job_name = request.job_name or sensor_def.job_name
            job = self.defs.resolve_job_def(job_name)
            tags = dict(request.tags or {})
            tags[SENSOR_NAME_TAG] = sensor_name
            if request.run_key:
                tags[RUN_KEY_TAG] = request.run_key
            started = time.monotonic()
            result = job.execute_in_process(
                instance=self.instance,
                partition_key=request.partition_key,
                tags=tags,
                raise_on_error=False,
            )
            self.run_seconds += time.monotonic() - started
            self.runs_launched += 1
            report.runs.append(result.dagster_run)
        return report

    def tick_all(self, sensors: Iterable[str] = PIPELINE_SENSORS) -> list[TickReport]:
        return [self.tick(name) for name in sensors]

    def tick_until_idle(self, sensor_name: str, max_ticks: int = 50) -> list[TickReport]:
        """Tick one sensor until it requests nothing new (e.g. settle every batch that is ready).

        The daemon ticks each sensor on its own interval while runs execute in
        parallel; here runs execute inside the tick, so the critical path
        (settlement, one batch per run) is given its own loop.
        """
        reports = []
        for _ in range(max_ticks):
            report = self.tick(sensor_name)
            reports.append(report)
            if not report.runs:
                break
        return reports

    def _run_key_used(self, sensor_name: str, run_key: str) -> bool:
        return bool(
            self.instance.get_runs_count(
                RunsFilter(tags={SENSOR_NAME_TAG: sensor_name, RUN_KEY_TAG: run_key})
            )
        )
