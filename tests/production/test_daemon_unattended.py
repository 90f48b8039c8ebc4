"""Unattended: ``dagster-daemon`` on the PostgreSQL instance settles batches with nobody driving it.

Nothing here ticks a sensor or executes a run. The test starts the devnet,
writes a Dagster home whose dagster.yaml is deploy/dagster.postgres.yaml
rendered for a fresh database, starts ``dagster-daemon run`` on the code
location with the devnet's ``ORCHESTRATOR_*`` environment, and only watches:
the core contract's ``stateBlockNumber`` and the instance. The sensors run on
the daemon's schedule, the queued run coordinator applies the deployment's
tag concurrency limits, and every run is a separate process launched by the
code server, as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import SENSOR_NAME_TAG

from orchestrator_pipelines.aggregation_jobs import settle_aggregator_batch_job
from orchestrator_pipelines.aggregation_partitions import aggregator_key
from orchestrator_pipelines.assets.aggregation_common import load_aggregator_manifest
from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore
from orchestrator_pipelines.jobs import SETTLEMENT_TAG
from orchestrator_pipelines.partitions import batch_partition_key, is_materialized
from tests.pipeline.aggregated_e2e import (
    AGGREGATED_DEVNET,
    check_aggregated_settlement,
    check_bridge_traffic_settled,
    fail_next_child_proof,
    send_bridge_traffic,
)
from tests.pipeline.e2e_helpers import ASSETS, devnet_with_env, latest_metadata, settlement_client
from tests.production.postgres_instance import render_postgres_home

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TARGET_BATCHES = 2
# A deadline, not the expected time (~1.5 min on an idle 2-core machine): every run is a new
# process, so a loaded machine stretches each step.
DEADLINE_S = 420
STOP_TIMEOUT_S = 60
PIPELINE_SENSORS = {"batching_sensor", "proof_sensor", "settlement_sensor"}
DAEMON = Path(sys.executable).with_name("dagster-daemon")


def start_daemon(workdir: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``dagster-daemon run`` on the code location, in its own process group, output to ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(DAEMON), "run", "-m", "orchestrator_pipelines.definitions"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_daemon(process: subprocess.Popen) -> int | None:
    """SIGTERM the daemon and wait; then end whatever is left of its process group (code server, run workers).

    Returns the daemon's exit code, or None when it had to be killed.
    """
    pgid = process.pid
    code = process.poll()
    if code is None:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
            code = None
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    return code


def tail(path: Path, lines: int = 80) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def settled_keys(instance: DagsterInstance, upto: int = 50) -> list[str]:
    keys = []
    for index in range(upto):
        key = batch_partition_key(index)
        if not is_materialized(instance, "state_update", key):
            break
        keys.append(key)
    return keys


def settle_runs_finished(instance: DagsterInstance, keys: list[str]) -> bool:
    """Whether the settle runs of ``keys`` have ended (a run records state_update before it ends)."""
    runs = instance.get_runs(RunsFilter(job_name="settle_batch", tags={"dagster/partition": keys}))
    return bool(runs) and all(run.is_finished for run in runs)


def describe_launch_latency(records) -> str:
    """Seconds from a run's creation (sensor request) to its start in a worker process, per run."""
    waits = sorted(r.start_time - r.create_timestamp.timestamp() for r in records if r.start_time is not None)
    if not waits:
        return "no run started"
    return f"{len(waits)} runs started; request-to-start median {waits[len(waits) // 2]:.1f} s, max {waits[-1]:.1f} s"


def failed_runs(instance: DagsterInstance) -> list[str]:
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    return [f"{run.job_name}[{run.tags.get('dagster/partition')}] {run.run_id}" for run in runs]


