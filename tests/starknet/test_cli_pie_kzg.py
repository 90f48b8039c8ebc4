"""``orchestrator pie`` and ``orchestrator kzg`` end to end, on the reference vectors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_pipelines.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
FIBONACCI_FACT = "0xca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782"
SEPOLIA_924016_FACT = "0x033144ad6b132b1012f15e50aa53de1ed91b3b1af729014c3f1c00b702f972ea"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script's entry point in a fresh interpreter, as a user would."""
    code = "import sys; from orchestrator_pipelines.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.strip().splitlines())


def test_pie_fact_in_a_fresh_process(vectors_dir):
    result = run_cli("pie", "fact", vectors_dir / "cairo_pie" / "fibonacci.zip")
    assert result.returncode == 0, result.stderr
    assert result.stdout == FIBONACCI_FACT + "\n"


def test_pie_fact_of_the_sepolia_snos_pie(vectors_dir, capsys):
    assert main(["pie", "fact", str(vectors_dir / "cairo_pie" / "sepolia_924016.zip")]) == 0
    assert capsys.readouterr().out.strip() == SEPOLIA_924016_FACT


def test_pie_info(vectors_dir, capsys):
    assert main(["pie", "info", str(vectors_dir / "cairo_pie" / "sepolia_924016.zip")]) == 0
    info = _fields(capsys.readouterr().out)
    assert re.fullmatch(r"0x[0-9a-f]{64}", info["program_hash"])
    assert info["n_steps"] == "15135"
    assert info["output_length"] == "23"
    assert info["job_size"] == "S"


def test_kzg_commit_in_a_fresh_process(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "20462788"
    result = run_cli("kzg", "commit", "--blob", directory / "blob_data.txt")
    assert result.returncode == 0, result.stderr
    out = _fields(result.stdout)
    assert out["commitment"] == (directory / "blob_commitment.txt").read_text().strip()
    assert out["blob_proof"] == (directory / "blob_proof.txt").read_text().strip()
    assert re.fullmatch(r"0x01[0-9a-f]{62}", out["versioned_hash"])


@pytest.mark.parametrize("block", ["651053", "651055"])
def test_kzg_proof_at_x0(vectors_dir, capsys, block):
    directory = vectors_dir / "kzg_state_update" / block
    x0 = (directory / "x_0.txt").read_text().strip()
    assert main(["kzg", "proof", "--blob", str(directory / "blob_data.txt"), "--x0", x0]) == 0
    out = _fields(capsys.readouterr().out)
    assert out["proof"] == (directory / "kzg_proof.txt").read_text().strip()
    assert re.fullmatch(r"0x[0-9a-f]{64}", out["y"])


def test_kzg_proof_y_equals_the_os_output(vectors_dir, capsys):
    directory = vectors_dir / "l1_blobs" / "6806848"
    output = [int(v) for v in (directory / "program_output.txt").read_text().split()]
    x0, y_low, y_high = output[10], output[14], output[15]
    assert main(["kzg", "proof", "--blob", str(directory / "blob_data.txt"), "--x0", str(x0)]) == 0
    assert int(_fields(capsys.readouterr().out)["y"], 16) == y_low + (y_high << 128)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pie", "fact", "{vectors}/README.md"), "README.md: not a zip file"),
        (("pie", "info", "{tmp}/absent.zip"), "absent.zip: no such file"),
        (("kzg", "commit", "--blob", "{vectors}/README.md"), "blob hex: invalid character"),
        (("kzg", "commit", "--blob", "{tmp}/absent.hex"), "absent.hex"),
        (("kzg", "proof", "--blob", "{vectors}/l1_blobs/6806848/blob_data.txt", "--x0", "0xzz"), "--x0: '0xzz'"),
        (
            ("kzg", "proof", "--blob", "{vectors}/l1_blobs/6806848/blob_data.txt", "--x0", str(2**256)),
            "x0: .* is not a BLS12-381 scalar",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(vectors_dir, tmp_path, args, message):
    argv = [a.format(vectors=vectors_dir, tmp=tmp_path) for a in args]
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("orchestrator: error: ")
    assert re.search(message, lines[0])


def test_corrupt_pie_is_one_line(vectors_dir, tmp_path, capsys):
    import zipfile

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(vectors_dir / "cairo_pie" / "fibonacci.zip") as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            if name != "memory.bin":
                dst.writestr(name, src.read(name))
    assert main(["pie", "fact", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"orchestrator: error: {broken}: missing member memory.bin"
