"""The settle step's blob check without the KZG setup: blobs by their recorded sha256, recorded
commitments against the OS output (a real Ethereum mainnet blob and its OS output)."""

from __future__ import annotations

import hashlib

import pytest

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.os_output import (
    check_recorded_blobs_against_output,
    parse_os_output,
    read_program_output,
)


@pytest.fixture(scope="module")
def mainnet(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "20468828"
    out = parse_os_output(read_program_output(directory / "program_output.txt"))
    blob = blob_from_hex((directory / "blob_data.txt").read_text())
    return out, blob


def test_the_blob_recorded_with_the_os_output_commitment_passes(mainnet) -> None:
    out, blob = mainnet
    check_recorded_blobs_against_output(out, [blob], [hashlib.sha256(blob).digest()], out.kzg.commitments)


def test_a_blob_other_than_the_recorded_one_is_refused(mainnet) -> None:
    out, blob = mainnet
    changed = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(OrchestratorError, match="blob 0: sha256"):
        check_recorded_blobs_against_output(out, [changed], [hashlib.sha256(blob).digest()], out.kzg.commitments)


def test_a_recorded_commitment_other_than_the_os_output_one_is_refused(mainnet) -> None:
    out, blob = mainnet
    other = kzg.blob_to_commitment(bytes(len(blob)))
    with pytest.raises(OrchestratorError, match="recorded KZG commitment"):
        check_recorded_blobs_against_output(out, [blob], [hashlib.sha256(blob).digest()], [other])


def test_counts_must_match_the_os_output(mainnet) -> None:
    out, blob = mainnet
    digest = hashlib.sha256(blob).digest()
    with pytest.raises(OrchestratorError, match="commits to 1 blobs"):
        check_recorded_blobs_against_output(out, [blob, blob], [digest, digest], out.kzg.commitments * 2)
    with pytest.raises(OrchestratorError, match="commits to 1 blobs"):
        check_recorded_blobs_against_output(out, [blob], [], out.kzg.commitments)


def test_sidecar_round_trips_through_json_and_rejects_a_wrong_shape(mainnet) -> None:
    _, blob = mainnet
    sidecar = kzg.blob_sidecar([blob])
    assert kzg.BlobSidecar.from_json(sidecar.to_json()) == sidecar
    assert sidecar.commitments == [kzg.blob_to_commitment(blob)]
    assert kzg.verify_blob_proof(blob, sidecar.commitments[0], sidecar.blob_proofs[0])
    assert sidecar.cell_proofs == [kzg.compute_cell_proofs(blob)]
    with pytest.raises(InvalidInputError, match="cell proofs"):
        kzg.BlobSidecar(commitments=sidecar.commitments, cell_proofs=[sidecar.cell_proofs[0][:-1]])
    with pytest.raises(InvalidInputError, match="blob proofs for 1 commitments"):
        kzg.BlobSidecar(commitments=sidecar.commitments, blob_proofs=[])