def wait_for_settled_batches(instance: DagsterInstance, daemon: subprocess.Popen, store, settlement) -> list[str]:
    """Poll until TARGET_BATCHES are settled: state_update recorded, L1 at their last block, settle runs ended."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert daemon.poll() is None, f"dagster-daemon exited with {daemon.returncode}"
        failures = failed_runs(instance)
        assert not failures, f"runs failed: {failures}"
        keys = settled_keys(instance)
        chain_block = settlement.state().block_number
        if (
            len(keys) >= TARGET_BATCHES
            and chain_block >= load_manifest(store, keys[-1]).last_block
            and settle_runs_finished(instance, keys)
        ):
            return keys
        assert time.monotonic() < deadline, f"{len(keys)} batches settled after {DEADLINE_S} s (L1 at block {chain_block})"
        time.sleep(1.0)


def test_daemon_settles_batches_unattended_on_postgres(tmp_path: Path, pg_env: str):
    home = render_postgres_home(tmp_path / "dagster_home")
    log_path = tmp_path / "daemon.log"
    # The instance is opened (its schema created) before the daemon starts, so the two never race to create tables.
    with devnet_with_env(tmp_path) as (stack, env), DagsterInstance.from_config(str(home)) as instance:
        store = LocalArtifactStore(env["ORCHESTRATOR_ARTIFACTS_DIR"])
        settlement = settlement_client(env)
        # A short backlog: on two cores, dozens of queued batches would starve the settling runs.
        daemon_env = {**os.environ, "DAGSTER_HOME": str(home), "ORCHESTRATOR_MAX_UNSETTLED_BATCHES": str(TARGET_BATCHES)}
        started = time.monotonic()
        daemon = start_daemon(tmp_path, daemon_env, log_path)
        try:
            keys = wait_for_settled_batches(instance, daemon, store, settlement)
            print(f"{len(keys)} batches settled by the daemon in {time.monotonic() - started:.1f} s")

            # Every run was requested by the pipeline sensors, none by hand.
            runs = instance.get_runs()
            print(describe_launch_latency(instance.get_run_records()))
            sensors = {run.tags.get(SENSOR_NAME_TAG) for run in runs}
            assert sensors == PIPELINE_SENSORS, f"runs launched by {sensors}"

            # Settle runs carry the concurrency tag, and the limit of 1 held: no two overlapped.
            settle_records = instance.get_run_records(RunsFilter(job_name="settle_batch"))
            assert all(record.dagster_run.tags.get(SETTLEMENT_TAG) == "l1" for record in settle_records)
            assert all(record.dagster_run.tags.get(SENSOR_NAME_TAG) == "settlement_sensor" for record in settle_records)
            settled_by = {record.dagster_run.tags.get("dagster/partition") for record in settle_records
                          if record.dagster_run.status == DagsterRunStatus.SUCCESS}
            assert set(keys) <= settled_by
            spans = sorted(
                (record.start_time, record.end_time or float("inf"), record.dagster_run.run_id)
                for record in settle_records if record.start_time is not None
            )
            assert len(spans) >= TARGET_BATCHES
            for (_, end, run_id), (start, _, next_id) in zip(spans, spans[1:]):
                assert end <= start, f"settle runs {run_id} and {next_id} overlapped"

            # Every settled batch is complete (all six assets) and the batches are contiguous.
            for key in keys:
                for asset in ASSETS:
                    assert is_materialized(instance, asset, key), f"{asset} of batch {key} not materialized"
            manifests = [load_manifest(store, key) for key in keys]
            assert manifests[0].first_block == 1
            for previous, current in zip(manifests, manifests[1:]):
                assert current.first_block == previous.last_block + 1
        except BaseException:
            print(f"--- dagster-daemon output (last lines of {log_path}) ---\n{tail(log_path)}")
            raise
        finally:
            stopping = time.monotonic()
            code = stop_daemon(daemon)
            print(f"dagster-daemon stopped with exit code {code} in {time.monotonic() - stopping:.1f} s")


# The aggregated pipeline (Starknet 0.14): its own sensors, n + 4 runs per aggregator batch of n SNOS batches.
AGGREGATED_TARGET = 3
# A deadline, not the expected time (~2.5 min on a busy 2-core machine): 3 aggregator batches of 2 SNOS batches
# are ~20 runs (more for the failed child's bucket), each a new process, so a loaded machine stretches it a lot.
AGGREGATED_DEADLINE_S = 900
AGGREGATED_SENSORS = {"aggregator_batching_sensor", "aggregation_sensor", "aggregator_settlement_sensor"}


def settled_aggregator_keys(instance: DagsterInstance, upto: int = 50) -> list[str]:
    keys = []
    for index in range(upto):
        key = aggregator_key(index)
        if not is_materialized(instance, "aggregator_state_update", key):
            break
        keys.append(key)
    return keys


def wait_for_settled_aggregator_batches(instance: DagsterInstance, daemon: subprocess.Popen, store, settlement) -> list[str]:
    """Poll until AGGREGATED_TARGET aggregator batches are settled: recorded, L1 at their last block, runs ended."""
    deadline = time.monotonic() + AGGREGATED_DEADLINE_S
    while True:
        assert daemon.poll() is None, f"dagster-daemon exited with {daemon.returncode}"
        failures = failed_runs(instance)
        assert not failures, f"runs failed: {failures}"
        keys = settled_aggregator_keys(instance)
        chain_block = settlement.state().block_number
        if len(keys) >= AGGREGATED_TARGET:
            runs = instance.get_runs(
                RunsFilter(job_name="settle_aggregator_batch", tags={"dagster/partition": keys[:AGGREGATED_TARGET]})
            )
            last_block = load_aggregator_manifest(store, keys[AGGREGATED_TARGET - 1]).last_block
            if chain_block >= last_block and runs and all(run.is_finished for run in runs):
                return keys
        assert time.monotonic() < deadline, (
            f"{len(keys)} aggregator batches settled after {AGGREGATED_DEADLINE_S} s (L1 at block {chain_block})"
        )
        time.sleep(1.0)


def test_daemon_settles_aggregator_batches_unattended_on_postgres(tmp_path: Path, pg_env: str):
    """The aggregated devnet (Starknet 0.14.1) under the daemon: its three sensors alone settle >= 3 aggregator
    batches of >= 2 SNOS batches, recover a failed child proof and carry a deposit and a withdrawal through, with
    exactly one ``LogStateUpdate`` on L1 per aggregator batch."""
    home = render_postgres_home(tmp_path / "dagster_home")
    log_path = tmp_path / "daemon.log"
    with devnet_with_env(tmp_path, AGGREGATED_DEVNET) as (stack, env), DagsterInstance.from_config(str(home)) as instance:
        assert env["ORCHESTRATOR_AGGREGATION"] == "on"
        store = LocalArtifactStore(env["ORCHESTRATOR_ARTIFACTS_DIR"])
        settlement = settlement_client(env)
        fail_next_child_proof(stack, env)
        traffic = send_bridge_traffic(stack, env)
        # At most AGGREGATED_TARGET aggregator batches open before the first settles: on two cores, a longer
        # backlog of SNOS runs would starve the settling ones.
        daemon_env = {
            **os.environ, "DAGSTER_HOME": str(home), "ORCHESTRATOR_MAX_UNSETTLED_BATCHES": str(AGGREGATED_TARGET - 1),
        }
        started = time.monotonic()
        daemon = start_daemon(tmp_path, daemon_env, log_path)
        try:
            keys = wait_for_settled_aggregator_batches(instance, daemon, store, settlement)
            print(f"{len(keys)} aggregator batches settled by the daemon in {time.monotonic() - started:.1f} s")
            print(describe_launch_latency(instance.get_run_records()))

            # Every run was requested by the aggregated pipeline's sensors, none by hand.
            sensors = {run.tags.get(SENSOR_NAME_TAG) for run in instance.get_runs()}
            assert sensors == AGGREGATED_SENSORS, f"runs launched by {sensors}"

            # Settle runs carry the concurrency tag, and the limit of 1 held: no two overlapped.
            settle_records = instance.get_run_records(RunsFilter(job_name=settle_aggregator_batch_job.name))
            assert all(record.dagster_run.tags.get(SETTLEMENT_TAG) == "l1" for record in settle_records)
            spans = sorted(
                (record.start_time, record.end_time or float("inf"), record.dagster_run.run_id)
                for record in settle_records if record.start_time is not None
            )
            for (_, end, run_id), (start, _, next_id) in zip(spans, spans[1:]):
                assert end <= start, f"settle runs {run_id} and {next_id} overlapped"

            outcome = check_aggregated_settlement(instance, store, env, AGGREGATED_TARGET)

            # One L1 state update per aggregator batch, at its last block, by its recorded transaction (later
            # batches may keep settling while this reads: only those up to the target's last block are counted).
            logs = [
                log for log in settlement.core_contract.events.LogStateUpdate().get_logs(from_block=0)
                if int(log["args"]["blockNumber"]) <= outcome.manifests[-1].last_block
            ]
            assert [int(log["args"]["blockNumber"]) for log in logs] == [m.last_block for m in outcome.manifests]
            assert [log["transactionHash"].to_0x_hex() for log in logs] == [
                latest_metadata(instance, "aggregator_state_update", key)["tx_hash"] for key in outcome.keys
            ]

            assert traffic.last_block <= outcome.manifests[-1].last_block
            check_bridge_traffic_settled(instance, store, stack, env, outcome, traffic)
        except BaseException:
            print(f"--- dagster-daemon output (last lines of {log_path}) ---\n{tail(log_path)}")
            raise
        finally:
            stopping = time.monotonic()
            code = stop_daemon(daemon)
            print(f"dagster-daemon stopped with exit code {code} in {time.monotonic() - stopping:.1f} s")
