"""End to end on the ZKsync OS devnet, in-process: real anvil and contracts, the node, the prover API over HTTP.

Batches are sealed from the node's blocks, FRI-proven by fake provers, committed,
proven as a range, executed after the timelock's delay with their deposits
proven in the L1 priority tree; every L1 transaction is sent once.
"""

from __future__ import annotations

import pytest

from orchestrator_pipelines.partitions import is_materialized
from orchestrator_pipelines.zksync_os_pipeline.partitions import zkos_key
from tests.zksync_os_pipeline.e2e_helpers import (
    check_deposits_executed,
    check_execution_delay_waited,
    check_pubdata_off_l1,
    check_sent_once,
    proven_ranges,
    send_deposits,
    start_fri_provers,
    start_snark_prover,
    zkos_pipeline,
)

pytestmark = pytest.mark.e2e
DELAY_S = 8


def test_rollup_batches_are_committed_proven_as_a_range_and_executed_with_deposits(tmp_path):
    with zkos_pipeline(tmp_path, execution_delay_s=DELAY_S, fake_provers=False) as pipeline:
        devnet, l1 = pipeline.devnet, pipeline.l1()
        deposits = send_deposits(devnet)
        start_fri_provers(devnet)
        pipeline.drive(lambda: l1.totals().committed >= 3, "three batches committed", deadline_s=60)
        # The SNARK prover attaches only now: its first job aggregates every FRI proof so far (>= 3).
        start_snark_prover(devnet)
        pipeline.drive(lambda: l1.totals().executed >= 6, "six batches executed", deadline_s=120)

        totals = l1.totals()
        records = [pipeline.record(n) for n in range(1, totals.executed + 1)]
        for record in records:
            for asset in ("zkos_batch", "zkos_prover_input", "zkos_fri_proof", "zkos_commit"):
                assert is_materialized(pipeline.instance, asset, zkos_key(record.batch_number)), asset
        assert records[0].previous.batch_number == 0
        check_deposits_executed(pipeline, l1, deposits, totals.executed)
        first, last = proven_ranges(pipeline, l1)[0]
        assert last - first + 1 >= 3, "one range proof over at least three batches"

        # Never sent twice: one broadcast per step, and each key sent exactly that many transactions.
        sent = check_sent_once(pipeline, l1)
        assert len(sent["commit"]) == totals.committed

        check_execution_delay_waited(pipeline, l1, DELAY_S)

        # The node's finalized tag follows L1's executions.
        devnet.node.poll_l1()
        assert devnet.node.finalized_block == records[-1].last_block
        assert devnet.node.safe_block >= records[-1].last_block


def test_validium_commits_send_no_pubdata(tmp_path):
    with zkos_pipeline(tmp_path, validium=True) as pipeline:
        l1 = pipeline.l1()
        pipeline.drive(lambda: l1.totals().executed >= 2, "two validium batches executed", deadline_s=60)
        check_pubdata_off_l1(pipeline, l1)
        assert l1.stored_batch_hash(2) == pipeline.record(2).stored.hash()
