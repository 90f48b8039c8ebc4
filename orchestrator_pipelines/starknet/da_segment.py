"""Settling from the prover's DA segment (Atlantic's ``da_blob.json``).

With aggregation the prover, not the orchestrator, decides the DA felts: the aggregator
commits to them (``x_0``, one commitment and one ``y`` per blob in its output) and hands
them back as the DA segment, a JSON list of felts. The orchestrator turns that segment
into blobs (split into 4096-felt chunks, the last one zero-padded, evaluated) and, before
anything is sent, opens every blob at ``x_0`` against the output's commitments and
``y`` values, and recomputes ``x_0`` itself from the segment and the commitments. The
segment may be encrypted DA (``DA_PUBLIC_KEYS``): then it cannot be rebuilt from the
state diff, but it is still exactly what the output commits to, and is settled as received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.blob import DEFAULT_MAX_BLOBS, felts_to_blobs
from orchestrator_pipelines.starknet.felt import felt_hex, parse_felt
from orchestrator_pipelines.starknet.kzg import LAYOUT_V0_13_3, blob_to_commitment, compute_point_proof, starknet_x0
from orchestrator_pipelines.starknet.os_output import OsOutput

# A DA segment bigger than this many felts is refused before it is parsed (far above
# the blob limit of any L1: 64 blobs of 4096 felts).
MAX_SEGMENT_FELTS = 64 * 4096


def parse_da_segment(obj: Any, source: str = "DA segment") -> list[int]:
    """The felts of a DA segment given as a JSON list of ``0x`` hex strings, decimals or integers.

    Also accepted: an object with the list under ``"da_segment"`` or ``"data"``.
    """
    if isinstance(obj, dict):
        for key in ("da_segment", "data"):
            if key in obj:
                obj = obj[key]
                break
        else:
            raise InvalidInputError(f"{source}: expected a JSON list of felts (or an object with 'da_segment')")
    if not isinstance(obj, list):
        raise InvalidInputError(f"{source}: expected a JSON list of felts, got {type(obj).__name__}")
    if len(obj) > MAX_SEGMENT_FELTS:
        raise InvalidInputError(f"{source}: {len(obj)} felts, more than the {MAX_SEGMENT_FELTS} any blob limit allows")
    return [parse_felt(value, f"{source}[{index}]") for index, value in enumerate(obj)]


def read_da_segment(path: str | Path) -> list[int]:
    """Read a ``da_blob.json`` / ``da_segment.json`` file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SEGMENT_FELTS * 80:
            raise InvalidInputError(f"{path}: {size} bytes, too large for a DA segment")
        text = path.read_text()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a JSON text file") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_da_segment(obj, str(path))


def da_segment_json(felts: Sequence[int]) -> str:
    """The segment as the prover writes it: a JSON list of ``0x`` hex felts."""
    return json.dumps([felt_hex(int(v)) for v in felts], indent=2) + "\n"


def segment_blobs(felts: Sequence[int], max_blobs: int = DEFAULT_MAX_BLOBS) -> list[bytes]:
    """The blobs carrying a DA segment: 4096-felt chunks, the last zero-padded, evaluated."""
    if not felts:
        raise InvalidInputError("DA segment is empty: there is nothing to put in a blob")
    return felts_to_blobs(list(felts), max_blobs=max_blobs)


@dataclass(frozen=True)
class SegmentOpening:
    """A DA segment's blobs, checked against the output that commits to them."""

    blobs: list[bytes]
    commitments: list[bytes]
    x0: int
    y_values: list[int]


def open_segment_against_output(
    out: OsOutput, felts: Sequence[int], max_blobs: int = DEFAULT_MAX_BLOBS
) -> SegmentOpening:
    """Blobs of the segment, refused unless they are exactly what ``out`` commits to.

    Checks, in order: the number of blobs, each blob's KZG commitment, ``x_0`` recomputed
    from the segment and the commitments (the OS's Fiat-Shamir point), and each
    ``p_i(x_0) = y_i``. Raises :class:`OrchestratorError` naming the first mismatch.
    """
    if out.kzg is None:
        raise OrchestratorError("OS output has no KZG segment (use_kzg_da = 0): its DA is not in blobs")
    blobs = segment_blobs(felts, max_blobs=max(max_blobs, out.kzg.n_blobs))
    if len(blobs) != out.kzg.n_blobs:
        raise OrchestratorError(
            f"DA segment of {len(felts)} felts makes {len(blobs)} blobs, the output commits to {out.kzg.n_blobs}"
        )
    commitments = []
    for index, blob in enumerate(blobs):
        commitment = blob_to_commitment(blob)
        if commitment != out.kzg.commitments[index]:
            raise OrchestratorError(
                f"blob {index}: KZG commitment 0x{commitment.hex()} differs from the output's "
                f"0x{out.kzg.commitments[index].hex()}"
            )
        commitments.append(commitment)
    x0 = starknet_x0(list(felts), commitments, LAYOUT_V0_13_3)
    if x0 != out.kzg.x0:
        raise OrchestratorError(f"x_0 of the DA segment is {x0:#x}, the output's is {out.kzg.x0:#x}")
    y_values = []
    for index, blob in enumerate(blobs):
        _, y = compute_point_proof(blob, x0)
        if y != out.kzg.y_values[index]:
            raise OrchestratorError(
                f"blob {index}: p(x_0) = {y:#x} differs from the output's y = {out.kzg.y_values[index]:#x}"
            )
        y_values.append(y)
    return SegmentOpening(blobs=blobs, commitments=commitments, x0=x0, y_values=y_values)
