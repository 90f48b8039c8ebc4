"""Where PIEs, program outputs, blobs and proofs are kept: a local directory or S3 (dagster-aws)."""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore


class ArtifactStoreResource(ConfigurableResource):
    kind: Literal["local", "s3"] = "local"
    local_dir: str = ".devnet/artifacts"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    region_name: str = "us-east-1"

    def store(self) -> ArtifactStore:
        if self.kind == "s3":
            # Imported here: dagster_aws (with boto3) costs ~1 s of CPU to import, paid by
            # every run process of a deployment whose artifacts are on local disk otherwise.
            from dagster_aws.s3 import S3Resource

            client = S3Resource(region_name=self.region_name, endpoint_url=self.s3_endpoint_url).get_client()
            return S3ArtifactStore(client, self.s3_bucket, self.s3_prefix)
        return LocalArtifactStore(self.local_dir)
