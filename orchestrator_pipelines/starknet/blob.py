"""EIP-4844 blobs of Starknet DA data: felts <-> polynomial evaluations.

Starknet treats the DA felts as the coefficients of a polynomial of degree
< 4096 and posts its evaluations on the EIP-4844 evaluation domain (the
4096th roots of unity in bit-reversed order). The KZG commitment of that
blob is what the OS commits to, so this transform has to be exact; it also
has to be fast, since every batch runs it once per blob in each direction.

The transform is an iterative radix-2 number-theoretic transform over the
BLS12-381 scalar field with precomputed twiddles: decimation in frequency
takes coefficients in natural order and yields evaluations in bit-reversed
order, which is exactly the blob layout, so no permutation is needed.
"""

from __future__ import annotations

import re
from typing import Sequence

from orchestrator_pipelines.errors import InvalidInputError, TooManyBlobsError
from orchestrator_pipelines.starknet.felt import BLS_MODULUS

FIELD_ELEMENTS_PER_BLOB = 4096
BYTES_PER_FIELD_ELEMENT = 32
BYTES_PER_BLOB = FIELD_ELEMENTS_PER_BLOB * BYTES_PER_FIELD_ELEMENT
DEFAULT_MAX_BLOBS = 6

# The primitive 4096th root of unity of the EIP-4844 evaluation domain.
OMEGA = 39033254847818212395286706435128746857159659164139250548781411570340225835782

_LOG_N = FIELD_ELEMENTS_PER_BLOB.bit_length() - 1


def _powers(base: int, count: int) -> list[int]:
    out = [1] * count
    for index in range(1, count):
        out[index] = out[index - 1] * base % BLS_MODULUS
    return out


