"""Fixtures for the production-layer tests: a moto AWS server and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager

import boto3
import pytest

PG_HOST = os.environ.get("ORCHESTRATOR_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ORCHESTRATOR_TEST_PG_PORT", "5432"))
PG_MAINTENANCE_DB = os.environ.get("ORCHESTRATOR_TEST_PG_DB", "test")
AWS_REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials so no test can reach a real AWS account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_REGION", AWS_REGION)


@pytest.fixture
def aws_client(moto_endpoint: str, aws_env: None):
    """Factory of boto3 clients talking to the moto server."""

    def make(service: str):
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=AWS_REGION)

    return make


def _connect(user: str, dbname: str):
    import psycopg2

    return psycopg2.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=user,
        password=os.environ.get("ORCHESTRATOR_TEST_PG_PASSWORD", ""),
        dbname=dbname,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def pg_user() -> str:
    """A PostgreSQL role that can log in and create databases (``postgres`` or the OS user)."""
    import getpass

    import psycopg2

    candidates = [os.environ.get("ORCHESTRATOR_TEST_PG_USER"), "postgres", getpass.getuser()]
    errors = []
    for user in [c for c in candidates if c]:
        try:
            with closing(_connect(user, PG_MAINTENANCE_DB)):
                return user
        except psycopg2.Error as exc:
            errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    message = (
        f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} database {PG_MAINTENANCE_DB!r} "
        f"({'; '.join(errors)}). Start it, e.g. `docker run -d -p 5432:5432 "
        f"-e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16`, "
        f"or set ORCHESTRATOR_TEST_PG_HOST/PORT/USER/DB."
    )
    # A missing database is a failure everywhere (CI included), never a skip.
    pytest.fail(message)


@contextmanager
def _fresh_database(pg_user: str) -> Iterator[str]:
    name = f"orch_test_{uuid.uuid4().hex[:12]}"
    admin = _connect(pg_user, PG_MAINTENANCE_DB)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def _set_pg_env(monkeypatch: pytest.MonkeyPatch, pg_user: str, database: str) -> None:
    monkeypatch.setenv("DAGSTER_PG_HOST", PG_HOST)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(PG_PORT))
    monkeypatch.setenv("DAGSTER_PG_USER", pg_user)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", os.environ.get("ORCHESTRATOR_TEST_PG_PASSWORD", ""))
    monkeypatch.setenv("DAGSTER_PG_DB", database)


@pytest.fixture
def fresh_pg_database(pg_user: str) -> Iterator[str]:
    """A newly created, empty database (dropped afterwards); yields its name."""
    with _fresh_database(pg_user) as name:
        yield name


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch, pg_user: str, fresh_pg_database: str) -> str:
    """DAGSTER_PG_* pointing at a fresh database, as the deploy/ files expect."""
    _set_pg_env(monkeypatch, pg_user, fresh_pg_database)
    return fresh_pg_database


@pytest.fixture(scope="module")
def module_pg_env(pg_user: str) -> Iterator[str]:
    """``pg_env`` for a module whose tests share one pipeline run: one fresh database, set for the module."""
    with _fresh_database(pg_user) as name, pytest.MonkeyPatch.context() as monkeypatch:
        _set_pg_env(monkeypatch, pg_user, name)
        yield name
