"""What both settlement sensors do about L1 reorganisations: re-check recorded settlements, and fresh run keys.

Why: Dagster drops a run request whose run key was already used, silently (the
tick is skipped with an empty reason). A settle run key naming only the failed
attempts is spent as soon as one run succeeded, so a batch that needs settling
again after a reorganisation could never be requested. :func:`fresh_run_key`
derives the key from every run of the partition, which changes whenever a new
run is truly needed, and steps past a key still in use (runs deleted by hand).

:func:`watch_recorded_settlements` gathers what the decision in
:mod:`orchestrator_pipelines.settlement_finality` needs: the recorded
settlements from the cursor's ``watch_from`` (the oldest not yet final) on, up
to the first batch not recorded yet (the sensor's own frontier may lag behind a
run that just settled) and at most ``WATCH_PER_TICK`` of them, and what L1 says about
each now (one receipt read per recorded transaction). It sends the alert and
fails the ``settlement_on_l1`` check once per loss.

Dagster keeps one runless check evaluation per check and partition (the
unique index of ``asset_check_executions`` covers asset, check, run id and
partition, and a sensor's run id is empty): a second one raises, the tick
fails, the cursor never moves, and the batch is never settled again. So a
batch lost a second time (a reorganisation that also takes back its new
settlement) is alerted again, but its check is failed only the first time
(:func:`check_failure_reported`); the re-settle run's own evaluation follows
either way.

:func:`failed_since_settled` counts a batch's failed settle runs toward the
operator gate only from its latest successful settle run on: failures before
a settlement that a reorganisation then took back were already overcome, and
must not leave the re-settlement fewer attempts (or none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterRunStatus,
    RunsFilter,
    SensorEvaluationContext,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.tags import RUN_KEY_TAG

from orchestrator_pipelines.assets.common import ON_L1_CHECK
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.settlement_finality import (
    Inclusion,
    L1View,
    RecordedSettlement,
    Resettle,
    decide,
    final_count,
)

if TYPE_CHECKING:
    from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient

# Recorded settlements re-checked per tick: more than settle in two epochs of L1 at any realistic rate.
WATCH_PER_TICK = 32


def fresh_run_key(context: SensorEvaluationContext, prefix: str, runs: int) -> str:
    """``<prefix>-<n>``: ``n`` the number of runs the partition has had, or the next one not used yet."""
    n = runs
    while context.instance.get_runs_count(RunsFilter(tags={RUN_KEY_TAG: f"{prefix}-{n}"})):
        n += 1
    return f"{prefix}-{n}"


def failed_since_settled(context: SensorEvaluationContext, job_name: str, key: str) -> int:
    """Failed runs of ``job_name`` for partition ``key`` created after its latest successful one (all, if none)."""
    tags = {"dagster/partition": key}
    settled = context.instance.get_run_records(
        RunsFilter(job_name=job_name, tags=tags, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    return context.instance.get_runs_count(RunsFilter(
        job_name=job_name, tags=tags, statuses=[DagsterRunStatus.FAILURE],
        created_after=settled[0].create_timestamp if settled else None,
    ))


# Evaluations of one check and partition looked through for the sensor's own: a few per settle run.
CHECK_HISTORY_LIMIT = 200


def check_failure_reported(instance, asset: str, partition: str) -> bool:
    """Whether a sensor (no run) already reported an evaluation of ``asset``'s on-L1 check for ``partition``."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(asset), ON_L1_CHECK), limit=CHECK_HISTORY_LIMIT,
        partition_filter=PartitionKeyFilter(key=partition),
    )
    return any(not record.run_id for record in history)


def _recorded(instance, asset: str, key: str) -> RecordedSettlement | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    meta: dict[str, Any] = {name: value.value for name, value in records[0].asset_materialization.metadata.items()}
    tx_hash = meta.get("tx_hash")
    l1_block = meta.get("l1_block", meta.get("l1_observed_block"))
    return RecordedSettlement(
        key=key,
        last_block=int(meta["last_block"]),
        tx_hash=str(tx_hash) if tx_hash else None,
        l1_block=int(l1_block) if l1_block is not None else None,
        l1_block_hash=str(meta["l1_block_hash"]) if meta.get("l1_block_hash") else None,
    )


def watch_recorded_settlements(
    context: SensorEvaluationContext,
    *,
    client: SettlementClient,
    chain: CoreState,
    cursor: dict[str, Any],
    asset: str,
    key_of: Callable[[int], str],
    alerts,
    what: str = "batch",
) -> tuple[Resettle | None, list[AssetCheckEvaluation]]:
    """The earliest recorded settlement L1 no longer holds (None: all held), and the check failures to report.

    Updates ``cursor``: ``watch_from`` advances past the final settlements while
    all are held; ``lost_alerted`` remembers the loss last alerted.
    """
    start = cursor.get("watch_from", 0)
    recorded: list[RecordedSettlement] = []
    for index in range(start, start + WATCH_PER_TICK):
        settlement = _recorded(context.instance, asset, key_of(index))
        if settlement is None:
            break
        recorded.append(settlement)
    inclusions: dict[str, Inclusion | None] = {}
    for settlement in recorded:
        if settlement.tx_hash is not None:
            receipt = client.mined_receipt(settlement.tx_hash)
            inclusions[settlement.tx_hash] = (
                Inclusion(receipt.block_number, receipt.block_hash) if receipt is not None else None
            )
    decision = decide(recorded, L1View(chain.block_number, inclusions), alerted=cursor.get("lost_alerted"))
    if not isinstance(decision, Resettle):
        cursor.pop("lost_alerted", None)
        if recorded:
            cursor["watch_from"] = start + final_count(recorded, client.finalized_block_number())
        return None, []
    events = []
    if decision.alert:
        alerts.sink(context.log).send(Alert(
            title=f"Settlement of {what} {decision.key} is no longer on L1",
            text=decision.alert_text,
            severity="critical",
            fields={what.replace(" ", "_"): decision.key, "tx_hash": decision.tx_hash or "-",
                    "l1_state_block_number": chain.block_number},
        ))
        cursor["lost_alerted"] = decision.alert_id
    if decision.alert and check_failure_reported(context.instance, asset, decision.key):
        context.log.warning(f"{what} {decision.key} lost again: its {ON_L1_CHECK} check failed already "
                            f"(Dagster keeps one sensor evaluation per partition); alerted, not reported again")
    elif decision.alert:
        events.append(AssetCheckEvaluation(
            asset_key=AssetKey(asset),
            check_name=ON_L1_CHECK,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            partition=decision.key,
            description=f"L1 no longer holds the recorded settlement: {decision.what_l1_says}",
            metadata={"tx_hash": decision.tx_hash or "-", "l1_state_block_number": chain.block_number},
        ))
    return decision, events
