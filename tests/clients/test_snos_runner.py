"""ExternalSnosRunner: runs a real command that writes a PIE, and fails with one clear line otherwise."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from orchestrator_pipelines.clients.snos import ExternalSnosRunner, SnosResult
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError

FIBONACCI_FACT = bytes.fromhex("ca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782")
PY = shlex.quote(sys.executable)


@pytest.fixture
def copy_pie_script(tmp_path: Path, vectors_dir: Path) -> Path:
    """A stand-in for a real SNOS binary: records its arguments and writes the fibonacci PIE."""
    script = tmp_path / "fake snos.py"
    script.write_text(
        "import shutil, sys, pathlib\n"
        "first, last, rpc, output = sys.argv[1:5]\n"
        "pathlib.Path(output).with_suffix('.args').write_text(' '.join([first, last, rpc]))\n"
        f"shutil.copyfile({str(vectors_dir / 'cairo_pie' / 'fibonacci.zip')!r}, output)\n"
    )
    return script


def test_reads_back_the_pie_the_command_wrote(copy_pie_script: Path, tmp_path: Path) -> None:
    runner = ExternalSnosRunner(
        f"{PY} {shlex.quote(str(copy_pie_script))} {{first_block}} {{last_block}} {{rpc_url}} {{output}}",
        timeout_s=60,
        rpc_url="http://127.0.0.1:9944",
    )
    out_dir = tmp_path / "out dir"
    result = runner.run(10, 19, out_dir)
    assert isinstance(result, SnosResult)
    assert result.pie_path == out_dir / "pie_10_19.zip"
    assert result.fact == FIBONACCI_FACT
    assert result.n_steps > 0 and result.program_hash > 0 and result.program_output
    assert (out_dir / "pie_10_19.args").read_text() == "10 19 http://127.0.0.1:9944"


def test_failing_command_reports_exit_code_and_last_stderr_line(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.write('loading...\\nblock 12 not found on the node\\n'); sys.exit(3)"
    runner = ExternalSnosRunner(f"{PY} -c {shlex.quote(script)} {{output}}", timeout_s=60)
    with pytest.raises(OrchestratorError) as caught:
        runner.run(10, 12, tmp_path)
    assert str(caught.value) == "SNOS command exited with code 3 (blocks 10..12): block 12 not found on the node"


def test_command_that_writes_no_pie(tmp_path: Path) -> None:
    runner = ExternalSnosRunner(f"{PY} -c pass {{output}}", timeout_s=60)
    with pytest.raises(OrchestratorError, match=r"succeeded but wrote no Cairo PIE at .*pie_1_2\.zip \(blocks 1\.\.2\)"):
        runner.run(1, 2, tmp_path)


def test_command_that_writes_garbage(tmp_path: Path) -> None:
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes(b'not a zip')"
    runner = ExternalSnosRunner(f"{PY} -c {shlex.quote(script)} {{output}}", timeout_s=60)
    with pytest.raises(InvalidInputError, match=r"wrote an invalid Cairo PIE at .*pie_1_1\.zip"):
        runner.run(1, 1, tmp_path)


def test_timeout_is_transient(tmp_path: Path) -> None:
    runner = ExternalSnosRunner(f"{PY} -c 'import time; time.sleep(30)' {{output}}", timeout_s=0.5)
    with pytest.raises(TransientError, match=r"timed out after 0.5s \(blocks 1\.\.1\)"):
        runner.run(1, 1, tmp_path)


def test_bad_templates_are_rejected_up_front(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"must contain \{output\}"):
        ExternalSnosRunner("snos --blocks {first_block}")
    with pytest.raises(InvalidInputError, match=r"unknown placeholder 'chain'"):
        ExternalSnosRunner("snos {chain} {output}").run(1, 1, tmp_path)
    with pytest.raises(OrchestratorError, match=r"SNOS command not found: 'no-such-snos-binary'"):
        ExternalSnosRunner("no-such-snos-binary {output}").run(1, 1, tmp_path)
    with pytest.raises(InvalidInputError, match=r"block range is empty: 5\.\.4"):
        ExternalSnosRunner("x {output}").run(5, 4, tmp_path)
