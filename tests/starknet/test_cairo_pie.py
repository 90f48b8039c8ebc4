"""Cairo PIE zips: the real fibonacci and Sepolia SNOS PIEs, the writer, and corrupt input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.cairo_pie import (
    MEMBERS,
    CairoPie,
    FactTopology,
    pie_zip_bytes,
    write_pie_zip,
)
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.os_output import parse_os_output


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _record(segment: int, offset: int, value: int) -> bytes:
    address = (1 << 63) | (segment << 47) | offset
    return address.to_bytes(8, "little") + value.to_bytes(32, "little")


@pytest.fixture(scope="module")
def fibonacci_zip(vectors_dir) -> Path:
    return vectors_dir / "cairo_pie" / "fibonacci.zip"


@pytest.fixture(scope="module")
def sepolia_zip(vectors_dir) -> Path:
    return vectors_dir / "cairo_pie" / "sepolia_924016.zip"


def test_fibonacci_pie(fibonacci_zip):
    pie = CairoPie.from_zip(fibonacci_zip)
    members = _members(fibonacci_zip)
    metadata = json.loads(members["metadata.json"])
    assert pie.program_data == metadata["program"]["data"]
    assert pie.builtins == ["output"] and pie.main == 0 and pie.prime == STARK_PRIME
    assert pie.n_steps == json.loads(members["execution_resources.json"])["n_steps"]
    assert len(pie.output) == metadata["builtin_segments"]["output"]["size"] == 1
    # The program prints one Fibonacci number.
    a, b = 0, 1
    while b < pie.output[0]:
        a, b = b, a + b
    assert b == pie.output[0] > 1
    assert pie.fact_topology == FactTopology.single_page(1)
    assert pie.version == "1.1" and pie.layout is None


def test_sepolia_snos_pie_output_is_the_os_output_of_its_block(sepolia_zip):
    pie = CairoPie.from_zip(sepolia_zip.read_bytes())
    out = parse_os_output(pie.output)
    assert (out.prev_block_number, out.new_block_number) == (924015, 924016)
    assert pie.n_steps == json.loads(_members(sepolia_zip)["execution_resources.json"])["n_steps"]
    assert pie.fact_topology.tree_structure == (2, 1, 0, 2)
    assert sum(pie.fact_topology.page_sizes) == len(pie.output) == 23
    assert pie.fact_topology.page_sizes[0] == 12
    assert "pedersen" in pie.builtins and pie.builtin_instance_counter["pedersen_builtin"] > 0


def test_writer_round_trips_a_real_pie(tmp_path, sepolia_zip):
    pie = CairoPie.from_zip(sepolia_zip)
    path = write_pie_zip(
        tmp_path / "copy.zip",
        pie.program_data,
        pie.output,
        pie.n_steps,
        builtins=pie.builtins,
        main=pie.main,
        fact_topology=pie.fact_topology,
    )
    assert sorted(_members(path)) == sorted(MEMBERS)
    copy = CairoPie.from_zip(path)
    for name in ("program_data", "builtins", "main", "output", "fact_topology", "n_steps"):
        assert getattr(copy, name) == getattr(pie, name), name
    assert not (tmp_path / "copy.zip.tmp").exists()
    assert path.read_bytes() == pie.zip_bytes()


@settings(max_examples=30, deadline=None)
@given(
    program=st.lists(st.integers(min_value=0, max_value=STARK_PRIME - 1), min_size=1, max_size=20),
    pages=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
    n_steps=st.integers(min_value=0, max_value=10**9),
)
def test_writer_round_trip(program, pages, n_steps):
    output = list(range(sum(pages)))
    if len(pages) == 1:
        topology = FactTopology.single_page(len(output))
    else:
        topology = FactTopology(tree_structure=(len(pages), len(pages)), page_sizes=tuple(pages))
    pie = CairoPie.from_zip(pie_zip_bytes(program, output, n_steps, fact_topology=topology))
    assert (pie.program_data, pie.output, pie.n_steps, pie.fact_topology) == (program, output, n_steps, topology)


def test_written_zip_records_nothing_of_the_clock_or_the_host(sepolia_zip):
    with zipfile.ZipFile(io.BytesIO(CairoPie.from_zip(sepolia_zip).zip_bytes())) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(MEMBERS)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename
        assert info.create_system == 3 and info.compress_type == zipfile.ZIP_DEFLATED, info.filename


def test_same_inputs_give_the_same_bytes_in_another_process_and_time_zone(sepolia_zip):
    """Another interpreter, time zone and umask: the zip is still byte for byte the same."""
    data = CairoPie.from_zip(sepolia_zip).zip_bytes()
    script = (
        "import os, sys\n"
        "from orchestrator_pipelines.starknet.cairo_pie import CairoPie\n"
        "os.umask(0o077)\n"
        "sys.stdout.buffer.write(CairoPie.from_zip(sys.argv[1]).zip_bytes())\n"
    )
    env = dict(os.environ, TZ="Pacific/Kiritimati", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    other = subprocess.run(
        [sys.executable, "-c", script, str(sepolia_zip)], env=env, capture_output=True, check=True, timeout=120
    ).stdout
    assert other == data
    assert CairoPie.from_zip(other).output == CairoPie.from_zip(sepolia_zip).output


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(InvalidInputError, match="must include 'output'"):
        pie_zip_bytes([1], [1], 1, builtins=("pedersen",))
    with pytest.raises(InvalidInputError, match=r"output\[1\] is not a felt"):
        pie_zip_bytes([1], [1, STARK_PRIME], 1)
    with pytest.raises(InvalidInputError, match="pages cover 3 words, output has 2"):
        pie_zip_bytes([1], [1, 2], 1, fact_topology=FactTopology((2, 2), (1, 2)))


def test_not_a_zip_and_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="not a zip file"):
        CairoPie.from_zip(b"definitely not a zip")
    with pytest.raises(InvalidInputError, match="no such file"):
        CairoPie.from_zip(tmp_path / "absent.zip")


@pytest.mark.parametrize("member", MEMBERS)
def test_missing_member_is_named(fibonacci_zip, member):
    members = _members(fibonacci_zip)
    del members[member]
    with pytest.raises(InvalidInputError, match=f"missing member {member}"):
        CairoPie.from_zip(_zip(members))


def test_members_under_a_folder_are_found(fibonacci_zip):
    members = {f"pie/{name}": data for name, data in _members(fibonacci_zip).items()}
    assert CairoPie.from_zip(_zip(members)).output == CairoPie.from_zip(fibonacci_zip).output


def test_inconsistent_memory_is_named(fibonacci_zip):
    members = _members(fibonacci_zip)
    memory = members["memory.bin"]
    output_index = json.loads(members["metadata.json"])["builtin_segments"]["output"]["index"]

    truncated = dict(members, **{"memory.bin": memory[:-1]})
    with pytest.raises(InvalidInputError, match="not a multiple of 40"):
        CairoPie.from_zip(_zip(truncated))

    without_output = b"".join(
        memory[i : i + 40]
        for i in range(0, len(memory), 40)
        if (int.from_bytes(memory[i : i + 8], "little") >> 47) & 0xFFFF != output_index
    )
    with pytest.raises(InvalidInputError, match=f"output cell 0 \\(segment {output_index}\\) is missing"):
        CairoPie.from_zip(_zip(dict(members, **{"memory.bin": without_output})))

    conflicting = memory + _record(output_index, 0, 12345)
    with pytest.raises(InvalidInputError, match=f"address {output_index}:0 is written twice"):
        CairoPie.from_zip(_zip(dict(members, **{"memory.bin": conflicting})))

    relocatable = without_output + _record(output_index, 0, (1 << 255) | (1 << 47) | 3)
    with pytest.raises(InvalidInputError, match="output cell 0 holds a relocatable value"):
        CairoPie.from_zip(_zip(dict(members, **{"memory.bin": relocatable})))

    beyond = memory + _record(output_index, 5, 1)
    with pytest.raises(InvalidInputError, match="output cell 5 beyond the output segment size 1"):
        CairoPie.from_zip(_zip(dict(members, **{"memory.bin": beyond})))

    metadata = json.loads(members["metadata.json"])
    metadata["program"]["data"][0] += 1
    with pytest.raises(InvalidInputError, match=r"program cell 0 differs from program.data\[0\]"):
        CairoPie.from_zip(_zip(dict(members, **{"metadata.json": json.dumps(metadata).encode()})))


def test_bad_metadata_and_pages_are_named(fibonacci_zip):
    members = _members(fibonacci_zip)
    with pytest.raises(InvalidInputError, match="metadata.json is not valid JSON"):
        CairoPie.from_zip(_zip(dict(members, **{"metadata.json": b"{"})))

    metadata = json.loads(members["metadata.json"])
    metadata["program_segment"]["size"] += 1
    with pytest.raises(InvalidInputError, match="program_segment size 28 differs from program.data length 27"):
        CairoPie.from_zip(_zip(dict(members, **{"metadata.json": json.dumps(metadata).encode()})))

    gapped = {"output_builtin": {"pages": {"1": [0, 1], "3": [1, 1]}, "attributes": {"gps_fact_topology": [1, 0]}}}
    with pytest.raises(InvalidInputError, match="page ids must be 1, 2"):
        CairoPie.from_zip(_zip(dict(members, **{"additional_data.json": json.dumps(gapped).encode()})))

    no_topology = {"output_builtin": {"pages": {"1": [0, 1]}, "attributes": {}}}
    with pytest.raises(InvalidInputError, match="no gps_fact_topology"):
        CairoPie.from_zip(_zip(dict(members, **{"additional_data.json": json.dumps(no_topology).encode()})))

    short = {"output_builtin": {"pages": {"1": [0, 0]}, "attributes": {"gps_fact_topology": [1, 0]}}}
    with pytest.raises(InvalidInputError, match="output page 1 has size 0"):
        CairoPie.from_zip(_zip(dict(members, **{"additional_data.json": json.dumps(short).encode()})))
