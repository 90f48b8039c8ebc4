"""Starknet 0.13.3 stateless compression."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.compression import (
    HEADER_ELM_BOUND,
    compress,
    decompress,
    decompress_prefix,
    elements_per_felt,
    pack,
    unpack,
)
from orchestrator_pipelines.starknet.da_encoding import encode_state_diff
from orchestrator_pipelines.starknet.felt import STARK_PRIME

from ._vectors import ENCODED_BLOCKS, load_nonces, load_state_update


def header(*fields: int) -> int:
    """Pack header fields 20 bits each, first field least significant."""
    return sum(value << (20 * i) for i, value in enumerate(fields))


def test_one_value_and_one_repeat_by_hand():
    # 1 fits the 15-bit bucket (index 5); the second 1 is a repeat (bucket 6) pointing at unique value 0.
    # Header: version 0, 2 values, bucket lengths 252..15 bits = 0,0,0,0,0,1, one repeat.
    # Bucket indices [5, 6] packed base 7: 5 + 6 * 7 = 47.
    assert compress([1, 1]) == [header(0, 2, 0, 0, 0, 0, 0, 1, 1), 1, 0, 47]


def test_values_go_to_the_narrowest_bucket_in_first_seen_order():
    big = 2**251 + 5
    data = [2**15, 3, 2**62, big, 2**15, 2**125 - 1, 2**83 - 1, 7]
    packed = compress(data)
    # Buckets in header order 252, 125, 83, 62, 31, 15 bits: 2**15 needs 16 bits (31-bit bucket),
    # 2**62 needs 63 bits (83-bit bucket), 2**83 - 1 fits 83 bits.
    assert packed[0] == header(0, len(data), 1, 1, 2, 0, 1, 2, 1)
    # 252-bit bucket: one value per felt; 125-bit bucket: two per felt; 83-bit bucket: three per felt.
    assert packed[1] == big
    assert packed[2] == 2**125 - 1
    assert packed[3] == 2**62 + (2**83 - 1) * 2**83
    assert packed[4] == 2**15  # 31-bit bucket
    assert packed[5] == 3 + 7 * 2**15  # 15-bit bucket, first seen first
    # One repeat (2**15), pointing at position 4 of the chained unique values (1 + 1 + 2 + 0 + 0).
    n_unique = 7
    assert packed[6] == 4 and elements_per_felt(n_unique) == 83
    indices = [4, 5, 2, 0, 6, 1, 2, 5]
    assert packed[7] == sum(index * 7**i for i, index in enumerate(indices))
    assert len(packed) == 8
    assert decompress(packed) == data


def test_empty_data():
    assert compress([]) == [header(0, 0, 0, 0, 0, 0, 0, 0, 0)]
    assert decompress(compress([])) == []


@pytest.mark.parametrize("bound, per_felt", [(1, 251), (2, 251), (7, 83), (8, 83), (9, 62), (2**20, 12), (2**125, 2), (2**252, 1)])
def test_elements_per_felt(bound, per_felt):
    assert elements_per_felt(bound) == per_felt


@given(st.lists(st.integers(min_value=0, max_value=2**20 - 1), max_size=40))
def test_pack_round_trip(values):
    packed = pack(values, 2**20)
    assert all(word < STARK_PRIME for word in packed)
    assert unpack(packed, 2**20, len(values)) == values


felts_any_width = st.integers(min_value=0, max_value=250).flatmap(
    lambda bits: st.integers(min_value=0, max_value=min(2**bits, STARK_PRIME - 1))
)


@settings(max_examples=200, deadline=None)
@given(st.lists(felts_any_width, max_size=300), st.data())
def test_round_trip_random_data_with_repeats(values, data):
    # Mix in repeats so the pointer section is exercised.
    if values:
        repeats = data.draw(st.lists(st.sampled_from(values), max_size=50))
        positions = data.draw(st.lists(st.integers(0, len(values)), min_size=len(repeats), max_size=len(repeats)))
        for position, value in zip(positions, repeats):
            values.insert(position, value)
    packed = compress(values)
    assert all(0 <= word < STARK_PRIME for word in packed)
    assert decompress(packed) == values
    restored, used = decompress_prefix(packed + [123])
    assert restored == values and used == len(packed)


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_real_state_diffs_shrink_and_round_trip(vectors_dir, block):
    diff = load_state_update(vectors_dir, block).state_diff
    felts = encode_state_diff(diff, load_nonces(vectors_dir, block), "0.13.3")
    packed = compress(felts)
    assert len(packed) < 0.7 * len(felts)
    assert decompress(packed) == felts


def test_trailing_zero_padding_is_accepted_but_other_trailing_data_is_not():
    packed = compress([5, 6, 5])
    assert decompress(packed + [0] * 10) == [5, 6, 5]
    with pytest.raises(InvalidInputError, match="non-zero felt at offset 5"):
        decompress(packed + [0, 9])


def test_rejects_unknown_version_and_truncated_data():
    packed = compress([5, 6, 5, 2**200])
    with pytest.raises(InvalidInputError, match="unsupported compression version 1"):
        decompress([packed[0] + 1] + packed[1:])
    with pytest.raises(InvalidInputError, match="truncated"):
        decompress(packed[:-1])
    with pytest.raises(InvalidInputError, match="truncated"):
        decompress([])


def test_rejects_inconsistent_bucket_indices():
    packed = compress([5, 6])
    # Claim both values come from the 252-bit bucket, which the header says is empty.
    with pytest.raises(InvalidInputError, match="bucket index 0"):
        decompress(packed[:-1] + [0])


def test_rejects_values_that_are_not_felts():
    with pytest.raises(InvalidInputError, match="felt #1"):
        compress([1, STARK_PRIME])
    with pytest.raises(InvalidInputError, match="felt #0"):
        compress([-1])
    with pytest.raises(InvalidInputError, match="at most"):
        compress([0] * HEADER_ELM_BOUND)
