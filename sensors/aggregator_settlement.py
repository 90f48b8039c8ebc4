"""The aggregator settlement sensor: one ``updateStateKzgDA`` per aggregator batch, strictly in order.

The same rules as the direct pipeline's settlement sensor, over aggregator
batches: read the core contract's ``stateBlockNumber``; request batch n only
when the chain is exactly at the block before it (or already covers it, so the
run records it without sending), its aggregation is recorded (aggregator
proof, blobs) with their checks passed for the batch (the aggregator fact
valid on L1, the blobs opening at x_0; a failed one holds the batch with one
alert until a newer evaluation passes) and no settle run for it is in flight; a failed settle run is
requested again up to ``max_settle_attempts``, then an alert waits for an
operator. Recorded settlements are re-checked against L1 until final, and one
a reorganisation took back is settled again, as in the direct pipeline
(:mod:`sensors.settlement_watch`). The block hash rules and the chain id
guard are the direct sensor's (:mod:`sensors.l2_hashes`, :mod:`sensors.peer_guard`).

Retention: aggregator batches settled more than ``settled_retention_hours``
ago leave the ``aggregator_batches`` partition set, a bounded number per tick,
so both levels' partition counts stay at a steady state however long the chain
runs. Their artifacts (manifests, PIEs, DA segment, transaction record) and
their L1 records stay: the status of a block is still answered from them
(:func:`orchestrator_pipelines.aggregation_status.find_block`).
"""

from __future__ import annotations

import functools
import time

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from orchestrator_pipelines.aggregation_batching import AggregatorBatchManifest
from orchestrator_pipelines.aggregation_jobs import settle_aggregator_batch_job
from orchestrator_pipelines.aggregation_partitions import AGGREGATOR_BATCHES, aggregator_batches_partitions, aggregator_key
from orchestrator_pipelines.partitions import batch_index, latest_materialized_key
from orchestrator_pipelines.assets.aggregation_common import MANIFEST, PROGRAM_OUTPUT, aggregator_artifact
from orchestrator_pipelines.assets.aggregator_batch import aggregated_output
from orchestrator_pipelines.assets.aggregator_batch import AGGREGATOR_FACT_CHECK, SEGMENT_OPENS_CHECK
from orchestrator_pipelines.settlement_gating import BatchView, aggregated_rules
from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from sensors.cursor import dump_cursor, load_cursor
from sensors.l2_hashes import hash_view, recorded_last_hash, watch_settled_hash
from sensors.peer_guard import refusing_other_chains
from sensors.settlement import IN_FLIGHT
from sensors.settlement_gates import check_outcomes, materialized, next_settlement
from sensors.settlement_watch import failed_since_settled, watch_recorded_settlements

RETIRE_PER_TICK = 200


def _runs(context: SensorEvaluationContext, key: str, statuses=None) -> int:
    return context.instance.get_runs_count(
        RunsFilter(job_name=settle_aggregator_batch_job.name, tags={"dagster/partition": key}, statuses=statuses or [])
    )


def settled_at(instance, key: str) -> float | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("aggregator_state_update"), asset_partitions=[key]), limit=1
    ).records
    return records[0].timestamp if records else None


def _manifest(store, key: str) -> AggregatorBatchManifest | None:
    manifest_key = aggregator_artifact(key, MANIFEST)
    return AggregatorBatchManifest.from_json(store.get_bytes(manifest_key)) if store.exists(manifest_key) else None


def _recorded_hash(store, key: str) -> int | None:
    exists = store.exists(aggregator_artifact(key, PROGRAM_OUTPUT))
    return recorded_last_hash(lambda: aggregated_output(store, key), exists)


def _observe(context, store, key: str, chain_block: int, rules, node, *, resettle: bool) -> BatchView:
    """Gather what :func:`decide` needs about aggregator batch ``key``: none of it before the batch is closed."""
    manifest = _manifest(store, key)
    if manifest is None:
        return BatchView(key, chain_block)
    instance = context.instance
    done = materialized(instance, (rules.state_asset, *rules.required), key)
    hashes = {}
    if rules.state_asset not in done or resettle:
        hashes = hash_view(node, _recorded_hash(store, key), manifest.last_block)
    return BatchView(
        key,
        chain_block,
        first_block=manifest.first_block,
        last_block=manifest.last_block,
        materialized=done,
        checks=check_outcomes(instance, rules, key),
        resettle=resettle,
        in_flight=_runs(context, key, IN_FLIGHT),
        failed_attempts=failed_since_settled(context, settle_aggregator_batch_job.name, key),
        **hashes,
    )


