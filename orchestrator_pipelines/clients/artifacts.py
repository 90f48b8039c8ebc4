"""Where a batch's files live: a local directory or an S3 bucket, same key layout.

Every artifact of batch ``000042`` lives under ``batches/000042/`` so that an
operator can list, copy or expire one batch with a single prefix. Writes are
atomic (local: write to a temporary file then rename; S3: a single PUT), so a
retried step never reads a half-written artifact.
"""

from __future__ import annotations

import os
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


class S3ArtifactStore:
    """Artifacts as objects in ``s3://bucket/prefix/...`` through a boto3 S3 client."""

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
