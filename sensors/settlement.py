"""The settlement sensor: requests ``settle_batch`` strictly in order, judged by the chain.

Per tick: read the core contract's ``stateBlockNumber``; skip past batches it
already covers and whose ``state_update`` is recorded; for the next batch,
request a run only when the chain is exactly at the block before it (or
already covers it, so the run records it without sending), its proof and blobs
are materialized, their checks passed for the batch (the proof's fact valid on
L1, the blobs opening to the OS output), and no settle run for it is in
flight. A failed settle run is requested again (new run key) up to
``max_settle_attempts``; after that the sensor alerts and waits for an
operator. The sensor only gathers this state: the decision, and why, is
:func:`orchestrator_pipelines.settlement_gating.decide`. A failed check holds
the batch with its reason and one alert, until a newer evaluation passes.

Settled is not final: every tick the recorded settlements not yet final are
re-checked against L1 (:mod:`sensors.settlement_watch`). When a reorganisation
took one back, the sensor alerts once, fails its ``settlement_on_l1`` check
and requests a new settle run for the earliest such batch, even if L1 covers it
again (the transaction included elsewhere: the run records where). Run keys
count every settle run of the batch, so a request is never a spent key that
Dagster would drop without a word.

It also raises the stalled-pipeline alert: blocks keep coming but nothing
settled for ``stall_alert_minutes``.
"""

import time

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from orchestrator_pipelines.assets.common import MANIFEST, load_manifest
from orchestrator_pipelines.assets.da_blob import BLOBS_MATCH_CHECK
from orchestrator_pipelines.assets.proof import FACT_CHECK
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.jobs import settle_batch_job
from orchestrator_pipelines.partitions import batch_index, batch_partition_key
from orchestrator_pipelines.settlement_gating import BatchView, direct_rules
from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from sensors.cursor import dump_cursor, load_cursor
from sensors.settlement_gates import check_outcomes, materialized, next_settlement
from sensors.settlement_watch import failed_since_settled, watch_recorded_settlements

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def _runs(context: SensorEvaluationContext, key: str, statuses=None) -> int:
    return context.instance.get_runs_count(
        RunsFilter(job_name=settle_batch_job.name, tags={"dagster/partition": key}, statuses=statuses or [])
    )


def _observe(context, store, key: str, chain_block: int, rules, *, resettle: bool) -> BatchView:
    """Gather what :func:`decide` needs about batch ``key``: a few indexed lookups, none before the batch is closed."""
    instance = context.instance
    if not store.exists(batch_key(key, MANIFEST)) or not instance.has_dynamic_partition("batches", key):
        return BatchView(key, chain_block)
    manifest = load_manifest(store, key)
    return BatchView(
        key,
        chain_block,
        first_block=manifest.first_block,
        last_block=manifest.last_block,
        materialized=materialized(instance, (rules.state_asset, *rules.required), key),
        checks=check_outcomes(instance, rules, key),
        resettle=resettle,
        in_flight=_runs(context, key, IN_FLIGHT),
        failed_attempts=failed_since_settled(context, settle_batch_job.name, key),
    )


def build_settlement_sensor(interval_s: int, default_status: DefaultSensorStatus):
    @sensor(
        name="settlement_sensor",
        job=settle_batch_job,
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Requests updateStateKzgDA for batch n only after batch n-1 is settled on L1.",
    )
    def settlement_sensor(
        context: SensorEvaluationContext,
        settlement: SettlementResource,
        artifacts: ArtifactStoreResource,
        madara: MadaraRpcResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        store = artifacts.store()
        cursor = load_cursor(context.cursor)
        index = cursor.get("next", 0)
        client = settlement.client()
        chain = client.state()
        now = time.time()
        if chain.block_number != cursor.get("chain_block"):
            cursor.update(chain_block=chain.block_number, chain_changed_at=now, stall_alerted=False)
        lost, check_events = watch_recorded_settlements(
            context, client=client, chain=chain, cursor=cursor, asset="state_update",
            key_of=batch_partition_key, alerts=alerts,
        )
        if lost is not None:
            index = min(index, batch_index(lost.key))

        rules = direct_rules(
            fact_check=FACT_CHECK, blobs_check=BLOBS_MATCH_CHECK, max_attempts=policy.max_settle_attempts
        )
        result, index = next_settlement(
            context, cursor=cursor, index=index, rules=rules,
            observe=lambda key, resettle: _observe(context, store, key, chain.block_number, rules, resettle=resettle),
            key_of=batch_partition_key, run_key_prefix="settle", runs_of=lambda key: _runs(context, key),
            alerts=alerts, chain_block=chain.block_number, skip_ahead=policy.settle_skip_ahead_per_tick, lost=lost,
        )
        cursor["next"] = index
        if (
            not cursor.get("stall_alerted")
            and now - cursor["chain_changed_at"] > policy.stall_alert_minutes * 60
            and madara.client().head() > chain.block_number
        ):
            alerts.sink(context.log).send(Alert(
                title="Settlement stalled",
                text=f"no state update on L1 for {policy.stall_alert_minutes} min while the chain advances "
                f"(L1 at block {chain.block_number})",
                severity="critical",
                fields={"l1_block": chain.block_number},
            ))
            cursor["stall_alerted"] = True
        if isinstance(result, RunRequest):
            return SensorResult(run_requests=[result], asset_events=check_events, cursor=dump_cursor(cursor))
        return SensorResult(skip_reason=result, asset_events=check_events, cursor=dump_cursor(cursor))

    return settlement_sensor
