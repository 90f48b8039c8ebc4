"""ZKsync OS under ``dagster-daemon`` on PostgreSQL: the whole settlement, a kill -9 mid-batch recovered from L1.

The rollup test sends three L1 deposits, then kills the daemon (and every run
worker in its process group) with SIGKILL while a commit run executes, after at
least one batch is committed. A new daemon on the same instance marks the
abandoned runs failed, requests their steps again, and the assets resume from
L1's totals and the recorded transaction hashes. The SNARK prover attaches only
once six batches are committed, so L1 verifies them with one range proof; the
validator timelock holds each execution for ``DELAY_S`` after its last batch's
commit, and the sensor waits for it. It ends with at least six batches
committed, proven and executed, the deposits consumed from L1's priority tree,
and nothing sent twice: each key's nonce equals the transactions its step
recorded, and every L1 commit, verification and execution event was emitted by
the recorded transaction.

The validium test is shorter: the daemon alone executes a batch whose commit
calldata carries no pubdata.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.production.postgres_instance import render_postgres_home
from tests.production.test_daemon_unattended import start_daemon, stop_daemon, tail
from tests.zksync_os_pipeline.e2e_helpers import (
    ZkOsPipeline,
    check_deposits_executed,
    check_execution_delay_waited,
    check_pubdata_off_l1,
    check_sent_once,
    proven_ranges,
    send_deposits,
    start_fri_provers,
    start_snark_prover,
    zkos_pipeline,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# A deadline per wait, not the expected time: every run is a new process, so a loaded machine stretches each step.
DEADLINE_S = 480
# Longer than a commit-to-verified round trip of runs on a busy machine, so the sensor has to wait for it.
DELAY_S = 20
TARGET_EXECUTED = 6
MIN_RANGE = 3
IN_FLIGHT = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


class Daemon:
    """``dagster-daemon run`` on the pipeline's code location and environment; stopped (and its log shown on a
    failure) when the block ends."""

    def __init__(self, workdir: Path, pipeline: ZkOsPipeline, home: Path, **env: str):
        self.workdir = workdir
        self.env = {**os.environ, **pipeline.env, "DAGSTER_HOME": str(home), **env}
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "daemon.log"
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.workdir / f"daemon-{self.starts}.log"
        self.process = start_daemon(self.workdir, self.env, self.log_path)

    def kill_9(self) -> None:
        """SIGKILL to the daemon's whole process group: the daemon, the code server and every run worker."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, condition, what: str, deadline_s: float = DEADLINE_S, poll_s: float = 1.0):
        deadline = time.monotonic() + deadline_s
        while True:
            code = self.process.poll()
            assert code is None, f"dagster-daemon exited with {code}:\n{tail(self.log_path)}"
            value = condition()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: not within {deadline_s} s\n{tail(self.log_path)}"
            time.sleep(poll_s)

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            print(f"--- dagster-daemon output ({self.log_path}) ---\n{tail(self.log_path)}")
        stop_daemon(self.process)


def _mid_commit(instance: DagsterInstance, l1) -> bool:
    """At least one batch committed, and the runs in their workers are commit runs only.

    A run killed while STARTED is reaped by the L1 sensor after ``ORCHESTRATOR_ZKOS_ABANDONED_RUN_AFTER_SECONDS``;
    one killed while STARTING only by run monitoring's start timeout (minutes), which this test does not wait for.
    Killing no preparation keeps the reaping off the path of the batches still to prepare, one at a time.
    """
    if l1.totals().committed < 1:
        return False
    runs = instance.get_runs(RunsFilter(statuses=IN_FLIGHT))
    return bool(runs) and all(run.status == DagsterRunStatus.STARTED and run.job_name == "zkos_commit_batch"
                              for run in runs)


