"""Alembic's migration scripts are read once per process by Dagster's SQLite storages (alembic_scripts.py).

A real SQLite instance on disk: its storages still create, stamp and check
their databases; what changes is that building more instances from the same
ref (what the code server does per sensor evaluation) reads no script again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.storage.sql import check_alembic_revision, get_alembic_config, stamp_alembic_rev

import dagster._core.storage.runs.sqlite.sqlite_run_storage as sqlite_runs
import dagster._core.storage.sql as dagster_sql
from orchestrator_pipelines import alembic_scripts


def test_the_code_location_installs_it() -> None:
    import orchestrator_pipelines.definitions  # noqa: F401 - what the code server imports
    import orchestrator_pipelines.run_launcher  # noqa: F401 - what the daemon imports

    assert alembic_scripts.installed()
    assert dagster_sql.ScriptDirectory is alembic_scripts.KeptScriptDirectory


def test_the_head_is_the_one_alembic_finds_and_instances_read_no_script_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alembic_scripts.install()
    config = get_alembic_config(sqlite_runs.__file__)
    head = ScriptDirectory.from_config(config).as_revision_number("head")  # alembic itself, every script read
    built = []
    real = ScriptDirectory.from_config
    monkeypatch.setattr(alembic_scripts.ScriptDirectory, "from_config", lambda c: built.append(c) or real(c))
    monkeypatch.setattr(alembic_scripts, "_kept", {})

    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as first:
        first.get_runs()
        ref = first.get_ref()
    # Creating the databases stamps each of them (alembic's own command, which reads the scripts itself);
    # checking them read the scripts once.
    created = len(built)
    assert list(alembic_scripts._kept) == [dagster_sql.ALEMBIC_SCRIPTS_LOCATION]

    for _ in range(5):  # five sensor evaluations' worth of instances
        with DagsterInstance.from_ref(ref) as instance:
            assert instance.get_runs_count() == 0
            assert instance.run_storage.alembic_version() == (head, head)
    assert len(built) == created


def test_each_database_revision_is_still_read(tmp_path: Path) -> None:
    """A database stamped at an older revision reports it: only the scripts' head is kept."""
    alembic_scripts.install()
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        config = get_alembic_config(sqlite_runs.__file__)
        head = ScriptDirectory.from_config(config).as_revision_number("head")
        older = ScriptDirectory.from_config(config).get_revision(head).down_revision
        with instance.run_storage.connect() as conn:
            stamp_alembic_rev(config, conn, rev=older)
            assert check_alembic_revision(config, conn) == (older, head)
        assert instance.run_storage.alembic_version() == (older, head)


def test_runs_and_events_work_on_the_instance(tmp_path: Path) -> None:
    from dagster import job, op

    @op
    def noop():
        return 1

    @job
    def tiny():
        noop()

    alembic_scripts.install()
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS
        assert any(e.dagster_event and e.dagster_event.is_step_success for e in instance.all_logs(result.run_id))
