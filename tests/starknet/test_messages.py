"""L1<->L2 message hashes and segments: the core contract's encodings, on real OS outputs."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.kzg import LAYOUT_V0_13_3
from orchestrator_pipelines.starknet.messages import (
    encode_message_segments,
    l1_to_l2_message_hash,
    l2_to_l1_message_hash,
)
from orchestrator_pipelines.starknet.os_output import (
    MessageToL1,
    MessageToL2,
    OsOutput,
    encode_os_output,
    parse_os_output,
    read_program_output,
)


def _words(values) -> bytes:
    return b"".join(int(v).to_bytes(32, "big") for v in values)


def test_l2_to_l1_hash_is_the_keccak_of_the_messages_output_slice(vectors_dir):
    """The contract hashes the output words of the message; a real 0.13.3 output carries one."""
    felts = read_program_output(vectors_dir / "l1_blobs" / "6806848" / "program_output.txt")
    out = parse_os_output(felts)
    (message,) = out.messages_to_l1
    start = out.messages_offset + 1
    end = start + 3 + len(message.payload)
    expected = keccak(_words(felts[start:end]))
    assert l2_to_l1_message_hash(message) == expected
    assert l2_to_l1_message_hash(message.from_address, message.to_address, message.payload) == expected
    assert l2_to_l1_message_hash(message.from_address, hex(message.to_address), message.payload) == expected


def test_l1_to_l2_hash_is_the_keccak_of_the_messages_output_slice(vectors_dir):
    felts = read_program_output(vectors_dir / "l1_blobs" / "20468828" / "program_output.txt")
    out = parse_os_output(felts)
    (message,) = out.messages_to_l2
    start = out.messages_offset + 1 + 1  # the empty messages-to-L1 segment, then the length of this one
    end = start + 5 + len(message.payload)
    expected = keccak(_words(felts[start:end]))
    assert l1_to_l2_message_hash(message) == expected
    assert (
        l1_to_l2_message_hash(
            "0x" + message.from_address.to_bytes(20, "big").hex(),
            message.to_address,
            message.nonce,
            message.selector,
            message.payload,
        )
        == expected
    )


def test_hashes_follow_the_contracts_word_order():
    """sendMessageToL2: (sender, to, nonce, selector, len, payload); consume: (from, to, len, payload)."""
    sender, to, nonce, selector, payload = 0xABCD, 0x1234, 7, 0x99, [5, 6]
    assert l1_to_l2_message_hash(sender, to, nonce, selector, payload) == keccak(
        _words([sender, to, nonce, selector, 2, 5, 6])
    )
    assert l2_to_l1_message_hash(to, sender, payload) == keccak(_words([to, sender, 2, 5, 6]))
    assert l2_to_l1_message_hash(to, sender, []) == keccak(_words([to, sender, 0]))
    # The nonce makes two otherwise equal deposits distinct.
    assert l1_to_l2_message_hash(sender, to, 8, selector, payload) != l1_to_l2_message_hash(
        sender, to, nonce, selector, payload
    )


def test_encode_message_segments_is_the_real_outputs_layout(vectors_dir):
    for block in ("6806848", "20468828"):
        felts = read_program_output(vectors_dir / "l1_blobs" / block / "program_output.txt")
        out = parse_os_output(felts)
        segments = encode_message_segments(out.messages_to_l1, out.messages_to_l2)
        assert felts[out.messages_offset : out.messages_offset + len(segments)] == segments


felts = st.integers(min_value=0, max_value=STARK_PRIME - 1)
to_l1 = st.builds(MessageToL1, felts, felts, st.lists(felts, max_size=4))
to_l2 = st.builds(MessageToL2, felts, felts, felts, felts, st.lists(felts, max_size=4))


@settings(max_examples=60, deadline=None)
@given(st.lists(to_l1, max_size=3), st.lists(to_l2, max_size=3))
def test_segments_round_trip_through_the_output_parser(messages_to_l1, messages_to_l2):
    out = OsOutput(
        initial_root=1,
        final_root=2,
        prev_block_number=3,
        new_block_number=4,
        prev_block_hash=5,
        new_block_hash=6,
        os_program_hash=0,
        starknet_os_config_hash=7,
        use_kzg_da=False,
        kzg=None,
        messages_to_l1=messages_to_l1,
        messages_to_l2=messages_to_l2,
        layout=LAYOUT_V0_13_3,
    )
    words = encode_os_output(out)
    assert words[10:] == encode_message_segments(messages_to_l1, messages_to_l2)
    parsed = parse_os_output(words, LAYOUT_V0_13_3)
    assert parsed.messages_to_l1 == messages_to_l1
    assert parsed.messages_to_l2 == messages_to_l2


def test_bad_words_are_named():
    with pytest.raises(InvalidInputError, match="to_address: not a number or 0x-hex address"):
        l2_to_l1_message_hash(1, "0xzz", [])
    with pytest.raises(InvalidInputError, match=r"payload\[1\]: .* does not fit in a 32-byte word"):
        l2_to_l1_message_hash(1, 2, [0, 2**256])
    with pytest.raises(InvalidInputError, match="needs from_address, to_address, nonce and selector"):
        l1_to_l2_message_hash(1, 2)
    with pytest.raises(InvalidInputError, match="messages to L1 segment word 1 .* not below the Starknet prime"):
        encode_message_segments([MessageToL1(STARK_PRIME, 1, [])], [])
