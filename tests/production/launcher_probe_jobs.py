"""Jobs the PreforkRunLauncher tests launch: one that succeeds, one that fails, one that waits to be stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster import in_process_executor, job, op


@op
def record_pid() -> None:
    """Writes the worker's pid where the test can read it (PROBE_OUT), proving the step ran in that process."""
    Path(os.environ["PROBE_OUT"]).write_text(str(os.getpid()))


@job(executor_def=in_process_executor)
def succeeds():
    record_pid()


@op
def raise_error() -> None:
    raise ValueError("probe failure")


@job(executor_def=in_process_executor)
def fails():
    raise_error()


@op
def wait_for_stop() -> None:
    Path(os.environ["PROBE_OUT"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)


@job(executor_def=in_process_executor)
def waits():
    wait_for_stop()
