"""PreforkRunLauncher: each run in its own forked process, with Dagster's run semantics kept.

Real runs on a real (SQLite) instance: the launcher starts its fork server,
the run worker it forks executes the job and writes the run's events, and
run monitoring's questions (is the worker alive, did it fail) are answered
from the process itself. No daemon: the test launches as the daemon's run
coordinator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, reconstructable
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.launcher.base import WorkerStatus
from dagster._core.test_utils import instance_for_test
from dagster._serdes import serialize_value

from orchestrator_pipelines.run_launcher import RUN_WORKER_PID_TAG, PreforkRunLauncher
from tests.production import launcher_probe_jobs

TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@pytest.fixture
def probe_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "probe_out"
    monkeypatch.setenv("PROBE_OUT", str(out))  # the fork server (and so each worker) inherits it
    return out


@pytest.fixture
def instance(tmp_path: Path, probe_out: Path):
    launcher = {
        "module": "orchestrator_pipelines.run_launcher",
        "class": "PreforkRunLauncher",
        "config": {"preload_modules": ["tests.production.launcher_probe_jobs"], "reload_packages": ["probe_pkg"]},
    }
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home"), overrides={"run_launcher": launcher}) as instance:
        yield instance


def _launch(instance: DagsterInstance, job_name: str):
    recon = reconstructable(getattr(launcher_probe_jobs, job_name))
    run = instance.create_run_for_job(job_def=recon.get_definition(), job_code_origin=recon.get_python_origin())
    instance.launch_run(run.run_id, workspace=None)
    return instance.get_run_by_id(run.run_id)


def _wait(instance: DagsterInstance, run_id: str, statuses, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run.status in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {instance.get_run_by_id(run_id).status} after {timeout_s} s")


def _wait_for_file(path: Path, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} not written after {timeout_s} s")


def _health(instance: DagsterInstance, run_id: str, expected: WorkerStatus, timeout_s: float = 10.0):
    """The worker's health as monitoring sees it, once it reaches ``expected`` (an exit is reported asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run_id))
        if result.status == expected or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_a_run_executes_in_its_own_forked_worker(instance: DagsterInstance, probe_out: Path) -> None:
    assert isinstance(instance.run_launcher, PreforkRunLauncher)
    run = _launch(instance, "succeeds")
    assert _wait(instance, run.run_id, TERMINAL).status == DagsterRunStatus.SUCCESS
    worker = int(probe_out.read_text())
    server = instance.run_launcher._server.process.pid
    assert worker not in (os.getpid(), server)
    assert instance.get_run_by_id(run.run_id).tags[RUN_WORKER_PID_TAG] == str(worker)
    assert _health(instance, run.run_id, WorkerStatus.SUCCESS).status == WorkerStatus.SUCCESS
    started = [e.message for e in instance.all_logs(run.run_id) if "Started process for run" in (e.message or "")]
    assert started == [f"Started process for run (pid: {worker})."]


def test_a_failing_run_fails_and_its_worker_exits_non_zero(instance: DagsterInstance, probe_out: Path) -> None:
    run = _launch(instance, "fails")
    assert _wait(instance, run.run_id, TERMINAL).status == DagsterRunStatus.FAILURE
    result = _health(instance, run.run_id, WorkerStatus.FAILED)
    assert result.status == WorkerStatus.FAILED and "exit code 1" in result.msg
    errors = [e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_step_failure]
    assert "probe failure" in str(errors[0].dagster_event.event_specific_data.error)


def test_terminate_cancels_the_run(instance: DagsterInstance, probe_out: Path) -> None:
    run = _launch(instance, "waits")
    _wait_for_file(probe_out)
    assert _health(instance, run.run_id, WorkerStatus.RUNNING).status == WorkerStatus.RUNNING
    assert instance.run_launcher.terminate(run.run_id) is True
    assert _wait(instance, run.run_id, TERMINAL).status == DagsterRunStatus.CANCELED
    assert instance.run_launcher.terminate(run.run_id) is False  # finished: nothing to stop


def test_a_killed_worker_is_reported_failed_to_run_monitoring(instance: DagsterInstance, probe_out: Path) -> None:
    run = _launch(instance, "waits")
    worker = int(_wait_for_file(probe_out))
    os.kill(worker, signal.SIGKILL)
    result = _health(instance, run.run_id, WorkerStatus.FAILED)
    assert result.status == WorkerStatus.FAILED
    assert f"run worker {worker}" in result.msg and "exit code -9" in result.msg
    # Failed at once (not at run monitoring's next poll), as a crash: the run retry daemon re-executes it.
    failed = _wait(instance, run.run_id, TERMINAL, timeout_s=10)
    assert failed.status == DagsterRunStatus.FAILURE
    failure = next(e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_run_failure)
    assert failure.dagster_event.event_specific_data.failure_reason.value == "UNEXPECTED_TERMINATION"
    assert any("killed by signal 9" in (e.message or "") for e in instance.all_logs(run.run_id))
    # Another run still starts: the server is unaffected by one worker's death.
    probe_out.unlink()
    second = _launch(instance, "succeeds")
    assert _wait(instance, second.run_id, TERMINAL).status == DagsterRunStatus.SUCCESS


