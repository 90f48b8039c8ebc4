"""The proving services the orchestrator speaks: Atlantic (Herodotus), the SHARP gateway, and the mock prover.

Each client speaks the real service's paths and fields (as the Madara
orchestrator's ``prover-clients`` crates do), so the pipeline points at the real
service or at the devnet prover unchanged. Two interfaces, defined in
:mod:`orchestrator_pipelines.clients.prover_base`:

- :class:`ProverClient`, the direct path: one PIE, one proof, one fact.
- :class:`AggregatingProver`, the two-level path: an aggregation over numbered
  children (Atlantic bucket; SHARP applicative job; mock registration), whose
  aggregator fact the core contract checks.

Every client implements both. The modules:

- :mod:`~orchestrator_pipelines.clients.atlantic`: queries, buckets, artifacts.
- :mod:`~orchestrator_pipelines.clients.sharp`: mutual TLS, child and applicative jobs.
- :mod:`~orchestrator_pipelines.clients.mock_prover`: registers facts on a mock verifier.
"""

from __future__ import annotations

from orchestrator_pipelines.clients.atlantic import (
    DEDUP_EXISTS_MESSAGE,
    NO_OFFCHAIN_PROOF,
    AtlanticClient,
    Bucket,
    BucketParams,
    BucketQuery,
    parse_da_blob,
)
from orchestrator_pipelines.clients.mock_prover import MockProverClient, MockVerifier
from orchestrator_pipelines.clients.prover_base import (
    AggregatingProver,
    AggregationArtifacts,
    AggregationStatus,
    ChildStatus,
    PieInput,
    ProofState,
    ProofStatus,
    ProverClient,
)
from orchestrator_pipelines.clients.sharp import SharpClient, applicative_job_key, sharp_job_key

__all__ = [
    "DEDUP_EXISTS_MESSAGE",
    "NO_OFFCHAIN_PROOF",
    "AggregatingProver",
    "AggregationArtifacts",
    "AggregationStatus",
    "AtlanticClient",
    "Bucket",
    "BucketParams",
    "BucketQuery",
    "ChildStatus",
    "MockProverClient",
    "MockVerifier",
    "PieInput",
    "ProofState",
    "ProofStatus",
    "ProverClient",
    "SharpClient",
    "applicative_job_key",
    "parse_da_blob",
    "sharp_job_key",
]
