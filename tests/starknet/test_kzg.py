"""KZG commitments and proofs against real Ethereum mainnet blobs, and the OS's x_0."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account.typed_transactions.base import Blob, BlobPooledTransactionData
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import blob_from_hex, evaluate_at, evals_from_blob, interpolate
from orchestrator_pipelines.starknet.felt import BLS_MODULUS

PROOF_BLOCKS = ("651053", "651054", "651055")
LEGACY_X0_BLOCKS = ("630872", "651053", "651054", "651055")


def _hex_bytes(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip().removeprefix("0x"))


def _blob(path: Path) -> bytes:
    return blob_from_hex(path.read_text())


def _program_output(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def _da_felts_without_padding(blob: bytes) -> list[int]:
    coeffs = interpolate(evals_from_blob(blob))
    while coeffs and coeffs[-1] == 0:
        coeffs.pop()
    return coeffs


def test_trusted_setup_is_loaded_once():
    assert kzg.TRUSTED_SETUP_PATH.is_file()
    assert kzg.trusted_setup() is kzg.trusted_setup()


def test_commitment_and_blob_proof_of_a_mainnet_blob(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "20462788"
    blob = _blob(directory / "blob_data.txt")
    commitment = kzg.blob_to_commitment(blob)
    assert commitment == _hex_bytes(directory / "blob_commitment.txt")
    proof = kzg.compute_blob_proof(blob, commitment)
    assert proof == _hex_bytes(directory / "blob_proof.txt")
    assert kzg.verify_blob_proof(blob, commitment, proof)


def test_blob_proof_of_another_blob_does_not_verify(vectors_dir):
    blob = _blob(vectors_dir / "l1_blobs" / "20462788" / "blob_data.txt")
    other = _blob(vectors_dir / "l1_blobs" / "20468828" / "blob_data.txt")
    commitment = kzg.blob_to_commitment(blob)
    wrong_proof = kzg.compute_blob_proof(other, kzg.blob_to_commitment(other))
    assert not kzg.verify_blob_proof(blob, commitment, wrong_proof)


def test_versioned_hash_matches_eth_account(vectors_dir):
    blob = _blob(vectors_dir / "l1_blobs" / "20462788" / "blob_data.txt")
    pooled = BlobPooledTransactionData(blobs=[Blob(data=HexBytes(blob))])
    commitment = kzg.blob_to_commitment(blob)
    assert pooled.commitments[0].as_bytes() == commitment
    assert kzg.versioned_hash(commitment) == pooled.versioned_hashes[0].as_bytes()
    assert kzg.versioned_hash(commitment)[:1] == b"\x01"


@pytest.mark.parametrize("block", PROOF_BLOCKS)
def test_point_proofs_at_x0_of_mainnet_settlements(vectors_dir, block):
    directory = vectors_dir / "kzg_state_update" / block
    blob = _blob(directory / "blob_data.txt")
    x0 = int((directory / "x_0.txt").read_text().strip(), 16)
    proof, y = kzg.compute_point_proof(blob, x0)
    assert proof == _hex_bytes(directory / "kzg_proof.txt")
    # y is p(x0) for the polynomial whose evaluations the blob holds.
    assert y == evaluate_at(interpolate(evals_from_blob(blob)), x0)
    commitment = kzg.blob_to_commitment(blob)
    assert kzg.verify_point_proof(commitment, x0, y, proof)
    assert not kzg.verify_point_proof(commitment, x0, (y + 1) % BLS_MODULUS, proof)


@pytest.mark.parametrize("block", LEGACY_X0_BLOCKS)
def test_x0_derivation_of_starknet_0_13_1(vectors_dir, block):
    """x_0 is the OS's Poseidon of the unpadded DA felts and the commitment limbs.

    The blob does not say how many trailing zero felts the DA data had (the padding is
    zeros too), so exactly one of a few zero extensions must give the mainnet x_0.
    """
    directory = vectors_dir / "kzg_state_update" / block
    blob = _blob(directory / "blob_data.txt")
    x0 = int((directory / "x_0.txt").read_text().strip(), 16)
    commitment = kzg.blob_to_commitment(blob)
    felts = _da_felts_without_padding(blob)
    legacy = [k for k in range(5) if kzg.starknet_x0(felts + [0] * k, commitment, kzg.LAYOUT_V0_13_1) == x0]
    assert len(legacy) == 1
    newer = [k for k in range(5) if kzg.starknet_x0(felts + [0] * k, commitment, kzg.LAYOUT_V0_13_3) == x0]
    assert newer == []


@pytest.mark.parametrize(
    ("block", "layout", "x0_index"),
    [("20468828", kzg.LAYOUT_V0_13_1, 8), ("6806848", kzg.LAYOUT_V0_13_3, 10)],
)
def test_x0_derivation_matches_the_os_output(vectors_dir, block, layout, x0_index):
    directory = vectors_dir / "l1_blobs" / block
    blob = _blob(directory / "blob_data.txt")
    x0 = _program_output(directory / "program_output.txt")[x0_index]
    commitment = kzg.blob_to_commitment(blob)
    felts = _da_felts_without_padding(blob)
    assert len([k for k in range(5) if kzg.starknet_x0(felts + [0] * k, [commitment], layout) == x0]) == 1


def test_x0_of_several_blobs_hashes_all_commitments(vectors_dir):
    blobs = [_blob(vectors_dir / "l1_blobs" / b / "blob_data.txt") for b in ("20468828", "6806848")]
    commitments = [kzg.blob_to_commitment(b) for b in blobs]
    felts = [1, 2, 3]
    both = kzg.starknet_x0(felts, commitments)
    assert both != kzg.starknet_x0(felts, commitments[:1])
    assert both != kzg.starknet_x0(felts, commitments[::-1])
    with pytest.raises(InvalidInputError, match="exactly one blob"):
        kzg.starknet_x0(felts, commitments, kzg.LAYOUT_V0_13_1)


def test_commitment_limbs_are_those_of_the_os_output(vectors_dir):
    directory = vectors_dir / "l1_blobs" / "20468828"
    output = _program_output(directory / "program_output.txt")
    commitment = kzg.blob_to_commitment(_blob(directory / "blob_data.txt"))
    assert kzg.commitment_to_limbs(commitment) == (output[6], output[7])
    assert kzg.commitment_from_limbs(output[6], output[7]) == commitment


@given(st.binary(min_size=48, max_size=48))
def test_commitment_limbs_round_trip(raw):
    low, high = kzg.commitment_to_limbs(raw)
    assert low < 2**192 and high < 2**192
    assert kzg.commitment_from_limbs(low, high) == raw


@given(st.integers(min_value=0, max_value=BLS_MODULUS - 1))
def test_y_limbs_round_trip(y):
    low, high = kzg.y_to_limbs(y)
    assert low < 2**128 and high < 2**128
    assert kzg.y_from_limbs(low, high) == y


def test_limbs_out_of_range_are_rejected():
    with pytest.raises(InvalidInputError, match="low limb"):
        kzg.commitment_from_limbs(2**192, 0)
    with pytest.raises(InvalidInputError, match="high limb"):
        kzg.y_from_limbs(0, 2**128)
    with pytest.raises(InvalidInputError, match="modulus"):
        kzg.y_from_limbs(2**128 - 1, 2**128 - 1)


def test_bad_blobs_and_points_are_readable_errors(vectors_dir):
    with pytest.raises(InvalidInputError, match="expected 131072 bytes, got 10"):
        kzg.blob_to_commitment(b"\x00" * 10)
    with pytest.raises(InvalidInputError, match="modulus"):
        kzg.blob_to_commitment(b"\xff" * kzg.BYTES_PER_BLOB)
    blob = _blob(vectors_dir / "l1_blobs" / "20462788" / "blob_data.txt")
    with pytest.raises(InvalidInputError, match="x0"):
        kzg.compute_point_proof(blob, BLS_MODULUS)
    with pytest.raises(InvalidInputError, match="G1 point"):
        kzg.verify_point_proof(b"\x00" * 48, 1, 1, b"\x00" * 48)
    with pytest.raises(InvalidInputError, match="commitment: expected 48 bytes"):
        kzg.versioned_hash(b"\x01" * 47)
    with pytest.raises(InvalidInputError, match="unknown layout"):
        kzg.starknet_x0([1], kzg.blob_to_commitment(blob), "v0_12")


def test_batch_kzg_is_byte_exact_with_mainnet_and_the_same_on_one_or_two_cpus(vectors_dir):
    sidecar = vectors_dir / "l1_blobs" / "20462788"
    opened = vectors_dir / "kzg_state_update" / PROOF_BLOCKS[0]
    blobs = [_blob(sidecar / "blob_data.txt"), _blob(opened / "blob_data.txt"), _blob(sidecar / "blob_data.txt")]
    x0 = int((opened / "x_0.txt").read_text().strip(), 16)
    parallel = kzg.batch_kzg(blobs, x0, workers=2)
    assert parallel == kzg.batch_kzg(blobs, x0, workers=1)
    assert parallel[0] == parallel[2]
    assert parallel[0].commitment == _hex_bytes(sidecar / "blob_commitment.txt")
    assert parallel[0].blob_proof == _hex_bytes(sidecar / "blob_proof.txt")
    assert parallel[1].point_proof == _hex_bytes(opened / "kzg_proof.txt")
    for blob, result in zip(blobs, parallel):
        assert result.commitment == kzg.blob_to_commitment(blob)
        assert kzg.verify_blob_proof(blob, result.commitment, result.blob_proof)
        assert (result.point_proof, result.y) == kzg.compute_point_proof(blob, x0)
        assert kzg.verify_point_proof(result.commitment, x0, result.y, result.point_proof)


def test_batch_kzg_names_the_bad_blob(vectors_dir):
    good = _blob(vectors_dir / "l1_blobs" / "20462788" / "blob_data.txt")
    above_modulus = b"\xff" * 32 + good[32:]
    with pytest.raises(InvalidInputError, match="^blob 2: blob: a 32-byte field element is not below"):
        kzg.batch_kzg([good, good, above_modulus], 1, workers=2)
    with pytest.raises(InvalidInputError, match="expected 131072 bytes, got 5"):
        kzg.batch_kzg([good, b"short"], 1, workers=2)
    with pytest.raises(InvalidInputError, match="x0"):
        kzg.batch_kzg([good], BLS_MODULUS)
    assert kzg.batch_kzg([], 1) == []