def test_a_restarted_launcher_finds_the_worker_by_its_pid_tag(instance: DagsterInstance, probe_out: Path) -> None:
    """After a daemon restart the in-memory table is gone: the run's pid tag and /proc answer instead."""
    run = _launch(instance, "waits")
    worker = int(_wait_for_file(probe_out))
    fresh = PreforkRunLauncher()
    fresh.register_instance(instance)
    assert fresh.check_run_worker_health(instance.get_run_by_id(run.run_id)).status == WorkerStatus.RUNNING
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while fresh.check_run_worker_health(instance.get_run_by_id(run.run_id)).status == WorkerStatus.RUNNING:
        assert time.monotonic() < deadline, "killed worker still reported running"
        time.sleep(0.05)
    assert fresh.check_run_worker_health(instance.get_run_by_id(run.run_id)).status == WorkerStatus.FAILED


def test_a_changed_source_file_starts_a_new_fork_server(
    instance: DagsterInstance, probe_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "src" / "probe_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    first = _launch(instance, "succeeds")
    _wait(instance, first.run_id, TERMINAL)
    server = instance.run_launcher._server.process.pid
    probe_out.unlink()
    again = _launch(instance, "succeeds")
    _wait(instance, again.run_id, TERMINAL)
    assert instance.run_launcher._server.process.pid == server  # nothing changed: the same server
    (package / "__init__.py").write_text("VERSION = 22\n")
    changed = _launch(instance, "succeeds")
    assert _wait(instance, changed.run_id, TERMINAL).status == DagsterRunStatus.SUCCESS
    assert instance.run_launcher._server.process.pid != server


def test_a_launch_written_while_the_server_starts_runs_though_the_launcher_dies(
    instance: DagsterInstance, probe_out: Path
) -> None:
    """The daemon killed mid-launch, its fork server still importing: the run is forked and runs anyway.

    Otherwise it would stay STARTING until run monitoring's start timeout (minutes) failed it.
    """
    recon = reconstructable(launcher_probe_jobs.succeeds)
    run = instance.create_run_for_job(job_def=recon.get_definition(), job_code_origin=recon.get_python_origin())
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.PIPELINE_STARTING.value, job_name=run.job_name), run_id=run.run_id
    )
    server = subprocess.Popen(  # as _Server starts it, but nobody will read its replies
        [sys.executable, "-m", "orchestrator_pipelines.run_worker_server", "tests.production.launcher_probe_jobs"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    request = {"run_id": run.run_id, "instance_ref": serialize_value(instance.get_ref())}
    server.stdin.write((json.dumps(request) + "\n").encode())
    # What the launching process's death does, while the server still imports: both pipes closed.
    server.stdin.close()
    server.stdout.close()
    assert server.wait(timeout=60) == 0
    assert _wait(instance, run.run_id, TERMINAL).status == DagsterRunStatus.SUCCESS
    # The worker tagged the run with its pid itself: no launcher was left to do it.
    assert instance.get_run_by_id(run.run_id).tags[RUN_WORKER_PID_TAG] == probe_out.read_text()


DAEMON_KILLED_MID_LAUNCH = """
import os, sys, threading, time
from dagster import DagsterInstance
from dagster._serdes import deserialize_value
from dagster._core.instance.ref import InstanceRef
instance = DagsterInstance.from_ref(deserialize_value(sys.argv[1], InstanceRef))
for run_id in sys.argv[2:]:  # as the run queue's dequeue threads launch them, concurrently
    threading.Thread(target=instance.launch_run, args=(run_id, None), daemon=True).start()
time.sleep(1.5)
os._exit(0)  # killed while its fork server is still importing: nobody writes a tag or reads a reply after this
"""


def test_concurrent_launches_all_run_though_the_daemon_dies_while_its_server_starts(
    tmp_path: Path, probe_out: Path
) -> None:
    launcher = {
        "module": "orchestrator_pipelines.run_launcher",
        "class": "PreforkRunLauncher",
        "config": {"preload_modules": ["tests.production.launcher_probe_jobs", "tests.production.slow_preload"],
                   "reload_packages": ["probe_pkg"]},
    }
    (tmp_path / "slow_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "slow_home"), overrides={"run_launcher": launcher}) as instance:
        recon = reconstructable(launcher_probe_jobs.succeeds)
        runs = [instance.create_run_for_job(job_def=recon.get_definition(), job_code_origin=recon.get_python_origin())
                for _ in range(2)]
        daemon = subprocess.run(
            [sys.executable, "-c", DAEMON_KILLED_MID_LAUNCH, serialize_value(instance.get_ref()),
             *[run.run_id for run in runs]],
            timeout=60,
        )
        assert daemon.returncode == 0
        assert {instance.get_run_by_id(run.run_id).status for run in runs} == {DagsterRunStatus.STARTING}
        for run in runs:  # each forked by the orphaned server, each tagged by its own worker
            assert _wait(instance, run.run_id, TERMINAL).status == DagsterRunStatus.SUCCESS
            assert RUN_WORKER_PID_TAG in instance.get_run_by_id(run.run_id).tags