def build_aggregator_settlement_sensor(interval_s: int, default_status: DefaultSensorStatus):
    @sensor(
        name="aggregator_settlement_sensor",
        job=settle_aggregator_batch_job,
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Requests updateStateKzgDA for aggregator batch n only after batch n-1 is settled on L1; "
        "retires settled aggregator batches past the retention window from the partition set.",
    )
    def aggregator_settlement_sensor(
        context: SensorEvaluationContext,
        settlement: SettlementResource,
        artifacts: ArtifactStoreResource,
        madara: MadaraRpcResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        tick = lambda: _tick(context, settlement, artifacts, madara, policy, alerts)  # noqa: E731
        return refusing_other_chains(context, alerts, "aggregator_settlement_sensor", tick)

    return aggregator_settlement_sensor


def _tick(context, settlement, artifacts, madara, policy, alerts) -> SensorResult:
    """One tick of the aggregator settlement sensor (the guard around it refuses peers of another chain)."""
    instance = context.instance
    store = artifacts.store()
    cursor = load_cursor(context.cursor)
    index = cursor.get("next", 0)
    client = settlement.client()
    node = functools.cache(madara.client)  # the node is asked only when a batch needs it, once

    chain = client.state()
    lost, check_events = watch_recorded_settlements(
        context, client=client, chain=chain, cursor=cursor, asset="aggregator_state_update",
        key_of=aggregator_key, alerts=alerts, what="aggregator batch",
    )
    if lost is not None:
        index = min(index, batch_index(lost.key))

    rules = aggregated_rules(
        fact_check=AGGREGATOR_FACT_CHECK, opens_check=SEGMENT_OPENS_CHECK, max_attempts=policy.max_settle_attempts
    )
    result, index = next_settlement(
        context, cursor=cursor, index=index, rules=rules,
        observe=lambda key, resettle: _observe(context, store, key, chain.block_number, rules, node, resettle=resettle),
        key_of=aggregator_key, run_key_prefix="settle-agg", runs_of=lambda key: _runs(context, key),
        alerts=alerts, chain_block=chain.block_number, skip_ahead=policy.settle_skip_ahead_per_tick, lost=lost,
    )
    cursor["next"] = index
    newest = latest_materialized_key(instance, "aggregator_state_update")
    newest_manifest = _manifest(store, newest) if newest is not None else None
    if newest_manifest is not None:
        watch_settled_hash(
            context, client=node, cursor=cursor, alerts=alerts, what="aggregator batch", key=newest,
            last_block=newest_manifest.last_block, recorded=_recorded_hash(store, newest),
        )

    retire, cursor["retired"] = _retirable(
        instance, cursor.get("retired", 0), index, policy.settled_retention_hours * 3600.0
    )
    if retire:
        context.log.info(f"retiring settled aggregator batches {retire[0]}..{retire[-1]} from the partition set")
    deletions = [aggregator_batches_partitions.build_delete_request(retire)] if retire else []
    if isinstance(result, RunRequest):
        return SensorResult(
            run_requests=[result], dynamic_partitions_requests=deletions, asset_events=check_events,
            cursor=dump_cursor(cursor),
        )
    return SensorResult(
        skip_reason=result, dynamic_partitions_requests=deletions, asset_events=check_events,
        cursor=dump_cursor(cursor),
    )


def _retirable(instance, first: int, settled_upto: int, retention_s: float) -> tuple[list[str], int]:
    """(partitions to delete, next index to look at): settled batches from ``first`` on, settled before the window."""
    keys = []
    now = time.time()
    index = first
    while index < min(settled_upto, first + RETIRE_PER_TICK):
        key = aggregator_key(index)
        when = settled_at(instance, key)
        if when is None or now - when < retention_s:
            break
        if instance.has_dynamic_partition(AGGREGATOR_BATCHES, key):
            keys.append(key)
        index += 1
    return keys, index
