"""The domain work of two batch stages, with no Dagster: encoding a batch and building its blobs.

The ``batch`` and ``da_blob`` assets call these, and so does the pipeline
benchmark's plain loop (``benchmarks/bench_pipeline.py``), which measures what
Dagster adds by running the very same work without it. Keeping one copy means
the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import felts_to_blobs
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateDiff


def contracts_in(diff: StateDiff) -> list[int]:
    """Every contract the DA encoding writes a record for (and so needs a nonce for)."""
    addresses = {entry.address for entry in diff.storage_diffs}
    addresses |= {entry.contract_address for entry in diff.nonces}
    addresses |= {entry.address for entry in diff.deployed_contracts}
    addresses |= {entry.contract_address for entry in diff.replaced_classes}
    return sorted(addresses)


@dataclass(frozen=True)
class EncodedBatch:
    """A block range squashed into one diff, and the DA felts the blobs will carry."""

    diff: StateDiff
    nonces: dict[int, int]
    felts: list[int]


def encode_batch(client: MadaraClient, first_block: int, last_block: int, starknet_version: str) -> EncodedBatch:
    """Fetch the range's state updates, squash them, and DA-encode the result.

    The nonces are read at the last block, concurrently: a batch touches tens
    of contracts and one round trip per contract would dominate the stage.
    """
    updates = client.state_updates(first_block, last_block)
    diff = squash_state_updates(updates)
    nonces = client.nonces(contracts_in(diff), last_block)
    return EncodedBatch(diff=diff, nonces=nonces, felts=da_felts(diff, nonces, starknet_version))


@dataclass(frozen=True)
class BatchBlobs:
    """EIP-4844 blobs of the DA felts with their KZG commitments, proofs and values at ``x_0``."""

    blobs: list[bytes]
    commitments: list[bytes]
    proofs: list[bytes]
    y_values: list[int]


def blobs_with_point_proofs(felts: Sequence[int], x0: int, max_blobs: int) -> BatchBlobs:
    """Split the felts into blobs and open each blob's polynomial at the OS output's ``x_0``."""
    blobs = felts_to_blobs(felts, max_blobs=max_blobs)
    commitments = [kzg.blob_to_commitment(blob) for blob in blobs]
    openings = [kzg.compute_point_proof(blob, x0) for blob in blobs]
    return BatchBlobs(
        blobs=blobs,
        commitments=commitments,
        proofs=[proof for proof, _ in openings],
        y_values=[y for _, y in openings],
    )
