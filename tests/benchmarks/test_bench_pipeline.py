"""``make bench-pipeline`` end to end on a few blocks: both modes, both pipelines settle, report, leave nothing behind.

The bench's JSON line holds the figures of every block rate it measured and, under
the rate's key (``2bps`` for ``--block-time 0.5``), that rate's detail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "benchmarks" / "bench_pipeline.py"
ASSETS = ("batch", "snos_output", "da_blob", "proof_request", "proof", "state_update")
AGGREGATED_ASSETS = (
    "snos_batch_output", "child_proof", "aggregation", "aggregator_batch", "aggregator_proof", "aggregator_da_blob",
    "aggregator_state_update",
)


def run_bench(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    """(the JSON line, its detail for the one rate measured: 2 blocks/s)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ORCHESTRATOR_", "DAGSTER_HOME"))}
    env["TMPDIR"] = str(scratch)
    done = subprocess.run(
        [sys.executable, str(BENCH), "--block-time", "0.5", "--timeout", "300", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(scratch.iterdir()) == [], "the benchmark left files in its temporary directory"
    still_there = [pid for pid in _pids_with_cwd_under(scratch)]
    assert still_there == [], f"processes still running from the benchmark's directory: {still_there}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rates_bps"] == [2.0]
    return result, result["2bps"]


def _pids_with_cwd_under(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")).is_relative_to(directory):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.e2e
def test_in_process_mode_reports_the_pipeline_and_the_plain_loop(tmp_path):
    summary, result = run_bench(
        tmp_path, "--no-aggregation", "--in-process", "--blocks", "4", "--batch-blocks", "2",
        "--deposit-interval", "0.3", "--withdrawal-every", "2",
    )

    assert result["mode"] == "in_process" and result["aggregation"] is False
    assert result["batches"] == 2
    assert result["runs_launched"] == 6 and result["runs_failed"] == 0, result["failed_runs"]  # prepare, record proof, settle per batch
    assert 0 < result["p50_block_to_settled_s"] <= result["p95_block_to_settled_s"]
    assert result["blocks_per_minute"] > 0
    assert all(result["asset_duration_s"][asset] is not None for asset in ASSETS)
    assert result["job_run_wall_s"]["settle_batch"] > 0
    assert set(result["plain_loop_stage_s"]) == set(ASSETS)
    assert result["dagster_overhead_ratio"] > 0 and result["dagster_cpu_ratio"] > 0
    # In process the pipeline runs in the harness's thread: nothing of the drive is left out, only the read-back.
    assert 0 <= result["harness_cpu_s"] < result["pipeline_cpu_s"]
    assert summary["dagster_cpu_ratio"] == result["dagster_cpu_ratio"] and summary["runs_per_block"] == 6 / 4
    assert summary["p50_block_to_settled_s_2bps"] == summary["p50_block_to_settled_s"] == result["p50_block_to_settled_s"]
    assert summary["steady_blocks_per_minute_2bps"] == result["steady_blocks_per_minute"]
    assert summary["keeps_pace_2bps"] == (result["steady_blocks_per_minute"] >= 120)
    # Bridge traffic: a withdrawal in blocks 2 and 4, the deposits the node executed before block 4.
    assert result["messages_to_l1_settled"] == 2
    assert result["deposit_errors"] == 0 and result["messages_to_l2_settled"] <= result["deposits_sent"]
    if result["messages_to_l2_settled"]:
        assert result["p50_deposit_to_settled_s"] > 0


@pytest.mark.e2e
def test_daemon_mode_settles_through_dagster_daemon_and_stops_it(tmp_path):
    _, result = run_bench(
        tmp_path, "--no-aggregation", "--blocks", "2", "--batch-blocks", "2", "--skip-plain-loop", "--sensor-interval", "1"
    )

    assert result["mode"] == "daemon"
    assert result["batches"] == 1
    assert result["runs_launched"] == 3 and result["runs_failed"] == 0, result["failed_runs"]
    assert result["job_run_wall_s"]["prepare_batch"] > 0
    assert "dagster_overhead_ratio" not in result
    # The harness watched the daemon and read the instance back: its CPU is reported apart, and every
    # process of the daemon's session was classified by what it runs (none is left as "other").
    assert 0 < result["harness_cpu_s"] < result["pipeline_cpu_s"]
    assert {"daemon", "run_workers", "code_server"} <= set(result["daemon_cpu_by_process_s"]), result["daemon_cpu_by_process_s"]


@pytest.mark.e2e
def test_aggregated_daemon_mode_settles_aggregator_batches_and_runs_the_aggregated_plain_loop(tmp_path):
    summary, result = run_bench(
        tmp_path, "--blocks", "4", "--batch-blocks", "4", "--snos-batch-blocks", "2", "--sensor-interval", "1",
        "--deposit-interval", "0.5", "--withdrawal-every", "2",
    )

    assert result["mode"] == "daemon" and result["aggregation"] is True
    # One aggregator batch of two SNOS batches, settled by one L1 update.
    assert result["batches"] == 1 and result["blocks_settled"] == 4
    assert result["runs_failed"] == 0, result["failed_runs"]
    runs = result["runs_by_job"]
    assert runs["prove_snos_batch"] == 2 and runs["settle_aggregator_batch"] == 1, runs
    assert all(runs[job] >= 1 for job in ("open_aggregation", "close_aggregation", "record_aggregation")), runs
    assert summary["runs_per_block"] == result["runs_launched"] / 4
    assert all(result["asset_duration_s"][asset] is not None for asset in AGGREGATED_ASSETS)
    assert set(result["plain_loop_stage_s"]) == {"aggregator_batching", *AGGREGATED_ASSETS}
    assert summary["dagster_cpu_ratio"] == result["dagster_cpu_ratio"] > 0
    assert 0 < summary["p50_block_to_settled_s_2bps"] == summary["p50_block_to_settled_s"]
    # The withdrawals of blocks 2 and 4 went through aggregation to L1.
    assert result["messages_to_l1_settled"] == 2
