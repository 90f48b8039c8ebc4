"""A batch lost to a reorganisation must be settled again, however often it was lost and retried before.

Dagster stores one runless evaluation per check and partition; a second one
for the same partition raises in the daemon, so the tick fails for good. The
sensor therefore reports the failed ``settlement_on_l1`` check only when no
sensor evaluation of that partition exists yet (``check_failure_reported``).
And the failed settle runs before a successful one do not count toward the
operator gate of a re-settlement (``failed_since_settled``).
"""

from __future__ import annotations

import time
import uuid

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    build_sensor_context,
)

from orchestrator_pipelines.assets.common import ON_L1_CHECK
from sensors.settlement_watch import check_failure_reported, failed_since_settled


def lost(partition: str) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(asset_key=AssetKey("state_update"), check_name=ON_L1_CHECK, passed=False,
                                severity=AssetCheckSeverity.ERROR, partition=partition)


def test_a_second_sensor_evaluation_of_a_partition_is_refused_and_the_first_is_seen() -> None:
    with DagsterInstance.ephemeral() as instance:
        assert not check_failure_reported(instance, "state_update", "000000")
        instance.report_runless_asset_event(lost("000000"))
        assert check_failure_reported(instance, "state_update", "000000")
        assert not check_failure_reported(instance, "state_update", "000001")
        with pytest.raises(Exception, match="UNIQUE|unique"):
            instance.report_runless_asset_event(lost("000000"))


def add_run(instance, status: DagsterRunStatus, key: str = "000000") -> None:
    instance.add_run(DagsterRun(job_name="settle_batch", run_id=str(uuid.uuid4()), status=status,
                                tags={"dagster/partition": key}))
    time.sleep(0.01)  # created_after compares creation times


def test_failed_settle_runs_count_from_the_latest_successful_one() -> None:
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance)
        for _ in range(2):
            add_run(instance, DagsterRunStatus.FAILURE)
        assert failed_since_settled(context, "settle_batch", "000000") == 2
        add_run(instance, DagsterRunStatus.SUCCESS)  # settled; then a reorganisation takes it back
        assert failed_since_settled(context, "settle_batch", "000000") == 0
        add_run(instance, DagsterRunStatus.FAILURE)
        add_run(instance, DagsterRunStatus.FAILURE, key="000001")
        assert failed_since_settled(context, "settle_batch", "000000") == 1
        assert failed_since_settled(context, "settle_batch", "000001") == 1
