"""The aggregation sensor: drives every unsettled aggregator batch through its aggregation.

Per tick, for each aggregator batch between the newest settled one and the
open one (bounded by the unsettled-batch limit), it gathers what exists (the
SNOS batches closed so far, which were run and submitted to which aggregation,
whether the aggregation was opened, closed and recorded), asks the prover
about a closed aggregation still in flight, and requests what the pure
``orchestrator_pipelines.aggregation_decisions.decide`` returns: open an
aggregation, prove or resubmit SNOS batches, close the aggregation, record
the result. A failed aggregation (a failed child fails its Atlantic bucket)
raises an alert naming the batch and the reason, once per attempt, and is
rebuilt from a new aggregation; so is one still not DONE
``aggregation_timeout_s`` after it was closed (a bucket that never finishes).

It also adds any aggregator batch partition that the batching sensor wrote but
could not add (a tick that failed after writing), so nothing written is lost.

The batching sensor requests the first attempt's ``open`` and ``prove_child``
runs as it closes batches, under the run keys this sensor uses for them. Dagster
skips a run key only among the runs of the sensor requesting it, so this sensor
leaves out a request whose run key already has a live or successful run from
any sensor: without that, each aggregation was opened twice and each SNOS
batch's OS run and child submission ran twice.
"""

from __future__ import annotations

import time

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import RUN_KEY_TAG

from orchestrator_pipelines.aggregation_decisions import AggregatorBatchView, decide
from orchestrator_pipelines.aggregation_jobs import JOB_FOR_ACTION
from orchestrator_pipelines.aggregation_partitions import (
    AGGREGATOR_BATCHES,
    aggregator_batches_partitions,
    aggregator_index,
    aggregator_key,
    snos_partition_key,
)
from orchestrator_pipelines.assets.aggregation_common import (
    AGGREGATION_ATTEMPT_TAG,
    AGGREGATION_CLOSED,
    CHILD_SUBMISSION,
    PROGRAM_OUTPUT,
    aggregator_artifact,
    current_aggregation,
    read_json_at,
    snos_artifact,
)
from orchestrator_pipelines.aggregation_batching import AggregatorBatchManifest
from orchestrator_pipelines.assets.aggregation_common import MANIFEST
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.errors import TransientError
from orchestrator_pipelines.partitions import is_materialized, latest_materialized_key
from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.policy import PipelinePolicyResource
from resources.prover import ProverResource
from sensors.aggregator_batching import load_batching_state
from sensors.cursor import dump_cursor, load_cursor


def gather_view(store, instance, key: str, open_children: tuple[int, ...] | None) -> AggregatorBatchView:
    """What exists for aggregator batch ``key`` (artifacts are the record the assets write)."""
    manifest_key = aggregator_artifact(key, MANIFEST)
    n_children = None
    if store.exists(manifest_key):
        manifest = AggregatorBatchManifest.from_json(store.get_bytes(manifest_key))
        n_children = len(manifest.snos_batches)
        children = tuple(range(1, n_children + 1))
    else:
        children = open_children or ()
    aggregation = current_aggregation(store, key)
    if aggregation is None:
        return AggregatorBatchView(key, children=children, n_children=n_children)
    aggregation_id = aggregation["aggregation_id"]
    submitted, outputs = set(), set()
    for position in children:
        if store.exists(snos_artifact(key, position, PROGRAM_OUTPUT)):
            outputs.add(position)
        submission_key = snos_artifact(key, position, CHILD_SUBMISSION)
        if store.exists(submission_key) and read_json_at(store, submission_key)["aggregation_id"] == aggregation_id:
            submitted.add(position)
    closed_key = aggregator_artifact(key, AGGREGATION_CLOSED)
    closed = read_json_at(store, closed_key) if store.exists(closed_key) else None
    recorded_id = None
    output_key = aggregator_artifact(key, PROGRAM_OUTPUT)
    if store.exists(output_key) and is_materialized(instance, "aggregator_da_blob", key):
        recorded_id = read_json_at(store, output_key).get("aggregation_id")
    return AggregatorBatchView(
        key,
        children=children,
        n_children=n_children,
        attempt=aggregation["attempt"],
        aggregation_id=aggregation_id,
        submitted=frozenset(submitted),
        outputs=frozenset(outputs),
        closed_id=closed["aggregation_id"] if closed else None,
        recorded_id=recorded_id,
        closed_at=closed.get("closed_at") if closed else None,
    )


