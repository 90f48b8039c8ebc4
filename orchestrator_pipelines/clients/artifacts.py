"""Where a batch's files live: a local directory or an S3 bucket, same key layout.

Every artifact of batch ``000042`` lives under ``batches/000042/`` so that an
operator can list, copy or expire one batch with a single prefix. Writes are
atomic (local: write to a temporary file then rename; S3: a single PUT), so a
retried step never reads a half-written artifact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from orchestrator_pipelines.errors import OrchestratorError

BATCH_PREFIX = "batches"


def batch_key(batch: str, name: str) -> str:
    """The store key of artifact ``name`` of batch ``batch`` (e.g. ``batches/000042/pie.zip``)."""
    if not batch or "/" in batch:
        raise OrchestratorError(f"invalid batch key for an artifact: {batch!r}")
    return f"{BATCH_PREFIX}/{batch}/{name}"


def batch_prefix(batch: str) -> str:
    """The store prefix holding every artifact of batch ``batch`` (e.g. ``batches/000042/``)."""
    return batch_key(batch, "")


class ArtifactStore(Protocol):
    """The few operations the pipeline needs; implemented for a directory and for S3."""

    def put_bytes(self, key: str, data: bytes) -> str: ...

    def get_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str: ...


class LocalArtifactStore:
    """Artifacts as files below ``root`` (the devnet default)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise OrchestratorError(f"artifact key escapes the store root: {key!r}")
        return path

    def put_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise OrchestratorError(f"artifact not found: {path}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def expire_batch(self, batch: str) -> int:
        """Delete every artifact of ``batch``; returns how many files were removed."""
        directory = self._path(batch_prefix(batch))
        if not directory.is_dir():
            return 0
        count = sum(1 for path in directory.rglob("*") if path.is_file())
        shutil.rmtree(directory)
        return count


EXPIRY_RULE_ID = "orchestrator-batch-artifacts-expiry"
_DELETE_OBJECTS_MAX = 1000


class S3ArtifactStore:
    """Artifacts as objects in ``s3://bucket/prefix/...`` through a boto3 S3 client.

    Settled batches' artifacts (PIEs are tens of MB) are not needed forever: an
    operator either deletes one batch with :meth:`expire_batch` or lets S3 expire
    them with the bucket lifecycle rule from :meth:`apply_expiry`.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise OrchestratorError(f"artifact not found: {self.uri(key)}") from None
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def list_keys(self, key_prefix: str) -> list[str]:
        """Store keys (without the store prefix) of all objects below ``key_prefix``."""
        full_prefix = self._key(key_prefix)
        strip = len(self._key(""))
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return keys

    def expire_batch(self, batch: str) -> int:
        """Delete every object of ``batch`` now; returns how many objects were deleted."""
        keys = self.list_keys(batch_prefix(batch))
        for start in range(0, len(keys), _DELETE_OBJECTS_MAX):
            chunk = keys[start : start + _DELETE_OBJECTS_MAX]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(key)} for key in chunk], "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise OrchestratorError(
                    f"could not delete {len(errors)} artifacts of batch {batch}, "
                    f"first s3://{self.bucket}/{first.get('Key')}: {first.get('Code')}"
                )
        return len(keys)

    def expiry_rule(self, days: int) -> dict[str, Any]:
        """The lifecycle rule that expires objects under this store's batches after ``days``."""
        if days < 1:
            raise OrchestratorError(f"artifact expiry must be at least 1 day, got {days}")
        return {
            "ID": EXPIRY_RULE_ID,
            "Filter": {"Prefix": self._key(f"{BATCH_PREFIX}/")},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }

    def current_rules(self) -> list[dict[str, Any]]:
        """The bucket's lifecycle rules (empty when it has none)."""
        try:
            response = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
                return []
            raise
        return list(response.get("Rules", []))

    def apply_expiry(self, days: int) -> dict[str, Any]:
        """Install (or replace) the expiry rule, keeping the bucket's other lifecycle rules."""
        rule = self.expiry_rule(days)
        rules = [existing for existing in self.current_rules() if existing.get("ID") != EXPIRY_RULE_ID]
        rules.append(rule)
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
        )
        return rule
