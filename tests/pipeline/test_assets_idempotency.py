"""``state_update`` never sends a batch twice and never out of order, judged by the chain.

A crash right after the broadcast leaves only ``settlement_tx.json`` behind;
the re-run must wait for that transaction, not send another. A batch whose
predecessor is not on L1 must fail at once, readably, without sending.
Whether anything was sent is read from L1: the settlement account's nonce.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from dagster import DagsterEventType

from orchestrator_pipelines.assets.common import SETTLEMENT_TX, write_json
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.local_runner import LocalRunner
from tests.pipeline.sensor_helpers import (
    definitions_with,
    keys,
    latest_metadata,
    mined_nonce,
    prepare,
    produce_blocks,
    prove,
    send_state_update,
    settlement_client,
    wait_for,
)

WAITING_LOG = "waiting for the already broadcast transaction"


class CrashAfterBroadcast(Exception):
    """The process died right after the transaction left: only the artifact survives."""


def _policy(pipeline):
    return definitions_with(pipeline, max_batch_blocks=4, max_batch_age_s=3600, max_batches_per_tick=10)


def test_a_rerun_after_a_crash_waits_for_the_broadcast_transaction_and_sends_nothing_new(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 4)
    defs = _policy(pipeline)
    runner = LocalRunner(defs, pipeline.instance)
    prepare(runner, keys(0))
    prove(runner, keys(0))
    store = defs.resources["artifacts"].store()
    client = settlement_client(pipeline)
    anvil = pipeline.stack.anvil
    nonce = mined_nonce(client)

    # Keep the transaction in the mempool: the re-run must find it pending, not already settled.
    anvil.rpc("evm_setAutomine", False)
    broadcast: list[str] = []

    def record_then_crash(tx_hash: str) -> None:
        broadcast.append(tx_hash)
        write_json(store, "000000", SETTLEMENT_TX, {"tx_hash": tx_hash, "tx_hashes": [tx_hash], "sent_at": time.time()})
        raise CrashAfterBroadcast

    with pytest.raises(CrashAfterBroadcast):
        send_state_update(client, store, "000000", on_sent=record_then_crash)
    assert mined_nonce(client) == nonce
    assert client.w3.eth.get_transaction_count(client.account.address, "pending") == nonce + 1
    assert client.state().block_number == 0

    run_id = str(uuid.uuid4())

    def mine_once_the_run_waits() -> None:
        """Mine the pending block only after the asset has read L1 (still at 0) and started waiting."""
        def waiting() -> bool:
            return any(WAITING_LOG in (entry.user_message or "") for entry in pipeline.instance.all_logs(run_id))

        try:
            wait_for(waiting, "the re-run waiting for the broadcast transaction", deadline_s=60)
        finally:
            anvil.rpc("evm_mine")

    miner = threading.Thread(target=mine_once_the_run_waits, daemon=True)
    miner.start()
    result = defs.resolve_job_def("settle_batch").execute_in_process(
        instance=pipeline.instance, partition_key="000000", run_id=run_id, raise_on_error=False
    )
    miner.join(timeout=70)
    assert result.success

    metadata = latest_metadata(pipeline.instance, "state_update", "000000")
    assert metadata["tx_hash"] == broadcast[0]
    assert metadata["already_on_chain"] is False
    assert metadata["l1_state_block_number"] == 4
    assert mined_nonce(client) == nonce + 1
    assert client.w3.eth.get_transaction_count(client.account.address, "pending") == nonce + 1
    assert json.loads(store.get_bytes(batch_key("000000", SETTLEMENT_TX)))["tx_hash"] == broadcast[0]


def test_a_batch_out_of_order_fails_fast_readably_and_sends_nothing(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, 8)
    defs = _policy(pipeline)
    prepare(LocalRunner(defs, pipeline.instance), keys(0, 1))
    store = defs.resources["artifacts"].store()
    client = settlement_client(pipeline)
    nonce = mined_nonce(client)

    started = time.monotonic()
    result = defs.resolve_job_def("settle_batch").execute_in_process(
        instance=pipeline.instance, partition_key="000001", raise_on_error=False
    )
    elapsed = time.monotonic() - started
    assert not result.success

    events = result.all_events
    failures = [e for e in events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    assert not [e for e in events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    message = failures[0].step_failure_data.user_failure_data.description
    assert message == (
        "state_update of batch 000001: out of order: the batch starts at block 5 but the core contract is at "
        "block 0; earlier batches must settle first"
    )
    assert elapsed < 30, f"the out-of-order failure took {elapsed:.1f} s"
    assert mined_nonce(client) == nonce
    assert client.w3.eth.get_transaction_count(client.account.address, "pending") == nonce
    assert client.state().block_number == 0
    assert not store.exists(batch_key("000001", SETTLEMENT_TX))
