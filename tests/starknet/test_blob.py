"""EIP-4844 blobs: the NTT, byte layout and splitting felts into blobs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError, TooManyBlobsError
from orchestrator_pipelines.starknet.blob import (
    BYTES_PER_BLOB,
    DEFAULT_MAX_BLOBS,
    FIELD_ELEMENTS_PER_BLOB,
    OMEGA,
    bit_reverse,
    blob_from_evals,
    blob_from_hex,
    blob_to_hex,
    blobs_to_felts,
    evals_from_blob,
    evaluate,
    evaluate_at,
    felts_to_blobs,
    interpolate,
)
from orchestrator_pipelines.starknet.felt import BLS_MODULUS, STARK_PRIME

from ._vectors import all_blob_files

N = FIELD_ELEMENTS_PER_BLOB


def test_evaluate_at_is_the_polynomial_value_mod_the_scalar_modulus():
    assert evaluate_at([1, 2, 3], 10) == 321
    assert evaluate_at([], 5) == 0
    assert evaluate_at([7], 123) == 7
    assert evaluate_at([1, 1], BLS_MODULUS - 1) == 0
    assert evaluate_at([0, 0, 1], 2**200) == pow(2, 400, BLS_MODULUS)


def test_constants():
    assert (FIELD_ELEMENTS_PER_BLOB, BYTES_PER_BLOB, DEFAULT_MAX_BLOBS) == (4096, 131072, 6)
    assert [bit_reverse(i) for i in (0, 1, 2, 4095, 2048)] == [0, 2048, 1024, 4095, 1]


def test_evaluate_matches_direct_evaluation_on_the_bit_reversed_domain():
    rng = random.Random(7)
    coeffs = [rng.randrange(BLS_MODULUS) for _ in range(N)]
    evals = evaluate(coeffs)
    for i in (0, 1, 2, 3, 1000, 2048, 4095):
        assert evals[i] == evaluate_at(coeffs, pow(OMEGA, bit_reverse(i), BLS_MODULUS))


def test_constant_and_linear_polynomials():
    assert evaluate([9] + [0] * (N - 1)) == [9] * N
    linear = evaluate([0, 1] + [0] * (N - 2))
    assert linear[:3] == [1, BLS_MODULUS - 1, pow(OMEGA, 1024, BLS_MODULUS)]


def test_every_real_blob_round_trips(vectors_dir):
    files = all_blob_files(vectors_dir)
    assert len(files) == 14
    for path in files:
        blob = blob_from_hex(path.read_text())
        coeffs = interpolate(evals_from_blob(blob))
        assert blob_from_evals(evaluate(coeffs)) == blob, path
        # Starknet DA data: every coefficient is a Starknet felt.
        assert all(c < STARK_PRIME for c in coeffs), path
        assert blobs_to_felts([blob]) == coeffs
        assert felts_to_blobs(coeffs) == [blob]


sparse_coeffs = st.dictionaries(
    st.integers(min_value=0, max_value=N - 1), st.integers(min_value=0, max_value=BLS_MODULUS - 1), max_size=20
).map(lambda d: [d.get(i, 0) for i in range(N)])


@settings(max_examples=25, deadline=None)
@given(sparse_coeffs)
def test_interpolate_inverts_evaluate(coeffs):
    assert interpolate(evaluate(coeffs)) == coeffs


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=N - 1))
def test_evaluate_inverts_interpolate(seed, zero_from):
    rng = random.Random(seed)
    evals = [rng.randrange(BLS_MODULUS) if i < zero_from else 0 for i in range(N)]
    assert evaluate(interpolate(evals)) == evals


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=STARK_PRIME - 1), max_size=3 * N))
def test_felts_to_blobs_round_trip_keeps_padding(felts):
    blobs = felts_to_blobs(felts)
    assert len(blobs) == -(-len(felts) // N)
    assert all(len(b) == BYTES_PER_BLOB for b in blobs)
    restored = blobs_to_felts(blobs)
    assert restored[: len(felts)] == felts
    assert restored[len(felts) :] == [0] * (len(restored) - len(felts))


def test_chunks_are_independent_blobs():
    felts = list(range(1, N + 2))
    blobs = felts_to_blobs(felts)
    assert len(blobs) == 2
    assert evals_from_blob(blobs[0]) == evaluate(felts[:N])
    assert evals_from_blob(blobs[1]) == [N + 1] * N  # constant polynomial


def test_too_many_blobs():
    with pytest.raises(TooManyBlobsError) as info:
        felts_to_blobs([1] * (2 * N + 1), max_blobs=2)
    assert (info.value.needed, info.value.maximum) == (3, 2)
    assert felts_to_blobs([]) == []


def test_blob_bytes_are_big_endian_scalars():
    evals = [0] * N
    evals[0], evals[1] = 1, BLS_MODULUS - 1
    blob = blob_from_evals(evals)
    assert blob[:32] == (1).to_bytes(32, "big")
    assert blob[32:64] == (BLS_MODULUS - 1).to_bytes(32, "big")
    assert evals_from_blob(blob) == evals


def test_invalid_blobs_and_scalars_are_rejected():
    with pytest.raises(InvalidInputError, match="expected 131072 bytes, got 10"):
        evals_from_blob(b"\x00" * 10)
    bad = bytearray(BYTES_PER_BLOB)
    bad[32 * 5 : 32 * 6] = BLS_MODULUS.to_bytes(32, "big")
    with pytest.raises(InvalidInputError, match="field element 5"):
        evals_from_blob(bytes(bad))
    with pytest.raises(InvalidInputError, match="expected 4096 values, got 3"):
        evaluate([1, 2, 3])
    with pytest.raises(InvalidInputError, match=r"coefficients\[2\]"):
        evaluate([0, 0, BLS_MODULUS] + [0] * (N - 3))
    with pytest.raises(InvalidInputError, match=r"evaluations\[0\]"):
        interpolate([-1] + [0] * (N - 1))


def test_hex_round_trip_tolerates_whitespace_and_prefix():
    blob = felts_to_blobs([5, 6, 7])[0]
    text = blob_to_hex(blob)
    assert len(text) == 2 * BYTES_PER_BLOB and text == text.lower()
    wrapped = "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\n"
    assert blob_from_hex(wrapped) == blob
    assert blob_from_hex("  0x" + text.upper() + " ") == blob


@pytest.mark.parametrize(
    "text, fragment",
    [("zz" * BYTES_PER_BLOB, "invalid character 'z'"), ("abc", "odd number"), ("00" * 100, "got 100")],
)
def test_bad_hex_is_rejected(text, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        blob_from_hex(text)
    with pytest.raises(InvalidInputError, match="expected 131072 bytes"):
        blob_to_hex(b"\x00")
