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

from typing import Callable, Iterable

from dagster import AssetCheckKey, AssetKey, DagsterInstance, RunRequest, SkipReason
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.settlement_gating import BatchView, CheckOutcome, Hold, Request, Rules, Settled, Stop, decide
from sensors.settlement_watch import fresh_run_key

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
        text=f"{decision.reason}; {decision.remedy}",
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


def next_settlement(
    context,
    *,
    cursor: dict,
    index: int,
    rules: Rules,
    observe: Callable[[str, bool], BatchView],
    key_of: Callable[[int], str],
    run_key_prefix: str,
    runs_of: Callable[[str], int],
    alerts,
    chain_block: int,
    skip_ahead: int,
    lost=None,
) -> tuple[RunRequest | SkipReason, int]:
    """Walk the batches in order from ``index`` and act on the first :func:`decide` does not call settled.

    Both settlement sensors (direct and aggregated) share this walk: past settled batches, then one
    request, hold, stop or wait. Returns what the tick answers and the index to start from next tick.
    """
    result: RunRequest | SkipReason = SkipReason("nothing to settle")
    for _ in range(skip_ahead):
        key = key_of(index)
        view = observe(key, lost is not None and lost.key == key)
        decision = decide(view, rules, alerted_hold=cursor.get("held_alerted"), alerted_stop=cursor.get("alerted"))
        if isinstance(decision, Settled):
            index += 1
            continue
        if isinstance(decision, Request):
            cursor.pop("held_alerted", None)  # the hold (if any) lifted: a new one is news
            run_key = fresh_run_key(context, f"{run_key_prefix}-{key}", runs_of(key))
            result = RunRequest(run_key=run_key, partition_key=key)
        elif isinstance(decision, Hold):
            if decision.alert:
                alerts.sink(context.log).send(hold_alert(decision, rules.what, chain_block))
                cursor["held_alerted"] = decision.alert_id
            result = SkipReason(decision.reason)
        elif isinstance(decision, Stop):
            if decision.alert:
                alerts.sink(context.log).send(
                    stop_alert(decision, rules.what, view.first_block, view.last_block, chain_block)
                )
                cursor["alerted"] = key
            result = SkipReason(decision.reason)
        else:
            result = SkipReason(decision.reason)
        break
    if lost is not None and isinstance(result, SkipReason):
        result = SkipReason(f"{result.skip_message} (settling {rules.what} {lost.key} again: {lost.what_l1_says})")
    return result, index
