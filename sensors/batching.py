"""The batching sensor: watches the chain head and closes batches.

Per tick: read the head, summarize the blocks after the last closed batch
(header + state-update size), apply the closing rules of
``orchestrator_pipelines.batching``, write each closed batch's manifest to the
artifact store, then add the partitions and request one ``prepare_batch`` run
per batch (run key = batch key) in a single ``SensorResult``. A batch whose
latest prepare run failed before it started (its launch failed), or failed
because Dagster's own database was lost in a step, is requested again
(:func:`relaunch_requests`).

A node fault in the middle of the reads does not lose them: the blocks read
before it are cut into batches as usual (the open batch is not closed by age,
as its next blocks exist), and the summaries of the open batch's blocks stay
in the cursor (``open_blocks``, at most ``max_batch_blocks`` of them), so the
next tick reads from the first block it does not have.

A node or L1 RPC reporting another chain id than the configured one stops
the tick with one line and an alert, the cursor unchanged (:mod:`sensors.peer_guard`).

No run storm on first start: the first block is the one after what the core
contract already settled (or MIN_BLOCK), at most ``max_batches_per_tick``
batches close per tick, and no new batch closes while
``max_unsettled_batches`` are still waiting for settlement.
"""

import time
from dataclasses import astuple

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

from orchestrator_pipelines.assets.common import MANIFEST, load_manifest
from orchestrator_pipelines.batching import BlockSummary, close_batches, da_felts_upper_bound, unsupported_block
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.jobs import prepare_batch_job
from orchestrator_pipelines.runbook import clear_close_open, close_open_requested
from orchestrator_pipelines.partitions import (
    batch_index,
    batch_partition_key,
    batches_partitions,
    last_batch_key,
    latest_materialized_key,
)
from orchestrator_pipelines.starknet.state_update import StateUpdate
from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from sensors.block_reads import fault_note, read_until_fault
from sensors.cursor import dump_cursor, load_cursor
from sensors.peer_guard import refusing_other_chains
from sensors.settlement_watch import fresh_run_key
from sensors.storage_failures import failed_on_storage, step_failure_errors

FIRST_BLOCK_TAG = "orchestrator/first_block"
LAST_BLOCK_TAG = "orchestrator/last_block"
OPEN_BLOCKS = "open_blocks"
WILL_RETRY_TAG = "dagster/will_retry"
# Failed prepare runs looked at per tick (newest first): a launch failure is found within a few ticks.
RELAUNCH_LOOKBACK = 20
# Runs of one batch requested again after losing Dagster's database; past that an operator looks (the alert).
MAX_STORAGE_RELAUNCHES = 3
RELAUNCHED_TAG = "orchestrator/relaunched"


def summarize(update: StateUpdate, number: int, timestamp: int, version: str) -> BlockSummary:
    diff = update.state_diff
    writes: dict[int, int] = {}
    for entry in diff.storage_diffs:
        writes[entry.address] = writes.get(entry.address, 0) + len(entry.storage_entries)
    contracts = {n.contract_address for n in diff.nonces}
    class_changes = {d.address for d in diff.deployed_contracts} | {r.contract_address for r in diff.replaced_classes}
    bound = da_felts_upper_bound(writes, contracts | class_changes, class_changes, len(diff.declared_classes))
    return BlockSummary(number=number, timestamp=timestamp, starknet_version=version, da_felts_bound=bound)


def read_summary(client: MadaraClient, number: int) -> BlockSummary:
    header = client.block(number)
    return summarize(client.state_update(number), number, header.timestamp, header.starknet_version)


def kept_blocks(cursor: dict, next_block: int) -> list[BlockSummary]:
    """The block summaries an earlier tick read and left open, from ``next_block`` on without a gap."""
    kept: list[BlockSummary] = []
    for raw in cursor.get(OPEN_BLOCKS, []):
        summary = BlockSummary(*raw)
        if summary.number < next_block:
            continue
        if summary.number != next_block + len(kept):
            break
        kept.append(summary)
    return kept


