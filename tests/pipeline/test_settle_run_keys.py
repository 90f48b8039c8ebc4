"""Settle run keys are never spent ones: Dagster drops a request with a used key without a word."""

from __future__ import annotations

from dagster import DagsterInstance, build_sensor_context, job, op
from dagster._core.storage.tags import RUN_KEY_TAG

from sensors.settlement_watch import fresh_run_key


@op
def _noop() -> None:
    pass


@job
def _settle_stand_in():
    _noop()


def _run_with_key(instance: DagsterInstance, run_key: str) -> str:
    return instance.create_run_for_job(job_def=_settle_stand_in, tags={RUN_KEY_TAG: run_key}).run_id


def test_the_key_counts_every_run_of_the_batch_so_a_success_does_not_spend_the_next_one():
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance)
        assert fresh_run_key(context, "settle-000000", 0) == "settle-000000-0"
        _run_with_key(instance, "settle-000000-0")  # succeeded; L1 then took the settlement back
        assert fresh_run_key(context, "settle-000000", 1) == "settle-000000-1"


def test_a_key_still_in_use_is_stepped_past_when_runs_were_deleted():
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance)
        run_ids = [_run_with_key(instance, f"settle-agg-000004-{n}") for n in range(3)]
        instance.delete_run(run_ids[0])  # by an operator: two runs are left, but key 2 is taken
        assert instance.get_runs_count() == 2
        assert fresh_run_key(context, "settle-agg-000004", 2) == "settle-agg-000004-3"
        assert fresh_run_key(context, "settle-000004", 2) == "settle-000004-2"
