"""The aggregator against real Starknet 0.14 aggregator runs, byte for byte.

Parsing a real aggregator PIE takes about a second and its program hash half a
second more, so each PIE is read once per module.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.aggregator import (
    AggregatorPie,
    aggregate,
    aggregator_fact,
    SnosChild,
    aggregator_pie_zip_bytes,
    bootloader_output,
    check_aggregated_output,
    first_difference,
    parse_bootloader_children,
    parse_full_output,
    prefixed_aggregator_program_hash,
    rebuild_da_segment,
)
from orchestrator_pipelines.starknet.da_segment import open_segment_against_output, parse_da_segment
from orchestrator_pipelines.starknet.os_output import parse_os_output

# From the vectors' README (aggregator/309146_309148).
ATLANTIC_FACT = "b39f2de70bdf515138173a43ebc783273e5b2329d7325e887fbd1c0b1cac53a4"
ATLANTIC_PREFIXED_PROGRAM_HASH = 15787695375210609250491147414005894154890873413229882671403677761527504080
# The core contract that accepted it: its state before the aggregation.
CONTRACT_ROOT_BEFORE = 909296745053732661287194258973489917070052674873164458444078526806377759304
CONTRACT_BLOCK_BEFORE = 309145
CONTRACT_BLOCK_HASH_BEFORE = 3220418376726891625345370796158843447968358635074716858170481552624095325195


@pytest.fixture(scope="module")
def atlantic(vectors_dir) -> AggregatorPie:
    return AggregatorPie.from_zip(vectors_dir / "aggregator" / "309146_309148" / "atlantic_pie.cairo0.zip")


@pytest.fixture(scope="module")
def local(vectors_dir) -> AggregatorPie:
    return AggregatorPie.from_zip(vectors_dir / "aggregator" / "309146_309148" / "local_aggregator_pie.zip")


@pytest.fixture(scope="module")
def batch_0_14_1(vectors_dir):
    folder = vectors_dir / "aggregator" / "0_14_1_batch_1"
    pie = AggregatorPie.from_zip(folder / "aggregator_pie.zip")
    output = [int(word, 16) for word in json.loads((folder / "program_output.json").read_text())]
    segment = parse_da_segment(json.loads((folder / "da_segment.json").read_text()))
    return pie, output, segment


def test_atlantic_fact_is_the_one_the_core_contract_accepted(atlantic):
    assert atlantic.prefixed_program_hash() == ATLANTIC_PREFIXED_PROGRAM_HASH
    assert atlantic.fact().hex() == ATLANTIC_FACT


def test_atlantic_output_continues_the_core_contract_state(atlantic):
    out = atlantic.aggregated
    assert (out.initial_root, out.prev_block_number, out.prev_block_hash) == (
        CONTRACT_ROOT_BEFORE,
        CONTRACT_BLOCK_BEFORE,
        CONTRACT_BLOCK_HASH_BEFORE,
    )
    assert out.new_block_number == 309148
    assert out.use_kzg_da and not out.full_output
    assert out.os_program_hash == atlantic.children[0].program_hash != 0


def test_local_and_atlantic_aggregate_to_the_same_output(atlantic, local):
    assert len(atlantic.children) == len(local.children) == 3
    # Different aggregator programs and child encodings, same aggregated output.
    assert [c.encoding for c in atlantic.children] == ["packed"] * 3
    assert [c.encoding for c in local.children] == ["unpacked"] * 3
    assert local.aggregated_words == atlantic.aggregated_words
    assert local.program_hash() != atlantic.program_hash()


def test_children_of_both_encodings_carry_the_same_net_diff(atlantic, local):
    a = [c.state_diff.da_state_diff() for c in atlantic.children]
    b = [c.state_diff.da_state_diff() for c in local.children]
    assert a == b


@pytest.mark.parametrize("which", ["local", "atlantic"])
def test_da_segment_rebuilt_from_children_gives_commitment_and_x0(which, request):
    pie = request.getfixturevalue(which)
    segment = rebuild_da_segment(pie.children)
    opening = open_segment_against_output(pie.aggregated, segment)
    assert opening.commitments == pie.aggregated.kzg.commitments
    assert opening.x0 == pie.aggregated.kzg.x0


def test_aggregate_reproduces_the_whole_output(local):
    result = aggregate(local.children)
    assert result.words() == local.aggregated_words


def test_0_14_1_output_extracted_from_the_pie(batch_0_14_1):
    pie, output, _ = batch_0_14_1
    assert pie.aggregated_words == output
    assert len(output) == 18


def test_0_14_1_prover_segment_opens_at_the_outputs_point(batch_0_14_1):
    _, output, segment = batch_0_14_1
    out = parse_os_output(output)
    assert len(segment) == 186
    opening = open_segment_against_output(out, segment)
    assert opening.commitments == out.kzg.commitments
    assert opening.x0 == out.kzg.x0
    assert opening.y_values == out.kzg.y_values


def test_0_14_1_encrypted_da_cannot_be_rebuilt_from_the_children(batch_0_14_1):
    pie, _, segment = batch_0_14_1
    rebuilt = rebuild_da_segment(pie.children)
    # The plain squash is 5 felts shorter than what the encrypted-DA prover committed to.
    assert len(rebuilt) == len(segment) - 5
    with pytest.raises(OrchestratorError, match="blob 0: KZG commitment"):
        open_segment_against_output(pie.aggregated, rebuilt)


def test_a_tampered_segment_is_refused_before_sending(batch_0_14_1):
    _, output, segment = batch_0_14_1
    out = parse_os_output(output)
    with pytest.raises(OrchestratorError, match="differs from the output"):
        open_segment_against_output(out, [*segment[:-1], segment[-1] ^ 1])
    # Same blob, a different length (trailing zero): the commitment matches, x_0 does not.
    with pytest.raises(OrchestratorError, match="x_0 of the DA segment"):
        open_segment_against_output(out, [*segment, 0])


def test_written_pie_reads_back_with_the_same_children_and_fact(local):
    program = [1, 2, 3, 0x480680017FFF8000]
    data = aggregator_pie_zip_bytes(local.children, local.aggregated_words, program, n_steps=1000)
    again = AggregatorPie.from_zip(data)
    assert again.aggregated_words == local.aggregated_words
    assert [c.state_diff for c in again.children] == [c.state_diff for c in local.children]
    assert again.fact() == aggregator_fact(prefixed_aggregator_program_hash(again.program_hash()), local.aggregated_words)
    # The record sizes match the real layout: the written output is the real one when the encoding is.
    assert again.pie.output == local.pie.output


def test_children_must_continue_each_other(local):
    children = list(local.children)
    broken = replace(children[1], output=replace(children[1].output, initial_root=children[1].output.initial_root ^ 1))
    with pytest.raises(InvalidInputError, match="child 1 initial root"):
        rebuild_da_segment([children[0], broken, children[2]])


def test_bootloader_record_size_past_the_end_is_refused():
    with pytest.raises(InvalidInputError, match="child 0 at word 1 has size 50"):
        parse_bootloader_children([1, 50, 0, 1, 2])


def test_first_difference_names_the_word():
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 5, 3]) == (1, 2, 5)
    assert first_difference([1, 2], [1, 2, 3]) == (2, None, 3)
    with pytest.raises(OrchestratorError, match="word 2: expected 0x3, got nothing"):
        check_aggregated_output([1, 2, 3], [1, 2])


def test_child_with_kzg_da_is_refused(atlantic):
    with pytest.raises(InvalidInputError, match="use_kzg_da = 0 and full_output = 1"):
        parse_full_output(atlantic.aggregated_words)


@pytest.mark.parametrize("which", ["local", "atlantic"])
def test_real_children_encode_back_to_their_records(which, request):
    pie = request.getfixturevalue(which)
    records, end = parse_bootloader_children(pie.pie.output)
    assert pie.pie.output[end:] == pie.aggregated_words
    for child, (program_hash, words) in zip(pie.children, records):
        assert child.program_hash == program_hash
        assert child.words() == words
    assert bootloader_output(pie.children, pie.aggregated_words) == pie.pie.output


def test_devnet_aggregator_program_hash_constants():
    from orchestrator_pipelines.starknet.aggregator import (
        AGGREGATOR_BUILTINS,
        DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH,
        DEVNET_AGGREGATOR_PROGRAM,
        DEVNET_AGGREGATOR_PROGRAM_HASH,
    )
    from orchestrator_pipelines.starknet.facts import program_hash

    assert program_hash(DEVNET_AGGREGATOR_PROGRAM, AGGREGATOR_BUILTINS) == DEVNET_AGGREGATOR_PROGRAM_HASH
    assert prefixed_aggregator_program_hash(DEVNET_AGGREGATOR_PROGRAM_HASH) == DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH


def test_devnet_aggregate_of_real_children_gives_the_real_output(local):
    from orchestrator_pipelines.starknet.aggregator import (
        DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH,
        aggregator_fact_of_pie,
        devnet_aggregate,
    )

    params = {"use_kzg_da": True, "full_output": False, "public_keys": []}
    run = devnet_aggregate(
        [c.words() for c in local.children], params, child_program_hash=local.children[0].program_hash
    )
    assert run.output == local.aggregated_words
    assert run.da_segment == rebuild_da_segment(local.children)
    assert run.prefixed_program_hash == DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH
    assert run.fact == aggregator_fact(DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH, local.aggregated_words)
    assert aggregator_fact_of_pie(run.cairo_pie) == run.fact
    opening = open_segment_against_output(parse_os_output(run.output), run.da_segment)
    assert opening.x0 == local.aggregated.kzg.x0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"use_kzg_da": False}, "only use_kzg_da = true"),
        ({"full_output": True}, "only use_kzg_da = true"),
        ({"public_keys": ["0x1"]}, "encrypted DA"),
    ],
)
def test_devnet_aggregate_refuses_what_it_cannot_reproduce(local, params, message):
    from orchestrator_pipelines.starknet.aggregator import devnet_aggregate

    with pytest.raises(InvalidInputError, match=message):
        devnet_aggregate([c.words() for c in local.children], params)


def test_devnet_aggregate_names_a_bad_child():
    from orchestrator_pipelines.starknet.aggregator import devnet_aggregate

    with pytest.raises(InvalidInputError, match="child 1:"):
        devnet_aggregate([[1, 2, 3]], {})


def _child(initial_root, final_root, prev_block, new_block, to_l1=(), to_l2=(), storage=()):
    from orchestrator_pipelines.starknet.os_output import OsOutput
    from orchestrator_pipelines.starknet.os_state_diff import ContractChange, OsStateDiff, StorageChange

    out = OsOutput(
        initial_root=initial_root,
        final_root=final_root,
        prev_block_number=prev_block,
        new_block_number=new_block,
        prev_block_hash=prev_block + 1000,
        new_block_hash=new_block + 1000,
        os_program_hash=0,
        starknet_os_config_hash=77,
        use_kzg_da=False,
        kzg=None,
        full_output=True,
        messages_to_l1=list(to_l1),
        messages_to_l2=list(to_l2),
    )
    diff = OsStateDiff(contracts=(ContractChange(0x500, 0, 0, 9, 9, tuple(StorageChange(*s) for s in storage)),))
    return SnosChild(program_hash=0x123, output=out, state_diff=diff)


def test_aggregate_concatenates_messages_and_spans_the_range():
    from orchestrator_pipelines.starknet.os_output import MessageToL1, MessageToL2

    m1 = MessageToL1(0x500, 0xAA, [1, 2])
    m2 = MessageToL1(0x501, 0xBB, [])
    d1 = MessageToL2(0xCC, 0x500, 7, 0x99, [5])
    first = _child(10, 11, 4, 5, to_l1=[m1], storage=[(1, 0, 3)])
    second = _child(11, 12, 5, 7, to_l1=[m2], to_l2=[d1], storage=[(1, 3, 0), (2, 0, 8)])
    result = aggregate([first, second])
    out = parse_os_output(result.words())
    assert (out.initial_root, out.final_root, out.prev_block_number, out.new_block_number) == (10, 12, 4, 7)
    assert (out.prev_block_hash, out.new_block_hash, out.os_program_hash) == (1004, 1007, 0x123)
    assert out.messages_to_l1 == [m1, m2] and out.messages_to_l2 == [d1]
    # Key 1 went 0 -> 3 -> 0: not published; key 2 is.
    assert [s.key for s in result.squashed.contracts[0].storage] == [1, 2]
    assert result.squashed.da_state_diff().contracts[0].storage == ((2, 8),)
    open_segment_against_output(out, result.da_segment)


@settings(max_examples=30, deadline=None)
@given(
    records=st.lists(st.lists(st.integers(0, 2**251), max_size=6), min_size=1, max_size=4),
    tail=st.lists(st.integers(0, 2**251), max_size=5),
)
def test_bootloader_records_round_trip(records, tail):
    felts = [len(records)]
    for index, words in enumerate(records):
        felts += [len(words) + 2, index, *words]
    parsed, end = parse_bootloader_children(felts + tail)
    assert parsed == [(index, words) for index, words in enumerate(records)]
    assert (felts + tail)[end:] == tail


@settings(max_examples=30, deadline=None)
@given(felts=st.lists(st.integers(0, 2**251), max_size=50))
def test_da_segment_json_round_trip(felts):
    from orchestrator_pipelines.starknet.da_segment import da_segment_json

    assert parse_da_segment(json.loads(da_segment_json(felts))) == felts
