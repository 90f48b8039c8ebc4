"""Prover inputs and the stand-in proofs the fake provers make and the API checks.

The server hands out a prover input as a base64 string of little-endian u32
words and receives proofs as base64 bytes. Real FRI proofs are checked by the
server against the batch's expected output registers; no real prover runs
here, so the API accepts exactly the stand-in proofs below, each bound to what
it proves (a FRI proof to the prover input, a SNARK proof to the FRI proofs of
its range), and refuses anything else as the server refuses a proof that does
not verify.
"""

from __future__ import annotations

import base64
import binascii

from eth_utils import keccak

from orchestrator_pipelines.errors import InvalidInputError

FAKE_FRI_TAG = b"zkos-stand-in-fri-v1"
FAKE_SNARK_TAG = b"zkos-stand-in-snark-v1"


def encode_words(words: list[int]) -> str:
    """Base64 of the little-endian u32 words, as the server sends a prover input."""
    for word in words:
        if not 0 <= word < 2**32:
            raise InvalidInputError(f"prover input word {word} does not fit in u32")
    return base64.b64encode(b"".join(word.to_bytes(4, "little") for word in words)).decode()


def decode_words(encoded: str) -> list[int]:
    raw = decode_b64(encoded, "prover input")
    if len(raw) % 4:
        raise InvalidInputError(f"prover input is {len(raw)} bytes, not a whole number of u32 words")
    return [int.from_bytes(raw[i : i + 4], "little") for i in range(0, len(raw), 4)]


def decode_b64(encoded: str, what: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"invalid base64 in {what}: {exc}") from None


def fake_fri_proof(prover_input_b64: str) -> str:
    """The stand-in FRI proof of a prover input (base64)."""
    digest = keccak(FAKE_FRI_TAG + decode_b64(prover_input_b64, "prover input"))
    return base64.b64encode(FAKE_FRI_TAG + digest).decode()


def fake_snark_proof(batch_from: int, batch_to: int, fri_proofs_b64: list[str]) -> str:
    """The stand-in SNARK proof aggregating the FRI proofs of ``batch_from..=batch_to`` (base64)."""
    preimage = FAKE_SNARK_TAG + batch_from.to_bytes(8, "big") + batch_to.to_bytes(8, "big")
    for proof in fri_proofs_b64:
        preimage += keccak(decode_b64(proof, "FRI proof"))
    return base64.b64encode(FAKE_SNARK_TAG + keccak(preimage)).decode()


def fri_proof_verifies(prover_input_b64: str, proof_b64: str) -> bool:
    return proof_b64 == fake_fri_proof(prover_input_b64)


def snark_proof_verifies(batch_from: int, batch_to: int, fri_proofs_b64: list[str], proof_b64: str) -> bool:
    return proof_b64 == fake_snark_proof(batch_from, batch_to, fri_proofs_b64)
