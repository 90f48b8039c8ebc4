"""Settleable Starknet 0.13.3+ OS outputs for arbitrary blobs, without running SNOS.

Checking the L1 side on its own (the core contract, the settlement client, a
fresh devnet) needs an ``updateStateKzgDA`` input that the contract accepts:
a program output whose KZG segment matches real blobs, plus the SHARP fact to
register for it. This module builds exactly that from blobs and a state
transition, with the KZG proofs computed by c-kzg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from orchestrator_pipelines.starknet.facts import fact as sharp_fact_of
from orchestrator_pipelines.starknet.facts import output_root
from orchestrator_pipelines.starknet.kzg import (
    blob_to_commitment,
    commitment_to_limbs,
    compute_point_proof,
    y_to_limbs,
)

BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
FIELD_ELEMENTS_PER_BLOB = 4096
BLOB_SIZE = 32 * FIELD_ELEMENTS_PER_BLOB


@dataclass(frozen=True)
class KzgSettlementInput:
    program_output: list[int]
    kzg_proofs: list[bytes]
    blobs: list[bytes]
    fact: bytes


def random_blob(rng_bytes: bytes | None = None) -> bytes:
    """A valid blob: 4096 scalars below the BLS12-381 modulus (from ``rng_bytes`` or os.urandom)."""
    raw = rng_bytes if rng_bytes is not None else os.urandom(BLOB_SIZE)
    if len(raw) != BLOB_SIZE:
        raise ValueError(f"random_blob needs {BLOB_SIZE} bytes, got {len(raw)}")
    out = bytearray()
    for i in range(FIELD_ELEMENTS_PER_BLOB):
        value = int.from_bytes(raw[32 * i : 32 * i + 32], "big") % BLS_MODULUS
        out += value.to_bytes(32, "big")
    return bytes(out)


def sharp_fact(program_hash: int, program_output: Sequence[int]) -> bytes:
    """keccak256(program_hash || keccak256(output words)): what the core contract asks the registry."""
    return sharp_fact_of(program_hash, output_root(program_output))


def build_kzg_settlement_input(
    blobs: Sequence[bytes],
    *,
    prev_root: int,
    new_root: int,
    prev_block_number: int,
    new_block_number: int,
    prev_block_hash: int,
    new_block_hash: int,
    program_hash: int,
    config_hash: int,
    os_program_hash: int = 0,
    x_0: int = 0x1234567890ABCDEF,
    messages_to_l1: Sequence[int] = (),
    messages_to_l2: Sequence[int] = (),
) -> KzgSettlementInput:
    """Program output in the 0.13.3+ layout for ``blobs``, with each blob's proof at ``x_0``.

    ``program_hash`` is the one the fact is computed under. ``os_program_hash`` is the
    output's word 6: 0 for a direct OS run (the fact's program is the OS, checked
    against ``programHash``), the OS program hash for an aggregator run (the fact's
    program is the aggregator, checked against ``aggregatorProgramHash``).
    """
    z = x_0 % BLS_MODULUS
    commitments: list[int] = []
    evaluations: list[int] = []
    proofs: list[bytes] = []
    for blob in blobs:
        commitments += commitment_to_limbs(blob_to_commitment(bytes(blob)))
        proof, y = compute_point_proof(bytes(blob), z)
        evaluations += y_to_limbs(y)
        proofs.append(proof)
    output = [
        prev_root,
        new_root,
        prev_block_number,
        new_block_number,
        prev_block_hash,
        new_block_hash,
        os_program_hash,
        config_hash,
        1,  # use_kzg_da
        0,  # full_output
        z,
        len(blobs),
        *commitments,
        *evaluations,
        len(messages_to_l1),
        *messages_to_l1,
        len(messages_to_l2),
        *messages_to_l2,
    ]
    return KzgSettlementInput(
        program_output=output,
        kzg_proofs=proofs,
        blobs=[bytes(b) for b in blobs],
        fact=sharp_fact(program_hash, output),
    )
