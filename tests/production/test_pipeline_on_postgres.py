"""The end-to-end pipeline with its Dagster instance on PostgreSQL, as deployed.

Same loop as tests/pipeline/test_e2e_devnet.py (devnet stack, real sensors,
jobs and assets, runs executed in this process), but the instance is built
from deploy/dagster.postgres.yaml against a fresh database on the PostgreSQL
server, so runs, materializations, asset check results and dynamic partitions
all go through dagster-postgres. What the sensors read back (latest
materializations, runs by tag, partitions) must come out of PostgreSQL the
same as out of SQLite, or batches stop settling.

The same run is the secret-leak test's material: the devnet settles with a
settlement key, an Atlantic API key and a Slack webhook of the test's own
(random each time), and afterwards none of them may be found anywhere the
deployment keeps or shows data (see tests/production/secret_scan.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from eth_account import Account
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.assets.da_blob import BLOBS_MATCH_CHECK
from orchestrator_pipelines.assets.proof import FACT_CHECK
from orchestrator_pipelines.assets.state_update import ROOT_CHECK
from orchestrator_pipelines.devnet.anvil import DevAccount
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.partitions import batch_partition_key, is_materialized
from tests.pipeline.e2e_helpers import (
    ASSETS,
    Pipeline,
    devnet_with_env,
    last_settled_index,
    latest_metadata,
    settle_in_process,
    settlement_client,
)
from tests.production.postgres_instance import count_rows, pg_environ, render_postgres_home
from tests.production.secret_scan import SecretScan, scan_webserver
from tests.production.slack_webhook import SlackWebhook
from tests.ui.deployment import SettledDeployment, Webserver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TARGET_BATCHES = 3
DEADLINE_S = 240
CHECKS = (("da_blob", BLOBS_MATCH_CHECK), ("proof", FACT_CHECK), ("state_update", ROOT_CHECK))


# A settle run for a batch that does not exist: it fails at once, and its alert goes to Slack.
FAILING_BATCH = "000099"


@dataclass
class SettledOnPostgres:
    pipeline: Pipeline
    instance: DagsterInstance
    runner: LocalRunner
    home: Path
    root: Path
    secrets: dict[str, str]
    webhook: SlackWebhook
    output: io.StringIO


@contextlib.contextmanager
def _process_output(request: pytest.FixtureRequest, buffer: io.StringIO) -> Iterator[None]:
    """What the process logs (any logger, INFO and up) and prints meanwhile, copied into ``buffer``.

    The fixture is module-scoped (two tests read one pipeline run), so ``caplog`` and
    ``capsys``, which are per test, cannot see the settlement; this reads the same
    streams: a root handler at INFO (the level a deployment runs at) and pytest's own
    capture of stdout/stderr (Dagster's console logger writes there), put back afterwards.
    """
    capture = request.config.pluginmanager.getplugin("capturemanager")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        out, err = capture.read_global_capture()
        buffer.write(out + err)
        sys.stdout.write(out)
        sys.stderr.write(err)


@pytest.fixture(scope="module")
def settled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, module_pg_env: str
) -> Iterator[SettledOnPostgres]:
    """The devnet settles TARGET_BATCHES batches with its instance on PostgreSQL and secrets of its own.

    Then one run fails (a settle run for a batch that does not exist) and the run-failure
    sensor alerts through the Slack webhook, so the webhook URL is used, not only configured.
    """
    root = tmp_path_factory.mktemp("postgres_pipeline")
    account = Account.create()
    token = secrets.token_hex(12)
    known = {
        "L1 settlement key": account.key.hex() if account.key.hex().startswith("0x") else "0x" + account.key.hex(),
        # '/', '+' and '=' make the URL-encoded and base64 spellings differ from the raw one.
        "Atlantic API key": f"atl-{secrets.token_hex(12)}/{secrets.token_hex(4)}+=",
        "Slack webhook token": token,
    }
    output = io.StringIO()
    with SlackWebhook(path=f"/services/T{secrets.token_hex(4)}/B{secrets.token_hex(4)}/{token}") as webhook:
        known["Slack webhook URL"] = webhook.url
        options = {
            "settlement_account": DevAccount(account.address, known["L1 settlement key"]),
            "prover_api_key": known["Atlantic API key"],
            "env": {"ORCHESTRATOR_SLACK_WEBHOOK_URL": webhook.url},
        }
        home = render_postgres_home(root / "dagster_home")
        with devnet_with_env(root, options) as (stack, env), DagsterInstance.from_config(str(home)) as instance:
            with _process_output(request, output):
                pipeline = Pipeline(stack, env, instance)
                runner = settle_in_process(pipeline, TARGET_BATCHES, DEADLINE_S)
                runner.tick("run_failure_alert_sensor")  # its first tick only starts its cursor
                instance.add_dynamic_partitions("batches", [FAILING_BATCH])
                failed = pipeline.defs.resolve_job_def("settle_batch").execute_in_process(
                    instance=instance, partition_key=FAILING_BATCH, raise_on_error=False
                )
                assert not failed.success
                runner.tick("run_failure_alert_sensor")
            assert len(webhook.bodies) == 1, f"the failed run's alert reached Slack {len(webhook.bodies)} times"
            yield SettledOnPostgres(pipeline, instance, runner, home, root, known, webhook, output)


def test_pipeline_settles_batches_with_its_instance_on_postgres(settled: SettledOnPostgres):
    pipeline, instance = settled.pipeline, settled.instance
    env = pipeline.env
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)

    keys = [batch_partition_key(i) for i in range(TARGET_BATCHES)]
    assert set(keys) <= set(instance.get_dynamic_partitions("batches"))
    for key in keys:
        for asset in ASSETS:
            assert is_materialized(instance, asset, key), f"{asset} of batch {key} not materialized"

    # Every batch went through its three runs, all successful, recorded in PostgreSQL.
    for job in ("prepare_batch", "record_proof", "settle_batch"):
        runs = instance.get_runs(RunsFilter(job_name=job))
        by_key = {run.tags.get("dagster/partition"): run for run in runs}
        for key in keys:
            assert key in by_key, f"no {job} run for batch {key}"
            assert by_key[key].status == DagsterRunStatus.SUCCESS
    settle_runs = instance.get_runs(RunsFilter(job_name="settle_batch"))
    assert all(run.tags.get("orchestrator/settlement") == "l1" for run in settle_runs)

    # Each asset check ran and passed for every batch (the checks are not partitioned
    # themselves: the batch is the partition of the run that evaluated them).
    for asset, check_name in CHECKS:
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset), check_name), limit=100
        )
        passed = {
            instance.get_run_by_id(record.run_id).tags.get("dagster/partition") for record in records
            if record.status == AssetCheckExecutionRecordStatus.SUCCEEDED and record.evaluation.passed
        }
        assert set(keys) <= passed, f"{asset}.{check_name} passed only for {sorted(passed)}"

    # The same facts straight from the database's tables, not through Dagster's storage classes.
    assert count_rows("SELECT count(*) FROM runs") == instance.get_runs_count()
    assert count_rows(
        "SELECT count(DISTINCT partition) FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s AND partition = ANY(%s)",
        ('["state_update"]', keys),
    ) == TARGET_BATCHES
    assert count_rows(
        "SELECT count(*) FROM asset_check_executions WHERE execution_status = 'SUCCEEDED'"
    ) >= TARGET_BATCHES * len(CHECKS)

    # L1 is exactly at the end of the last settled batch.
    store = pipeline.defs.resources["artifacts"].store()
    last_settled = last_settled_index(instance)
    last_block = load_manifest(store, batch_partition_key(last_settled)).last_block
    assert settlement_client(env).state().block_number == last_block
    assert latest_metadata(instance, "state_update", batch_partition_key(last_settled))["l1_state_block_number"] == last_block


def test_no_secret_is_kept_logged_or_shown(
    settled: SettledOnPostgres, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
):
    """The settlement key, the Atlantic key and the Slack webhook appear nowhere an operator or a UI user can read.

    Searched: every table of the Dagster database (event log, runs with their config
    and tags, sensor and schedule state), the Dagster home (compute logs, the
    webserver's own log), the artifact store, the sensors' cursors, what the process
    logged and printed, and the webserver's GraphQL answers for runs, run logs,
    captured logs, assets with their materializations' metadata, sensors with their
    ticks, resources with their config, and each job's run config schema (the
    launchpad's defaults). Secrets are used from the environment only (``EnvVar``).
    """
    scan = SecretScan(settled.secrets)

    # The search finds the secrets where they are supposed to be: the devnet's own record of its keys.
    control = SecretScan(settled.secrets)
    control.tree(settled.root / "devnet", "devnet state")
    assert {line.split(": ")[1].split(" (")[0] for line in control.leaks} >= {"L1 settlement key", "Atlantic API key"}

    webserver = Webserver(SettledDeployment(home=settled.home, env={**settled.pipeline.env, **pg_environ()},
                                            batch_keys=[], metadata={}))
    with caplog.at_level(logging.INFO):
        try:
            shown = scan_webserver(scan, webserver.start())
        finally:
            webserver.stop()
    assert shown["runs"] == settled.instance.get_runs_count() and shown["resources"] >= 7, shown

    rows = scan.database(_connect_test_database)
    assert rows["event_logs"] > 0 and rows["runs"] == shown["runs"], rows
    assert scan.tree(settled.home, "DAGSTER_HOME") > 0
    assert scan.tree(Path(settled.pipeline.env["ORCHESTRATOR_ARTIFACTS_DIR"]), "artifacts") > 0
    scan.text("sensor cursors", json.dumps(settled.runner.cursors))
    captured = capsys.readouterr()
    assert "RUN_SUCCESS" in settled.output.getvalue(), "the settlement's output was not captured (run without -s)"
    scan.text("process output (settlement)", settled.output.getvalue())
    scan.text("process output (this test)", caplog.text + captured.out + captured.err)
    assert not scan.leaks, f"{len(scan.leaks)} leaks in {scan.places} places searched: " + "; ".join(scan.leaks[:20])


def _connect_test_database():
    import psycopg2

    env = pg_environ()
    return psycopg2.connect(
        host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]), user=env["DAGSTER_PG_USER"],
        password=env["DAGSTER_PG_PASSWORD"], dbname=env["DAGSTER_PG_DB"], connect_timeout=5,
    )
