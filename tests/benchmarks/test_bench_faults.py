"""``make bench-faults`` shrunk: two batches through a kill after a recorded broadcast, a daemon kill, L1 faults,
an L1 reorganisation that takes a recorded settlement back, and a restart of PostgreSQL.

The harness is run as ``make bench-faults`` runs it (a subprocess, its own
temporary directory), so the test also shows that it leaves nothing behind:
no files, no processes, no PostgreSQL cluster (or, on the shared server, no database).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.test_bench_pipeline import _pids_with_cwd_under

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "benchmarks" / "bench_faults.py"
CLASSES = ("kill_after_broadcast", "kill_daemon", "kill_run_random", "l1_rpc", "l1_reorg", "postgres_restart")

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_two_batches_settle_exactly_once_through_kills_l1_faults_a_reorg_and_a_postgres_restart(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ORCHESTRATOR_", "DAGSTER_"))}
    env["TMPDIR"] = str(scratch)
    done = subprocess.run(
        [sys.executable, str(BENCH), "--batches", "2", "--batch-blocks", "2", "--block-time", "0.5",
         "--faults", str(len(CLASSES)), "--classes", ",".join(CLASSES), "--seed", "7", "--timeout", "200"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    # The daemon's log lines (every sensor tick) would push the benchmark's own account out of the message.
    account = "\n".join(line for line in done.stdout.splitlines() if "dagster.daemon." not in line)
    assert done.returncode == 0, account[-6000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["complete"] and result["batches"] == 2 and result["batches_settled"] == 2
    assert result["duplicate_state_updates"] == 0, result["duplicates"]
    assert result["lost_or_stuck_batches"] == 0, result["lost_or_stuck"]
    assert result["wrong_records"] == 0, result["wrong"]
    assert result["faults_injected"] >= len(CLASSES)
    assert result["postgres"]["server"] == "private", result["postgres"]
    # Every send a reorganisation took back is off the canonical chain, and its batch is settled there once.
    assert result["reorged_state_updates"] >= 1 and not any(e["back_on_chain"] for e in result["reorged_away"])
    for kind in CLASSES:
        assert result["faults_by_class"][kind]["count"] >= 1, (kind, result["faults_by_class"])
        assert result["faults_by_class"][kind]["outcome"] == "recovered", (kind, result["faults_by_class"])
    assert result["daemon_restarts"] == 1
    assert result["max_recovery_s"] is not None

    # Nothing left behind: temporary files, processes, the database.
    assert list(scratch.iterdir()) == [], "the harness left files in its temporary directory"
    assert _pids_with_cwd_under(scratch) == [], "processes still running from the harness's directory"
    assert not Path(result["postgres"]["data_dir"]).exists(), "the PostgreSQL cluster's directory was not removed"
    assert not port_open(result["postgres"]["port"]), "the PostgreSQL cluster still listens"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
