"""A prepare run whose step lost Dagster's database is requested again; a step's own failure is not.

Real failed runs on a real SQLite instance: each executed in process with a
step that raises what the instance's database driver raises when PostgreSQL
restarts under it (SQLAlchemy's OperationalError over psycopg2's), or a
deterministic failure of the step's own, then the batching sensor's relaunch
rule read from the instance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy.exc
from dagster import DagsterInstance, Failure, build_sensor_context, job, op
from dagster._utils.error import serializable_error_info_from_exc_info

from orchestrator_pipelines.errors import OrchestratorError
from sensors.batching import MAX_STORAGE_RELAUNCHES, RELAUNCHED_TAG, relaunch_requests
from sensors.storage_failures import failed_on_storage, step_failure_errors


class ServerClosed(Exception):
    """Stands for psycopg2.OperationalError: what SQLAlchemy wraps."""


def _lost_database() -> None:
    raise sqlalchemy.exc.OperationalError(
        "INSERT INTO event_logs ...", {}, ServerClosed("server closed the connection unexpectedly")
    )


@op
def writes_events() -> None:
    _lost_database()


@op
def bad_data() -> None:
    raise Failure(description="snos_output of batch 000005: block 9 has no state update", allow_retries=False)


@job(name="prepare_batch")
def prepare_losing_the_database():
    writes_events()


@job(name="prepare_batch")
def prepare_with_bad_data():
    bad_data()


def _error(fn) -> object:
    try:
        fn()
    except Exception:  # noqa: BLE001 - captured as Dagster captures a step's error
        return serializable_error_info_from_exc_info(sys.exc_info())
    raise AssertionError("did not raise")


def test_the_instance_database_errors_are_told_from_the_steps_own() -> None:
    assert failed_on_storage([_error(_lost_database)])

    def raised_while_handling() -> None:
        try:
            _lost_database()
        except sqlalchemy.exc.OperationalError as exc:
            raise RuntimeError("could not store the step's output") from exc

    assert failed_on_storage([_error(raised_while_handling)])  # through the cause
    assert not failed_on_storage([_error(lambda: (_ for _ in ()).throw(OrchestratorError("bad block")))])
    assert not failed_on_storage([None, _error(lambda: {}["missing"])])
    assert not failed_on_storage([])


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _fail(instance: DagsterInstance, job_def, key: str, **tags: str) -> str:
    result = job_def.execute_in_process(
        instance=instance, tags={"dagster/partition": key, **tags}, raise_on_error=False
    )
    assert not result.success
    return result.run_id


def test_a_run_that_lost_the_database_is_requested_again_and_a_bad_batch_is_not(instance: DagsterInstance) -> None:
    lost = _fail(instance, prepare_losing_the_database, "000004")
    _fail(instance, prepare_with_bad_data, "000005")
    assert failed_on_storage(step_failure_errors(instance, lost))

    requests = relaunch_requests(build_sensor_context(instance=instance))

    assert [(r.partition_key, r.tags.get(RELAUNCHED_TAG)) for r in requests] == [("000004", "storage")]
    assert requests[0].run_key == "prepare-000004-1"  # the batch's second run


def test_the_relaunches_after_lost_databases_are_bounded(instance: DagsterInstance) -> None:
    _fail(instance, prepare_losing_the_database, "000004")
    for _ in range(MAX_STORAGE_RELAUNCHES):
        _fail(instance, prepare_losing_the_database, "000004", **{RELAUNCHED_TAG: "storage"})
    assert relaunch_requests(build_sensor_context(instance=instance)) == []
