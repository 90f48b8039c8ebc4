"""``orchestrator aggregator`` and ``orchestrator da blobs`` on the real aggregator vectors."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from orchestrator_pipelines.cli import main
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.da_segment import open_segment_against_output
from orchestrator_pipelines.starknet.os_output import parse_os_output

ATLANTIC_FACT = "0xb39f2de70bdf515138173a43ebc783273e5b2329d7325e887fbd1c0b1cac53a4"


@pytest.fixture(scope="module")
def agg(vectors_dir):
    return vectors_dir / "aggregator"


def test_fact_of_the_atlantic_pie(agg, capsys):
    assert main(["aggregator", "fact", str(agg / "309146_309148" / "atlantic_pie.cairo0.zip")]) == 0
    assert capsys.readouterr().out.strip() == ATLANTIC_FACT


def test_output_lines_are_the_program_output(agg, capsys):
    folder = agg / "0_14_1_batch_1"
    assert main(["aggregator", "output", str(folder / "aggregator_pie.zip")]) == 0
    lines = capsys.readouterr().out.split()
    expected = json.loads((folder / "program_output.json").read_text())
    assert [int(line, 16) for line in lines] == [int(word, 16) for word in expected]
    assert all(line.startswith("0x") for line in lines)


def test_da_rebuilds_the_committed_segment(agg, tmp_path, capsys):
    pie = agg / "309146_309148" / "local_aggregator_pie.zip"
    out = tmp_path / "da.json"
    assert main(["aggregator", "da", str(pie), "--out", str(out)]) == 0
    segment = [int(v, 16) for v in json.loads(out.read_text())]
    assert main(["aggregator", "output", str(pie)]) == 0
    output = [int(line, 16) for line in capsys.readouterr().out.split()[1:]]
    opening = open_segment_against_output(parse_os_output(output), segment)
    assert len(opening.blobs) == 1


def test_da_of_an_encrypted_aggregation_says_it_cannot_be_rebuilt(agg, tmp_path, capsys):
    out = tmp_path / "da.json"
    assert main(["aggregator", "da", str(agg / "0_14_1_batch_1" / "aggregator_pie.zip"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "encrypted DA cannot be rebuilt" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_da_blobs_from_the_prover_segment(agg, tmp_path, capsys):
    folder = agg / "0_14_1_batch_1"
    out = tmp_path / "blobs"
    assert main(["da", "blobs", "--segment", str(folder / "da_segment.json"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "0.hex")]
    blob = blob_from_hex((out / "0.hex").read_text())
    from orchestrator_pipelines.starknet.kzg import blob_to_commitment

    output = parse_os_output([int(w, 16) for w in json.loads((folder / "program_output.json").read_text())])
    assert blob_to_commitment(blob) == output.kzg.commitments[0]


def test_not_a_zip_is_one_line(tmp_path, capsys):
    bad = tmp_path / "pie.zip"
    bad.write_text("hello")
    assert main(["aggregator", "output", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"orchestrator: error: {bad}: not a zip file"


def test_zip_bomb_is_refused_before_inflating(tmp_path, capsys, monkeypatch):
    from orchestrator_pipelines.starknet import cairo_pie

    monkeypatch.setattr(cairo_pie, "MAX_UNCOMPRESSED_BYTES", 1 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in cairo_pie.MEMBERS:
            archive.writestr(member, b"\0" * (2 << 20) if member == "memory.bin" else b"{}")
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(buffer.getvalue())
    assert bomb.stat().st_size < 100_000
    assert main(["aggregator", "output", str(bomb)]) == 2
    assert "not inflating" in capsys.readouterr().err


def test_a_member_larger_than_declared_is_refused(tmp_path):
    from orchestrator_pipelines.errors import InvalidInputError
    from orchestrator_pipelines.starknet import cairo_pie

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member in cairo_pie.MEMBERS:
            archive.writestr(member, b"x" * 4096 if member == "memory.bin" else b"{}")
    # Rewrite memory.bin's declared size (central directory) to claim 10 bytes.
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    assert infos["memory.bin"].file_size == 4096
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        info = archive.getinfo("memory.bin")
        info.file_size = 10
        with pytest.raises(InvalidInputError, match="inflates past|cannot read member"):
            cairo_pie._members(archive, "lying.zip", max_bytes=1000)


def test_a_snos_pie_is_not_an_aggregator_pie(vectors_dir, capsys):
    assert main(["aggregator", "output", str(vectors_dir / "cairo_pie" / "sepolia_924016.zip")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not an aggregator PIE" in err and len(err.splitlines()) == 1


def test_da_blobs_refuses_a_bad_segment(tmp_path, capsys):
    segment = tmp_path / "da.json"
    segment.write_text('["0x1", "zz"]')
    out = tmp_path / "blobs"
    assert main(["da", "blobs", "--segment", str(segment), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"orchestrator: error: {segment}[1]: not a felt: 'zz'"
    assert not out.exists()
