"""The end-to-end pipeline with its Dagster instance on PostgreSQL, as deployed.

Same loop as tests/pipeline/test_e2e_devnet.py (devnet stack, real sensors,
jobs and assets, runs executed in this process), but the instance is built
from deploy/dagster.postgres.yaml against a fresh database on the PostgreSQL
server, so runs, materializations, asset check results and dynamic partitions
all go through dagster-postgres. What the sensors read back (latest
materializations, runs by tag, partitions) must come out of PostgreSQL the
same as out of SQLite, or batches stop settling.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.assets.da_blob import BLOBS_MATCH_CHECK
from orchestrator_pipelines.assets.proof import FACT_CHECK
from orchestrator_pipelines.assets.state_update import ROOT_CHECK
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
from tests.production.postgres_instance import count_rows, render_postgres_home

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TARGET_BATCHES = 3
DEADLINE_S = 240
CHECKS = (("da_blob", BLOBS_MATCH_CHECK), ("proof", FACT_CHECK), ("state_update", ROOT_CHECK))


def test_pipeline_settles_batches_with_its_instance_on_postgres(tmp_path: Path, pg_env: str):
    home = render_postgres_home(tmp_path / "dagster_home")
    with devnet_with_env(tmp_path) as (stack, env), DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        pipeline = Pipeline(stack, env, instance)
        settle_in_process(pipeline, TARGET_BATCHES, DEADLINE_S)

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
