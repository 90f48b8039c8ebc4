"""EIP-4844 KZG commitments and proofs for Starknet DA blobs, and the OS's evaluation point.

The Starknet OS does not see KZG commitments as such: it *guesses* them, mixes them into
a Poseidon hash with the DA data to get the evaluation point ``x_0`` (Fiat-Shamir), and
outputs ``y = p(x_0)`` for each blob. The core contract then checks, with the point
evaluation precompile, that the blob sent with the transaction commits to the same
polynomial: versioned hash of the commitment, and a KZG proof that ``p(x_0) = y``.
This module produces everything the L1 side needs, using ckzg with the standard Ethereum
trusted setup (the copy shipped with eth-account, loaded once per process).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import ckzg
from poseidon_py.poseidon_hash import poseidon_hash, poseidon_hash_many

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import BYTES_PER_BLOB
from orchestrator_pipelines.starknet.felt import BLS_MODULUS, STARK_PRIME
from orchestrator_pipelines.starknet.forked_map import forked_map

BYTES_PER_COMMITMENT = 48
BYTES_PER_PROOF = 48
VERSIONED_HASH_VERSION_KZG = b"\x01"

# The OS carries a 384-bit commitment as two 192-bit felts and a 256-bit y as two 128-bit felts.
COMMITMENT_LIMB_BITS = 192
Y_LIMB_BITS = 128

LAYOUT_V0_13_1 = "v0_13_1"
LAYOUT_V0_13_3 = "v0_13_3"


def _eth_account_dir() -> Path:
    """eth-account's package directory, found without importing it (an import costs ~0.1 s per process)."""
    spec = importlib.util.find_spec("eth_account")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("eth-account is not installed: it ships the KZG trusted setup")
    return Path(list(spec.submodule_search_locations)[0])


TRUSTED_SETUP_PATH = _eth_account_dir() / "typed_transactions" / "blob_transactions" / "kzg_trusted_setup.txt"


# ckzg's precomputation tables only speed up EIP-7594 cell proofs; the EIP-4844
# commitments and proofs made here take the same time with or without them, so
# none are built. Measured here (2 cores): level 8 takes the cell proofs of a blob
# from about 0.35 s to 0.25 s, but adds 0.6 s and about 100 MB to every process
# that loads the setup, most of which never compute a cell proof.
TRUSTED_SETUP_PRECOMPUTE = 0
CELLS_PER_EXT_BLOB = 128


@functools.cache
def trusted_setup() -> Any:
    """The mainnet KZG ceremony output; loading takes a few seconds, so it is done once per process."""
    if not TRUSTED_SETUP_PATH.is_file():
        raise InvalidInputError(f"KZG trusted setup not found at {TRUSTED_SETUP_PATH}")
    return ckzg.load_trusted_setup(str(TRUSTED_SETUP_PATH), TRUSTED_SETUP_PRECOMPUTE)


def _check_blob(blob: bytes) -> bytes:
    if not isinstance(blob, (bytes, bytearray)) or len(blob) != BYTES_PER_BLOB:
        size = len(blob) if isinstance(blob, (bytes, bytearray)) else type(blob).__name__
        raise InvalidInputError(f"blob: expected {BYTES_PER_BLOB} bytes, got {size}")
    return bytes(blob)


