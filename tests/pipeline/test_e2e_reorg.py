"""An L1 reorganisation takes a settled batch's transaction back: the pipeline notices and settles it again, once.

On a real anvil: batch 0 settles, then ``anvil_reorg`` replaces the block that
holds its ``updateStateKzgDA`` with an empty one (the transaction is gone, the
core contract is back at block 0) while ``state_update`` of batch 0 stays
materialized. The settlement sensor must alert once, fail the batch's
``settlement_on_l1`` check, request a settle run under a run key never used
before, and that run must send the state update exactly once more; then batch
1 settles after it. Then batch 1's transaction is taken back and included
again in another block: the sensor notices the changed block hash and a new
run records where it is now, sending nothing. No tick may be silent: each one
requests a run that is launched or says why not.
"""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterEventType, DagsterRunStatus, EventRecordsFilter

from orchestrator_pipelines.assets.common import KZG, ON_L1_CHECK, blob_name, read_json
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.local_runner import LocalRunner, TickReport
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.kzg import blob_to_commitment
from tests.pipeline.sensor_helpers import (
    definitions_with,
    keys,
    latest_metadata,
    mined_nonce,
    prepare,
    produce_blocks,
    prove,
    settlement_client,
    wait_for,
)


def check_results(instance, key: str) -> list[bool]:
    """The ``settlement_on_l1`` results of batch ``key``'s ``state_update``, oldest first (sensor's and runs')."""
    records = instance.event_log_storage.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), limit=100
    )
    results = []
    # Sorted by time: SQLite keeps each run's events apart from runless ones, so storage ids do not order them.
    for record in sorted(records, key=lambda r: r.timestamp):
        entry = record.event_log_entry
        evaluation = entry.get_dagster_event().asset_check_evaluation_data
        if evaluation.asset_key != AssetKey("state_update") or evaluation.check_name != ON_L1_CHECK:
            continue
        # Reported by the sensor: the evaluation names its partition; within a run, the run's partition.
        partition = evaluation.partition or instance.get_run_by_id(entry.run_id).tags.get("dagster/partition")
        if partition == key:
            results.append(evaluation.passed)
    return results


