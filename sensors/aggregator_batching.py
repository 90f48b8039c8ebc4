"""The aggregator batching sensor: cuts new blocks into aggregator batches and SNOS batches.

Per tick: load the batching state (``aggregator_batches/batching_state.json``:
the next block and indexes, the open aggregator batch and its squashed diff),
read the new blocks' headers and state updates, apply the pure rules of
``orchestrator_pipelines.aggregation_batching``, write what they closed
(``opened.json`` of a new aggregator batch, each closed SNOS batch's manifest,
each closed aggregator batch's manifest), then the new state, and in one
``SensorResult`` add the new aggregator batch partitions and request their
aggregations opened and the closed SNOS batches proven.

A node fault in the middle of the reads does not lose them: the blocks read
before it are offered to the rules, and the state they leave (the open batch
and its squashed diff included) is written as on any tick, so the next tick
reads from the first block not yet batched.

The state lives in the artifact store, not in the cursor: it holds a squashed
diff that grows with the open batch, and it must survive a cursor reset.
Everything it writes is written before the partitions and runs are requested,
and the aggregation sensor re-requests from the written manifests whatever a
lost tick did not, so a crash between the two loses nothing.

With ``ORCHESTRATOR_AGGREGATION=auto`` the direct pipeline batches the blocks
before Starknet 0.14; this sensor starts at the first block the direct
batches do not cover, once that block is 0.14 or later.
"""

from __future__ import annotations

import time

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from orchestrator_pipelines.aggregation_batching import AggregationBlock, AggregatorBatchingState, advance
from orchestrator_pipelines.aggregation_jobs import open_aggregation_job, prove_snos_batch_job
from orchestrator_pipelines.aggregation_partitions import (
    aggregator_batches_partitions,
    aggregator_index,
    aggregator_key,
    snos_partition_key,
)
from orchestrator_pipelines.assets.aggregation_common import (
    AGGREGATION_ATTEMPT_TAG,
    MANIFEST,
    OPENED,
    aggregator_artifact,
    batching_state_key,
    snos_artifact,
)
from orchestrator_pipelines.assets.common import load_manifest, write_json_at
from orchestrator_pipelines.aggregation_decisions import Action
from orchestrator_pipelines.partitions import last_batch_key, latest_materialized_key
from orchestrator_pipelines.starknet.da_encoding import parse_starknet_version
from resources.artifacts import ArtifactStoreResource
from resources.alerts import AlertsResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import AGGREGATED_FROM_VERSION, PipelinePolicyResource
from sensors.peer_guard import refusing_other_chains
from sensors.block_reads import fault_note, read_until_fault

MAX_BLOCKS_PER_TICK = 200


def load_batching_state(store) -> AggregatorBatchingState | None:
    key = batching_state_key()
    return AggregatorBatchingState.from_json(store.get_bytes(key)) if store.exists(key) else None


def _first_block(context, store, settlement: SettlementResource, policy: PipelinePolicyResource) -> int:
    """Where aggregation starts on a fresh deployment: after L1, MIN_BLOCK, and (auto) the direct batches."""
    start = max(policy.min_block or 0, settlement.client().state().block_number + 1)
    if policy.aggregation == "auto":
        newest = last_batch_key(context.instance)
        if newest is not None:
            start = max(start, load_manifest(store, newest).last_block + 1)
    return start


