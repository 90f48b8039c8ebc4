"""Calldata of the core contract's ``updateStateKzgDA(uint256[] programOutput, bytes[] kzgProofs)``.

The settlement transaction is a blob transaction whose calldata is the OS output and
one 48-byte KZG proof per blob (the opening at ``x_0``); the contract checks each proof
with the point evaluation precompile against the blob's versioned hash. Also here: the
Atlantic job size for a PIE, picked from its step count.
"""

from __future__ import annotations

from typing import Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError

UPDATE_STATE_KZG_DA_SIGNATURE = "updateStateKzgDA(uint256[],bytes[])"
UPDATE_STATE_KZG_DA_SELECTOR = bytes.fromhex("507ee528")
_ARG_TYPES = ["uint256[]", "bytes[]"]
# updateState(uint256[] programOutput, uint256 onchainDataHash, uint256 onchainDataSize): calldata DA.
UPDATE_STATE_SIGNATURE = "updateState(uint256[],uint256,uint256)"
UPDATE_STATE_SELECTOR = bytes.fromhex("77552641")
KZG_PROOF_BYTES = 48

# Atlantic job sizes by step count (sizes are resource classes; a bigger one also works but costs more).
ATLANTIC_S_MAX_STEPS = 12_999_999
ATLANTIC_M_MAX_STEPS = 29_999_999


def function_selector(signature: str) -> bytes:
    """First four bytes of ``keccak256(signature)``, e.g. ``updateStateKzgDA(uint256[],bytes[])``."""
    return keccak(signature.encode("ascii"))[:4]


def _uint256_words(values: Sequence[int], what: str) -> list[int]:
    words = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
            raise InvalidInputError(f"{what}[{index}]: {value!r} is not a uint256")
        words.append(value)
    return words


def encode_update_state(program_output: Sequence[int], onchain_data_hash: int, onchain_data_size: int) -> bytes:
    """Selector + ABI encoding of ``updateState(programOutput, onchainDataHash, onchainDataSize)``.

    The on-chain-data (calldata DA) variant: the state diff is not in blobs, and the
    proven fact covers the output and the on-chain data, known here by hash and size.
    """
    from eth_abi import encode  # imported on use: most processes loading this module only size Atlantic jobs

    output = _uint256_words(program_output, "programOutput")
    (data_hash, data_size) = _uint256_words([onchain_data_hash, onchain_data_size], "onchainData")
    return UPDATE_STATE_SELECTOR + encode(["uint256[]", "uint256", "uint256"], [output, data_hash, data_size])


def encode_update_state_kzg_da(program_output: Sequence[int], kzg_proofs: Sequence[bytes]) -> bytes:
    """Selector + ABI encoding of ``(programOutput, kzgProofs)``."""
    from eth_abi import encode

    output = _uint256_words(program_output, "programOutput")
    proofs = []
    for index, proof in enumerate(kzg_proofs):
        if not isinstance(proof, (bytes, bytearray)) or len(proof) != KZG_PROOF_BYTES:
            size = len(proof) if isinstance(proof, (bytes, bytearray)) else type(proof).__name__
            raise InvalidInputError(f"kzgProofs[{index}]: expected {KZG_PROOF_BYTES} bytes, got {size}")
        proofs.append(bytes(proof))
    if not proofs:
        raise InvalidInputError("kzgProofs: at least one proof (one per blob) is needed")
    return UPDATE_STATE_KZG_DA_SELECTOR + encode(_ARG_TYPES, [output, proofs])


def decode_update_state_kzg_da(calldata: bytes) -> tuple[list[int], list[bytes]]:
    """Inverse of :func:`encode_update_state_kzg_da`: ``(program_output, kzg_proofs)``."""
    if calldata[:4] != UPDATE_STATE_KZG_DA_SELECTOR:
        raise InvalidInputError(
            f"calldata: selector 0x{bytes(calldata[:4]).hex()} is not updateStateKzgDA (0x{UPDATE_STATE_KZG_DA_SELECTOR.hex()})"
        )
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    try:
        output, proofs = decode(_ARG_TYPES, bytes(calldata[4:]))
    except DecodingError as exc:
        raise InvalidInputError(f"calldata: cannot decode updateStateKzgDA arguments ({exc})") from None
    return list(output), [bytes(p) for p in proofs]


def atlantic_job_size(n_steps: int) -> str:
    """Atlantic ``declaredJobSize`` for a PIE: "S" below 13M steps, "M" below 30M, else "L"."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise InvalidInputError(f"n_steps: {n_steps!r} is not a non-negative integer")
    if n_steps <= ATLANTIC_S_MAX_STEPS:
        return "S"
    if n_steps <= ATLANTIC_M_MAX_STEPS:
        return "M"
    return "L"