@pytest.mark.e2e
def test_a_settlement_reorganised_out_of_l1_is_alerted_once_and_settled_again_exactly_once(manual_pipeline, sns_inbox):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 8)
    defs = definitions_with(
        pipeline, max_batch_blocks=4, max_batch_age_s=3600, max_batches_per_tick=10, **sns_inbox.settings()
    )
    runner = LocalRunner(defs, pipeline.instance)
    instance = pipeline.instance
    client = settlement_client(pipeline)
    anvil = pipeline.stack.anvil
    ticks: list[TickReport] = []

    def tick() -> TickReport:
        report = runner.tick("settlement_sensor")
        ticks.append(report)
        assert all(run.status == DagsterRunStatus.SUCCESS for run in report.runs), report
        return report

    prepare(runner, keys(0, 1))
    prove(runner, keys(0))
    (first,) = tick().runs
    assert first.tags["dagster/run_key"] == "settle-000000-0"
    settled = latest_metadata(instance, "state_update", "000000")
    receipt = client.w3.eth.get_transaction_receipt(settled["tx_hash"])
    assert (settled["l1_block"], settled["l1_block_hash"]) == (receipt["blockNumber"], receipt["blockHash"].to_0x_hex())
    assert client.state().block_number == 4 and check_results(instance, "000000") == [True]

    # A one-block reorganisation: same height, another (empty) block; the state update is gone from L1.
    head = client.head()
    anvil.rpc("anvil_reorg", 1, [])
    assert client.head() == head and client.state().block_number == 0
    assert client.mined_receipt(settled["tx_hash"]) is None
    nonce = mined_nonce(client)

    prove(runner, keys(1))
    (again,) = wait_for(lambda: tick().runs, "a new settle run for batch 000000", deadline_s=30)
    assert (again.tags["dagster/partition"], again.tags["dagster/run_key"]) == ("000000", "settle-000000-1")
    assert mined_nonce(client) == nonce + 1  # sent once more, not twice
    resettled = latest_metadata(instance, "state_update", "000000")
    assert resettled["l1_block_hash"] != settled["l1_block_hash"]
    assert resettled["l1_block_hash"] == client.w3.eth.get_transaction_receipt(resettled["tx_hash"])["blockHash"].to_0x_hex()
    assert check_results(instance, "000000") == [True, False, True]

    alerts = sns_inbox.receive(wait_s=2)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Settlement of batch 000000 is no longer on L1"]
    assert settled["tx_hash"] in alerts[0]["Message"]
    assert "stateBlockNumber is 0, below the batch's last block 4" in alerts[0]["Message"]

    # Batch 1 follows in order; afterwards nothing more is requested, and nothing more is sent or alerted.
    (next_batch,) = wait_for(lambda: tick().runs, "the settle run of batch 000001", deadline_s=30)
    assert next_batch.tags["dagster/partition"] == "000001"
    assert client.state().block_number == 8
    for _ in range(3):
        assert not tick().runs
    assert mined_nonce(client) == nonce + 2
    assert sns_inbox.receive(wait_s=1) == []
    silent = [report for report in ticks if not report.runs and not report.skip_reason]
    assert not silent, f"{len(silent)} settlement ticks neither launched a run nor said why"
    assert ticks[-1].skip_reason == "batch 000002 is not closed yet (L1 at block 8)"

    # Batch 1's transaction is taken back and then included again, in another block: L1 covers the batch
    # again, but the record names a block L1 no longer has. Settled again means recorded anew, nothing sent.
    recorded = latest_metadata(instance, "state_update", "000001")
    raw = signed_again(client, defs.resources["artifacts"].store(), "000001", recorded["tx_hash"])
    anvil.rpc("anvil_reorg", 1, [])
    assert client.state().block_number == 4
    anvil.rpc("eth_sendRawTransaction", raw)
    moved = wait_for(lambda: client.mined_receipt(recorded["tx_hash"]), "batch 1's transaction included again", 10)
    assert moved is not None and moved.block_hash != recorded["l1_block_hash"]
    assert client.state().block_number == 8

    (rerecord,) = wait_for(lambda: tick().runs, "a new settle run for batch 000001", deadline_s=30)
    assert (rerecord.tags["dagster/partition"], rerecord.tags["dagster/run_key"]) == ("000001", "settle-000001-1")
    rerecorded = latest_metadata(instance, "state_update", "000001")
    assert rerecorded["already_on_chain"] is True and rerecorded["tx_hash"] == recorded["tx_hash"]
    assert (rerecorded["l1_block"], rerecorded["l1_block_hash"]) == (moved.block_number, moved.block_hash)
    assert mined_nonce(client) == nonce + 2  # nothing new sent
    alerts = sns_inbox.receive(wait_s=2)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Settlement of batch 000001 is no longer on L1"]
    assert f"it is now in L1 block {moved.block_number}" in alerts[0]["Message"]
    assert not tick().runs and check_results(instance, "000001") == [True, False, True]
    assert not [report for report in ticks if not report.runs and not report.skip_reason]


def signed_again(client, store, key: str, tx_hash: str) -> str:
    """Batch ``key``'s mined state update in its network form, byte for byte (signatures are deterministic)."""
    original = client.w3.eth.get_transaction(tx_hash)
    n_blobs = len(read_json(store, key, KZG)["proofs"])
    blobs = [blob_from_hex(store.get_bytes(batch_key(key, blob_name(i))).decode()) for i in range(n_blobs)]
    fields = {
        "type": 3, "chainId": original["chainId"], "nonce": original["nonce"], "to": original["to"], "value": 0,
        "data": original["input"], "gas": original["gas"], "maxFeePerGas": original["maxFeePerGas"],
        "maxPriorityFeePerGas": original["maxPriorityFeePerGas"], "maxFeePerBlobGas": original["maxFeePerBlobGas"],
    }
    raw, signed_hash = client._sign_blob_transaction(fields, blobs, [blob_to_commitment(b) for b in blobs])
    assert signed_hash == tx_hash
    return "0x" + raw.hex()
