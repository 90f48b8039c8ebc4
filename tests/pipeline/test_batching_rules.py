"""The batch-closing rules, on synthetic block summaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.batching import (
    BatchManifest,
    BatchPolicy,
    BlockSummary,
    close_batches,
    da_felts_upper_bound,
    unsupported_block,
    unsupported_version,
)
from orchestrator_pipelines.errors import InvalidInputError, TooManyBlobsError


def blocks(first: int, count: int, *, felts: int = 100, version: str = "0.13.4", t0: int = 1_000, dt: int = 1):
    return [BlockSummary(first + i, t0 + i * dt, version, felts) for i in range(count)]


def test_closes_full_batches_and_keeps_the_rest_open():
    closed = close_batches(blocks(1, 25), BatchPolicy(max_blocks=10, max_age_s=3600), first_index=7, now=1_010)
    assert [(m.index, m.first_block, m.last_block, m.close_reason) for m in closed] == [
        (7, 1, 10, "max_blocks"),
        (8, 11, 20, "max_blocks"),
    ]


def test_one_block_batches_are_valid():
    closed = close_batches(blocks(5, 3), BatchPolicy(max_blocks=1), first_index=0, now=0)
    assert [(m.first_block, m.last_block) for m in closed] == [(5, 5), (6, 6), (7, 7)]


def test_age_closes_a_partial_batch_only_when_old_enough():
    policy = BatchPolicy(max_blocks=10, max_age_s=60)
    assert close_batches(blocks(1, 3, t0=1_000), policy, first_index=0, now=1_059) == []
    closed = close_batches(blocks(1, 3, t0=1_000), policy, first_index=0, now=1_060)
    assert [(m.first_block, m.last_block, m.close_reason) for m in closed] == [(1, 3, "max_age")]


def test_blob_budget_closes_before_overflowing():
    policy = BatchPolicy(max_blocks=100, max_blobs=2)  # 8192 felts
    sizes = [3000, 3000, 3000, 100]
    summaries = [BlockSummary(i, i, "0.13.4", size) for i, size in enumerate(sizes, start=1)]
    closed = close_batches(summaries, policy, first_index=0, now=0)
    assert [(m.first_block, m.last_block, m.close_reason, m.da_felts_bound) for m in closed] == [(1, 2, "max_blobs", 6000)]


def test_a_block_larger_than_the_budget_is_a_clear_error():
    with pytest.raises(TooManyBlobsError, match="needs 3 blobs but at most 2"):
        close_batches([BlockSummary(1, 1, "0.13.4", 9000)], BatchPolicy(max_blobs=2), first_index=0, now=0)


def test_version_change_closes_the_batch():
    summaries = blocks(1, 3, version="0.13.3") + blocks(4, 2, version="0.13.4")
    closed = close_batches(summaries, BatchPolicy(max_blocks=10, max_age_s=10**9), first_index=0, now=0)
    assert [(m.first_block, m.last_block, m.close_reason, m.starknet_version) for m in closed] == [
        (1, 3, "version_change", "0.13.3")
    ]


def test_last_block_to_process_closes_and_stops():
    policy = BatchPolicy(max_blocks=10, last_block_to_process=13)
    closed = close_batches(blocks(1, 20), policy, first_index=0, now=0)
    assert [(m.first_block, m.last_block, m.close_reason) for m in closed] == [
        (1, 10, "max_blocks"),
        (11, 13, "last_block_to_process"),
    ]


def test_gaps_are_rejected():
    with pytest.raises(InvalidInputError, match="not consecutive: 2 then 4"):
        close_batches(blocks(1, 2) + blocks(4, 1), BatchPolicy(), first_index=0, now=0)


def test_manifest_round_trip_and_bad_json():
    manifest = close_batches(blocks(1, 10), BatchPolicy(max_blocks=10), first_index=3, now=0)[0]
    assert BatchManifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(InvalidInputError, match="invalid batch manifest"):
        BatchManifest.from_json(b"{not json")


def test_upper_bound_counts_every_record():
    # two contracts: one with 3 writes and a class change, one nonce-only; one declared class
    bound = da_felts_upper_bound({1: 3}, [1, 2], [1], 1)
    raw = 2 + 2 * 1 + (2 + 1 + 6) + 2
    assert bound >= raw and bound == raw + raw // 64 + 16


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=4096 * 2), min_size=1, max_size=60),
    max_blocks=st.integers(min_value=1, max_value=12),
    max_blobs=st.integers(min_value=2, max_value=6),
)
def test_batches_are_contiguous_and_within_limits(sizes, max_blocks, max_blobs):
    summaries = [BlockSummary(10 + i, i, "0.13.4", s) for i, s in enumerate(sizes)]
    policy = BatchPolicy(max_blocks=max_blocks, max_blobs=max_blobs, max_age_s=10**9)
    closed = close_batches(summaries, policy, first_index=0, now=0)
    expected_first = 10
    for index, manifest in enumerate(closed):
        assert manifest.index == index
        assert manifest.first_block == expected_first
        assert manifest.n_blocks <= max_blocks
        assert manifest.da_felts_bound <= policy.felt_capacity
        expected_first = manifest.last_block + 1


@pytest.mark.parametrize("version", ["0.13.2", "0.13.2.1", "0.13.3", "0.13.5", "0.14.0", "0.14.1"])
def test_supported_starknet_versions(version):
    assert unsupported_version(version) is None


@pytest.mark.parametrize("version", ["0.13.1", "0.13.1.1", "0.12.3", "0.15.0", "1.0.0", "", "latest"])
def test_unsupported_starknet_versions_say_which_and_what_is_supported(version):
    reason = unsupported_version(version)
    assert reason is not None and "0.13.2 … 0.14.x" in reason


def test_an_unsupported_version_closes_the_open_batch_and_stops_batching():
    chain = blocks(1, 3, version="0.14.0") + blocks(4, 5, version="0.15.0")
    closed = close_batches(chain, BatchPolicy(max_blocks=10, max_age_s=3600), first_index=0, now=1_000)
    assert [(m.first_block, m.last_block, m.close_reason) for m in closed] == [(1, 3, "unsupported_version")]
    assert unsupported_block(chain)[0].number == 4
    # Resuming at the unsupported block closes nothing: no block of it is ever encoded.
    assert close_batches(chain[3:], BatchPolicy(max_blocks=1, max_age_s=0), first_index=1, now=10**9) == []


def test_blocks_below_the_first_block_to_process_are_refused():
    with pytest.raises(InvalidInputError, match="below the first block to process"):
        close_batches(blocks(1, 3), BatchPolicy(first_block_to_process=2), first_index=0, now=0)


def test_with_aggregation_auto_a_direct_batch_closes_before_the_first_aggregated_block_and_batching_stops():
    policy = BatchPolicy(max_blocks=10, max_age_s=3600, stop_before_version="0.14.0")
    chain = blocks(1, 3) + blocks(4, 5, version="0.14.0")
    closed = close_batches(chain, policy, first_index=0, now=0)
    assert [(m.first_block, m.last_block, m.close_reason) for m in closed] == [(1, 3, "version_change")]
    assert close_batches(blocks(4, 5, version="0.14.1"), policy, first_index=1, now=10**9) == []


def test_an_operators_close_request_closes_the_open_batch_whatever_its_age():
    policy = BatchPolicy(max_blocks=10, max_age_s=3600)
    assert close_batches(blocks(1, 3), policy, first_index=0, now=1_001) == []
    closed = close_batches(blocks(1, 13), policy, first_index=4, now=1_001, close_open=True)
    assert [(m.index, m.first_block, m.last_block, m.close_reason) for m in closed] == [
        (4, 1, 10, "max_blocks"), (5, 11, 13, "operator"),
    ]


def test_a_read_cut_short_closes_full_batches_but_not_the_open_one_by_age_or_request():
    policy = BatchPolicy(max_blocks=4, max_age_s=60)
    old = blocks(1, 6, t0=0)
    complete = close_batches(old, policy, first_index=0, now=10_000)
    assert [(m.first_block, m.last_block, m.close_reason) for m in complete] == [(1, 4, "max_blocks"), (5, 6, "max_age")]
    cut = close_batches(old, policy, first_index=0, now=10_000, close_open=True, more_blocks=True)
    assert [(m.first_block, m.last_block, m.close_reason) for m in cut] == [(1, 4, "max_blocks")]
