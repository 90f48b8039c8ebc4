"""The rules by which the settlement sensors decide to request settlement of a batch (pure, no chain, no Dagster)."""

from __future__ import annotations

import dataclasses

from orchestrator_pipelines.settlement_gating import (
    BatchView,
    CheckOutcome,
    Hold,
    Request,
    Settled,
    Stop,
    Wait,
    aggregated_rules,
    decide,
    direct_rules,
)

FACT = "0x" + "ab" * 32
RULES = direct_rules(fact_check="fact_registered_on_l1", blobs_check="blob_evaluations_match_os_output", max_attempts=3)
AGG_RULES = aggregated_rules(
    fact_check="aggregator_fact_registered_on_l1", opens_check="da_segment_opens_at_x0", max_attempts=3
)
PASSED = {
    "fact_registered_on_l1": CheckOutcome(True, metadata={"fact": FACT}),
    "blob_evaluations_match_os_output": CheckOutcome(True),
}
FACT_FAILED = {
    **PASSED,
    "fact_registered_on_l1": CheckOutcome(False, f"fact {FACT} is not valid in the fact registry", {"fact": FACT}),
}

# Batch 000003 covers blocks 13..16; L1 is at 12, its proof and blobs are recorded with their checks passed.
READY = BatchView(
    "000003", chain_block=12, first_block=13, last_block=16,
    materialized=frozenset({"proof", "da_blob"}), checks=PASSED,
)


def view(**changes) -> BatchView:
    return dataclasses.replace(READY, **changes)


def gate(batch: BatchView, alerted_hold: str | None = None, alerted_stop: str | None = None, rules=RULES):
    return decide(batch, rules, alerted_hold=alerted_hold, alerted_stop=alerted_stop)


def test_a_ready_batch_whose_checks_passed_is_requested():
    assert gate(READY) == Request("000003")


def test_a_batch_not_closed_waits():
    assert gate(BatchView("000003", chain_block=12)) == Wait("batch 000003 is not closed yet (L1 at block 12)")


def test_a_settled_batch_is_passed_over_unless_a_reorganisation_took_it_back():
    settled = view(chain_block=16, materialized=frozenset({"proof", "da_blob", "state_update"}))
    assert gate(settled) == Settled("000003")
    assert gate(dataclasses.replace(settled, resettle=True)) == Request("000003")
    # Covered on L1 but not recorded yet: the settle run records it without sending.
    assert gate(view(chain_block=16)) == Request("000003")


def test_a_settlement_recorded_after_the_ticks_l1_read_waits_instead_of_being_requested_again():
    """Found under the daemon: a settle run ended between the tick's L1 read and its look at the materializations."""
    recorded = view(chain_block=12, materialized=frozenset({"proof", "da_blob", "state_update"}))
    assert gate(recorded) == Wait(
        "batch 000003 is recorded; L1 read at the start of this tick (block 12) predates it"
    )
    # Unless the watch says L1 lost it: then it is settled again.
    assert gate(dataclasses.replace(recorded, resettle=True)) == Request("000003")


def test_a_settle_run_in_flight_waits():
    assert gate(view(in_flight=1)) == Wait("batch 000003 settlement in flight")


def test_strict_order_waits_for_l1_to_reach_the_block_before_the_batch():
    assert gate(view(chain_block=11)) == Wait("batch 000003 waits for L1 to reach block 12")


def test_a_fact_not_on_l1_holds_the_batch_with_the_fact_and_the_check_named():
    decision = gate(view(checks=FACT_FAILED))
    assert decision == Hold(
        "000003", "fact_registered_on_l1",
        f"batch 000003 held: proof fact {FACT} is not registered on L1 (check fact_registered_on_l1 failed)",
        alert=True,
    )


def test_a_hold_alerts_once_per_batch_and_check():
    first = gate(view(checks=FACT_FAILED))
    assert isinstance(first, Hold) and first.alert
    again = gate(view(checks=FACT_FAILED), alerted_hold=first.alert_id)
    assert isinstance(again, Hold) and not again.alert
    # Another batch (or another check) held is news.
    other = gate(view(key="000004", first_block=17, last_block=20, chain_block=16, checks=FACT_FAILED),
                 alerted_hold=first.alert_id)
    assert isinstance(other, Hold) and other.alert


def test_a_passing_re_run_of_the_check_lifts_the_hold():
    held = gate(view(checks=FACT_FAILED))
    assert isinstance(held, Hold)
    assert gate(view(checks=PASSED), alerted_hold=held.alert_id) == Request("000003")


def test_blobs_that_do_not_open_to_the_output_hold_the_batch_with_the_checks_reason():
    checks = {**PASSED, "blob_evaluations_match_os_output": CheckOutcome(False, "blob 0: y differs from the OS output")}
    decision = gate(view(checks=checks))
    assert isinstance(decision, Hold) and decision.check == "blob_evaluations_match_os_output"
    assert decision.reason == (
        "batch 000003 held: the blobs do not open to the OS output's commitments and y values: "
        "blob 0: y differs from the OS output (check blob_evaluations_match_os_output failed)"
    )


def test_a_failed_blob_check_holds_even_before_the_proof_is_recorded():
    checks = {"blob_evaluations_match_os_output": CheckOutcome(False, "commitment 1 differs")}
    decision = gate(view(materialized=frozenset({"da_blob"}), checks=checks))
    assert isinstance(decision, Hold) and decision.check == "blob_evaluations_match_os_output"


