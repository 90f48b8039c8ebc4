"""The aggregated (Starknet 0.14) pipeline with its Dagster instance on PostgreSQL, as deployed.

Same loop and devnet as tests/pipeline/test_e2e_aggregated.py (sensors ticked and runs executed in this
process, one failed child proof, a deposit and a withdrawal carried through aggregation), but the instance is
built from deploy/dagster.postgres.yaml against a fresh database. The aggregated pipeline leans on storage the
direct one does not: two-dimensional SNOS partitions (aggregator batch x position), a run tag per aggregation
attempt that the sensors filter on to notice a failed bucket and open the next, and the latest materialization
per aggregator batch that gates settlement. Any of them read back differently from PostgreSQL than from SQLite
and the batches stop settling or settle twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from orchestrator_pipelines.aggregation_jobs import AGGREGATION_JOBS
from orchestrator_pipelines.assets.aggregation_common import AGGREGATION_ATTEMPT_TAG
from tests.pipeline.aggregated_e2e import (
    AGGREGATED_DEVNET,
    check_aggregated_settlement,
    check_bridge_traffic_settled,
    fail_next_child_proof,
    send_bridge_traffic,
)
from tests.pipeline.e2e_helpers import Pipeline, devnet_with_env, settle_aggregated_in_process
from tests.production.postgres_instance import count_rows, render_postgres_home

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TARGET = 3
DEADLINE_S = 300


def test_aggregated_pipeline_settles_with_its_instance_on_postgres(tmp_path: Path, pg_env: str):
    home = render_postgres_home(tmp_path / "dagster_home")
    with devnet_with_env(tmp_path, AGGREGATED_DEVNET) as (stack, env), DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        pipeline = Pipeline(stack, env, instance)
        assert pipeline.settings.aggregation == "on"
        fail_next_child_proof(stack, env)
        traffic = send_bridge_traffic(stack, env)

        settle_aggregated_in_process(pipeline, TARGET, DEADLINE_S)

        store = pipeline.defs.resources["artifacts"].store()
        outcome = check_aggregated_settlement(instance, store, env, TARGET)
        assert traffic.last_block <= outcome.manifests[-1].last_block
        check_bridge_traffic_settled(instance, store, stack, env, outcome, traffic)

        # Every run succeeded; the first aggregator batch was opened for attempts 1 and 2 (told apart by their
        # tag), the others for attempt 1 only.
        runs = instance.get_runs()
        assert runs and {run.job_name for run in runs} <= {job.name for job in AGGREGATION_JOBS}
        assert all(run.status == DagsterRunStatus.SUCCESS for run in runs)
        opened = instance.get_runs(RunsFilter(job_name="open_aggregation", tags={"dagster/partition": outcome.keys[0]}))
        assert {run.tags[AGGREGATION_ATTEMPT_TAG] for run in opened} == {"1", "2"}
        for key in outcome.keys[1:]:
            opened = instance.get_runs(RunsFilter(job_name="open_aggregation", tags={"dagster/partition": key}))
            assert {run.tags[AGGREGATION_ATTEMPT_TAG] for run in opened} == {"1"}, key
        settled = instance.get_runs(
            RunsFilter(job_name="settle_aggregator_batch", statuses=[DagsterRunStatus.SUCCESS])
        )
        assert set(outcome.keys) <= {run.tags.get("dagster/partition") for run in settled}

        # Straight from the database's tables: one materialization of aggregator_state_update per aggregator
        # batch, and the SNOS batches' two-dimensional partitions stored as such.
        assert count_rows("SELECT count(*) FROM runs") == instance.get_runs_count()
        assert count_rows(
            "SELECT count(*) FROM event_logs "
            "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s AND partition = ANY(%s)",
            ('["aggregator_state_update"]', outcome.keys),
        ) == TARGET
        children = sum(len(manifest.snos_batches) for manifest in outcome.manifests)
        assert count_rows(
            "SELECT count(DISTINCT partition) FROM event_logs "
            "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s AND partition LIKE ANY(%s)",
            ('["child_proof"]', [f"{key}|%" for key in outcome.keys]),
        ) == children
