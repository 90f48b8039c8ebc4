"""A batch lost to a reorganisation a second time must not wedge the settlement sensor.

Dagster stores one runless evaluation per check and partition; a second one
for the same partition raises in the daemon, so the tick fails for good. The
sensor therefore reports the failed ``settlement_on_l1`` check only when no
sensor evaluation of that partition exists yet (``check_failure_reported``).
"""

from __future__ import annotations

import pytest
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, DagsterInstance

from orchestrator_pipelines.assets.common import ON_L1_CHECK
from sensors.settlement_watch import check_failure_reported


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
