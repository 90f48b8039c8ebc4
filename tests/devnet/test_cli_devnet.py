"""`orchestrator devnet build-contracts` and the argument checks of `orchestrator devnet up`."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator_pipelines.cli import main
from orchestrator_pipelines.devnet.contract_build import ARTIFACTS_DIR, CONTRACT_NAMES


def test_build_contracts_reproduces_committed_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devnet", "build-contracts", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for name in CONTRACT_NAMES:
        assert f"{name}.json" in printed
        assert (tmp_path / f"{name}.json").read_bytes() == (ARTIFACTS_DIR / f"{name}.json").read_bytes()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--prover-failure-rate", "1.5", "--prover-failure-rate must be within 0..1, got 1.5"),
        ("--block-time", "-1", "--block-time must be >= 0, got -1.0"),
        ("--port-prover", "70000", "--port-prover must be within 0..65535, got 70000"),
        ("--withdrawal-every", "-2", "--withdrawal-every must be >= 0, got -2"),
    ],
)
def test_devnet_up_rejects_bad_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    code = main(["devnet", "up", "--state-dir", str(tmp_path / "devnet"), f"{flag}={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"orchestrator: error: {message}\n"
    assert not (tmp_path / "devnet").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deposit", "--recipient", "0x1", "--amount", "0"], "--amount must be positive and below 2**251, got 0"),
        (["deposit", "--recipient", "0x1", "--amount", "5", "--fee", "0"], "--fee must be positive"),
        (["deposit", "--recipient", "xyz", "--amount", "5"], "--recipient"),
        (["withdraw-consume", "--block", "0"], "--block must be 1 or more"),
        (["withdraw-consume", "--block", "3"], "devnet.json does not exist"),
    ],
)
def test_bridge_commands_reject_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["devnet", *argv, "--state-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("orchestrator: error: ") and message in err and err.count("\n") == 1
