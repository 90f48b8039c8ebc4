"""``orchestrator artifacts`` against moto's S3 and a local directory, through the real settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from orchestrator_pipelines.cli import artifacts as artifacts_cli
from orchestrator_pipelines.clients.artifacts import (
    EXPIRY_RULE_ID,
    LocalArtifactStore,
    S3ArtifactStore,
    batch_key,
)
from orchestrator_pipelines.errors import InvalidInputError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="orchestrator")
    artifacts_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def s3_settings(aws_client, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3ArtifactStore:
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="cli-artifacts")
    monkeypatch.setenv("ORCHESTRATOR_ARTIFACT_STORE", "s3")
    monkeypatch.setenv("ORCHESTRATOR_S3_BUCKET", "cli-artifacts")
    monkeypatch.setenv("ORCHESTRATOR_S3_PREFIX", "sepolia")
    monkeypatch.setenv("ORCHESTRATOR_S3_ENDPOINT_URL", moto_endpoint)
    return S3ArtifactStore(s3, "cli-artifacts", "sepolia")


def test_expire_batch_and_expiry_rule_on_s3(s3_settings: S3ArtifactStore, capsys) -> None:
    store = s3_settings
    store.put_bytes(batch_key("000042", "pie.zip"), b"p")
    store.put_bytes(batch_key("000042", "manifest.json"), b"m")
    store.put_bytes(batch_key("000043", "pie.zip"), b"keep")

    assert _run("artifacts", "expire-batch", "000042") == 0
    assert "deleted 2 artifacts of batch 000042" in capsys.readouterr().out
    assert store.list_keys("batches/") == ["batches/000043/pie.zip"]

    assert _run("artifacts", "set-expiry", "--days", "45") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["Expiration"] == {"Days": 45}
    assert printed["Filter"] == {"Prefix": "sepolia/batches/"}

    assert _run("artifacts", "show-expiry") == 0
    rules = json.loads(capsys.readouterr().out)
    assert [rule["ID"] for rule in rules] == [EXPIRY_RULE_ID]


def test_local_store_expires_batches_but_has_no_lifecycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_ARTIFACT_STORE", "local")
    monkeypatch.setenv("ORCHESTRATOR_ARTIFACTS_DIR", str(tmp_path))
    LocalArtifactStore(tmp_path).put_bytes(batch_key("000001", "pie.zip"), b"p")
    assert _run("artifacts", "expire-batch", "000001") == 0
    assert "deleted 1 artifacts" in capsys.readouterr().out
    with pytest.raises(InvalidInputError, match="ORCHESTRATOR_ARTIFACT_STORE=s3"):
        _run("artifacts", "set-expiry", "--days", "30")
    with pytest.raises(InvalidInputError, match="not a batch partition key"):
        _run("artifacts", "expire-batch", "../etc")
