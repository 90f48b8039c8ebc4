"""``orchestrator kzg``: KZG commitment and proofs of a blob file, as L1 will check them.

``kzg commit`` prints what a blob transaction carries for the blob (commitment,
versioned hash, EIP-4844 blob proof); ``kzg proof`` prints the opening at ``x_0`` that
``updateStateKzgDA`` passes in ``kzgProofs``, and ``y = p(x_0)`` to compare with the OS output.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.kzg import (
    blob_to_commitment,
    compute_blob_proof,
    compute_point_proof,
    versioned_hash,
)


def register(subparsers: Any) -> None:
    kzg = subparsers.add_parser("kzg", help="KZG commitment, versioned hash and proofs of a blob file")
    kzg_sub = kzg.add_subparsers(dest="kzg_command", required=True, metavar="SUBCOMMAND")

    commit = kzg_sub.add_parser("commit", help="print commitment, versioned hash and blob proof")
    commit.add_argument("--blob", required=True, type=Path, metavar="BLOB.hex", help="131072 bytes as hex")
    commit.set_defaults(func=run_commit)

    proof = kzg_sub.add_parser("proof", help="print the KZG proof at x0 and y = p(x0)")
    proof.add_argument("--blob", required=True, type=Path, metavar="BLOB.hex", help="131072 bytes as hex")
    proof.add_argument("--x0", required=True, metavar="0x...", help="evaluation point, hex (0x...) or decimal")
    proof.set_defaults(func=run_proof)


def _read_blob(path: Path) -> bytes:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a hex text file") from None
    try:
        return blob_from_hex(text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None


def _parse_x0(text: str) -> int:
    value = text.strip()
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise InvalidInputError(f"--x0: {text!r} is not a hex (0x...) or decimal number") from None


def run_commit(args: argparse.Namespace) -> int:
    blob = _read_blob(args.blob)
    commitment = blob_to_commitment(blob)
    print(f"commitment: 0x{commitment.hex()}")
    print(f"versioned_hash: 0x{versioned_hash(commitment).hex()}")
    print(f"blob_proof: 0x{compute_blob_proof(blob, commitment).hex()}")
    return 0


def run_proof(args: argparse.Namespace) -> int:
    x0 = _parse_x0(args.x0)
    blob = _read_blob(args.blob)
    proof, y = compute_point_proof(blob, x0)
    print(f"proof: 0x{proof.hex()}")
    print(f"y: {y:#066x}")
    return 0