def _check_point(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != BYTES_PER_COMMITMENT:
        size = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise InvalidInputError(f"{what}: expected {BYTES_PER_COMMITMENT} bytes, got {size}")
    return bytes(value)


def _scalar_bytes(value: int, what: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value < BLS_MODULUS:
        raise InvalidInputError(f"{what}: {value!r} is not a BLS12-381 scalar (0 <= v < modulus)")
    return value.to_bytes(32, "big")


def blob_to_commitment(blob: bytes) -> bytes:
    """The 48-byte KZG commitment of a blob (the blob is in evaluation form)."""
    blob = _check_blob(blob)
    try:
        return bytes(ckzg.blob_to_kzg_commitment(blob, trusted_setup()))
    except RuntimeError:
        raise InvalidInputError(
            "blob: a 32-byte field element is not below the BLS12-381 modulus"
        ) from None


def compute_blob_proof(blob: bytes, commitment: bytes) -> bytes:
    """The EIP-4844 blob proof (``compute_blob_kzg_proof``) that a blob transaction carries."""
    blob = _check_blob(blob)
    commitment = _check_point(commitment, "commitment")
    try:
        return bytes(ckzg.compute_blob_kzg_proof(blob, commitment, trusted_setup()))
    except RuntimeError:
        raise InvalidInputError(
            "blob proof: blob has a non-canonical field element or commitment is not a valid G1 point"
        ) from None


def compute_cell_proofs(blob: bytes) -> list[bytes]:
    """The 128 EIP-7594 cell proofs of a blob, which a blob transaction's sidecar carries since Osaka."""
    blob = _check_blob(blob)
    try:
        _cells, proofs = ckzg.compute_cells_and_kzg_proofs(blob, trusted_setup())
    except RuntimeError:
        raise InvalidInputError(
            "blob: a 32-byte field element is not below the BLS12-381 modulus"
        ) from None
    return [bytes(proof) for proof in proofs]


def verify_blob_proof(blob: bytes, commitment: bytes, proof: bytes) -> bool:
    """True when ``proof`` is the blob proof of ``blob`` against ``commitment``.

    Malformed points (not on the curve) are bad input, not a failed check: they raise.
    """
    blob = _check_blob(blob)
    commitment = _check_point(commitment, "commitment")
    proof = _check_point(proof, "proof")
    try:
        return bool(ckzg.verify_blob_kzg_proof(blob, commitment, proof, trusted_setup()))
    except RuntimeError:
        raise InvalidInputError(
            "blob proof check: commitment or proof is not a valid compressed G1 point"
        ) from None


def compute_point_proof(blob: bytes, x0: int) -> tuple[bytes, int]:
    """KZG opening of the blob polynomial at ``x0``: ``(proof, y)`` with ``y = p(x0)``.

    This is the proof the core contract passes to the point evaluation precompile in
    ``updateStateKzgDA`` (one per blob, in ``kzgProofs``).
    """
    blob = _check_blob(blob)
    z = _scalar_bytes(x0, "x0")
    try:
        proof, y = ckzg.compute_kzg_proof(blob, z, trusted_setup())
    except RuntimeError:
        raise InvalidInputError(
            "blob: a 32-byte field element is not below the BLS12-381 modulus"
        ) from None
    return bytes(proof), int.from_bytes(y, "big")


def verify_point_proof(commitment: bytes, x0: int, y: int, proof: bytes) -> bool:
    """True when ``proof`` shows that the polynomial committed to takes value ``y`` at ``x0``."""
    commitment = _check_point(commitment, "commitment")
    proof = _check_point(proof, "proof")
    z = _scalar_bytes(x0, "x0")
    y_bytes = _scalar_bytes(y, "y")
    try:
        return bool(ckzg.verify_kzg_proof(commitment, z, y_bytes, proof, trusted_setup()))
    except RuntimeError:
        raise InvalidInputError(
            "point proof check: commitment or proof is not a valid compressed G1 point"
        ) from None


@dataclass(frozen=True)
class BlobKzg:
    """Everything L1 needs about one blob of a batch.

    ``commitment`` (its versioned hash goes in the transaction) and ``blob_proof``
    travel in the blob transaction's sidecar; ``point_proof`` and ``y = p(x_0)`` are
    the opening the core contract checks with the point evaluation precompile.
    """

    commitment: bytes
    blob_proof: bytes
    point_proof: bytes
    y: int


def blob_kzg(blob: bytes, x0: int) -> BlobKzg:
    """The commitment, blob proof and opening at ``x0`` of one blob.

    Each of the three is one multi-scalar multiplication over the 4096 setup points
    (about 55 ms of CPU here); the commitment is computed once and the blob proof
    is derived from it, never from a second commitment.
    """
    commitment = blob_to_commitment(blob)
    point_proof, y = compute_point_proof(blob, x0)
    return BlobKzg(commitment=commitment, blob_proof=compute_blob_proof(blob, commitment), point_proof=point_proof, y=y)


def _indexed_blob_kzg(item: tuple[int, bytes], x0: int) -> BlobKzg:
    index, blob = item
    try:
        return blob_kzg(blob, x0)
    except InvalidInputError as exc:
        raise InvalidInputError(f"blob {index}: {exc}") from None


def batch_kzg(blobs: Sequence[bytes], x0: int, workers: int | None = None) -> list[BlobKzg]:
    """:func:`blob_kzg` of every blob of a batch, in order, the blobs shared out over the CPUs.

    ckzg keeps the GIL while it computes, so the blobs go to forked worker processes
    (:func:`~orchestrator_pipelines.starknet.forked_map.forked_map`); the trusted
    setup is loaded here first, so that every worker inherits it instead of loading
    it again. ``workers`` defaults to the CPUs this process may use; 1 computes in
    this process. Bad input is reported before any work starts, except a field
    element above the modulus, which is named with its blob's index.
    """
    checked = [_check_blob(blob) for blob in blobs]
    _scalar_bytes(x0, "x0")
    if not checked:
        return []
    trusted_setup()
    return forked_map(functools.partial(_indexed_blob_kzg, x0=x0), enumerate(checked), workers)


@dataclass(frozen=True)
class BlobSidecar:
    """What a blob transaction's network wrapper carries besides the blobs themselves.

    ``blob_proofs`` (one per blob) go in the version-0 wrapper (EIP-4844),
    ``cell_proofs`` (``CELLS_PER_EXT_BLOB`` per blob) in version 1 (EIP-7594). Either may be
    None, to be computed when a broadcast needs it. Computing them where the blobs
    are built, and storing them, lets the process that sends the transaction pick the
    wrapper at broadcast time without loading the trusted setup (a few CPU-seconds).
    """

    commitments: list[bytes]
    blob_proofs: list[bytes] | None = None
    cell_proofs: list[list[bytes]] | None = None

    def __post_init__(self) -> None:
        for i, commitment in enumerate(self.commitments):
            _check_point(commitment, f"sidecar commitment {i}")
        count = len(self.commitments)
        if self.blob_proofs is not None:
            if len(self.blob_proofs) != count:
                raise InvalidInputError(f"sidecar: {len(self.blob_proofs)} blob proofs for {count} commitments")
            for i, proof in enumerate(self.blob_proofs):
                _check_point(proof, f"sidecar blob proof {i}")
        if self.cell_proofs is not None:
            if len(self.cell_proofs) != count:
                raise InvalidInputError(f"sidecar: cell proofs of {len(self.cell_proofs)} blobs for {count} commitments")
            for i, proofs in enumerate(self.cell_proofs):
                if len(proofs) != CELLS_PER_EXT_BLOB:
                    raise InvalidInputError(f"sidecar: blob {i} has {len(proofs)} cell proofs, expected {CELLS_PER_EXT_BLOB}")
                for proof in proofs:
                    _check_point(proof, f"sidecar cell proof of blob {i}")

    def to_json(self) -> dict[str, Any]:
        """Hex strings, as the ``kzg.json`` artifact stores them."""
        return {
            "commitments": ["0x" + c.hex() for c in self.commitments],
            "blob_proofs": None if self.blob_proofs is None else ["0x" + p.hex() for p in self.blob_proofs],
            "cell_proofs": None
            if self.cell_proofs is None
            else [["0x" + p.hex() for p in proofs] for proofs in self.cell_proofs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BlobSidecar":
        def raw(value: str) -> bytes:
            return bytes.fromhex(value.removeprefix("0x"))

        blob_proofs = data.get("blob_proofs")
        cell_proofs = data.get("cell_proofs")
        return cls(
            commitments=[raw(c) for c in data["commitments"]],
            blob_proofs=None if blob_proofs is None else [raw(p) for p in blob_proofs],
            cell_proofs=None if cell_proofs is None else [[raw(p) for p in proofs] for proofs in cell_proofs],
        )


def blob_sidecar(blobs: Sequence[bytes], commitments: Sequence[bytes] | None = None) -> BlobSidecar:
    """The full sidecar of ``blobs`` (commitments, blob proofs and cell proofs), for either wrapper version.

    ``commitments`` already computed for these blobs are reused, not recomputed.
    """
    checked = [_check_blob(blob) for blob in blobs]
    if commitments is None:
        commitments = [blob_to_commitment(blob) for blob in checked]
    if len(commitments) != len(checked):
        raise InvalidInputError(f"{len(commitments)} commitments for {len(checked)} blobs")
    commitments = [bytes(c) for c in commitments]
    return BlobSidecar(
        commitments=commitments,
        blob_proofs=[compute_blob_proof(blob, c) for blob, c in zip(checked, commitments)],
        cell_proofs=[compute_cell_proofs(blob) for blob in checked],
    )


def versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 versioned hash: ``0x01 || sha256(commitment)[1:]`` (what BLOBHASH returns)."""
    commitment = _check_point(commitment, "commitment")
    return VERSIONED_HASH_VERSION_KZG + hashlib.sha256(commitment).digest()[1:]


def commitment_to_limbs(commitment: bytes) -> tuple[int, int]:
    """Split a 48-byte commitment into the OS output's ``(low, high)`` 192-bit limbs."""
    value = int.from_bytes(_check_point(commitment, "commitment"), "big")
    return value & ((1 << COMMITMENT_LIMB_BITS) - 1), value >> COMMITMENT_LIMB_BITS


def commitment_from_limbs(low: int, high: int) -> bytes:
    """Join the OS output's two 192-bit limbs back into the 48-byte commitment."""
    for name, limb in (("low", low), ("high", high)):
        if not isinstance(limb, int) or not 0 <= limb < 1 << COMMITMENT_LIMB_BITS:
            raise InvalidInputError(f"commitment {name} limb: {limb!r} is not a 192-bit value")
    return ((high << COMMITMENT_LIMB_BITS) | low).to_bytes(BYTES_PER_COMMITMENT, "big")


def y_to_limbs(y: int) -> tuple[int, int]:
    """Split ``y = p(x_0)`` into the OS output's ``(low, high)`` 128-bit limbs."""
    _scalar_bytes(y, "y")
    return y & ((1 << Y_LIMB_BITS) - 1), y >> Y_LIMB_BITS


def y_from_limbs(low: int, high: int) -> int:
    """Join the OS output's two 128-bit limbs back into ``y``."""
    for name, limb in (("low", low), ("high", high)):
        if not isinstance(limb, int) or not 0 <= limb < 1 << Y_LIMB_BITS:
            raise InvalidInputError(f"y {name} limb: {limb!r} is not a 128-bit value")
    y = (high << Y_LIMB_BITS) | low
    if y >= BLS_MODULUS:
        raise InvalidInputError(f"y: {y:#x} is not below the BLS12-381 modulus")
    return y


def starknet_x0(
    blob_felts: Sequence[int],
    commitment: bytes | Sequence[bytes],
    layout: str = LAYOUT_V0_13_3,
) -> int:
    """The evaluation point ``x_0`` (the OS's ``z``) for the DA felts and their commitments.

    ``z = Poseidon(PoseidonMany(da_felts), H(commitment limbs))``, where ``da_felts`` are
    the DA felts exactly as the OS wrote them (all blobs' worth, *without* the zero padding
    that fills the last blob: trailing zeros change the hash, so a blob alone does not
    determine ``x_0``), and the commitments contribute their ``(low, high)`` 192-bit limbs:
    - Starknet 0.13.3+ (``layout="v0_13_3"``): ``PoseidonMany(low_0, high_0, low_1, ...)``
      over all blobs (cairo-lang ``data_availability/commitment.cairo``);
    - Starknet 0.13.1-0.13.2 (``layout="v0_13_1"``, one blob): the two-input
      ``Poseidon(low, high)``.
    Both are checked against mainnet settlements in the reference vectors.
    """
    commitments = [commitment] if isinstance(commitment, (bytes, bytearray)) else list(commitment)
    if not commitments:
        raise InvalidInputError("starknet_x0: at least one commitment is needed")
    felts = list(blob_felts)
    for index, felt in enumerate(felts):
        if not isinstance(felt, int) or not 0 <= felt < STARK_PRIME:
            raise InvalidInputError(f"starknet_x0: DA felt {index} ({felt!r}) is not a Starknet felt")
    limbs: list[int] = []
    for c in commitments:
        limbs.extend(commitment_to_limbs(c))
    if layout == LAYOUT_V0_13_3:
        commitment_hash = poseidon_hash_many(limbs)
    elif layout == LAYOUT_V0_13_1:
        if len(commitments) != 1:
            raise InvalidInputError(
                f"starknet_x0: layout {LAYOUT_V0_13_1} has exactly one blob, got {len(commitments)} commitments"
            )
        commitment_hash = poseidon_hash(limbs[0], limbs[1])
    else:
        raise InvalidInputError(
            f"starknet_x0: unknown layout {layout!r} (expected {LAYOUT_V0_13_1!r} or {LAYOUT_V0_13_3!r})"
        )
    return poseidon_hash(poseidon_hash_many(felts), commitment_hash)
