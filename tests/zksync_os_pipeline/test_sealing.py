"""The batcher's seal rules (zksync-os-server ``seal_criteria.rs``) as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.sealing import BlockSummary, SealPolicy, seal_batches

T0 = 1_700_000_000


def blocks(n: int, *, start: int = 1, pubdata: int = 100, logs: int = 1, version: int = 4, step: int = 1):
    return [BlockSummary(start + i, T0 + i * step, pubdata, logs, version) for i in range(n)]


def ranges(sealed):
    return [(b.batch_number, b.first_block, b.last_block, b.reason) for b in sealed]


def test_a_full_batch_seals_at_the_block_limit_without_waiting():
    sealed = seal_batches(blocks(23), SealPolicy(blocks_per_batch_limit=10, batch_timeout_s=1000), first_batch=1, now=T0)
    assert ranges(sealed) == [(1, 1, 10, "blocks_per_batch"), (2, 11, 20, "blocks_per_batch")]


def test_a_partial_batch_waits_for_the_timeout_from_its_first_block():
    policy = SealPolicy(batch_timeout_s=5)
    assert seal_batches(blocks(3), policy, first_batch=1, now=T0 + 4.9) == []
    assert ranges(seal_batches(blocks(3), policy, first_batch=1, now=T0 + 5)) == [(1, 1, 3, "timeout")]


def test_pubdata_limit_seals_before_the_block_that_would_exceed_it():
    chain = blocks(5, pubdata=40_000)
    sealed = seal_batches(chain, SealPolicy(pubdata_limit_bytes=110_000, batch_timeout_s=100), first_batch=7, now=T0)
    assert ranges(sealed) == [(7, 1, 2, "pubdata"), (8, 3, 4, "pubdata")]


def test_exactly_at_the_pubdata_limit_still_fits():
    chain = blocks(3, pubdata=55_000)
    sealed = seal_batches(chain, SealPolicy(pubdata_limit_bytes=110_000, batch_timeout_s=100), first_batch=1, now=T0)
    assert ranges(sealed) == [(1, 1, 2, "pubdata")]


def test_a_block_over_a_limit_alone_is_its_own_batch():
    chain = blocks(1, pubdata=50) + blocks(1, start=2, pubdata=200_000) + blocks(1, start=3, pubdata=50)
    sealed = seal_batches(chain, SealPolicy(batch_timeout_s=100), first_batch=1, now=T0)
    assert ranges(sealed) == [(1, 1, 1, "pubdata"), (2, 2, 2, "pubdata_single_block")]


def test_l2_to_l1_logs_limit_is_the_logs_tree_size():
    chain = blocks(3, logs=8_000)
    sealed = seal_batches(chain, SealPolicy(batch_timeout_s=100), first_batch=1, now=T0)
    assert ranges(sealed) == [(1, 1, 2, "l2_l1_logs")]  # 16,000 fit, 24,000 do not


def test_an_execution_version_change_starts_a_new_batch():
    chain = blocks(3, version=4) + blocks(3, start=4, version=5)
    sealed = seal_batches(chain, SealPolicy(batch_timeout_s=100), first_batch=1, now=T0)
    assert ranges(sealed) == [(1, 1, 3, "execution_version_change")]


def test_gaps_and_bad_limits_are_refused():
    with pytest.raises(InvalidInputError, match="does not follow"):
        seal_batches(blocks(1) + blocks(1, start=3), SealPolicy(), first_batch=1, now=T0)
    with pytest.raises(InvalidInputError):
        SealPolicy(batch_timeout_s=0)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 150_000), min_size=1, max_size=40),
    limit=st.integers(1, 12),
    elapsed=st.floats(0, 100),
)
def test_sealed_batches_are_consecutive_and_within_limits(sizes, limit, elapsed):
    chain = [BlockSummary(i + 1, T0 + i, size, 0, 4) for i, size in enumerate(sizes)]
    policy = SealPolicy(blocks_per_batch_limit=limit, batch_timeout_s=10)
    sealed = seal_batches(chain, policy, first_batch=1, now=T0 + elapsed)
    expected_first = 1
    for number, batch in enumerate(sealed, start=1):
        assert batch.batch_number == number and batch.first_block == expected_first
        assert 1 <= batch.n_blocks <= limit
        total = sum(sizes[batch.first_block - 1 : batch.last_block])
        assert total <= policy.pubdata_limit_bytes or batch.n_blocks == 1
        expected_first = batch.last_block + 1