def test_missing_materializations_wait_for_them():
    assert gate(view(materialized=frozenset(), checks={})) == Wait("batch 000003 waits for proof, da_blob")
    assert gate(view(materialized=frozenset({"da_blob"}))) == Wait("batch 000003 waits for proof")


def test_a_check_not_evaluated_for_the_batch_waits_and_does_not_count_as_passed():
    checks = {"blob_evaluations_match_os_output": CheckOutcome(True), "fact_registered_on_l1": CheckOutcome(None)}
    assert gate(view(checks=checks)) == Wait(
        "batch 000003 waits for check fact_registered_on_l1 of proof to be evaluated"
    )
    assert gate(view(checks={})) == Wait(
        "batch 000003 waits for check fact_registered_on_l1 of proof, blob_evaluations_match_os_output of da_blob "
        "to be evaluated"
    )


def test_exhausted_settle_attempts_stop_and_alert_once():
    stop = gate(view(failed_attempts=3))
    assert stop == Stop("000003", 3, "batch 000003: 3 failed settle runs, waiting for an operator", alert=True)
    assert gate(view(failed_attempts=3), alerted_stop="000003") == Stop(
        "000003", 3, "batch 000003: 3 failed settle runs, waiting for an operator", alert=False
    )
    assert gate(view(failed_attempts=2)) == Request("000003")


def test_a_failed_check_holds_before_failed_attempts_are_counted():
    # The hold says why the batch cannot settle; the attempts are a consequence, not the cause.
    decision = gate(view(checks=FACT_FAILED, failed_attempts=3))
    assert isinstance(decision, Hold)


def test_the_aggregated_path_gates_on_the_aggregator_fact_and_the_segment_opening():
    ready = BatchView(
        "000001", chain_block=8, first_block=9, last_block=16,
        materialized=frozenset({"aggregator_proof", "aggregator_da_blob"}),
        checks={"aggregator_fact_registered_on_l1": CheckOutcome(True), "da_segment_opens_at_x0": CheckOutcome(True)},
    )
    assert gate(ready, rules=AGG_RULES) == Request("000001")
    lying = dataclasses.replace(ready, checks={
        **ready.checks, "aggregator_fact_registered_on_l1": CheckOutcome(False, metadata={"fact": FACT}),
    })
    assert gate(lying, rules=AGG_RULES) == Hold(
        "000001", "aggregator_fact_registered_on_l1",
        f"aggregator batch 000001 held: aggregator fact {FACT} is not registered on L1 "
        "(check aggregator_fact_registered_on_l1 failed)",
        alert=True,
    )
    assert gate(dataclasses.replace(ready, materialized=frozenset({"aggregator_proof"})), rules=AGG_RULES) == Wait(
        "aggregator batch 000001 waits for aggregator_da_blob"
    )
    settled = dataclasses.replace(ready, chain_block=16, materialized=ready.materialized | {"aggregator_state_update"})
    assert gate(settled, rules=AGG_RULES) == Settled("000001")


# The node's word on the batch's last block (16) against the hash its OS output recorded.
RECORDED, FORKED = 0x1234, 0xBAD


def test_a_batch_whose_last_block_the_node_reports_with_another_hash_is_held_and_alerted_once():
    forked = view(recorded_block_hash=RECORDED, node_block_hash=FORKED)
    held = gate(forked)
    assert isinstance(held, Hold) and held.check == "l2_block_hash" and held.alert
    assert held.reason == "batch 000003 held: node reports block 16 hash 0xbad, batch 000003 recorded 0x1234"
    assert "node reports the recorded hash again" in held.remedy
    assert gate(forked, alerted_hold=held.alert_id).alert is False
    # The hash hold comes before the checks: a failed fact check does not hide it.
    assert gate(dataclasses.replace(forked, checks=FACT_FAILED)).check == "l2_block_hash"


def test_a_batch_whose_last_block_the_node_agrees_with_is_requested_and_one_the_node_cannot_report_waits():
    assert gate(view(recorded_block_hash=RECORDED, node_block_hash=RECORDED)) == Request("000003")
    assert gate(view(recorded_block_hash=None, node_block_hash=FORKED)) == Request("000003")  # no OS output yet
    waiting = gate(view(recorded_block_hash=RECORDED, node_error="HTTP 502 from the node"))
    assert waiting == Wait("batch 000003 waits for the node to report block 16: HTTP 502 from the node")


def test_a_settled_batch_is_never_held_by_the_hash_rule():
    settled = view(chain_block=16, materialized=frozenset({"proof", "da_blob", "state_update"}))
    assert gate(dataclasses.replace(settled, recorded_block_hash=RECORDED, node_block_hash=FORKED)) == Settled("000003")


def test_the_aggregated_pipeline_names_the_aggregator_batch_in_a_hash_hold():
    ready = BatchView(
        "000001", chain_block=30, first_block=31, last_block=60,
        materialized=frozenset({"aggregator_proof", "aggregator_da_blob"}),
        checks={"aggregator_fact_registered_on_l1": CheckOutcome(True), "da_segment_opens_at_x0": CheckOutcome(True)},
        recorded_block_hash=RECORDED, node_block_hash=FORKED,
    )
    assert gate(ready, rules=AGG_RULES).reason == (
        "aggregator batch 000001 held: node reports block 60 hash 0xbad, aggregator batch 000001 recorded 0x1234"
    )