def _start(context: SensorEvaluationContext, store, settlement: SettlementResource, policy) -> tuple[int, int]:
    """Where batching resumes: after the newest batch, else after what L1 already has."""
    newest = last_batch_key(context.instance)
    if newest is not None:
        return load_manifest(store, newest).last_block + 1, batch_index(newest) + 1
    settled = settlement.client().state().block_number
    return max(policy.min_block or 0, settled + 1), 0


def relaunch_requests(context: SensorEvaluationContext) -> list[RunRequest]:
    """A new ``prepare_batch`` run for each batch whose latest one failed for a reason outside the batch.

    A run whose launch failed (the code server was down or restarting when the
    daemon launched it) is marked failed without ever running, and Dagster's run
    retries do not retry it (``dagster/will_retry`` is false). A run whose step
    lost Dagster's own database mid-write (:mod:`sensors.storage_failures`)
    is a step failure, which run retries skip too. The batch was requested once,
    by its run key, so nothing would ever prepare it again, and every later
    batch would wait behind it for settlement. Any other failure is the step's
    verdict and is left alone (the run failure alert goes out); so is a batch
    whose runs lost the database ``MAX_STORAGE_RELAUNCHES`` times already.
    """
    instance = context.instance
    requests, seen = [], set()
    failed = instance.get_run_records(
        RunsFilter(job_name=prepare_batch_job.name, statuses=[DagsterRunStatus.FAILURE]), limit=RELAUNCH_LOOKBACK
    )
    for record in failed:
        run = record.dagster_run
        key = run.tags.get("dagster/partition")
        if key is None or key in seen or run.tags.get(WILL_RETRY_TAG) == "true":
            continue
        seen.add(key)
        runs = instance.get_run_records(RunsFilter(job_name=prepare_batch_job.name, tags={"dagster/partition": key}), limit=1)
        if not runs or runs[0].dagster_run.run_id != run.run_id:
            continue  # a later run of the batch exists
        tags = {tag: run.tags[tag] for tag in (FIRST_BLOCK_TAG, LAST_BLOCK_TAG) if tag in run.tags}
        if record.start_time is None:
            why = "failed before it started"
        elif failed_on_storage(step_failure_errors(instance, run.run_id)):
            relaunched = instance.get_runs_count(RunsFilter(
                job_name=prepare_batch_job.name, tags={"dagster/partition": key, RELAUNCHED_TAG: "storage"}
            ))
            if relaunched >= MAX_STORAGE_RELAUNCHES:
                continue
            why = "lost Dagster's database in a step"
            tags[RELAUNCHED_TAG] = "storage"
        else:
            continue
        context.log.warning(f"batch {key}: prepare run {run.run_id} {why}; requesting it again")
        count = instance.get_runs_count(RunsFilter(job_name=prepare_batch_job.name, tags={"dagster/partition": key}))
        requests.append(RunRequest(run_key=fresh_run_key(context, f"prepare-{key}", count), partition_key=key, tags=tags))
    return requests


