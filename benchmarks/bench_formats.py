"""Timings of the DA format work one batch does, on the real reference vectors.

Run from the repository root:  python benchmarks/bench_formats.py

Prints readable lines, then as its last line one JSON object with
evaluate_ms_per_blob, interpolate_ms_per_blob, kzg_ms_per_6_blobs,
compression_ratio (and a few more numbers: the KZG work on one CPU, its CPU
time, the trusted setup's load time, the machine's CPUs and load) for CI
dashboards.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from orchestrator_pipelines.starknet import kzg  # noqa: E402
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
from orchestrator_pipelines.starknet.forked_map import usable_cpus  # noqa: E402
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


def cpu_ms() -> float:
    """CPU time of this process and of its finished children (the KZG workers), in ms."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) * 1000


def kzg_numbers(batch: list[bytes], x0: int) -> dict[str, float]:
    """The KZG work of one batch: commitment, blob proof and proof at x_0 of each blob.

    ``kzg_ms_per_6_blobs`` is the wall time of ``kzg.batch_kzg`` (the blobs shared out
    over the CPUs), ``kzg_sequential_ms_per_6_blobs`` the same work on one CPU, and
    ``kzg_cpu_ms_per_6_blobs`` the CPU both spend per batch: wall times stretch when
    other work shares the machine, CPU time does not. Loading the trusted setup is
    once per process and reported apart.
    """
    start = time.perf_counter()
    kzg.trusted_setup()
    load_ms = (time.perf_counter() - start) * 1000
    before = cpu_ms()
    parallel_ms = median_ms(lambda: kzg.batch_kzg(batch, x0), 5)
    parallel_cpu = (cpu_ms() - before) / 5
    before = cpu_ms()
    sequential_ms = median_ms(lambda: kzg.batch_kzg(batch, x0, workers=1), 3)
    sequential_cpu = (cpu_ms() - before) / 3
    return {
        "kzg_ms_per_6_blobs": parallel_ms,
        "kzg_cpu_ms_per_6_blobs": parallel_cpu,
        "kzg_sequential_ms_per_6_blobs": sequential_ms,
        "kzg_sequential_cpu_ms_per_6_blobs": sequential_cpu,
        "kzg_setup_load_ms": load_ms,
    }


def main() -> int:
    vectors = vectors_dir()
    blobs = [blob_from_hex((vectors / "da_legacy" / "blob" / f"{b}.hex").read_text()) for b in BLOB_BLOCKS]
    evals = [evals_from_blob(blob) for blob in blobs]
    coeffs = [interpolate(e) for e in evals]

    interpolate_ms = statistics.median(median_ms(lambda e=e: interpolate(e), 3) for e in evals)
    evaluate_ms = statistics.median(median_ms(lambda c=c: evaluate(c), 3) for c in coeffs)
    print(f"interpolate: {interpolate_ms:.1f} ms per blob (median over {len(evals)} real blobs)")
    print(f"evaluate:    {evaluate_ms:.1f} ms per blob")

    batch = blobs[:6]
    x0 = 0x2F4A_0001 * 7919 % BLS_MODULUS
    numbers = kzg_numbers(batch, x0)
    print(f"kzg trusted setup: loaded in {numbers['kzg_setup_load_ms']:.0f} ms (once per process)")
    print(
        f"kzg: {numbers['kzg_ms_per_6_blobs']:.1f} ms for 6 blobs on {usable_cpus()} CPUs "
        f"({numbers['kzg_cpu_ms_per_6_blobs']:.0f} ms CPU; commitment + blob proof + proof at x_0 each), "
        f"{numbers['kzg_sequential_ms_per_6_blobs']:.1f} ms on one "
        f"({numbers['kzg_sequential_cpu_ms_per_6_blobs']:.0f} ms CPU); load average {os.getloadavg()[0]:.2f}"
    )

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
                **{name: round(value, 3) for name, value in numbers.items()},
                "cpus": usable_cpus(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "compression_ratio": round(ratio, 4),
                "encode_compress_ms_per_block": round(statistics.median(encode_samples), 3),
                "felts_to_blob_ms": round(full_blob_ms, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
