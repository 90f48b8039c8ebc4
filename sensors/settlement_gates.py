"""What both settlement sensors read for the gate in :mod:`orchestrator_pipelines.settlement_gating`.

The gating checks' specs carry the batch partitions (``partitions_def`` on the
``AssetCheckSpec``), so Dagster stores each evaluation with its partition and
``get_latest_asset_check_execution_by_key`` with a partition filter answers
"the latest evaluation of this check for this batch" in one indexed query,
whichever run evaluated it (the materializing run, a re-run of the check, or a
new proof). Without the partitions, every evaluation would be stored with no
partition and the latest one would be some other batch's.
"""

from __future__ import annotations

from typing import Iterable

from dagster import AssetCheckKey, AssetKey, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.settlement_gating import CheckOutcome, Hold, Rules, Stop

DONE = (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED)


def materialized(instance: DagsterInstance, assets: Iterable[str], key: str) -> frozenset[str]:
    return frozenset(asset for asset in assets if is_materialized(instance, asset, key))


def check_outcomes(instance: DagsterInstance, rules: Rules, key: str) -> dict[str, CheckOutcome]:
    """The latest evaluation of each gating check for partition ``key``; ``passed`` None while there is none."""
    check_keys = [AssetCheckKey(AssetKey(gate.asset), gate.check) for gate in rules.gates]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        check_keys, partition_filter=PartitionKeyFilter(key=key)
    )
    outcomes: dict[str, CheckOutcome] = {}
    for check_key in check_keys:
        record = latest.get(check_key)
        evaluation = record.evaluation if record is not None and record.status in DONE else None
        if evaluation is None:
            outcomes[check_key.name] = CheckOutcome(None)
            continue
        outcomes[check_key.name] = CheckOutcome(
            passed=evaluation.passed,
            description=evaluation.description or "",
            metadata={name: str(value.value) for name, value in evaluation.metadata.items()},
        )
    return outcomes


def hold_alert(decision: Hold, what: str, l1_block: int) -> Alert:
    return Alert(
        title=f"Settlement held at {what} {decision.key}",
        text=f"{decision.reason}; settlement resumes by itself once the check passes (re-run it, or record a new proof)",
        severity="critical",
        fields={what.replace(" ", "_"): decision.key, "check": decision.check, "l1_block": l1_block},
    )


def stop_alert(decision: Stop, what: str, first_block: int, last_block: int, l1_block: int) -> Alert:
    return Alert(
        title=f"Settlement stopped at {what} {decision.key}",
        text=f"{decision.failed} settle runs failed for blocks {first_block}..{last_block}; "
        "fix the cause and re-execute the run from the UI",
        severity="critical",
        fields={what.replace(" ", "_"): decision.key, "l1_block": l1_block},
    )
