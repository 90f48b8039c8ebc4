"""Squashing the diffs of consecutive blocks into one batch diff."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateDiff, StateUpdate

from ._vectors import ENCODED_BLOCKS, load_nonces, load_state_update


def make_update(
    old_root: int,
    new_root: int,
    storage: dict[int, dict[int, int]] | None = None,
    nonces: dict[int, int] | None = None,
    deployed: dict[int, int] | None = None,
    replaced: dict[int, int] | None = None,
    declared: dict[int, int] | None = None,
    deprecated: list[int] | None = None,
) -> StateUpdate:
    diff = {
        "storage_diffs": [
            {"address": a, "storage_entries": [{"key": k, "value": v} for k, v in slots.items()]}
            for a, slots in (storage or {}).items()
        ],
        "nonces": [{"contract_address": a, "nonce": n} for a, n in (nonces or {}).items()],
        "deployed_contracts": [{"address": a, "class_hash": h} for a, h in (deployed or {}).items()],
        "replaced_classes": [{"contract_address": a, "class_hash": h} for a, h in (replaced or {}).items()],
        "declared_classes": [{"class_hash": h, "compiled_class_hash": c} for h, c in (declared or {}).items()],
        "deprecated_declared_classes": list(deprecated or []),
    }
    return StateUpdate.parse(
        {"block_hash": new_root + 1000, "old_root": old_root, "new_root": new_root, "state_diff": diff}
    )


def storage_of(diff: StateDiff) -> dict[int, dict[int, int]]:
    return {d.address: {e.key: e.value for e in d.storage_entries} for d in diff.storage_diffs}


def test_last_storage_write_wins_and_untouched_slots_stay():
    diff = squash_state_updates(
        [
            make_update(1, 2, storage={0xA: {1: 10, 2: 20}}),
            make_update(2, 3, storage={0xA: {1: 11}, 0xB: {5: 50}}),
            make_update(3, 4, storage={0xA: {1: 12}}),
        ]
    )
    assert storage_of(diff) == {0xA: {1: 12, 2: 20}, 0xB: {5: 50}}


def test_nonces_and_classes_take_the_last_block_that_set_them():
    diff = squash_state_updates(
        [
            make_update(1, 2, nonces={0xA: 1, 0xB: 7}, replaced={0xB: 0xB1}, declared={0xD1: 0xC1}),
            make_update(2, 3, nonces={0xA: 2}, replaced={0xB: 0xB2}, declared={0xD2: 0xC2}, deprecated=[9, 8]),
            make_update(3, 4, nonces={0xA: 3}, deprecated=[8]),
        ]
    )
    assert {(n.contract_address, n.nonce) for n in diff.nonces} == {(0xA, 3), (0xB, 7)}
    assert [(r.contract_address, r.class_hash) for r in diff.replaced_classes] == [(0xB, 0xB2)]
    assert [(d.class_hash, d.compiled_class_hash) for d in diff.declared_classes] == [(0xD1, 0xC1), (0xD2, 0xC2)]
    assert diff.deprecated_declared_classes == [8, 9]


def test_deployed_then_replaced_stays_a_deployment_with_the_final_class():
    diff = squash_state_updates(
        [
            make_update(1, 2, deployed={0xC: 0x111}),
            make_update(2, 3, replaced={0xC: 0x222}),
            make_update(3, 4, replaced={0xC: 0x333, 0xE: 0x444}),
        ]
    )
    assert [(d.address, d.class_hash) for d in diff.deployed_contracts] == [(0xC, 0x333)]
    assert [(r.contract_address, r.class_hash) for r in diff.replaced_classes] == [(0xE, 0x444)]


def test_pre_state_drops_writes_that_end_where_they_started():
    pre = {(0xA, 1): 5, (0xA, 2): 0, (0xB, 9): 3}
    diff = squash_state_updates(
        [
            make_update(1, 2, storage={0xA: {1: 6, 2: 1}, 0xB: {9: 4}}),
            make_update(2, 3, storage={0xA: {1: 5}, 0xB: {9: 3}}),
        ],
        pre_state=lambda address, key: pre.get((address, key), 0),
    )
    # 0xA/1 went 5 -> 6 -> 5 and 0xB/9 went 3 -> 4 -> 3: nothing to publish for them.
    assert storage_of(diff) == {0xA: {2: 1}}


def test_blocks_that_do_not_chain_are_rejected():
    with pytest.raises(InvalidInputError, match=r"state update #1 .*old_root 0x5 does not follow new_root 0x2"):
        squash_state_updates([make_update(1, 2), make_update(5, 6)])


def test_output_is_sorted_whatever_the_input_order():
    diff = squash_state_updates(
        [make_update(1, 2, storage={0xB: {3: 1, 1: 1}, 0xA: {2: 2}}, nonces={0xF: 1, 0x3: 1}, deployed={9: 1, 4: 1})]
    )
    assert [d.address for d in diff.storage_diffs] == [0xA, 0xB]
    assert [e.key for e in diff.storage_diffs[1].storage_entries] == [1, 3]
    assert [n.contract_address for n in diff.nonces] == [0x3, 0xF]
    assert [d.address for d in diff.deployed_contracts] == [4, 9]


def test_empty_batch_is_an_empty_diff():
    assert squash_state_updates([]) == StateDiff()


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_squashing_one_real_block_keeps_its_da_encoding(vectors_dir, block):
    update = load_state_update(vectors_dir, block)
    nonces = load_nonces(vectors_dir, block)
    squashed = squash_state_updates([update])
    assert da_felts(squashed, nonces, "0.13.2") == da_felts(update.state_diff, nonces, "0.13.2")
    assert da_felts(squashed, nonces, "0.13.3") == da_felts(update.state_diff, nonces, "0.13.3")


small = st.integers(min_value=0, max_value=6)
block_diffs = st.fixed_dictionaries(
    {
        "storage": st.dictionaries(small, st.dictionaries(small, small, max_size=4), max_size=4),
        "nonces": st.dictionaries(small, small, max_size=3),
        "deployed": st.dictionaries(st.integers(100, 104), small, max_size=2),
        "replaced": st.dictionaries(st.integers(100, 106), small, max_size=2),
        "declared": st.dictionaries(small, small, max_size=2),
        "deprecated": st.lists(small, max_size=2),
    }
)


def chain(diffs: list[dict], first_root: int = 1) -> list[StateUpdate]:
    return [make_update(first_root + i, first_root + i + 1, **d) for i, d in enumerate(diffs)]


def as_update(diff: StateDiff, old_root: int, new_root: int) -> StateUpdate:
    return StateUpdate(block_hash=new_root + 1000, old_root=old_root, new_root=new_root, state_diff=diff)


@settings(max_examples=60, deadline=None)
@given(st.lists(block_diffs, min_size=1, max_size=6), st.data())
def test_squashing_is_associative(diffs, data):
    # Squashing a batch in one go equals squashing two halves and then the two results.
    updates = chain(diffs)
    cut = data.draw(st.integers(min_value=0, max_value=len(updates)))
    whole = squash_state_updates(updates)
    left = squash_state_updates(updates[:cut])
    right = squash_state_updates(updates[cut:])
    parts = [as_update(left, 1, 1 + cut), as_update(right, 1 + cut, 1 + len(updates))]
    assert squash_state_updates(parts) == whole


@settings(max_examples=60, deadline=None)
@given(st.lists(block_diffs, min_size=1, max_size=6))
def test_squashed_storage_matches_replaying_the_blocks(diffs):
    state: dict[tuple[int, int], int] = {}
    for diff in diffs:
        for address, slots in diff["storage"].items():
            for key, value in slots.items():
                state[(address, key)] = value
    squashed = squash_state_updates(chain(diffs), pre_state=lambda a, k: 0)
    assert storage_of(squashed) == {
        a: {k: v for (a2, k), v in sorted(state.items()) if a2 == a and v != 0}
        for a in sorted({a for (a, _), v in state.items() if v != 0})
    }