def build_aggregator_batching_sensor(interval_s: int, default_status: DefaultSensorStatus, max_children: int):
    @sensor(
        name="aggregator_batching_sensor",
        jobs=[open_aggregation_job, prove_snos_batch_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Cuts new Madara blocks into aggregator batches (size, time, blob budget, version, aggregator "
        "input) and SNOS batches inside them; opens aggregations and starts SNOS batches as their blocks exist.",
    )
    def aggregator_batching_sensor(
        context: SensorEvaluationContext,
        madara: MadaraRpcResource,
        artifacts: ArtifactStoreResource,
        settlement: SettlementResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        def tick():
            store = artifacts.store()
            client = madara.client()
            state = load_batching_state(store)
            fresh = state is None
            if state is None:
                state = AggregatorBatchingState(next_block=_first_block(context, store, settlement, policy))

            settled = latest_materialized_key(context.instance, "aggregator_state_update")
            waiting = state.next_aggregator_index - (aggregator_index(settled) + 1 if settled else 0)
            if waiting > policy.max_unsettled_batches:
                return SkipReason(f"{waiting} aggregator batches wait for settlement")

            head = client.head()
            last = head if policy.max_block is None else min(head, policy.max_block)
            last = min(last, state.next_block + MAX_BLOCKS_PER_TICK - 1)
            if fresh and policy.aggregation == "auto" and last >= state.next_block:
                header = client.block(state.next_block)
                if parse_starknet_version(header.starknet_version) < parse_starknet_version(AGGREGATED_FROM_VERSION):
                    return SkipReason(
                        f"block {state.next_block} is Starknet {header.starknet_version}: the direct pipeline settles it "
                        f"(aggregation from {AGGREGATED_FROM_VERSION})"
                    )

            def read(number: int) -> AggregationBlock:
                header = client.block(number)
                return AggregationBlock(
                    number=number,
                    timestamp=header.timestamp,
                    starknet_version=header.starknet_version,
                    state_update=client.state_update(number),
                )

            blocks, fault = read_until_fault(range(state.next_block, last + 1), read)
            if fault is not None and not blocks:
                raise fault  # nothing read: the tick fails with the fault, the state is unchanged
            note = fault_note(state.next_block, len(blocks), last, fault) if fault else None
            if note:
                context.log.warning(note)
            step = advance(state, blocks, policy.aggregation_policy(), now=time.time())

            for index in step.opened:
                opened = step.state.open if step.state.open is not None and step.state.open.index == index else None
                first = opened.first_block if opened else next(m.first_block for m in step.aggregator_closed if m.index == index)
                write_json_at(store, aggregator_artifact(aggregator_key(index), OPENED),
                              {"index": index, "first_block": first, "opened_at": time.time()})
            for manifest in step.snos_closed:
                store.put_bytes(snos_artifact(aggregator_key(manifest.aggregator_index), manifest.position, MANIFEST),
                                manifest.to_json())
            for manifest in step.aggregator_closed:
                store.put_bytes(aggregator_artifact(aggregator_key(manifest.index), MANIFEST), manifest.to_json())
            store.put_bytes(batching_state_key(), step.state.to_json())

            requests = []
            for index in step.opened:
                action = Action("open", aggregator_key(index), 1)
                requests.append(RunRequest(
                    run_key=action.run_key, partition_key=action.aggregator, job_name=open_aggregation_job.name,
                    tags={AGGREGATION_ATTEMPT_TAG: "1"},
                ))
            for manifest in step.snos_closed:
                key = aggregator_key(manifest.aggregator_index)
                action = Action("prove_child", key, 1, manifest.position)
                requests.append(RunRequest(
                    run_key=action.run_key,
                    partition_key=snos_partition_key(key, manifest.position, max_children),
                    job_name=prove_snos_batch_job.name,
                    tags={AGGREGATION_ATTEMPT_TAG: "1"},
                ))
            for manifest in step.aggregator_closed:
                context.log.info(
                    f"aggregator batch {aggregator_key(manifest.index)}: blocks {manifest.first_block}..{manifest.last_block} "
                    f"in {len(manifest.snos_batches)} SNOS batches ({manifest.close_reason})"
                )
            if step.stalled:
                context.log.warning(f"aggregator batching stopped: {step.stalled}")
            if not requests and not step.aggregator_closed:
                open_batch = step.state.open
                reason = step.stalled or note or (
                    f"aggregator batch {aggregator_key(open_batch.index)} open at blocks "
                    f"{open_batch.first_block}..{open_batch.last_block} (head {head})"
                    if open_batch else f"no new block after {step.state.next_block - 1}"
                )
                return SkipReason(reason)
            partitions = [aggregator_key(i) for i in step.opened]
            return SensorResult(
                run_requests=requests,
                dynamic_partitions_requests=[aggregator_batches_partitions.build_add_request(partitions)] if partitions else [],
            )

        return refusing_other_chains(context, alerts, "aggregator_batching_sensor", tick)

    return aggregator_batching_sensor