# The actions the batching sensor also requests, under the same run keys. A failed or canceled run of
# the batching sensor's is still requested once from here, as before: only a duplicate of a live or
# successful run is left out.
REQUESTED_BY_BATCHING = frozenset({"open", "prove_child"})
NOT_FAILED = [
    DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
    DagsterRunStatus.SUCCESS,
]


def build_aggregation_sensor(interval_s: int, default_status: DefaultSensorStatus, max_children: int):
    @sensor(
        name="aggregation_sensor",
        jobs=list(JOB_FOR_ACTION.values()),
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Drives each unsettled aggregator batch: opens its aggregation (bucket), proves and submits "
        "its SNOS batches, closes the aggregation, records the prover's result; rebuilds a failed aggregation.",
    )
    def aggregation_sensor(
        context: SensorEvaluationContext,
        artifacts: ArtifactStoreResource,
        prover: ProverResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        store = artifacts.store()
        state = load_batching_state(store)
        if state is None:
            return SkipReason("no aggregator batch yet")
        cursor = load_cursor(context.cursor)
        alerted: dict[str, int] = cursor.get("alerted", {})
        instance = context.instance
        settled = latest_materialized_key(instance, "aggregator_state_update")
        start = aggregator_index(settled) + 1 if settled else 0
        stop = min(state.next_aggregator_index + (1 if state.open is not None else 0), start + policy.max_unsettled_batches)
        client = None
        requests, missing_partitions, waiting = [], [], []
        for index in range(start, stop):
            key = aggregator_key(index)
            if not instance.has_dynamic_partition(AGGREGATOR_BATCHES, key):
                missing_partitions.append(key)
            open_children = None
            if state.open is not None and state.open.index == index:
                open_children = tuple(range(1, len(state.open.snos_batches) + 1))
            view = gather_view(store, instance, key, open_children)
            if view.needs_status:
                client = client or prover.aggregating_client()
                poll_id = view.aggregation_id
                if view.closed_for_current:
                    poll_id = read_json_at(store, aggregator_artifact(key, AGGREGATION_CLOSED))["poll_id"]
                try:
                    status = client.aggregation_status(poll_id)
                except TransientError as exc:
                    context.log.warning(f"aggregator batch {key}: prover status unavailable: {exc}")
                    waiting.append(f"{key}: prover unreachable")
                    continue
                detail = status.detail or status.service_status
                if status.failed_children:
                    names = ", ".join(f"child {c.index} ({c.job_id}): {c.detail}" for c in status.failed_children)
                    detail = f"{status.service_status}: failed {names}"
                view = AggregatorBatchView(**{**view.__dict__, "status": status.state, "detail": detail})
            decision = decide(
                view, max_attempts=policy.max_proof_attempts, timeout_s=policy.aggregation_timeout_s, now=time.time()
            )
            for note in decision.alerts:
                if alerted.get(key) == view.attempt:
                    continue
                alerts.sink(context.log).send(Alert(
                    title=note.title, text=note.text, severity=note.severity,
                    fields={"aggregator_batch": key, "attempt": str(view.attempt)},
                ))
                alerted[key] = view.attempt
            for action in decision.actions:
                if action.kind in REQUESTED_BY_BATCHING and instance.get_runs_count(
                    RunsFilter(tags={RUN_KEY_TAG: action.run_key}, statuses=NOT_FAILED)
                ):
                    continue  # the batching sensor's run is in flight or done: requesting it again runs it twice
                partition = (
                    snos_partition_key(key, action.position, max_children) if action.position is not None else key
                )
                requests.append(RunRequest(
                    run_key=action.run_key,
                    partition_key=partition,
                    job_name=JOB_FOR_ACTION[action.kind].name,
                    tags={AGGREGATION_ATTEMPT_TAG: str(action.attempt)},
                ))
            if decision.waiting_for:
                waiting.append(f"{key} waits for {decision.waiting_for}")
        cursor["alerted"] = {k: v for k, v in alerted.items() if aggregator_index(k) >= start}
        partitions = [aggregator_batches_partitions.build_add_request(missing_partitions)] if missing_partitions else []
        if not requests and not partitions:
            return SensorResult(skip_reason=SkipReason("; ".join(waiting) or "nothing to do"), cursor=dump_cursor(cursor))
        return SensorResult(run_requests=requests, dynamic_partitions_requests=partitions, cursor=dump_cursor(cursor))

    return aggregation_sensor
