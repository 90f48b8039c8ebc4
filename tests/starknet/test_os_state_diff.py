"""Full-output state diffs (aggregator children): both encodings, squash, the DA view."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.aggregator import encode_full_output, parse_full_output
from orchestrator_pipelines.starknet.da_encoding import decode_state_diff, encode_da_state_diff
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.os_output import MessageToL1, MessageToL2, OsOutput
from orchestrator_pipelines.starknet.os_state_diff import (
    ENCODING_PACKED,
    ENCODING_UNPACKED,
    FULL_ENCODINGS,
    ClassChange,
    ContractChange,
    OsStateDiff,
    StorageChange,
    detect_full_encoding,
    encode_full_state_diff,
    parse_full_state_diff,
    squash_os_state_diffs,
)

felts = st.integers(min_value=0, max_value=STARK_PRIME - 1)
small = st.integers(min_value=0, max_value=5)
nonces = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def contracts(draw):
    keys = draw(st.lists(felts, unique=True, max_size=6))
    return ContractChange(
        address=draw(felts),
        prev_nonce=draw(nonces),
        new_nonce=draw(nonces),
        prev_class_hash=draw(felts),
        new_class_hash=draw(st.one_of(felts, st.just(0))),
        storage=tuple(StorageChange(k, draw(felts), draw(felts)) for k in keys),
    )


diffs = st.builds(
    OsStateDiff,
    contracts=st.lists(contracts(), max_size=4).map(tuple),
    classes=st.lists(st.builds(ClassChange, felts, felts, felts), max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(diff=diffs, encoding=st.sampled_from(FULL_ENCODINGS))
def test_full_state_diff_round_trip(diff, encoding):
    assert parse_full_state_diff(encode_full_state_diff(diff, encoding), encoding) == diff


@settings(max_examples=40, deadline=None)
@given(diff=diffs)
def test_detect_finds_the_encoding_that_wrote_it(diff):
    for encoding in FULL_ENCODINGS:
        words = encode_full_state_diff(diff, encoding)
        assert parse_full_state_diff(words, detect_full_encoding(words)) == diff


def test_packed_header_with_many_updates_uses_the_wide_count():
    storage = tuple(StorageChange(k, 0, k + 1) for k in range(300))
    diff = OsStateDiff(contracts=(ContractChange(5, 1, 2, 7, 7, storage),))
    words = encode_full_state_diff(diff, ENCODING_PACKED)
    header = words[2]
    assert header & 0b11 == 0  # not small, class unchanged
    assert (header >> 2) % 2**64 == 300
    assert parse_full_state_diff(words, ENCODING_PACKED) == diff


@settings(max_examples=40, deadline=None)
@given(
    diff=diffs,
    encoding=st.sampled_from(FULL_ENCODINGS),
    header=st.lists(felts, min_size=8, max_size=8),
    payload=st.lists(felts, max_size=3),
)
def test_full_output_round_trip(diff, encoding, header, payload):
    out = OsOutput(
        initial_root=header[0],
        final_root=header[1],
        prev_block_number=header[2],
        new_block_number=header[3],
        prev_block_hash=header[4],
        new_block_hash=header[5],
        os_program_hash=0,
        starknet_os_config_hash=header[7],
        use_kzg_da=False,
        kzg=None,
        full_output=True,
        messages_to_l1=[MessageToL1(header[6], 1, payload)],
        messages_to_l2=[MessageToL2(1, header[6], 3, 4, payload)],
    )
    words = encode_full_output(out, diff, encoding)
    parsed, parsed_diff, parsed_encoding = parse_full_output(words, encoding)
    assert parsed_diff == diff and parsed_encoding == encoding
    assert parsed.messages_to_l1 == out.messages_to_l1 and parsed.messages_to_l2 == out.messages_to_l2
    assert (parsed.initial_root, parsed.new_block_hash) == (out.initial_root, out.new_block_hash)


def test_a_child_must_be_a_direct_os_run():
    out = OsOutput(1, 2, 3, 4, 5, False, None, prev_block_number=2, prev_block_hash=0, os_program_hash=9)
    with pytest.raises(InvalidInputError, match="os_program_hash = 0"):
        encode_full_output(out, OsStateDiff())


def test_squash_keeps_first_previous_and_last_new_value():
    first = OsStateDiff(
        contracts=(ContractChange(9, 0, 1, 7, 7, (StorageChange(1, 10, 11), StorageChange(2, 20, 21))),),
        classes=(ClassChange(50, 0, 51),),
    )
    second = OsStateDiff(
        contracts=(
            ContractChange(9, 1, 2, 7, 8, (StorageChange(1, 11, 10), StorageChange(3, 0, 5))),
            ContractChange(4, 0, 0, 6, 6, (StorageChange(1, 1, 1),)),
        ),
        classes=(ClassChange(50, 51, 52),),
    )
    squashed = squash_os_state_diffs([first, second])
    assert [c.address for c in squashed.contracts] == [4, 9]
    nine = squashed.contracts[1]
    assert (nine.prev_nonce, nine.new_nonce, nine.prev_class_hash, nine.new_class_hash) == (0, 2, 7, 8)
    assert nine.storage == (StorageChange(1, 10, 10), StorageChange(2, 20, 21), StorageChange(3, 0, 5))
    da = squashed.da_state_diff()
    # Key 1 went back to its value before the range; contract 4 changed nothing.
    assert len(da.contracts) == 1
    assert da.contracts[0].storage == ((2, 21), (3, 5))
    assert (da.contracts[0].nonce, da.contracts[0].class_hash) == (2, 8)
    assert da.declared_classes == ((50, 52),)
    assert decode_state_diff(encode_da_state_diff(da, "0.13.3"), "0.13.3") == da


def test_squash_refuses_runs_that_do_not_continue():
    first = OsStateDiff(contracts=(ContractChange(9, 0, 0, 7, 7, (StorageChange(1, 10, 11),)),))
    second = OsStateDiff(contracts=(ContractChange(9, 0, 0, 7, 7, (StorageChange(1, 12, 13),)),))
    with pytest.raises(InvalidInputError, match="key 0x1 starts from 0xc, the previous run ended at 0xb"):
        squash_os_state_diffs([first, second])


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([5], "is 5, more than"),
        ([1, 9, 0, 0, 0, 0, 99], "contract #0 n_updates"),
        ([0, 0, 7], "1 words left over"),
    ],
)
def test_bad_full_diffs_name_the_word(words, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_full_state_diff(words, ENCODING_UNPACKED)