# Twiddles for the butterflies of length 2*half: omega_n^(j * n/(2*half)), j < half.
_FORWARD = _powers(OMEGA, FIELD_ELEMENTS_PER_BLOB // 2)
_INVERSE = _powers(pow(OMEGA, -1, BLS_MODULUS), FIELD_ELEMENTS_PER_BLOB // 2)
_N_INVERSE = pow(FIELD_ELEMENTS_PER_BLOB, -1, BLS_MODULUS)


def bit_reverse(index: int, bits: int = _LOG_N) -> int:
    """``index`` with its lowest ``bits`` bits in reverse order."""
    return int(format(index, f"0{bits}b")[::-1], 2)


def _check_scalars(values: Sequence[int], what: str) -> list[int]:
    if len(values) != FIELD_ELEMENTS_PER_BLOB:
        raise InvalidInputError(f"{what}: expected {FIELD_ELEMENTS_PER_BLOB} values, got {len(values)}")
    out = list(values)
    for index, value in enumerate(out):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < BLS_MODULUS:
            raise InvalidInputError(f"{what}[{index}]: not a BLS12-381 scalar: {value!r}")
    return out


def evaluate(coeffs: Sequence[int]) -> list[int]:
    """Evaluations of the polynomial with these 4096 coefficients at omega^bitrev12(i)."""
    a = _check_scalars(coeffs, "coefficients")
    p = BLS_MODULUS
    n = FIELD_ELEMENTS_PER_BLOB
    half = n // 2
    while half >= 1:
        stride = n // (2 * half)
        twiddles = _FORWARD[::stride][:half]
        for start in range(0, n, 2 * half):
            for j in range(half):
                i, k = start + j, start + j + half
                x, y = a[i], a[k]
                a[i] = (x + y) % p
                a[k] = (x - y) * twiddles[j] % p
        half //= 2
    return a


def interpolate(evals: Sequence[int]) -> list[int]:
    """Coefficients of the polynomial whose blob-order evaluations are ``evals``."""
    a = _check_scalars(evals, "evaluations")
    p = BLS_MODULUS
    n = FIELD_ELEMENTS_PER_BLOB
    half = 1
    while half < n:
        stride = n // (2 * half)
        twiddles = _INVERSE[::stride][:half]
        for start in range(0, n, 2 * half):
            for j in range(half):
                i, k = start + j, start + j + half
                x, y = a[i], a[k] * twiddles[j] % p
                a[i] = (x + y) % p
                a[k] = (x - y) % p
        half *= 2
    inv = _N_INVERSE
    return [value * inv % p for value in a]


def evaluate_at(coeffs: Sequence[int], x: int) -> int:
    """``p(x)`` mod the BLS12-381 scalar modulus for ``p`` with these coefficients (Horner).

    The value the OS outputs as ``y`` for a blob: its DA felts are the coefficients,
    ``x`` is ``x_0``. Any number of coefficients; missing high ones are zeros.
    """
    acc = 0
    for coefficient in reversed(coeffs):
        acc = (acc * x + coefficient) % BLS_MODULUS
    return acc


def blob_from_evals(evals: Sequence[int]) -> bytes:
    """The 131072-byte blob: each evaluation as a 32-byte big-endian scalar."""
    values = _check_scalars(evals, "evaluations")
    return b"".join(value.to_bytes(BYTES_PER_FIELD_ELEMENT, "big") for value in values)


def evals_from_blob(blob: bytes) -> list[int]:
    """The 4096 scalars of a blob; rejects wrong lengths and non-canonical scalars."""
    if len(blob) != BYTES_PER_BLOB:
        raise InvalidInputError(f"blob: expected {BYTES_PER_BLOB} bytes, got {len(blob)}")
    values = []
    for index in range(FIELD_ELEMENTS_PER_BLOB):
        word = blob[index * BYTES_PER_FIELD_ELEMENT : (index + 1) * BYTES_PER_FIELD_ELEMENT]
        value = int.from_bytes(word, "big")
        if value >= BLS_MODULUS:
            raise InvalidInputError(
                f"blob: field element {index} (bytes {index * BYTES_PER_FIELD_ELEMENT}..) is not below "
                f"the BLS12-381 modulus"
            )
        values.append(value)
    return values


def blobs_needed(n_felts: int) -> int:
    """How many blobs ``n_felts`` DA felts take."""
    return -(-n_felts // FIELD_ELEMENTS_PER_BLOB)


def felts_to_blobs(felts: Sequence[int], max_blobs: int = DEFAULT_MAX_BLOBS) -> list[bytes]:
    """Split felts into 4096-coefficient chunks (last one zero-padded) and evaluate each."""
    needed = blobs_needed(len(felts))
    if needed > max_blobs:
        raise TooManyBlobsError(needed, max_blobs)
    blobs = []
    for start in range(0, len(felts), FIELD_ELEMENTS_PER_BLOB):
        chunk = list(felts[start : start + FIELD_ELEMENTS_PER_BLOB])
        chunk += [0] * (FIELD_ELEMENTS_PER_BLOB - len(chunk))
        blobs.append(blob_from_evals(evaluate(chunk)))
    return blobs


def blobs_to_felts(blobs: Sequence[bytes]) -> list[int]:
    """Interpolate each blob and concatenate; the zero padding of the last blob is kept."""
    felts: list[int] = []
    for blob in blobs:
        felts += interpolate(evals_from_blob(blob))
    return felts


_WHITESPACE = re.compile(r"\s+")


def blob_from_hex(text: str) -> bytes:
    """Parse a blob written as hex (no 0x needed; whitespace and newlines ignored)."""
    cleaned = _WHITESPACE.sub("", text)
    if cleaned[:2] in ("0x", "0X"):
        cleaned = cleaned[2:]
    try:
        blob = bytes.fromhex(cleaned)
    except ValueError:
        bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), None)
        detail = f"invalid character {bad!r}" if bad is not None else "odd number of hex digits"
        raise InvalidInputError(f"blob hex: {detail}") from None
    if len(blob) != BYTES_PER_BLOB:
        raise InvalidInputError(f"blob hex: expected {BYTES_PER_BLOB} bytes, got {len(blob)}")
    return blob


def blob_to_hex(blob: bytes) -> str:
    """Lowercase hex without 0x, the format of the reference blob files."""
    if len(blob) != BYTES_PER_BLOB:
        raise InvalidInputError(f"blob: expected {BYTES_PER_BLOB} bytes, got {len(blob)}")
    return blob.hex()
