"""The ZKsync OS sensors: the batcher (seal and prepare) and the L1 sender (commit, prove, execute).

``zkos_batching_sensor`` reads the node's new blocks, seals batches with the
server's rules (:mod:`orchestrator_pipelines.zksync_os.sealing`), writes each
batch's ``seal.json`` and adds its partition with a ``zkos_prepare_batch``
run in one ``SensorResult``. On its first tick it adds batch 0 (genesis).

``zkos_l1_sensor`` reads L1's three totals once per tick and asks
:mod:`orchestrator_pipelines.zksync_os.settlement_decisions` what is next for
each step; it requests at most one run per step, never while one for the
same step and batch is in flight. A failed run is requested again under a new
run key (the asset checks L1 again and never sends twice).
"""


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

from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.zksync_os.sealing import seal_batches
from orchestrator_pipelines.zksync_os.settlement_decisions import Wait, next_commit, next_execute, next_prepare, next_prove
from orchestrator_pipelines.zksync_os_pipeline.assets import SEAL, read_json, write_json
from orchestrator_pipelines.zksync_os_pipeline.jobs import (
    zkos_commit_job,
    zkos_execute_job,
    zkos_genesis_job,
    zkos_prepare_job,
    zkos_prove_job,
)
from orchestrator_pipelines.zksync_os_pipeline.partitions import newest_batch, zkos_batches_partitions, zkos_key
from orchestrator_pipelines.zksync_os_pipeline.resources import (
    ProverApiResource,
    ZkOsL1Resource,
    ZkOsNodeResource,
    ZkOsPolicyResource,
)
from resources.artifacts import ArtifactStoreResource
from sensors.cursor import dump_cursor, load_cursor

IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def build_zkos_batching_sensor(interval_s: int, default_status: DefaultSensorStatus):
    @sensor(
        name="zkos_batching_sensor",
        jobs=[zkos_genesis_job, zkos_prepare_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Seals ZKsync OS batches from new node blocks (blocks per batch, pubdata, L2→L1 logs, "
        "execution version, timeout) and requests their preparation.",
    )
    def zkos_batching_sensor(
        context: SensorEvaluationContext,
        zkos_node: ZkOsNodeResource,
        zkos_l1: ZkOsL1Resource,
        artifacts: ArtifactStoreResource,
        zkos_policy: ZkOsPolicyResource,
    ):
        store = artifacts.store()
        cursor = load_cursor(context.cursor)
        if "next_block" not in cursor:
            newest = newest_batch(context.instance)
            if newest is None:
                totals = zkos_l1.reader().totals()
                if totals.committed > 0:
                    return SkipReason(
                        f"L1 already has {totals.committed} committed batches this instance did not make; "
                        f"recover its batches before starting the batcher"
                    )
                write_json(store, 0, SEAL, {"first_block": 0, "last_block": 0, "reason": "genesis"})
                return SensorResult(
                    run_requests=[RunRequest(run_key="genesis", job_name=zkos_genesis_job.name, partition_key=zkos_key(0))],
                    dynamic_partitions_requests=[zkos_batches_partitions.build_add_request([zkos_key(0)])],
                    cursor=dump_cursor({"next_block": 1, "next_batch": 1}),
                )
            last = read_json(store, newest, SEAL)["last_block"]
            cursor = {"next_block": last + 1, "next_batch": newest + 1}
        executed = zkos_l1.reader().totals().executed
        cursor.setdefault("next_prepare", executed + 1)
        prepare = _prepare_request(context, store, cursor, zkos_policy.max_prepare_attempts)
        waiting, keys = _seal(context, store, cursor, zkos_node, zkos_policy, executed)
        if isinstance(prepare, RunRequest) or keys:
            return SensorResult(
                run_requests=[prepare] if isinstance(prepare, RunRequest) else [],
                dynamic_partitions_requests=[zkos_batches_partitions.build_add_request(keys)] if keys else [],
                cursor=dump_cursor(cursor),
            )
        return SensorResult(skip_reason=SkipReason(f"{waiting}; {prepare.reason}"), cursor=dump_cursor(cursor))

    return zkos_batching_sensor


def _seal(context: SensorEvaluationContext, store, cursor: dict, zkos_node, zkos_policy, executed: int
          ) -> tuple[str, list[str]]:
    """Seal what the node's new blocks allow, bounded by the batches still waiting for execution.

    Returns why nothing more was sealed and the new partitions; the first of them is prepared at
    the next tick, once the partitions exist.
    """
    next_block, next_batch = cursor["next_block"], cursor["next_batch"]
    waiting = next_batch - 1 - executed
    if waiting >= zkos_policy.max_unexecuted_batches:
        return f"{waiting} batches wait for execution on L1", []
    room = min(zkos_policy.max_batches_per_tick, zkos_policy.max_unexecuted_batches - waiting)
    node = zkos_node.client()
    head = node.head()
    last = min(head, next_block + room * zkos_policy.blocks_per_batch_limit - 1)
    if last < next_block:
        return f"no new block after {next_block - 1}", []
    summaries = [node.block_for_batch(n).summary() for n in range(next_block, last + 1)]
    sealed = seal_batches(summaries, zkos_policy.seal_policy(), first_batch=next_batch, now=time.time())[:room]
    if not sealed:
        return f"batch {next_batch} from block {next_block} still open (head {head})", []
    keys = []
    for batch in sealed:
        write_json(store, batch.batch_number, SEAL,
                   {"first_block": batch.first_block, "last_block": batch.last_block, "reason": batch.reason})
        keys.append(zkos_key(batch.batch_number))
        context.log.info(f"batch {keys[-1]}: blocks {batch.first_block}..{batch.last_block} ({batch.reason})")
    cursor.update(next_block=sealed[-1].last_block + 1, next_batch=sealed[-1].batch_number + 1)
    return f"sealed {len(keys)}", keys


def _prepare_request(context: SensorEvaluationContext, store, cursor: dict, max_attempts: int) -> RunRequest | Wait:
    """The preparation of the oldest sealed batch not yet prepared, when :func:`next_prepare` allows it.

    ``cursor["next_prepare"]`` moves past prepared batches, so a tick looks at one or two partitions.
    """
    sealed_up_to = cursor["next_batch"] - 1
    number = cursor.get("next_prepare", 1)
    while number <= sealed_up_to and is_materialized(context.instance, "zkos_prover_input", zkos_key(number)):
        number += 1
    cursor["next_prepare"] = number
    key = zkos_key(number)
    tags = {"dagster/partition": key}
    decision = next_prepare(
        number,
        sealed_up_to=sealed_up_to,
        previous_prepared=is_materialized(context.instance, "zkos_batch", zkos_key(number - 1)),
        in_flight=bool(_runs(context, zkos_prepare_job.name, tags, IN_FLIGHT)),
        failed_attempts=_runs(context, zkos_prepare_job.name, tags, [DagsterRunStatus.FAILURE]),
        max_attempts=max_attempts,
    )
    if isinstance(decision, Wait):
        return decision
    seal = read_json(store, number, SEAL)
    attempt = _runs(context, zkos_prepare_job.name, tags)
    return RunRequest(
        run_key=f"prepare-{key}" if attempt == 0 else f"prepare-{key}-attempt-{attempt}",
        job_name=zkos_prepare_job.name, partition_key=key,
        tags={"orchestrator/first_block": str(seal["first_block"]), "orchestrator/last_block": str(seal["last_block"])},
    )


def _runs(context: SensorEvaluationContext, job_name: str, tags: dict[str, str], statuses=None) -> int:
    return context.instance.get_runs_count(RunsFilter(job_name=job_name, tags=tags, statuses=statuses or []))


def reap_abandoned_runs(context: SensorEvaluationContext, job_names: list[str], after_s: float) -> list[str]:
    """Mark runs of ``job_names`` failed that have been STARTED for longer than ``after_s``.

    The default run launcher cannot check a run worker's health, so a run whose
    worker died with the daemon (kill -9, a lost machine) stays STARTED forever
    and would hold its step. No ZKsync OS step takes minutes (long waits are the
    sensors'), so one started that long ago is abandoned; its step is requested
    again and the asset resumes from L1 and the recorded transaction hashes.
    """
    now = time.time()
    reaped = []
    records = context.instance.get_run_records(
        RunsFilter(job_name=None, statuses=[DagsterRunStatus.STARTED]), limit=50
    )
    for record in records:
        run = record.dagster_run
        started = record.start_time or (record.create_timestamp.timestamp() if record.create_timestamp else now)
        if run.job_name in job_names and now - started > after_s:
            context.instance.report_run_failed(run, f"run worker gone: STARTED {now - started:.0f} s ago")
            reaped.append(run.run_id)
    return reaped


def _request(context: SensorEvaluationContext, job_name: str, prefix: str, tags: dict[str, str],
             partition_key: str | None = None) -> RunRequest | Wait:
    """One run for this step and batch(es), unless one is in flight; a new run key per attempt."""
    if _runs(context, job_name, tags, IN_FLIGHT):
        return Wait(f"{prefix} is in flight")
    attempt = _runs(context, job_name, tags)
    return RunRequest(run_key=f"{prefix}-attempt-{attempt}", job_name=job_name, partition_key=partition_key, tags=tags)


def build_zkos_l1_sensor(interval_s: int, default_status: DefaultSensorStatus):
    @sensor(
        name="zkos_l1_sensor",
        jobs=[zkos_commit_job, zkos_prove_job, zkos_execute_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Commits, proves and executes ZKsync OS batches strictly in order, judged by L1's totals.",
    )
    def zkos_l1_sensor(
        context: SensorEvaluationContext,
        zkos_l1: ZkOsL1Resource,
        prover_api: ProverApiResource,
        zkos_policy: ZkOsPolicyResource,
    ):
        reaped = reap_abandoned_runs(
            context, [j.name for j in (zkos_prepare_job, zkos_commit_job, zkos_prove_job, zkos_execute_job)],
            zkos_policy.abandoned_run_after_s,
        )
        if reaped:
            context.log.warning(f"marked {len(reaped)} abandoned runs failed: {', '.join(reaped)}")
        l1 = zkos_l1.reader()
        api = prover_api.client()
        totals = l1.totals()
        requests: list[RunRequest] = []
        waits: list[str] = []

        def decide(result):
            if isinstance(result, Wait):
                waits.append(result.reason)
            else:
                requests.append(result)

        # commit
        batch = totals.committed + 1
        key = zkos_key(batch)
        prepared = is_materialized(context.instance, "zkos_prover_input", key)
        fri = api.fri_result(batch) if prepared else None
        commit = next_commit(totals, prepared_up_to=batch if prepared else batch - 1,
                             fri_proven=fri is not None and fri.proof is not None, in_flight=False)
        decide(commit if isinstance(commit, Wait) else
               _request(context, zkos_commit_job.name, f"commit-{key}", {"dagster/partition": key}, partition_key=key))

        # prove
        snark = api.snark_result(totals.verified + 1) if totals.verified < totals.committed else None
        prove = next_prove(totals, snark_range=None if snark is None else (snark.batch_from, snark.batch_to), in_flight=False)
        if isinstance(prove, Wait):
            decide(prove)
        else:
            start, end = zkos_key(prove[0]), zkos_key(prove[1])
            decide(_request(context, zkos_prove_job.name, f"prove-{start}-{end}",
                            {RANGE_START_TAG: start, RANGE_END_TAG: end}))

        # execute
        ready = l1.executable_up_to(totals)
        execute = next_execute(totals, executable_up_to=ready, max_batches=zkos_policy.max_batches_per_execute, in_flight=False)
        if isinstance(execute, Wait):
            decide(execute)
        else:
            start, end = zkos_key(execute[0]), zkos_key(execute[1])
            decide(_request(context, zkos_execute_job.name, f"execute-{start}-{end}",
                            {RANGE_START_TAG: start, RANGE_END_TAG: end}))

        summary = f"L1 committed {totals.committed}, verified {totals.verified}, executed {totals.executed}"
        if not requests:
            return SkipReason(f"{summary}; " + "; ".join(waits))
        context.log.info(summary + "".join(f"; {w}" for w in waits))
        return SensorResult(run_requests=requests)

    return zkos_l1_sensor
