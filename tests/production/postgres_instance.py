"""A Dagster home whose dagster.yaml is the production PostgreSQL file, rendered as an operator would.

Both PostgreSQL pipeline tests build their instance from
``deploy/dagster.postgres.yaml`` through ``deploy/render_instance_config.py``,
so a change to either file that breaks the deployment breaks the tests.
The database itself comes from the ``pg_env`` fixture (a fresh database, its
``DAGSTER_PG_*`` variables set in the environment).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_CONFIG = REPO_ROOT / "deploy" / "dagster.postgres.yaml"
PG_ENV_NAMES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


def _render_module():
    """deploy/ is not a package: load the render script from its path."""
    spec = importlib.util.spec_from_file_location("render_instance_config", REPO_ROOT / "deploy" / "render_instance_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_postgres_home(home: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write ``home/dagster.yaml`` from deploy/dagster.postgres.yaml; returns ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    text = _render_module().render_instance_config(POSTGRES_CONFIG.read_text(), os.environ if environ is None else environ)
    (home / "dagster.yaml").write_text(text)
    return home


def pg_environ() -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables the rendered dagster.yaml reads (as set by ``pg_env``)."""
    return {name: os.environ[name] for name in PG_ENV_NAMES}


def count_rows(sql: str, params: tuple = ()) -> int:
    """One ``SELECT count(*)`` straight against the test database, bypassing Dagster."""
    import psycopg2

    env = pg_environ()
    connection = psycopg2.connect(
        host=env["DAGSTER_PG_HOST"],
        port=int(env["DAGSTER_PG_PORT"]),
        user=env["DAGSTER_PG_USER"],
        password=env["DAGSTER_PG_PASSWORD"],
        dbname=env["DAGSTER_PG_DB"],
        connect_timeout=5,
    )
    with closing(connection):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
