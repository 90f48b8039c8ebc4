"""Where PIEs, program outputs, blobs and proofs are kept: a local directory or S3 (dagster-aws)."""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore
from orchestrator_pipelines.config import setting_default as default


class ArtifactStoreResource(ConfigurableResource):
    """Values come from the settings (``build_resources``); defaults are the settings' own.
    ``s3_bucket`` is the bucket's name, Madara's prefix and ARN rules already applied."""

    kind: Literal["local", "s3"] = default("artifact_store")
    local_dir: str = default("artifacts_dir")
    s3_bucket: str = ""
    s3_prefix: str = default("s3_prefix")
    s3_endpoint_url: str | None = default("s3_endpoint_url")
    region_name: str = default("aws_region")

    def store(self) -> ArtifactStore:
        if self.kind == "s3":
            # Imported here: dagster_aws (with boto3) costs ~1 s of CPU to import, paid by
            # every run process of a deployment whose artifacts are on local disk otherwise.
            from dagster_aws.s3 import S3Resource

            client = S3Resource(region_name=self.region_name, endpoint_url=self.s3_endpoint_url).get_client()
            return S3ArtifactStore(client, self.s3_bucket, self.s3_prefix)
        return LocalArtifactStore(self.local_dir)
