"""OS program output: both real layouts, the KZG check against real blobs, round trips, errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.felt import BLS_MODULUS, STARK_PRIME
from orchestrator_pipelines.starknet.kzg import LAYOUT_V0_13_1, LAYOUT_V0_13_3
from orchestrator_pipelines.starknet.os_output import (
    KzgSegment,
    MessageToL1,
    MessageToL2,
    OsOutput,
    check_blobs_against_output,
    encode_os_output,
    parse_os_output,
    read_program_output,
)


def _blob(path) -> bytes:
    return blob_from_hex(path.read_text())


def test_legacy_layout_of_block_671070(vectors_dir):
    felts = read_program_output(vectors_dir / "kzg_state_update" / "651053" / "program_output.txt")
    out = parse_os_output(felts)
    assert out.layout == LAYOUT_V0_13_1
    assert out.block_number == 671070 == felts[2]
    assert (out.initial_root, out.final_root, out.new_block_hash) == (felts[0], felts[1], felts[3])
    assert out.starknet_os_config_hash == felts[4]
    assert out.use_kzg_da and out.kzg is not None
    assert out.kzg.x0 == felts[8]
    assert int.from_bytes(out.kzg.commitments[0], "big") == felts[6] + (felts[7] << 192)
    assert out.kzg.y_values == [felts[9] + (felts[10] << 128)]
    assert out.messages_to_l1 == [] and out.messages_to_l2 == []
    assert out.kzg_segment_offset == 6 and out.messages_offset == 11
    assert encode_os_output(out) == felts


def test_legacy_output_with_a_message_to_l2_matches_its_blob(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "20468828"
    felts = read_program_output(directory / "program_output.txt")
    out = parse_os_output(felts)
    assert out.layout == LAYOUT_V0_13_1
    assert out.messages_to_l1 == []
    assert len(out.messages_to_l2) == 1
    message = out.messages_to_l2[0]
    assert message.from_address == felts[13] and message.to_address == felts[14]
    assert message.nonce == felts[15] and message.selector == felts[16]
    assert message.payload == felts[18:23]
    check_blobs_against_output(out, [_blob(directory / "blob_data.txt")])
    assert encode_os_output(out) == felts


def test_0_13_3_output_with_a_message_to_l1_matches_its_blob(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "6806848"
    felts = read_program_output(directory / "program_output.txt")
    blob_hex = (directory / "blob_data.txt").read_text().strip()
    assert len(blob_hex) == 2 * 131072  # exactly one blob
    out = parse_os_output(felts)
    assert out.layout == LAYOUT_V0_13_3
    assert (out.prev_block_number, out.new_block_number) == (felts[2], felts[3])
    assert (out.prev_block_hash, out.new_block_hash) == (felts[4], felts[5])
    assert (out.os_program_hash, out.starknet_os_config_hash) == (felts[6], felts[7])
    assert out.use_kzg_da and not out.full_output
    assert out.kzg is not None and out.kzg.x0 == felts[10] and out.kzg.n_blobs == felts[11] == 1
    assert out.messages_to_l1 == [MessageToL1(felts[17], felts[18], felts[20:22])]
    assert out.messages_to_l2 == []
    assert out.kzg_segment_offset == 10 and out.messages_offset == 16
    check_blobs_against_output(out, [_blob(directory / "blob_data.txt")])
    assert encode_os_output(out) == felts


def test_decoded_snos_output_agrees_with_the_header_fields(vectors_dir):
    """snos_output.json is a decoded 0.13.3-style header: encode it and read it back."""
    decoded = json.loads((vectors_dir / "kzg_state_update" / "651053" / "snos_output.json").read_text())
    fields = {k: int(v, 16) for k, v in decoded.items() if isinstance(v, str)}
    out = OsOutput(
        initial_root=fields["initial_root"],
        final_root=fields["final_root"],
        prev_block_number=fields["prev_block_number"],
        new_block_number=fields["new_block_number"],
        prev_block_hash=fields["prev_block_hash"],
        new_block_hash=fields["new_block_hash"],
        os_program_hash=fields["os_program_hash"],
        starknet_os_config_hash=fields["starknet_os_config_hash"],
        use_kzg_da=False,
        full_output=bool(fields["full_output"]),
        kzg=None,
    )
    felts = encode_os_output(out)
    assert felts[:8] == [fields[name] for name in (
        "initial_root", "final_root", "prev_block_number", "new_block_number",
        "prev_block_hash", "new_block_hash", "os_program_hash", "starknet_os_config_hash",
    )]
    assert parse_os_output(felts, LAYOUT_V0_13_3) == out


def test_blob_that_is_not_the_outputs_is_named(vectors_dir):
    out = parse_os_output(read_program_output(vectors_dir / "l1_blobs" / "6806848" / "program_output.txt"))
    other = _blob(vectors_dir / "l1_blobs" / "20468828" / "blob_data.txt")
    with pytest.raises(OrchestratorError, match="blob 0: KZG commitment 0x[0-9a-f]{96} differs"):
        check_blobs_against_output(out, [other])
    with pytest.raises(OrchestratorError, match="commits to 1 blobs, got 2"):
        check_blobs_against_output(out, [other, other])


def test_wrong_y_is_named(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "6806848"
    out = parse_os_output(read_program_output(directory / "program_output.txt"))
    assert out.kzg is not None
    out.kzg.y_values[0] = (out.kzg.y_values[0] + 1) % BLS_MODULUS
    with pytest.raises(OrchestratorError, match=r"blob 0: p\(x_0\) = 0x[0-9a-f]+ differs"):
        check_blobs_against_output(out, [_blob(directory / "blob_data.txt")])


def test_output_without_kzg_cannot_be_checked_against_blobs():
    out = _sample_output(n_blobs=0)
    with pytest.raises(OrchestratorError, match="no KZG segment"):
        check_blobs_against_output(out, [])


def _sample_output(n_blobs: int, da_felts: list[int] | None = None) -> OsOutput:
    kzg = None
    if n_blobs:
        kzg = KzgSegment(
            x0=12345,
            commitments=[bytes([i + 1]) * 48 for i in range(n_blobs)],
            y_values=[BLS_MODULUS - 1 - i for i in range(n_blobs)],
        )
    return OsOutput(
        initial_root=1,
        final_root=2,
        prev_block_number=9,
        new_block_number=19,
        prev_block_hash=3,
        new_block_hash=4,
        os_program_hash=5,
        starknet_os_config_hash=6,
        use_kzg_da=bool(n_blobs),
        kzg=kzg,
        messages_to_l1=[MessageToL1(7, 8, [1, 2, 3])],
        messages_to_l2=[MessageToL2(9, 10, 11, 12, [])],
        da_felts=da_felts or [],
    )


felts_st = st.integers(min_value=0, max_value=STARK_PRIME - 1)
outputs_st = st.builds(
    OsOutput,
    initial_root=felts_st,
    final_root=felts_st,
    prev_block_number=st.integers(min_value=0, max_value=2**63),
    new_block_number=st.integers(min_value=0, max_value=2**63),
    prev_block_hash=felts_st,
    new_block_hash=felts_st.filter(lambda v: v > 1),
    os_program_hash=felts_st,
    starknet_os_config_hash=felts_st,
    use_kzg_da=st.just(True),
    full_output=st.booleans(),
    kzg=st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.builds(
            KzgSegment,
            x0=felts_st,
            commitments=st.lists(st.binary(min_size=48, max_size=48), min_size=n, max_size=n),
            y_values=st.lists(st.integers(min_value=0, max_value=BLS_MODULUS - 1), min_size=n, max_size=n),
        )
    ),
    messages_to_l1=st.lists(st.builds(MessageToL1, felts_st, felts_st, st.lists(felts_st, max_size=4)), max_size=3),
    messages_to_l2=st.lists(
        st.builds(MessageToL2, felts_st, felts_st, felts_st, felts_st, st.lists(felts_st, max_size=4)), max_size=3
    ),
)


@settings(max_examples=60, deadline=None)
@given(outputs_st)
def test_0_13_3_round_trip(out):
    felts = encode_os_output(out)
    assert parse_os_output(felts, LAYOUT_V0_13_3) == out
    assert parse_os_output(felts) == out
    assert felts[out.messages_offset] == sum(3 + len(m.payload) for m in out.messages_to_l1)


def test_output_without_kzg_keeps_the_state_diff():
    out = _sample_output(n_blobs=0, da_felts=[2, 100, 200, 0])
    felts = encode_os_output(out)
    assert felts[8] == 0
    parsed = parse_os_output(felts, LAYOUT_V0_13_3)
    assert parsed == out and parsed.da_felts == [2, 100, 200, 0]


@pytest.mark.parametrize("cut", [3, 10, 11, 13, 20])
def test_truncated_output_names_the_index(cut):
    felts = encode_os_output(_sample_output(n_blobs=2))
    with pytest.raises(InvalidInputError, match=r"word \d+"):
        parse_os_output(felts[:cut], LAYOUT_V0_13_3)


def test_inconsistent_outputs_are_named():
    felts = encode_os_output(_sample_output(n_blobs=1))
    bad_flag = list(felts)
    bad_flag[8] = 7
    with pytest.raises(InvalidInputError, match=r"word 8 \(use_kzg_da\) must be 0 or 1, got 7"):
        parse_os_output(bad_flag, LAYOUT_V0_13_3)
    no_blobs = list(felts)
    no_blobs[11] = 0
    with pytest.raises(InvalidInputError, match=r"word 11 \(n_blobs\) is 0"):
        parse_os_output(no_blobs, LAYOUT_V0_13_3)
    big_limb = list(felts)
    big_limb[12] = 2**192
    with pytest.raises(InvalidInputError, match=r"word 12 \(commitment of blob 0\)"):
        parse_os_output(big_limb, LAYOUT_V0_13_3)
    long_segment = list(felts)
    long_segment[16] = 1000
    with pytest.raises(InvalidInputError, match=r"word 16 \(messages to L1 segment length\) is 1000"):
        parse_os_output(long_segment, LAYOUT_V0_13_3)
    long_payload = list(felts)
    long_payload[19] = 5
    with pytest.raises(InvalidInputError, match="message to L1 at word 17: payload_size 5 runs past"):
        parse_os_output(long_payload, LAYOUT_V0_13_3)
    long_l2_payload = list(felts)
    long_l2_payload[28] = 1
    with pytest.raises(InvalidInputError, match=r"message to L2 at word 24: payload_size 1 runs past .*\(word 29\)"):
        parse_os_output(long_l2_payload, LAYOUT_V0_13_3)
    short_l2_header = list(felts[:27])
    short_l2_header[23] = 3
    with pytest.raises(InvalidInputError, match=r"message to L2 at word 24: segment ends \(word 27\) inside the"):
        parse_os_output(short_l2_header, LAYOUT_V0_13_3)
    assert len(felts) == 29
    with pytest.raises(InvalidInputError, match=r"2 unexpected words after the message segments \(from word 29\)"):
        parse_os_output(felts + [0, 0], LAYOUT_V0_13_3)
    with pytest.raises(InvalidInputError, match="word 2 .* is not a Starknet felt"):
        parse_os_output([1, 2, STARK_PRIME], LAYOUT_V0_13_3)
    with pytest.raises(InvalidInputError, match="unknown layout"):
        parse_os_output(felts, "v0_14")


def test_auto_detection_refuses_to_guess_between_fitting_layouts():
    # Without KZG DA, a state diff follows the messages, so both layouts can fit.
    felts = [1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0]
    assert parse_os_output(felts, LAYOUT_V0_13_1).da_felts == [0, 0, 0, 0]
    assert parse_os_output(felts, LAYOUT_V0_13_3).da_felts == []
    with pytest.raises(InvalidInputError, match="fits both"):
        parse_os_output(felts)


def test_encode_rejects_inconsistent_models():
    out = _sample_output(n_blobs=1)
    out.use_kzg_da = False
    with pytest.raises(InvalidInputError, match="use_kzg_da"):
        encode_os_output(out)
    legacy_two_blobs = _sample_output(n_blobs=2)
    legacy_two_blobs.layout = LAYOUT_V0_13_1
    with pytest.raises(InvalidInputError, match="carries one blob"):
        encode_os_output(legacy_two_blobs)


def test_read_program_output_names_the_line(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("1\n2\n0x3\n")
    with pytest.raises(InvalidInputError, match=r"out.txt:3: expected a decimal felt, got '0x3'"):
        read_program_output(path)
    path.write_text(f"1\n\n{STARK_PRIME}\n")
    with pytest.raises(InvalidInputError, match=r"out.txt:3: .* not below the Starknet prime"):
        read_program_output(path)
    path.write_text("5\n6\n")
    assert read_program_output(path) == [5, 6]
