"""The rules by which the settlement sensor finds a recorded settlement that L1 no longer holds (pure, no chain)."""

from __future__ import annotations

from orchestrator_pipelines.settlement_finality import (
    Held,
    Inclusion,
    L1View,
    RecordedSettlement,
    Resettle,
    decide,
    final_count,
    why_lost,
)

TX0, TX1 = "0x" + "aa" * 32, "0x" + "bb" * 32
HASH_A, HASH_B = "0x" + "0a" * 32, "0x" + "0b" * 32


def settled(key: str, last_block: int, tx: str | None, l1_block: int | None = 10, block_hash: str | None = HASH_A):
    return RecordedSettlement(key, last_block, tx, l1_block, block_hash if tx else None)


BATCH0 = settled("000000", 4, TX0, l1_block=10)
BATCH1 = settled("000001", 8, TX1, l1_block=12, block_hash=HASH_B)


def view(state_block: int, **inclusions) -> L1View:
    default = {TX0: Inclusion(10, HASH_A), TX1: Inclusion(12, HASH_B)}
    return L1View(state_block, {**default, **{{"tx0": TX0, "tx1": TX1}[k]: v for k, v in inclusions.items()}})


def test_a_settlement_still_on_l1_is_held():
    assert why_lost(BATCH0, view(8)) is None
    assert decide([BATCH0, BATCH1], view(8), alerted=None) == Held(
        "settlements of 000000..000001 still on L1 (stateBlockNumber 8)"
    )


def test_nothing_watched_is_a_reason_not_silence():
    assert decide([], view(0), alerted=None) == Held("no recorded settlement awaits finality")


def test_state_block_number_below_the_batch_means_lost():
    assert why_lost(BATCH0, view(0)) == "the core contract's stateBlockNumber is 0, below the batch's last block 4"


def test_a_dropped_transaction_means_lost_even_if_the_state_still_covers_the_batch():
    # Another sender's identical update may have taken its place; the record names a transaction L1 does not have.
    assert why_lost(BATCH0, view(4, tx0=None)) == "no successful receipt for it any more (recorded in L1 block 10)"


def test_a_transaction_moved_to_another_block_means_the_record_is_wrong():
    lost = why_lost(BATCH0, view(4, tx0=Inclusion(11, HASH_B)))
    assert lost == f"it is now in L1 block 11 ({HASH_B}), not in the recorded block 10 ({HASH_A})"


def test_block_hashes_compare_case_insensitively():
    assert why_lost(BATCH0, view(4, tx0=Inclusion(10, "0x" + "0A" * 32))) is None


def test_a_batch_found_already_on_chain_is_judged_by_the_state_block_number_only():
    found = settled("000000", 4, None, l1_block=7)
    assert why_lost(found, L1View(4, {})) is None
    assert why_lost(found, L1View(3, {})) is not None


def test_the_earliest_lost_batch_is_settled_again_and_alerted_once():
    decision = decide([BATCH0, BATCH1], view(0, tx0=None, tx1=None), alerted=None)
    assert isinstance(decision, Resettle)
    assert (decision.key, decision.tx_hash, decision.alert) == ("000000", TX0, True)
    assert decision.alert_text == (
        f"batch 000000: L1 no longer holds transaction {TX0}: the core contract's stateBlockNumber is 0, "
        "below the batch's last block 4; settling it again"
    )
    again = decide([BATCH0, BATCH1], view(0, tx0=None, tx1=None), alerted=decision.alert_id)
    assert again.key == "000000" and again.alert is False


def test_a_later_lost_batch_after_held_ones_is_the_one_resettled():
    decision = decide([BATCH0, BATCH1], view(4, tx1=None), alerted=None)
    assert isinstance(decision, Resettle) and decision.key == "000001" and decision.alert


def test_a_new_transaction_for_the_same_batch_lost_again_alerts_again():
    first = decide([BATCH0], view(0, tx0=None), alerted=None)
    resent = settled("000000", 4, TX1, l1_block=14, block_hash=HASH_B)
    second = decide([resent], L1View(0, {TX1: None}), alerted=first.alert_id)
    assert second.alert is True


def test_settlements_at_or_below_the_finalized_block_leave_the_watch_oldest_first():
    legacy = RecordedSettlement("000002", 12)  # no L1 block recorded: cannot be judged
    late = settled("000003", 16, TX0, l1_block=30)
    assert final_count([BATCH0, BATCH1, legacy, late], finalized_block=11) == 1
    assert final_count([BATCH0, BATCH1, legacy, late], finalized_block=12) == 3
    assert final_count([BATCH0, BATCH1, legacy, late], finalized_block=30) == 4
    assert final_count([late, BATCH0], finalized_block=12) == 0
