"""``orchestrator metrics serve`` as a process: serves the instance's metrics, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from dagster import AssetMaterialization, DagsterInstance

from orchestrator_pipelines.devnet.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# The console script's dispatcher lists sub-command modules; this drives the
# metrics module's own register() the same way, independent of that list.
LAUNCHER = """
import argparse, sys
from orchestrator_pipelines.cli import metrics
parser = argparse.ArgumentParser(prog="orchestrator")
sub = parser.add_subparsers(dest="command", required=True)
metrics.register(sub)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def _start(home: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *argv],
        cwd=REPO_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_exports_the_instance_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("batches", ["000007"])
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key="state_update",
                partition="000007",
                metadata={"first_block": 70, "last_block": 79, "gas_used": 123_456, "duration_s": 4.0},
            )
        )

    port = free_port()
    process = _start(home, "metrics", "serve", "--addr", "127.0.0.1", "--port", str(port), "--interval", "0.2")
    try:
        deadline = time.monotonic() + 60
        body = ""
        while 'orchestrator_last_block{stage="state_update"} 79.0' not in body:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, f"metrics never showed the materialization:\n{body}"
            try:
                body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        assert "orchestrator_l1_gas_used 123456.0" in body
        assert 'orchestrator_stage_duration_seconds_count{stage="state_update"} 1.0' in body
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr


def test_serve_rejects_a_bad_interval(tmp_path: Path) -> None:
    process = _start(tmp_path, "metrics", "serve", "--interval", "0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "--interval must be positive, got 0.0" in stderr
