"""The rules an operator relies on, checked on the real sensors against a devnet whose blocks the test makes.

Batching: bounded work per tick, no gap and no overlap, restart after a cursor
reset, a cap on unsettled batches, the age rule. Proving: failed queries are
resubmitted under a new dedup id, then alerted. Settlement: strictly in chain
order, never twice at once, alert after repeated failures, and a batch already
on L1 is recorded without a second transaction. Failed runs alert with the job
and batch in the subject. The code location loads, and a bad setting is one
readable line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance, DagsterRunStatus

from orchestrator_pipelines.assets.common import MANIFEST, blob_name, load_manifest
from orchestrator_pipelines.assets.proof import PROOF_ATTEMPT_TAG
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.starknet.blob import blob_to_hex
from sensors.batching import FIRST_BLOCK_TAG, LAST_BLOCK_TAG
from tests.pipeline.sensor_helpers import (
    all_succeeded,
    closed_batches,
    definitions_with,
    evaluate,
    keys,
    latest_metadata,
    mined_nonce,
    prepare,
    produce_blocks,
    prove,
    runs_of,
    send_state_update,
    settlement_client,
    wait_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
NO_AGE_LIMIT = 3600


def batching_defs(pipeline, **overrides):
    policy = {"max_batch_blocks": 4, "max_batch_age_s": NO_AGE_LIMIT, "max_batches_per_tick": 10,
              "max_unsettled_batches": 100}
    return definitions_with(pipeline, **{**policy, **overrides})


def fail_next_proofs(pipeline, count: int) -> None:
    answer = requests.post(
        f"{pipeline.stack.prover_url}/_devnet/fail-next", params={"count": count},
        headers={"api-key": pipeline.env["ORCHESTRATOR_ATLANTIC_API_KEY"]}, timeout=10,
    )
    assert answer.status_code == 200, answer.text


# ---- batching sensor ---------------------------------------------------------------------------


def test_cold_start_is_bounded_per_tick_and_resumes_without_gap_or_overlap(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 60)
    defs = batching_defs(pipeline, max_batches_per_tick=3)
    store = defs.resources["artifacts"].store()
    instance = pipeline.instance

    cursor, ticks = None, []
    for _ in range(8):
        data = evaluate(defs, instance, "batching_sensor", cursor)
        cursor = data.cursor
        if not data.run_requests:
            break
        ticks.append(closed_batches(data, store))
    assert [len(tick) for tick in ticks] == [3, 3, 3, 3, 3]
    assert data.skip_message == "no new block after 60"

    batches = [batch for tick in ticks for batch in tick]
    # Core contract at genesis (stateBlockNumber 0): batching starts at block 1.
    assert settlement_client(pipeline).state().block_number == 0
    assert [(b.manifest.first_block, b.manifest.last_block) for b in batches] == [
        (first, first + 3) for first in range(1, 61, 4)
    ]
    assert [b.key for b in batches] == keys(*range(15))
    for batch in batches:
        assert batch.manifest.index == int(batch.key)
        assert batch.run_key == f"prepare-{batch.key}"
        assert batch.tags[FIRST_BLOCK_TAG] == str(batch.manifest.first_block)
        assert batch.tags[LAST_BLOCK_TAG] == str(batch.manifest.last_block)
        assert store.exists(batch_key(batch.key, MANIFEST))
    assert instance.get_dynamic_partitions("batches") == keys(*range(15))


def test_a_prepare_run_whose_launch_failed_is_requested_again(manual_pipeline):
    """Found by ``make bench-faults``: the code server killed while the daemon launched a prepare run.

    The run is marked failed without starting, Dagster does not retry it, and the
    batch's run key is used: without a new request the batch (and every later one,
    settlement being in order) would wait forever.
    """
    pipeline = manual_pipeline
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline)
    instance = pipeline.instance
    first = evaluate(defs, instance, "batching_sensor", None)
    assert [request.run_key for request in first.run_requests] == ["prepare-000000"]
    request = first.run_requests[0]
    launch_failed = instance.create_run_for_job(
        job_def=defs.resolve_job_def("prepare_batch"),
        status=DagsterRunStatus.STARTING,
        tags={**request.tags, "dagster/partition": "000000", "dagster/run_key": request.run_key},
    )
    instance.report_run_failed(instance.get_run_by_id(launch_failed.run_id))

    again = evaluate(defs, instance, "batching_sensor", first.cursor)
    assert [(r.run_key, r.partition_key) for r in again.run_requests] == [("prepare-000000-1", "000000")]
    assert again.run_requests[0].tags[LAST_BLOCK_TAG] == "4"

    # Once the new run exists, the failed one is not requested a third time.
    instance.create_run_for_job(
        job_def=defs.resolve_job_def("prepare_batch"), status=DagsterRunStatus.NOT_STARTED,
        tags={**again.run_requests[0].tags, "dagster/partition": "000000"},
    )
    assert not evaluate(defs, instance, "batching_sensor", again.cursor).run_requests


def test_min_block_sets_where_a_cold_start_begins(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 40)
    defs = batching_defs(pipeline, min_block=30, max_batches_per_tick=2)
    data = evaluate(defs, pipeline.instance, "batching_sensor", None)
    batches = closed_batches(data, defs.resources["artifacts"].store())
    assert [(b.key, b.manifest.first_block, b.manifest.last_block) for b in batches] == [
        ("000000", 30, 33), ("000001", 34, 37),
    ]


def test_a_reset_cursor_resumes_after_the_newest_manifest(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 12)
    defs = batching_defs(pipeline, max_batches_per_tick=2)
    store = defs.resources["artifacts"].store()
    first = closed_batches(evaluate(defs, pipeline.instance, "batching_sensor", None), store)
    assert [(b.manifest.first_block, b.manifest.last_block) for b in first] == [(1, 4), (5, 8)]

    # Operator resets the cursor: the newest partition's manifest says where to go on, not L1 (still at 0).
    produce_blocks(pipeline, 4)
    again = closed_batches(evaluate(defs, pipeline.instance, "batching_sensor", None), store)
    assert [(b.key, b.manifest.first_block, b.manifest.last_block) for b in again] == [
        ("000002", 9, 12), ("000003", 13, 16),
    ]


def test_max_unsettled_batches_holds_new_batches_until_settlement_catches_up(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 24)
    defs = batching_defs(pipeline, max_unsettled_batches=2, max_batches_per_tick=10)
    runner = LocalRunner(defs, pipeline.instance)
    store = defs.resources["artifacts"].store()

    prepare(runner, keys(0, 1))  # 6 batches are possible; the cap allows 2
    held = runner.tick("batching_sensor")
    assert not held.runs and held.skip_reason == "2 batches wait for settlement"
    assert pipeline.instance.get_dynamic_partitions("batches") == keys(0, 1)

    prove(runner, keys(0))
    all_succeeded([runner.tick("settlement_sensor")])
    assert is_materialized(pipeline.instance, "state_update", "000000")

    resumed = runner.tick("batching_sensor")
    assert [run.tags["dagster/partition"] for run in resumed.runs] == ["000002"]
    assert (load_manifest(store, "000002").first_block, load_manifest(store, "000002").last_block) == (9, 12)
    assert runner.tick("batching_sensor").skip_reason == "2 batches wait for settlement"


def test_a_cold_start_begins_after_what_l1_already_has(manual_pipeline, tmp_path):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 12)
    defs = batching_defs(pipeline, max_batches_per_tick=1)
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))
    prove(runner, keys(0))
    all_succeeded([runner.tick("settlement_sensor")])
    assert settlement_client(pipeline).state().block_number == 4

    # A new, empty Dagster instance (and artifact store) over the same chains; MIN_BLOCK below L1 is ignored.
    fresh_defs = batching_defs(pipeline, min_block=2, artifacts_dir=str(tmp_path / "fresh-artifacts"))
    (tmp_path / "fresh-home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "fresh-home")) as fresh:
        data = evaluate(fresh_defs, fresh, "batching_sensor", None)
        batches = closed_batches(data, fresh_defs.resources["artifacts"].store())
    assert [(b.key, b.manifest.first_block, b.manifest.last_block) for b in batches] == [
        ("000000", 5, 8), ("000001", 9, 12),
    ]


def test_max_age_closes_a_partial_batch(manual_pipeline):
    pipeline = manual_pipeline
    defs = batching_defs(pipeline, max_batch_age_s=3)
    store = defs.resources["artifacts"].store()
    produce_blocks(pipeline, 2)
    first_block_time = pipeline.stack.node.state.block(1).timestamp

    data = evaluate(defs, pipeline.instance, "batching_sensor", None)
    assert not data.run_requests
    assert data.skip_message == "batch from block 1 still open (head 2)"
    cursor = data.cursor

    def closed():
        nonlocal cursor
        tick = evaluate(defs, pipeline.instance, "batching_sensor", cursor)
        cursor = tick.cursor
        return closed_batches(tick, store)

    batches = wait_for(closed, "the age rule closing blocks 1..2", deadline_s=30)
    assert time.time() - first_block_time >= 3
    assert [(b.manifest.first_block, b.manifest.last_block, b.manifest.close_reason) for b in batches] == [
        (1, 2, "max_age")
    ]


# ---- proof sensor ------------------------------------------------------------------------------


def test_a_failed_prover_query_is_resubmitted_as_attempt_two_with_a_new_dedup_id(manual_pipeline):
    pipeline = manual_pipeline
    fail_next_proofs(pipeline, 1)
    produce_blocks(pipeline, 4)
    runner = LocalRunner(batching_defs(pipeline), pipeline.instance)
    prepare(runner, keys(0))
    first = latest_metadata(pipeline.instance, "proof_request", "000000")
    assert first["attempt"] == 1 and first["dedup_id"] == first["fact"]

    def resubmitted():
        return [run for run in all_succeeded([runner.tick("proof_sensor")]) if run.job_name == "submit_proof"]

    (run,) = wait_for(resubmitted, "a submit_proof run after the FAILED query")
    assert run.tags[PROOF_ATTEMPT_TAG] == "2"
    assert run.tags["dagster/partition"] == "000000"
    second = latest_metadata(pipeline.instance, "proof_request", "000000")
    assert second["attempt"] == 2
    assert second["dedup_id"] == f"{first['fact']}-attempt-2"
    assert second["external_id"] != first["external_id"] and not second["reused_existing_query"]

    prove(runner, keys(0))
    assert latest_metadata(pipeline.instance, "proof", "000000")["attempt"] == 2


def test_exhausted_proof_attempts_alert_once_and_stop_resubmitting(manual_pipeline, sns_inbox):
    pipeline = manual_pipeline
    fail_next_proofs(pipeline, 2)
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline, max_proof_attempts=2, **sns_inbox.settings())
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))

    alerts: list[dict] = []

    def alerted():
        all_succeeded([runner.tick("proof_sensor")])
        alerts.extend(sns_inbox.receive(wait_s=0))
        return alerts

    wait_for(alerted, "the proving-failed alert")
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Proving failed for batch 000000"]
    assert "2 prover attempts failed" in alerts[0]["Message"]

    for _ in range(3):
        assert not runner.tick("proof_sensor").runs
    assert sns_inbox.receive(wait_s=1) == []
    assert runs_of(pipeline.instance, "submit_proof", "000000") == 1
    assert runs_of(pipeline.instance, "record_proof", "000000") == 0


def test_an_unsupported_starknet_version_closes_the_open_batch_and_stops_batching_with_an_alert(
    manual_pipeline, sns_inbox
):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 6)  # blocks 1..6 at 0.13.4: one full batch (1..4) and 5..6 open
    pipeline.stack.node.upgrade_starknet_version("0.15.0")
    produce_blocks(pipeline, 3)
    defs = batching_defs(pipeline, **sns_inbox.settings())
    store = defs.resources["artifacts"].store()

    data = evaluate(defs, pipeline.instance, "batching_sensor", None)
    batches = closed_batches(data, store)
    assert [(b.manifest.first_block, b.manifest.last_block, b.manifest.close_reason) for b in batches] == [
        (1, 4, "max_blocks"), (5, 6, "unsupported_version"),
    ]
    alerts = sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Batching stopped: block 7 has Starknet version 0.15.0"]
    assert "0.13.2 … 0.14.x" in alerts[0]["Message"]

    produce_blocks(pipeline, 4)
    again = evaluate(defs, pipeline.instance, "batching_sensor", data.cursor)
    assert not again.run_requests
    assert again.skip_message.startswith("batching stopped at block 7: Starknet version 0.15.0 is not supported")
    assert sns_inbox.receive(wait_s=1) == []  # alerted once


# ---- settlement sensor -------------------------------------------------------------------------


def _wait_for_prover_done(pipeline, defs, key: str) -> None:
    external_id = latest_metadata(pipeline.instance, "proof_request", key)["external_id"]
    client = defs.resources["prover"].client()
    wait_for(lambda: client.status(external_id).state == "done", f"prover query of batch {key}")


def test_a_lost_record_proof_run_is_requested_again_and_records_the_proof(manual_pipeline):
    """Found by ``make bench-faults``: a ``record_proof`` worker killed right after a PostgreSQL restart.

    The run was marked failed and the run retry Dagster was to create never
    came; the proof sensor had asked once, so the batch (and every later one)
    waited for an operator.
    """
    pipeline = manual_pipeline
    instance = pipeline.instance
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline, submit_retry_after_s=0)
    prepare(LocalRunner(defs, instance), keys(0))
    _wait_for_prover_done(pipeline, defs, "000000")
    external_id = latest_metadata(instance, "proof_request", "000000")["external_id"]

    first = evaluate(defs, instance, "proof_sensor", None)
    assert [r.run_key for r in first.run_requests] == [f"proof-000000-{external_id}"]
    # Its run is lost before it records anything (a worker killed while starting).
    lost = instance.create_run_for_job(
        job_def=defs.resolve_job_def("record_proof"), status=DagsterRunStatus.STARTING,
        tags={"dagster/partition": "000000", "dagster/run_key": first.run_requests[0].run_key},
    )
    instance.report_run_failed(instance.get_run_by_id(lost.run_id))

    again = evaluate(defs, instance, "proof_sensor", first.cursor)
    assert [(r.run_key, r.partition_key) for r in again.run_requests] == [
        (f"proof-000000-{external_id}-again-1", "000000")
    ]
    # While the new run is in flight nothing more is asked; once it has recorded the proof, nothing either.
    running = instance.create_run_for_job(
        job_def=defs.resolve_job_def("record_proof"), status=DagsterRunStatus.NOT_STARTED,
        tags={"dagster/partition": "000000", "dagster/run_key": again.run_requests[0].run_key},
    )
    assert not evaluate(defs, instance, "proof_sensor", again.cursor).run_requests
    instance.delete_run(running.run_id)
    recorded = defs.resolve_job_def("record_proof").execute_in_process(instance=instance, partition_key="000000")
    assert recorded.success and latest_metadata(instance, "proof", "000000")["external_id"] == external_id
    assert not evaluate(defs, instance, "proof_sensor", again.cursor).run_requests


def test_batch_n_plus_one_is_never_requested_before_batch_n_settles(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 8)
    defs = batching_defs(pipeline)
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0, 1))
    # Batch 1 is fully ready (proof recorded) while batch 0 still lacks its proof.
    _wait_for_prover_done(pipeline, defs, "000001")
    record = defs.resolve_job_def("record_proof").execute_in_process(instance=pipeline.instance, partition_key="000001")
    assert record.success

    for _ in range(3):
        report = runner.tick("settlement_sensor")
        assert not report.runs
        assert report.skip_reason == "batch 000000 waits for proof"
    assert runs_of(pipeline.instance, "settle_batch", "000001") == 0
    assert settlement_client(pipeline).state().block_number == 0

    prove(runner, keys(0))
    order = []
    for _ in range(3):
        l1_before = settlement_client(pipeline).state().block_number
        order += [(run.tags["dagster/partition"], l1_before) for run in all_succeeded([runner.tick("settlement_sensor")])]
    # Each batch was requested only when L1 stood at the block right before it.
    assert order == [("000000", 0), ("000001", 4)]
    assert settlement_client(pipeline).state().block_number == 8


def test_no_settle_request_while_a_settle_run_for_the_batch_is_in_flight(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline)
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))
    prove(runner, keys(0))

    in_flight = pipeline.instance.create_run_for_job(
        job_def=defs.resolve_job_def("settle_batch"),
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": "000000"},
    )
    for _ in range(2):
        report = runner.tick("settlement_sensor")
        assert not report.runs and report.skip_reason == "batch 000000 settlement in flight"
    assert settlement_client(pipeline).state().block_number == 0

    # The stuck run ends (failed): the sensor requests a new attempt, which settles.
    pipeline.instance.report_run_failed(pipeline.instance.get_run_by_id(in_flight.run_id))
    runs = all_succeeded([runner.tick("settlement_sensor")])
    assert [run.tags["dagster/partition"] for run in runs] == ["000000"]
    assert settlement_client(pipeline).state().block_number == 4


def test_three_failed_settle_runs_alert_once_and_stop(manual_pipeline, sns_inbox):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline, **sns_inbox.settings())
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))
    prove(runner, keys(0))
    client = settlement_client(pipeline)
    nonce = mined_nonce(client)
    # A damaged blob artifact: every settle run fails before sending (the blob no longer matches the OS output).
    store = defs.resources["artifacts"].store()
    store.put_bytes(batch_key("000000", blob_name(0)), blob_to_hex(bytes(131072)).encode())

    failed = []
    for _ in range(3):
        failed += runner.tick("settlement_sensor").runs
    assert [run.status for run in failed] == [DagsterRunStatus.FAILURE] * 3
    assert [run.tags["dagster/run_key"] for run in failed] == [f"settle-000000-{n}" for n in range(3)]

    for _ in range(3):
        report = runner.tick("settlement_sensor")
        assert not report.runs
        assert report.skip_reason == "batch 000000: 3 failed settle runs, waiting for an operator"
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Settlement stopped at batch 000000"]
    assert "3 settle runs failed for blocks 1..4" in alerts[0]["Message"]
    assert runs_of(pipeline.instance, "settle_batch", "000000") == 3
    assert mined_nonce(client) == nonce


def test_a_batch_already_on_chain_is_recorded_without_a_new_transaction(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 4)
    defs = batching_defs(pipeline)
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))
    prove(runner, keys(0))
    client = settlement_client(pipeline)
    direct = send_state_update(client, defs.resources["artifacts"].store(), "000000")
    assert client.state().block_number == 4
    nonce = mined_nonce(client)

    runs = all_succeeded([runner.tick("settlement_sensor")])
    assert [run.tags["dagster/partition"] for run in runs] == ["000000"]
    metadata = latest_metadata(pipeline.instance, "state_update", "000000")
    assert metadata["already_on_chain"] is True
    assert metadata["l1_state_block_number"] == 4
    assert "tx_hash" not in metadata and direct.tx_hash.startswith("0x")
    assert mined_nonce(client) == nonce
    assert runner.tick("settlement_sensor").skip_reason == "batch 000001 is not closed yet (L1 at block 4)"


# ---- run-failure sensor ------------------------------------------------------------------------


def test_a_failed_run_alerts_with_the_job_and_batch_in_the_subject(manual_pipeline, sns_inbox):
    pipeline = manual_pipeline
    defs = batching_defs(pipeline, **sns_inbox.settings())
    instance = pipeline.instance
    start = evaluate(defs, instance, "run_failure_alert_sensor", None)

    # A settle run for a batch with no artifacts fails at once (artifact not found, no retry).
    instance.add_dynamic_partitions("batches", ["000007"])
    result = defs.resolve_job_def("settle_batch").execute_in_process(
        instance=instance, partition_key="000007", raise_on_error=False
    )
    assert not result.success

    evaluate(defs, instance, "run_failure_alert_sensor", start.cursor)
    alerts = sns_inbox.receive(wait_s=2)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Run failed: settle_batch for batch 000007"]
    assert result.run_id in alerts[0]["Message"]


# ---- the code location and its settings ----------------------------------------------------------


def test_dagster_validates_the_code_location():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "MADARA_ORCHESTRATOR_"))}
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-m", "orchestrator_pipelines.definitions"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.parametrize("variable", ["ORCHESTRATOR_MAX_UNSETTLED_BATCHES", "MADARA_ORCHESTRATOR_MAX_NUM_BLOBS"])
def test_a_bad_environment_variable_is_one_line_naming_it(monkeypatch, variable):
    monkeypatch.setenv(variable, "lots")
    with pytest.raises(InvalidInputError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert f"setting {variable}:" in message
