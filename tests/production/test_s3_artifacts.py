"""S3ArtifactStore against moto's S3 over HTTP: layout, missing keys, expiry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator_pipelines.clients.artifacts import (
    EXPIRY_RULE_ID,
    LocalArtifactStore,
    S3ArtifactStore,
    batch_key,
)
from orchestrator_pipelines.errors import OrchestratorError


@pytest.fixture
def s3(aws_client):
    client = aws_client("s3")
    return client


def _bucket(s3, name: str) -> str:
    s3.create_bucket(Bucket=name)
    return name


def test_put_get_exists_and_uri_under_the_store_prefix(s3) -> None:
    bucket = _bucket(s3, "artifacts-roundtrip")
    store = S3ArtifactStore(s3, bucket, prefix="/sepolia/")
    key = batch_key("000042", "pie.zip")
    payload = bytes(range(256)) * 1000

    uri = store.put_bytes(key, payload)

    assert uri == "s3://artifacts-roundtrip/sepolia/batches/000042/pie.zip"
    assert store.exists(key)
    assert store.get_bytes(key) == payload
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["sepolia/batches/000042/pie.zip"]


def test_missing_artifact_is_reported_with_its_uri(s3) -> None:
    store = S3ArtifactStore(s3, _bucket(s3, "artifacts-missing"))
    key = batch_key("000007", "program_output.json")
    assert not store.exists(key)
    with pytest.raises(OrchestratorError, match="s3://artifacts-missing/batches/000007/program_output.json"):
        store.get_bytes(key)


def test_expire_batch_deletes_only_that_batch(s3) -> None:
    bucket = _bucket(s3, "artifacts-expire")
    store = S3ArtifactStore(s3, bucket, prefix="chain")
    for name in ("pie.zip", "blobs/0.bin", "blobs/1.bin", "state_diff.json"):
        store.put_bytes(batch_key("000042", name), name.encode())
    store.put_bytes(batch_key("0000420", "pie.zip"), b"keep: shares the digits")
    store.put_bytes(batch_key("000043", "pie.zip"), b"keep")

    assert store.expire_batch("000042") == 4

    assert not store.exists(batch_key("000042", "blobs/1.bin"))
    assert sorted(store.list_keys("batches/")) == [
        "batches/0000420/pie.zip",
        "batches/000043/pie.zip",
    ]
    assert store.expire_batch("000042") == 0


def test_expire_batch_pages_through_more_than_one_delete_request(s3) -> None:
    store = S3ArtifactStore(s3, _bucket(s3, "artifacts-many"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: store.put_bytes(batch_key("000001", f"blobs/{i}.bin"), b"b"), range(1005)))
    assert store.expire_batch("000001") == 1005
    assert store.list_keys("batches/000001/") == []


def test_apply_expiry_installs_rule_and_keeps_other_rules(s3) -> None:
    bucket = _bucket(s3, "artifacts-lifecycle")
    other_rule = {
        "ID": "logs-cleanup",
        "Filter": {"Prefix": "dagster-logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 7},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [other_rule]}
    )
    store = S3ArtifactStore(s3, bucket, prefix="mainnet")

    store.apply_expiry(30)
    store.apply_expiry(90)

    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {"logs-cleanup", EXPIRY_RULE_ID}
    assert rules[EXPIRY_RULE_ID]["Expiration"]["Days"] == 90
    assert rules[EXPIRY_RULE_ID]["Filter"]["Prefix"] == "mainnet/batches/"
    assert rules["logs-cleanup"]["Expiration"]["Days"] == 7


def test_apply_expiry_on_a_bucket_without_rules(s3) -> None:
    store = S3ArtifactStore(s3, _bucket(s3, "artifacts-norules"))
    assert store.current_rules() == []
    store.apply_expiry(14)
    assert [rule["ID"] for rule in store.current_rules()] == [EXPIRY_RULE_ID]
    with pytest.raises(OrchestratorError, match="at least 1 day"):
        store.apply_expiry(0)


def test_local_store_expires_a_batch_like_s3(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put_bytes(batch_key("000042", "pie.zip"), b"p")
    store.put_bytes(batch_key("000042", "blobs/0.bin"), b"b")
    store.put_bytes(batch_key("000043", "pie.zip"), b"keep")
    assert store.expire_batch("000042") == 2
    assert not store.exists(batch_key("000042", "pie.zip"))
    assert store.exists(batch_key("000043", "pie.zip"))
    assert store.expire_batch("000042") == 0
