"""ZKsync OS under ``dagster-daemon`` on PostgreSQL: kill -9 mid-batch, restart, recovered from L1, nothing sent twice.

The daemon (and every run worker in its process group) is killed with SIGKILL
while runs are in flight, after at least one batch is committed. A new daemon
on the same instance marks the abandoned runs failed, requests their steps
again, and the assets resume from L1's totals and the recorded transaction
hashes: every batch is committed once, each key's nonce equals the number of
transactions its step recorded.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.production.postgres_instance import render_postgres_home
from tests.production.test_daemon_unattended import start_daemon, stop_daemon, tail
from tests.zksync_os_pipeline.e2e_helpers import zkos_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DEADLINE_S = 480
IN_FLIGHT = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def _wait(condition, what: str, daemon, log_path: Path, deadline_s: float = DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while True:
        assert daemon.poll() is None, f"dagster-daemon exited with {daemon.returncode}:\n{tail(log_path)}"
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {deadline_s} s\n{tail(log_path)}"
        time.sleep(1.0)


def test_kill_9_of_the_daemon_mid_batch_is_recovered_from_l1_without_duplicate_transactions(tmp_path, pg_env):
    home = render_postgres_home(tmp_path / "dagster_home")
    with zkos_pipeline(tmp_path, instance=None, block_time_s=1.0) as pipeline, \
            DagsterInstance.from_config(str(home)) as instance:
        l1 = pipeline.l1()
        env = {**os.environ, **pipeline.env, "DAGSTER_HOME": str(home),
               "ORCHESTRATOR_ZKOS_ABANDONED_RUN_AFTER_SECONDS": "20", "ORCHESTRATOR_MAX_UNSETTLED_BATCHES": "4"}
        log_path = tmp_path / "daemon.log"
        daemon = start_daemon(tmp_path, env, log_path)
        try:
            _wait(lambda: l1.totals().committed >= 1, "a batch committed", daemon, log_path)
            _wait(lambda: instance.get_runs_count(RunsFilter(statuses=IN_FLIGHT)) > 0, "a run in flight", daemon, log_path)
            killed = [r.run_id for r in instance.get_runs(RunsFilter(statuses=IN_FLIGHT))]
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)
            at_kill = l1.totals()
            print(f"killed the daemon with runs {killed} in flight; L1 at {at_kill}")

            log_path = tmp_path / "daemon-2.log"
            daemon = start_daemon(tmp_path, env, log_path)
            target = max(3, at_kill.committed + 1)
            _wait(lambda: l1.totals().executed >= target, f"{target} batches executed after the restart", daemon, log_path)

            # The abandoned runs were marked failed, not left holding their step.
            for run_id in killed:
                run = instance.get_run_by_id(run_id)
                assert run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS), f"{run_id} is {run.status}"

            # Nothing sent twice: each key's nonce is the number of transactions its artifacts recorded,
            # and every committed batch was committed by exactly one transaction.
            artifacts = Path(pipeline.env["ORCHESTRATOR_ARTIFACTS_DIR"])
            totals = l1.totals()
            recorded = {}
            for step in ("commit", "prove", "execute"):
                records = [json.loads(p.read_text()) for p in artifacts.glob(f"zksync_os/batches/*/{step}_tx.json")]
                recorded[step] = sum(len(r["hashes"]) for r in records)
                assert all(len(r["hashes"]) == 1 for r in records), f"a {step} was broadcast twice"
                assert pipeline.w3.eth.get_transaction_count(l1.accounts[step].address) == recorded[step]
            assert recorded["commit"] == totals.committed
            for number in range(1, totals.executed + 1):
                record = json.loads((artifacts / f"zksync_os/batches/{number:06d}/batch.json").read_text())
                assert l1.stored_batch_hash(number).hex() == l1_stored_hash(record)
        except BaseException:
            print(f"--- dagster-daemon output ---\n{tail(log_path)}")
            raise
        finally:
            stop_daemon(daemon)


def l1_stored_hash(record: dict) -> str:
    from orchestrator_pipelines.zksync_os.model import StoredBatchInfo

    return StoredBatchInfo.from_dict(record["stored"]).hash().hex()
