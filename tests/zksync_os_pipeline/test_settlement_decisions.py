"""The L1 sensors' decisions: strictly ordered, judged by L1's totals, one line when waiting."""

from __future__ import annotations

from orchestrator_pipelines.zksync_os.settlement_decisions import L1Totals, Wait, next_commit, next_execute, next_prove


def test_commit_is_the_batch_after_l1_once_its_fri_proof_exists():
    totals = L1Totals(committed=4, verified=2, executed=1)
    assert next_commit(totals, prepared_up_to=7, fri_proven=True, in_flight=False) == 5
    assert next_commit(totals, prepared_up_to=7, fri_proven=False, in_flight=False) == Wait("batch 5 waits for its FRI proof")
    assert isinstance(next_commit(totals, prepared_up_to=7, fri_proven=True, in_flight=True), Wait)
    assert next_commit(totals, prepared_up_to=4, fri_proven=True, in_flight=False).reason.endswith("not prepared yet")


def test_prove_takes_the_snark_range_from_verified_plus_one_once_committed():
    totals = L1Totals(committed=6, verified=2, executed=2)
    assert next_prove(totals, snark_range=(3, 5), in_flight=False) == (3, 5)
    assert next_prove(totals, snark_range=(3, 8), in_flight=False).reason.startswith("SNARK range 3-8 waits")
    assert next_prove(totals, snark_range=(2, 5), in_flight=False).reason.startswith("the SNARK proof")
    assert next_prove(totals, snark_range=None, in_flight=False) == Wait("batch 3 waits for a SNARK proof")
    assert isinstance(next_prove(L1Totals(3, 3, 3), snark_range=(4, 4), in_flight=False), Wait)
    assert isinstance(next_prove(totals, snark_range=(3, 5), in_flight=True), Wait)


def test_execute_takes_proven_batches_past_the_delay_bounded_per_transaction():
    totals = L1Totals(committed=9, verified=8, executed=2)
    assert next_execute(totals, executable_up_to=9, max_batches=10, in_flight=False) == (3, 8)
    assert next_execute(totals, executable_up_to=5, max_batches=10, in_flight=False) == (3, 5)
    assert next_execute(totals, executable_up_to=9, max_batches=2, in_flight=False) == (3, 4)
    assert next_execute(totals, executable_up_to=2, max_batches=10, in_flight=False) == Wait(
        "batch 3 waits for the execution delay"
    )
    assert isinstance(next_execute(L1Totals(5, 5, 5), executable_up_to=9, max_batches=10, in_flight=False), Wait)
    assert isinstance(next_execute(totals, executable_up_to=9, max_batches=10, in_flight=True), Wait)


def test_prepare_goes_one_batch_after_the_other_and_retries_a_failure_a_bounded_number_of_times():
    from orchestrator_pipelines.zksync_os.settlement_decisions import next_prepare

    ready = dict(sealed_up_to=5, previous_prepared=True, in_flight=False, failed_attempts=0, max_attempts=3)
    assert next_prepare(3, **ready) == 3
    assert next_prepare(6, **ready) == Wait("batch 6 is not sealed yet")
    assert next_prepare(3, **{**ready, "previous_prepared": False}) == Wait("batch 3 waits for batch 2 to be prepared")
    assert next_prepare(3, **{**ready, "in_flight": True}) == Wait("preparation of batch 3 is in flight")
    assert next_prepare(3, **{**ready, "failed_attempts": 2}) == 3
    assert next_prepare(3, **{**ready, "failed_attempts": 3}).reason.endswith("waiting for an operator")
