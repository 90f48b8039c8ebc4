"""Whether a failed run failed because Dagster's own database could not be used, not because of its work.

A step that loses the instance's database mid-write (PostgreSQL restarted or
failed over, SQLite locked past its timeout) ends as a step failure, and run
retries skip step failures here (``retry_on_asset_or_op_failure: false``, so
that a deterministic failure is not repeated). The steps themselves use no
database: an ``OperationalError`` or ``InterfaceError`` anywhere in a step
failure's error chain (SQLAlchemy, psycopg2 and sqlite3 all name them so) is
the instance's, says nothing about the batch, and the run is safe to run
again, as every step is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterEventType, DagsterInstance
from dagster._utils.error import SerializableErrorInfo

STORAGE_ERROR_NAMES = frozenset({"OperationalError", "InterfaceError"})


def failed_on_storage(errors: Iterable[SerializableErrorInfo | None]) -> bool:
    """True when some error, or an error it was raised from or during, is a database connection error."""
    pending = [error for error in errors if error is not None]
    while pending:
        error = pending.pop()
        if error.cls_name in STORAGE_ERROR_NAMES:
            return True
        pending.extend(e for e in (error.cause, error.context) if e is not None)
    return False


def step_failure_errors(instance: DagsterInstance, run_id: str) -> list[SerializableErrorInfo | None]:
    """The error of each step failure of run ``run_id``."""
    return [
        entry.dagster_event.step_failure_data.error
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
        if entry.dagster_event is not None
    ]
