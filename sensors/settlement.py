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

Block hashes: a batch whose OS output recorded another hash for its last
block than the node reports now is held, and the newest settled batch's last
block is re-read every tick, alerting once when the node no longer has it
(:mod:`sensors.l2_hashes`). A node or L1 RPC reporting another chain id stops
the tick with one line and an alert (:mod:`sensors.peer_guard`).

It also raises the stalled-pipeline alert: blocks keep coming but nothing
settled for ``stall_alert_minutes``.
"""

import functools
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

from orchestrator_pipelines.assets.common import MANIFEST, PROGRAM_OUTPUT, load_manifest, load_program_output
from orchestrator_pipelines.assets.da_blob import BLOBS_MATCH_CHECK
from orchestrator_pipelines.assets.proof import FACT_CHECK
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.jobs import settle_batch_job
from orchestrator_pipelines.partitions import batch_index, batch_partition_key, latest_materialized_key
from orchestrator_pipelines.settlement_gating import BatchView, direct_rules
from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from sensors.cursor import dump_cursor, load_cursor
from sensors.l2_hashes import hash_view, recorded_last_hash, watch_settled_hash
from sensors.peer_guard import refusing_other_chains
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


def _observe(context, store, key: str, chain_block: int, rules, node, *, resettle: bool) -> BatchView:
    """Gather what :func:`decide` needs about batch ``key``: a few indexed lookups, none before the batch is closed.

    ``node()`` gives the Madara client; it is asked for the last block's hash
    only for a batch not settled yet whose OS output exists.
    """
    instance = context.instance
    if not store.exists(batch_key(key, MANIFEST)) or not instance.has_dynamic_partition("batches", key):
        return BatchView(key, chain_block)
    manifest = load_manifest(store, key)
    done = materialized(instance, (rules.state_asset, *rules.required), key)
    hashes = {}
    if rules.state_asset not in done or resettle:
        recorded = _recorded_hash(store, key)
        hashes = hash_view(node, recorded, manifest.last_block)
    return BatchView(
        key,
        chain_block,
        first_block=manifest.first_block,
        last_block=manifest.last_block,
        materialized=done,
        checks=check_outcomes(instance, rules, key),
        resettle=resettle,
        in_flight=_runs(context, key, IN_FLIGHT),
        failed_attempts=failed_since_settled(context, settle_batch_job.name, key),
        **hashes,
    )


def _recorded_hash(store, key: str) -> int | None:
    return recorded_last_hash(lambda: load_program_output(store, key), store.exists(batch_key(key, PROGRAM_OUTPUT)))


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
        def tick():
            store = artifacts.store()
            cursor = load_cursor(context.cursor)
            index = cursor.get("next", 0)
            client = settlement.client()
            node = functools.cache(madara.client)  # the node is asked only when a batch needs it, once

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
                observe=lambda key, resettle: _observe(
                    context, store, key, chain.block_number, rules, node, resettle=resettle
                ),
                key_of=batch_partition_key, run_key_prefix="settle", runs_of=lambda key: _runs(context, key),
                alerts=alerts, chain_block=chain.block_number, skip_ahead=policy.settle_skip_ahead_per_tick, lost=lost,
            )
            cursor["next"] = index
            newest = latest_materialized_key(context.instance, "state_update")
            if newest is not None:
                watch_settled_hash(
                    context, client=node, cursor=cursor, alerts=alerts, what="batch", key=newest,
                    last_block=load_manifest(store, newest).last_block, recorded=_recorded_hash(store, newest),
                )
            if (
                not cursor.get("stall_alerted")
                and now - cursor["chain_changed_at"] > policy.stall_alert_minutes * 60
                and node().head() > chain.block_number
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

        return refusing_other_chains(context, alerts, "settlement_sensor", tick)

    return settlement_sensor