def _postgres_instance(tmp_path: Path) -> tuple[Path, DagsterInstance]:
    # The instance is opened (its schema created) before the daemon starts, so the two never race to create tables.
    home = render_postgres_home(tmp_path / "dagster_home")
    return home, DagsterInstance.from_config(str(home))


def test_kill_9_mid_batch_is_recovered_and_six_batches_settle_with_deposits_a_range_and_the_delay(tmp_path, pg_env):
    home, instance = _postgres_instance(tmp_path)
    with instance, zkos_pipeline(tmp_path, instance=instance, block_time_s=1.0, execution_delay_s=DELAY_S,
                                 fake_provers=False) as pipeline:
        devnet, l1 = pipeline.devnet, pipeline.l1()
        deposits = send_deposits(devnet)
        start_fri_provers(devnet)
        started = time.monotonic()
        # TARGET_EXECUTED batches may wait for execution: all of them are sealed and committed before any is proven.
        with Daemon(tmp_path, pipeline, home, ORCHESTRATOR_ZKOS_ABANDONED_RUN_AFTER_SECONDS="20",
                    ORCHESTRATOR_MAX_UNSETTLED_BATCHES=str(TARGET_EXECUTED)) as daemon:
            daemon.wait(lambda: _mid_commit(instance, l1), "a commit run executing, and no other run, after a commit",
                        poll_s=0.3)
            daemon.kill_9()
            killed = {r.run_id: f"{r.job_name}[{r.tags.get('dagster/partition')}]"
                      for r in instance.get_runs(RunsFilter(statuses=IN_FLIGHT))}
            at_kill = l1.totals()
            print(f"killed the daemon with {sorted(killed.values())} executing; L1 at {at_kill}")
            assert at_kill.verified == 0  # no SNARK prover yet: every proof and execution comes after the restart

            daemon.start()
            daemon.wait(lambda: l1.totals().committed >= TARGET_EXECUTED,
                        f"{TARGET_EXECUTED} batches committed after the restart")
            # The SNARK prover attaches only now: its first job aggregates every FRI proof so far.
            start_snark_prover(devnet)
            daemon.wait(lambda: l1.totals().executed >= TARGET_EXECUTED, f"{TARGET_EXECUTED} batches executed")
            print(f"{TARGET_EXECUTED} batches executed {time.monotonic() - started:.1f} s after the first start")

            # The runs whose workers died were marked failed, not left holding their step.
            for run_id, what in killed.items():
                assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE, f"{what} {run_id}"

            totals = l1.totals()
            sent = check_sent_once(pipeline, l1)
            assert len(sent["commit"]) >= totals.committed
            ranges = proven_ranges(pipeline, l1)
            first, last = ranges[0]
            assert last - first + 1 >= MIN_RANGE, f"L1 verified {ranges}: no range proof over {MIN_RANGE} batches"
            assert ranges[-1][1] >= totals.executed
            carried = check_deposits_executed(pipeline, l1, deposits, totals.executed)
            waits = check_execution_delay_waited(pipeline, l1, DELAY_S)
            print(f"L1 at {totals}; verified ranges {ranges}; {carried} L1 transactions executed "
                  f"({len(deposits)} deposits sent); {len(waits)} execute runs, verified {waits} s before "
                  f"the {DELAY_S} s delay had passed")


def test_validium_batches_are_executed_by_the_daemon_without_pubdata_on_l1(tmp_path, pg_env):
    home, instance = _postgres_instance(tmp_path)
    with instance, zkos_pipeline(tmp_path, instance=instance, validium=True) as pipeline:
        l1 = pipeline.l1()
        with Daemon(tmp_path, pipeline, home, ORCHESTRATOR_MAX_UNSETTLED_BATCHES="2") as daemon:
            daemon.wait(lambda: l1.totals().executed >= 1, "a validium batch executed")
            check_pubdata_off_l1(pipeline, l1)
            assert l1.stored_batch_hash(1) == pipeline.record(1).stored.hash()
            check_sent_once(pipeline, l1)
