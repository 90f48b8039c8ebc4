"""Timings of the DA format work one batch does, on the real reference vectors.

Run from the repository root:  python benchmarks/bench_formats.py

Prints readable lines, then as its last line one JSON object with
evaluate_ms_per_blob, interpolate_ms_per_blob, kzg_ms_per_6_blobs,
compression_ratio (and a few more numbers) for CI dashboards.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from orchestrator_pipelines.starknet.blob import (  # noqa: E402
    blob_from_hex,
    evals_from_blob,
    evaluate,
    felts_to_blobs,
    interpolate,
)
from orchestrator_pipelines.starknet.compression import compress  # noqa: E402
from orchestrator_pipelines.starknet.da_encoding import encode_state_diff  # noqa: E402
from orchestrator_pipelines.starknet.felt import BLS_MODULUS  # noqa: E402
from orchestrator_pipelines.starknet.state_update import StateUpdate  # noqa: E402

ENCODED_BLOCKS = (631861, 638353, 640641)
BLOB_BLOCKS = (631861, 638353, 639404, 640641, 640644, 640646, 640647)


def vectors_dir() -> Path:
    override = os.environ.get("ORCHESTRATOR_VECTORS_DIR")
    path = Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"
    if not (path / "README.md").is_file():
        sys.exit(f"reference vectors not found at {path}; set ORCHESTRATOR_VECTORS_DIR")
    return path


def median_ms(work: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def kzg_functions() -> tuple[str, Callable[[bytes], bytes], Callable[[bytes, bytes], bytes], Callable[[bytes, int], object]]:
    """The project's KZG module when present, else ckzg with eth-account's trusted setup."""
    try:
        from orchestrator_pipelines.starknet import kzg

        return "orchestrator_pipelines.starknet.kzg", kzg.blob_to_commitment, kzg.compute_blob_proof, kzg.compute_point_proof
    except ImportError:
        import ckzg
        import eth_account

        setup_file = (
            Path(eth_account.__file__).parent / "typed_transactions" / "blob_transactions" / "kzg_trusted_setup.txt"
        )
        setup = ckzg.load_trusted_setup(str(setup_file), 0)

        def point_proof(blob: bytes, x0: int) -> object:
            return ckzg.compute_kzg_proof(blob, x0.to_bytes(32, "big"), setup)

        return (
            "ckzg",
            lambda blob: ckzg.blob_to_kzg_commitment(blob, setup),
            lambda blob, commitment: ckzg.compute_blob_kzg_proof(blob, commitment, setup),
            point_proof,
        )


def main() -> int:
    vectors = vectors_dir()
    blobs = [blob_from_hex((vectors / "da_legacy" / "blob" / f"{b}.hex").read_text()) for b in BLOB_BLOCKS]
    evals = [evals_from_blob(blob) for blob in blobs]
    coeffs = [interpolate(e) for e in evals]

    interpolate_ms = statistics.median(median_ms(lambda e=e: interpolate(e), 3) for e in evals)
    evaluate_ms = statistics.median(median_ms(lambda c=c: evaluate(c), 3) for c in coeffs)
    print(f"interpolate: {interpolate_ms:.1f} ms per blob (median over {len(evals)} real blobs)")
    print(f"evaluate:    {evaluate_ms:.1f} ms per blob")

    source, commit, blob_proof, point_proof = kzg_functions()
    batch = blobs[:6]
    x0 = 0x2F4A_0001 * 7919 % BLS_MODULUS

    def kzg_batch() -> None:
        for blob in batch:
            commitment = commit(blob)
            blob_proof(blob, commitment)
            point_proof(blob, x0)

    kzg_ms = median_ms(kzg_batch, 3)
    print(f"kzg ({source}): {kzg_ms:.1f} ms for 6 blobs (commitment + blob proof + proof at x_0 each)")

    raw_total = packed_total = 0
    encode_samples = []
    for block in ENCODED_BLOCKS:
        update = StateUpdate.parse(json.loads((vectors / "da_legacy" / "state_update" / f"{block}.json").read_text()))
        start = time.perf_counter()
        raw = encode_state_diff(update.state_diff, None, "0.13.3")
        packed = compress(raw)
        encode_samples.append((time.perf_counter() - start) * 1000)
        raw_total += len(raw)
        packed_total += len(packed)
        print(f"block {block}: {len(raw)} DA felts -> {len(packed)} compressed (0.13.3 layout)")
    ratio = packed_total / raw_total
    print(f"compression ratio: {ratio:.3f} (compressed felts / raw felts)")

    start = time.perf_counter()
    felts_to_blobs(coeffs[0])
    full_blob_ms = (time.perf_counter() - start) * 1000

    print(
        json.dumps(
            {
                "evaluate_ms_per_blob": round(evaluate_ms, 3),
                "interpolate_ms_per_blob": round(interpolate_ms, 3),
                "kzg_ms_per_6_blobs": round(kzg_ms, 3),
                "kzg_source": source,
                "compression_ratio": round(ratio, 4),
                "encode_compress_ms_per_block": round(statistics.median(encode_samples), 3),
                "felts_to_blob_ms": round(full_blob_ms, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