def build_batching_sensor(interval_s: int, default_status: DefaultSensorStatus):
    def close_new_batches(
        context: SensorEvaluationContext,
        madara: MadaraRpcResource,
        artifacts: ArtifactStoreResource,
        settlement: SettlementResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        store = artifacts.store()
        cursor = load_cursor(context.cursor)
        if "next_block" not in cursor:
            cursor["next_block"], cursor["next_index"] = _start(context, store, settlement, policy)
        next_block, next_index = cursor["next_block"], cursor["next_index"]

        settled = latest_materialized_key(context.instance, "state_update")
        waiting = next_index - (batch_index(settled) + 1 if settled else 0)
        if waiting >= policy.max_unsettled_batches:
            return SensorResult(skip_reason=SkipReason(f"{waiting} batches wait for settlement"), cursor=dump_cursor(cursor))

        # Never more unsettled batches than the cap, however many one tick could close.
        room = min(policy.max_batches_per_tick, policy.max_unsettled_batches - waiting)
        client = madara.client()
        head = client.head()
        last = head if policy.max_block is None else min(head, policy.max_block)
        budget = room * policy.max_batch_blocks
        if policy.max_blocks_per_tick is not None:
            budget = min(budget, policy.max_blocks_per_tick)
        last = min(last, next_block + budget - 1)
        if last < next_block:
            if close_open_requested(context.instance):
                clear_close_open(context.instance)  # nothing open to close
            return SensorResult(skip_reason=SkipReason(f"no new block after {next_block - 1}"), cursor=dump_cursor(cursor))

        blocks = kept_blocks(cursor, next_block)[: last - next_block + 1]
        read, fault = read_until_fault(range(next_block + len(blocks), last + 1), lambda n: read_summary(client, n))
        if fault is not None and not read:
            raise fault  # nothing new: the tick fails with the fault, the cursor is unchanged
        blocks += read
        note = fault_note(next_block + len(blocks) - len(read), len(read), last, fault) if fault else None
        if note:
            context.log.warning(note)
        close_open = close_open_requested(context.instance) and fault is None
        manifests = close_batches(
            blocks, policy.batch_policy(), first_index=next_index, now=time.time(), close_open=close_open,
            more_blocks=fault is not None,
        )
        manifests = manifests[:room]
        after = manifests[-1].last_block + 1 if manifests else next_block
        cursor[OPEN_BLOCKS] = [astuple(b) for b in blocks if b.number >= after][: policy.max_batch_blocks]
        halt = unsupported_block(blocks)
        if halt is not None and (manifests[-1].last_block + 1 if manifests else next_block) == halt[0].number:
            block, reason = halt
            stopped = f"batching stopped at block {block.number}: {reason}"
            if cursor.get("unsupported_alerted") != block.number:
                alerts.sink(context.log).send(Alert(
                    title=f"Batching stopped: block {block.number} has Starknet version {block.starknet_version}",
                    text=f"{reason}; blocks up to {block.number - 1} are batched, nothing after is encoded. "
                    "Upgrade the orchestrator, then the sensor resumes from this block.",
                    severity="critical",
                    fields={"block": block.number, "starknet_version": block.starknet_version},
                ))
                cursor["unsupported_alerted"] = block.number
            if not manifests:
                return SensorResult(skip_reason=SkipReason(stopped), cursor=dump_cursor(cursor))
        if not manifests:
            return SensorResult(
                skip_reason=SkipReason(note or f"batch from block {next_block} still open (head {head})"),
                cursor=dump_cursor(cursor),
            )

        keys, requests = [], []
        for manifest in manifests:
            key = batch_partition_key(manifest.index)
            store.put_bytes(batch_key(key, MANIFEST), manifest.to_json())
            keys.append(key)
            requests.append(
                RunRequest(
                    run_key=f"prepare-{key}",
                    partition_key=key,
                    tags={FIRST_BLOCK_TAG: str(manifest.first_block), LAST_BLOCK_TAG: str(manifest.last_block)},
                )
            )
            context.log.info(
                f"batch {key}: blocks {manifest.first_block}..{manifest.last_block} ({manifest.close_reason})"
            )
        cursor = {
            **cursor, "next_block": manifests[-1].last_block + 1, "next_index": manifests[-1].index + 1
        }
        if close_open and manifests[-1].close_reason == "operator":
            clear_close_open(context.instance)
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[batches_partitions.build_add_request(keys)],
            cursor=dump_cursor(cursor),
        )

    @sensor(
        name="batching_sensor",
        job=prepare_batch_job,
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Closes batches from new Madara blocks (max blocks, max age, max blobs, version change; "
        "stops at an unsupported Starknet version) "
        "and requests their preparation.",
    )
    def batching_sensor(
        context: SensorEvaluationContext,
        madara: MadaraRpcResource,
        artifacts: ArtifactStoreResource,
        settlement: SettlementResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        relaunch = relaunch_requests(context)
        result = refusing_other_chains(
            context, alerts, "batching_sensor",
            lambda: close_new_batches(context, madara, artifacts, settlement, policy, alerts),
        )
        if not relaunch:
            return result
        return SensorResult(
            run_requests=relaunch + list(result.run_requests or []),
            dynamic_partitions_requests=result.dynamic_partitions_requests,
            cursor=result.cursor,
        )

    return batching_sensor
