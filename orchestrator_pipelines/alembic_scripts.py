"""Dagster's SQLite storages read Alembic's migration scripts once per process, not once per storage object.

Each SQLite storage (runs, the event log's index and per-run shards,
schedules) compares its database's Alembic revision with the head of
Dagster's migration scripts when it first opens a database, and
``dagster._core.storage.sql.check_alembic_revision`` finds that head by
building a new ``alembic.script.ScriptDirectory``: it reads and compiles the
90 migration modules each time, about 14 ms of CPU. A process rarely opens a
storage only once. The code server builds a new instance from the daemon's
instance ref for every sensor evaluation, and so three storages; every run
worker builds one; the daemon opens the shard of every new run. On the local
SQLite instance of ``make dev`` and the benchmarks this came to about a fifth
of the code server's CPU.

The scripts are files of the installed Dagster: they cannot change while a
process runs. :func:`install` makes ``check_alembic_revision`` keep the
first ``ScriptDirectory`` built per script location. Each database's own
revision is still read every time, so a database that needs ``dagster
instance migrate`` is still reported. PostgreSQL storages do not check per
instance, so the production instance is not affected either way.

It replaces the module global ``ScriptDirectory`` of
``dagster._core.storage.sql`` (Dagster pinned at 1.13.27; the test checks
that the name is still there and that the head found is the same). Installed
by the code location's module, the run worker preload (so forked workers
inherit it) and the run launcher (so the daemon has it).
"""

from __future__ import annotations

import threading

from alembic.config import Config
from alembic.script import ScriptDirectory

_kept: dict[str, ScriptDirectory] = {}
_lock = threading.Lock()


class KeptScriptDirectory:
    """What ``check_alembic_revision`` sees as ``ScriptDirectory``: one, built once, per script location."""

    @staticmethod
    def from_config(config: Config) -> ScriptDirectory:
        location = config.get_main_option("script_location") or ""
        with _lock:
            script = _kept.get(location)
            if script is None:
                script = _kept[location] = ScriptDirectory.from_config(config)
            return script


def install() -> None:
    """Idempotent; does nothing if Dagster no longer has the name (a newer Dagster: its own behaviour stays)."""
    import dagster._core.storage.sql as dagster_sql

    if getattr(dagster_sql, "ScriptDirectory", None) is ScriptDirectory:
        dagster_sql.ScriptDirectory = KeptScriptDirectory


def installed() -> bool:
    import dagster._core.storage.sql as dagster_sql

    return getattr(dagster_sql, "ScriptDirectory", None) is KeptScriptDirectory
