"""Two-level batching rules (aggregator batches over SNOS batches), on synthetic blocks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.aggregation_batching import (
    AggregationBlock,
    AggregationPolicy,
    AggregatorBatchingState,
    AggregatorBatchManifest,
    SnosBatchManifest,
    advance,
    child_input_bound,
    compressed_da_size,
    initial_input_bound,
)
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.state_update import (
    ContractStorageDiff,
    NonceUpdate,
    StateDiff,
    StateUpdate,
    StorageEntry,
)


def diff(contract: int = 0x1000, writes: int = 1, key0: int = 0) -> StateDiff:
    return StateDiff(
        storage_diffs=[
            ContractStorageDiff(
                address=contract,
                storage_entries=[StorageEntry(key=key0 + k, value=k + 1) for k in range(writes)],
            )
        ],
        nonces=[NonceUpdate(contract_address=contract, nonce=1)],
    )


def block(number: int, *, version: str = "0.14.0", d: StateDiff | None = None, messages: int = 0) -> AggregationBlock:
    return AggregationBlock(
        number=number,
        timestamp=1_000 + number,
        starknet_version=version,
        state_update=StateUpdate(block_hash=number, old_root=0, new_root=0, state_diff=d or diff()),
        message_segment_length=messages,
    )


def run(blocks, policy, *, now=0.0, state=None, da_size=None):
    state = state or AggregatorBatchingState(next_block=blocks[0].number if blocks else 1)
    kwargs = {"da_size": da_size} if da_size else {}
    return advance(state, blocks, policy, now=now, **kwargs)


def ranges(step):
    return [(m.first_block, m.last_block, m.close_reason) for m in step.aggregator_closed]


def snos(step):
    return [(m.aggregator_index, m.position, m.first_block, m.last_block) for m in step.snos_closed]


def test_aggregator_batch_closes_at_max_batch_size_and_snos_batches_at_max_blocks():
    policy = AggregationPolicy(max_batch_size=6, max_blocks_per_snos_batch=4)
    step = run([block(n) for n in range(1, 15)], policy)
    assert ranges(step) == [(1, 6, "max_batch_size"), (7, 12, "max_batch_size")]
    assert snos(step) == [(0, 1, 1, 4), (0, 2, 5, 6), (1, 1, 7, 10), (1, 2, 11, 12)]
    # Blocks 13 and 14 are in the open batch; no SNOS batch of theirs is closed yet.
    assert step.state.open.first_block == 13 and step.state.open.last_block == 14
    assert step.state.next_block == 15 and step.state.next_snos_index == 4


def test_snos_batches_start_before_the_aggregator_batch_closes():
    policy = AggregationPolicy(max_batch_size=100, max_blocks_per_snos_batch=3)
    step = run([block(n) for n in range(1, 8)], policy)
    assert step.aggregator_closed == []
    assert snos(step) == [(0, 1, 1, 3), (0, 2, 4, 6)]
    assert step.state.open.open_snos_first_block == 7


def test_fixed_blocks_per_snos_batch_wins_over_the_maximum():
    policy = AggregationPolicy(max_batch_size=9, max_blocks_per_snos_batch=10, fixed_blocks_per_snos_batch=2)
    step = run([block(n) for n in range(1, 10)], policy)
    assert [(f, l) for _, _, f, l in snos(step)] == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 9)]
    assert step.snos_closed[-1].close_reason == "aggregator_batch_closed:max_batch_size"


def test_a_snos_batch_never_crosses_an_aggregator_batch():
    policy = AggregationPolicy(max_batch_size=5, max_blocks_per_snos_batch=3)
    step = run([block(n) for n in range(1, 11)], policy)
    by_agg = {}
    for manifest in step.snos_closed:
        by_agg.setdefault(manifest.aggregator_index, []).append(manifest)
    for agg in step.aggregator_closed:
        children = by_agg[agg.index]
        assert children[0].first_block == agg.first_block and children[-1].last_block == agg.last_block
        assert [c.position for c in children] == list(range(1, len(children) + 1))
        assert [(s.first_block, s.last_block) for s in agg.snos_batches] == [(c.first_block, c.last_block) for c in children]


def test_version_change_closes_the_aggregator_batch():
    policy = AggregationPolicy(max_batch_size=100)
    blocks = [block(1), block(2), block(3, version="0.14.1"), block(4, version="0.14.1")]
    step = run(blocks, policy)
    assert ranges(step) == [(1, 2, "version_change")]
    assert step.state.open.starknet_version == "0.14.1" and step.state.open.first_block == 3


def test_time_closes_the_batch_from_its_start_also_without_a_new_block():
    policy = AggregationPolicy(max_batch_size=100, max_batch_time_s=60)
    first = run([block(1), block(2)], policy, now=1_000.0)
    assert first.aggregator_closed == [] and first.state.open.started_at == 1_000.0
    # No new block, before the limit: still open.
    assert run([], policy, now=1_059.0, state=first.state).aggregator_closed == []
    # No new block at the limit: closed, with its open SNOS batch.
    quiet = run([], policy, now=1_060.0, state=first.state)
    assert ranges(quiet) == [(1, 2, "max_batch_time")]
    assert snos(quiet) == [(0, 1, 1, 2)]
    assert quiet.state.open is None and quiet.state.next_aggregator_index == 1
    # A new block past the limit: the old batch closes first, the block opens the next one.
    busy = run([block(3)], policy, now=1_061.0, state=first.state)
    assert ranges(busy) == [(1, 2, "max_batch_time")]
    assert busy.state.open.first_block == 3 and busy.state.open.started_at == 1_061.0


def test_blob_budget_counts_the_squashed_compressed_diff_minus_the_buffer():
    policy = AggregationPolicy(max_batch_size=100, max_num_blobs=1, blob_size_buffer=15)
    assert policy.blob_felt_budget == 4096 - 15
    # A fake size measure: 1000 felts per distinct storage slot in the squashed diff.
    size = lambda d, _v: 1000 * sum(len(c.storage_entries) for c in d.storage_diffs)  # noqa: E731
    blocks = [block(n, d=diff(key0=n)) for n in range(1, 7)]
    step = run(blocks, policy, da_size=size)
    assert ranges(step) == [(1, 4, "blob_budget")]
    assert step.state.open.first_block == 5 and step.state.open.da_felts == 2000


def test_blob_budget_uses_the_squash_rewrites_of_one_slot_cost_nothing_more():
    policy = AggregationPolicy(max_batch_size=100, max_num_blobs=1)
    size = lambda d, _v: 1000 * sum(len(c.storage_entries) for c in d.storage_diffs)  # noqa: E731
    step = run([block(n, d=diff(key0=7)) for n in range(1, 30)], policy, da_size=size)
    assert step.aggregator_closed == [] and step.state.open.da_felts == 1000


def test_real_da_size_of_the_squashed_diff_is_measured():
    d = diff(writes=3)
    assert compressed_da_size(d, "0.14.0") > 0
    step = run([block(1, d=d)], AggregationPolicy())
    assert step.state.open.da_felts == compressed_da_size(d, "0.14.0")


def test_aggregator_input_bound_is_madaras_formula():
    d = diff(writes=5)  # one contract, five storage writes, no classes
    assert initial_input_bound(d, message_segment_length=7) == 1 + 14 + 2 + 7 + 6 * 1 + 3 * 5
    assert child_input_bound(d, message_segment_length=7) == initial_input_bound(d, 7) - 1


def test_aggregator_input_bound_closes_the_batch():
    d = diff(writes=5)
    one, more = initial_input_bound(d), child_input_bound(d)
    policy = AggregationPolicy(max_batch_size=100, max_aggregator_input_size=one + 2 * more)
    step = run([block(n, d=d) for n in range(1, 6)], policy)
    assert ranges(step) == [(1, 3, "aggregator_input")]
    assert step.aggregator_closed[0].input_size_bound == one + 2 * more


def test_a_block_too_big_for_any_batch_stalls_batching_before_it():
    big = diff(writes=100)
    policy = AggregationPolicy(max_batch_size=100, max_aggregator_input_size=initial_input_bound(big) - 1)
    step = run([block(1), block(2, d=big), block(3)], policy)
    assert ranges(step) == [(1, 1, "aggregator_input")]
    assert step.stalled and "block 2" in step.stalled and "MAX_AGGREGATOR_INPUT_SIZE" in step.stalled
    assert step.state.next_block == 2 and step.state.open is None


def test_last_block_closes_and_stops():
    policy = AggregationPolicy(max_batch_size=100, last_block=4)
    step = run([block(n) for n in range(1, 8)], policy)
    assert ranges(step) == [(1, 4, "last_block")]
    assert step.state.next_block == 5 and step.state.open is None


def test_blocks_must_be_consecutive_from_the_state():
    with pytest.raises(InvalidInputError, match="expected block 1, got 2"):
        advance(AggregatorBatchingState(next_block=1), [block(2)], AggregationPolicy(), now=0)


def test_state_and_manifests_round_trip_through_json():
    policy = AggregationPolicy(max_batch_size=5, max_blocks_per_snos_batch=2)
    step = run([block(n) for n in range(1, 9)], policy, now=5.0)
    again = AggregatorBatchingState.from_json(step.state.to_json())
    assert again == step.state
    for manifest in step.aggregator_closed:
        assert AggregatorBatchManifest.from_json(manifest.to_json()) == manifest
    for manifest in step.snos_closed:
        assert SnosBatchManifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(InvalidInputError, match="aggregator batching state"):
        AggregatorBatchingState.from_json(b"{}")


def test_policy_refuses_a_buffer_that_leaves_no_room():
    with pytest.raises(InvalidInputError, match="BLOB_SIZE_BUFFER"):
        AggregationPolicy(max_num_blobs=1, blob_size_buffer=4096)
    assert AggregationPolicy().max_snos_batches == 10
    assert AggregationPolicy(max_batch_size=100, fixed_blocks_per_snos_batch=3).max_snos_batches == 34


@settings(max_examples=40, deadline=None)
@given(
    n_blocks=st.integers(1, 60),
    max_batch=st.integers(1, 20),
    max_snos=st.integers(1, 8),
    split=st.integers(1, 60),
)
def test_any_chain_is_cut_into_contiguous_nested_batches_the_same_way_in_one_or_two_evaluations(
    n_blocks, max_batch, max_snos, split
):
    policy = AggregationPolicy(max_batch_size=max_batch, max_blocks_per_snos_batch=max_snos)
    blocks = [block(n) for n in range(1, n_blocks + 1)]
    whole = run(blocks, policy)
    cut = min(split, n_blocks)
    first = run(blocks[:cut], policy)
    second = advance(first.state, blocks[cut:], policy, now=0.0)
    assert first.aggregator_closed + second.aggregator_closed == whole.aggregator_closed
    assert first.snos_closed + second.snos_closed == whole.snos_closed
    covered = [b for m in whole.snos_closed for b in range(m.first_block, m.last_block + 1)]
    assert covered == list(range(1, len(covered) + 1))
    for m in whole.snos_closed:
        assert m.n_blocks <= max_snos
    for m in whole.aggregator_closed:
        assert m.n_blocks <= max_batch
        assert len(m.snos_batches) <= policy.max_snos_batches
