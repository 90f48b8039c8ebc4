"""End to end on the ZKsync OS devnet, in-process: real anvil and contracts, the node, the prover API over HTTP.

Batches are sealed from the node's blocks, FRI-proven by fake provers, committed,
proven as a range, executed after the timelock's delay with their deposits
proven in the L1 priority tree; every L1 transaction is sent once.
"""

from __future__ import annotations

import json

import pytest
from dagster import DagsterRunStatus, RunsFilter

from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.zksync_os.batch_record import BatchRecord
from orchestrator_pipelines.zksync_os.encoding import decode_call
from orchestrator_pipelines.zksync_os.prover_api.fake_provers import FakeProverConfig
from orchestrator_pipelines.zksync_os_pipeline.partitions import artifact_key, zkos_key
from tests.zksync_os_pipeline.e2e_helpers import zkos_pipeline

pytestmark = pytest.mark.e2e
DELAY_S = 8


def _record(pipeline, number: int) -> BatchRecord:
    return BatchRecord.from_json((pipeline.devnet_artifacts / artifact_key(number, "batch.json")).read_bytes())


def _tx_record(pipeline, number: int, name: str) -> dict:
    return json.loads((pipeline.devnet_artifacts / artifact_key(number, name)).read_text())


def test_rollup_batches_are_committed_proven_as_a_range_and_executed_with_deposits(tmp_path):
    with zkos_pipeline(tmp_path, execution_delay_s=DELAY_S, fake_provers=False) as pipeline:
        pipeline.devnet_artifacts = tmp_path / "artifacts"
        devnet, l1 = pipeline.devnet, pipeline.l1()
        for index in range(3):
            devnet.deposit(amount_wei=10**15 * (index + 1), to=f"0x{index + 1:040x}")
        fri = [devnet._start_prover(FakeProverConfig(kind="fri", prover_id=f"fri-{i}", poll_interval_s=0.3)) for i in range(2)]
        assert fri
        pipeline.drive(lambda: l1.totals().committed >= 3, "three batches committed", deadline_s=60)
        # The SNARK prover attaches only now: its first job aggregates every FRI proof so far (>= 3).
        devnet._start_prover(FakeProverConfig(kind="snark", prover_id="snark", poll_interval_s=0.3))
        pipeline.drive(lambda: l1.totals().executed >= 6, "six batches executed", deadline_s=120)

        totals = l1.totals()
        records = [_record(pipeline, n) for n in range(1, totals.executed + 1)]
        for record in records:
            assert l1.stored_batch_hash(record.batch_number) == record.stored.hash()
            for asset in ("zkos_batch", "zkos_prover_input", "zkos_fri_proof", "zkos_commit"):
                assert is_materialized(pipeline.instance, asset, zkos_key(record.batch_number)), asset
        assert records[0].previous.batch_number == 0
        assert sum(len(r.l1_tx_hashes) for r in records) >= 3, "the deposits were executed"
        first_prove = _tx_record(pipeline, 1, "prove_tx.json")
        call = decode_call(bytes(pipeline.w3.eth.get_transaction(first_prove["hashes"][0])["input"]))
        assert call.process_to - call.process_from + 1 >= 3, "one range proof over at least three batches"

        # Never sent twice: one broadcast per step, and each key sent exactly that many transactions.
        commits = [_tx_record(pipeline, n, "commit_tx.json") for n in range(1, totals.committed + 1)]
        assert all(len(c["hashes"]) == 1 for c in commits)
        accounts = l1.accounts
        assert pipeline.w3.eth.get_transaction_count(accounts["commit"].address) == totals.committed
        proves = [p for p in pipeline.devnet_artifacts.glob("zksync_os/batches/*/prove_tx.json")]
        executes = [e for e in pipeline.devnet_artifacts.glob("zksync_os/batches/*/execute_tx.json")]
        assert pipeline.w3.eth.get_transaction_count(accounts["prove"].address) == len(proves)
        assert pipeline.w3.eth.get_transaction_count(accounts["execute"].address) == len(executes)

        # The execution delay was waited for by the sensor, not inside a run and not by a revert: no execute
        # run was requested before every batch of its range had been committed DELAY seconds ago.
        runs = pipeline.instance.get_run_records(RunsFilter(job_name="zkos_execute_batches"))
        assert runs and all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in runs)
        for run in runs:
            last = int(run.dagster_run.tags["dagster/asset_partition_range_end"])
            committed_at = pipeline.w3.eth.get_block(_tx_record(pipeline, last, "commit_tx.json")["mined"]["block"])["timestamp"]
            assert run.create_timestamp.timestamp() >= committed_at + DELAY_S - 1

        # The node's finalized tag follows L1's executions.
        devnet.node.poll_l1()
        assert devnet.node.finalized_block == records[-1].last_block
        assert devnet.node.safe_block >= records[-1].last_block


def test_validium_commits_send_no_pubdata(tmp_path):
    with zkos_pipeline(tmp_path, validium=True) as pipeline:
        pipeline.devnet_artifacts = tmp_path / "artifacts"
        l1 = pipeline.l1()
        assert l1.chain.da_mode.name == "VALIDIUM"
        pipeline.drive(lambda: l1.totals().executed >= 2, "two validium batches executed", deadline_s=60)
        commit = _tx_record(pipeline, 1, "commit_tx.json")
        calldata = bytes(pipeline.w3.eth.get_transaction(commit["hashes"][0])["input"])
        record = _record(pipeline, 1)
        assert record.pubdata_bytes > 0
        assert record.commit_info.operator_da_input[97:-32] not in calldata  # pubdata stays off L1
        assert l1.stored_batch_hash(2) == _record(pipeline, 2).stored.hash()
