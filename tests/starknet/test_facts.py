"""SHARP facts of the real PIEs, and the GPS fact tree over output pages."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.cairo_pie import CairoPie, FactTopology
from orchestrator_pipelines.starknet.facts import (
    fact,
    hash_chain,
    output_root,
    pie_fact,
    pie_program_hash,
    program_hash,
)

# The facts the reference vectors' README records for the two PIEs.
FIBONACCI_FACT = "ca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782"
SEPOLIA_924016_FACT = "033144ad6b132b1012f15e50aa53de1ed91b3b1af729014c3f1c00b702f972ea"


def _words(values):
    return b"".join(v.to_bytes(32, "big") for v in values)


@pytest.fixture(scope="module")
def sepolia_pie(vectors_dir) -> CairoPie:
    return CairoPie.from_zip(vectors_dir / "cairo_pie" / "sepolia_924016.zip")


def test_fibonacci_fact(vectors_dir):
    pie = CairoPie.from_zip(vectors_dir / "cairo_pie" / "fibonacci.zip")
    assert pie_fact(pie).hex() == FIBONACCI_FACT
    # One page: the output root is the keccak of the output words.
    assert output_root(pie.output, pie.fact_topology) == keccak(_words(pie.output))
    assert program_hash(pie.program_data) == pie_program_hash(pie)


def test_sepolia_snos_fact_over_two_pages(sepolia_pie):
    assert pie_fact(sepolia_pie).hex() == SEPOLIA_924016_FACT
    # With the topology ignored the fact differs: the pages matter.
    single = fact(pie_program_hash(sepolia_pie), output_root(sepolia_pie.output))
    assert single.hex() != SEPOLIA_924016_FACT


def test_program_hash_covers_builtins_and_entry_point(sepolia_pie):
    data = sepolia_pie.program_data[:50]
    base = program_hash(data, ["output", "pedersen"], 0)
    assert base != program_hash(data, ["output"], 0)
    assert base != program_hash(data, ["output", "pedersen"], 1)
    assert base != program_hash(data[:-1], ["output", "pedersen"], 0)


def test_program_hash_is_cached_by_content(sepolia_pie):
    first = pie_program_hash(sepolia_pie)
    again = program_hash(list(sepolia_pie.program_data), list(sepolia_pie.builtins), sepolia_pie.main)
    assert first == again


def test_hash_chain_order():
    from starknet_py.hash.utils import pedersen_hash

    assert hash_chain([1, 2, 3]) == pedersen_hash(1, pedersen_hash(2, 3))
    with pytest.raises(InvalidInputError):
        hash_chain([])


def test_two_page_tree_by_hand():
    output = [10, 11, 12, 13, 14]
    topology = FactTopology(tree_structure=(2, 2), page_sizes=(2, 3))
    leaf0 = int.from_bytes(keccak(_words(output[:2])), "big")
    leaf1 = int.from_bytes(keccak(_words(output[2:])), "big")
    node = (int.from_bytes(keccak(_words([leaf0, 2, leaf1, 5])), "big") + 1) % 2**256
    assert output_root(output, topology) == node.to_bytes(32, "big")


def test_nested_tree_matches_the_sepolia_shape(sepolia_pie):
    """[2, 1, 0, 2]: page 0 and page 1 pushed, page 1 wrapped alone, then both merged."""
    output = sepolia_pie.output
    a, b = sepolia_pie.fact_topology.page_sizes
    leaf0 = int.from_bytes(keccak(_words(output[:a])), "big")
    leaf1 = int.from_bytes(keccak(_words(output[a:])), "big")
    inner = (int.from_bytes(keccak(_words([leaf1, a + b])), "big") + 1) % 2**256
    root = (int.from_bytes(keccak(_words([leaf0, a, inner, a + b])), "big") + 1) % 2**256
    assert output_root(output, sepolia_pie.fact_topology) == root.to_bytes(32, "big")


def test_fact_of_a_written_pie_matches_the_original(sepolia_pie):
    copy = CairoPie.from_zip(sepolia_pie.zip_bytes())
    assert pie_fact(copy).hex() == SEPOLIA_924016_FACT


@pytest.mark.parametrize(
    ("tree", "pages", "message"),
    [
        ((1,), (3,), "pairs"),
        ((2, 0), (3,), "more pages"),
        ((1, 2), (3,), "merges more nodes"),
        ((2, 0), (1, 2), "does not end in one root"),
        ((1, 0), (1, 2), "does not end in one root"),
        ((1, 0), (4,), "pages cover 4 words"),
    ],
)
def test_bad_topologies_are_named(tree, pages, message):
    with pytest.raises(InvalidInputError, match=message):
        output_root([1, 2, 3], FactTopology(tree_structure=tree, page_sizes=pages))


def test_fact_needs_a_32_byte_root():
    with pytest.raises(InvalidInputError, match="32 bytes"):
        fact(1, b"\x00" * 31)
