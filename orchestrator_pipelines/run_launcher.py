"""A process per run, forked from a warm server instead of started cold.

Dagster's ``DefaultRunLauncher`` asks the code server to start each run, and
the code server spawns a fresh interpreter that imports Dagster, the code
location and the step's libraries before the first step: measured here, 2.5
to 3 s of CPU per run (``make bench-pipeline``, ``run_cpu_by_job_s``) for
steps that often take a tenth of that. An aggregator batch takes 7 runs, so
on a single host that start-up, not the work, is most of the pipeline's CPU.

``PreforkRunLauncher`` keeps what matters about a process per run (each run
is its own OS process: a crash, an out-of-memory kill or a ``kill -9`` ends
that run only, and run monitoring sees it) and drops the start-up: it keeps
one fork server (:mod:`orchestrator_pipelines.run_worker_server`) that has
imported ``preload_modules`` once, and forks a child of it per run. The same
idea as the ``forkserver`` start method of Dagster's multiprocess executor,
one level up.

Where it fits: single-host deployments, where the daemon runs in the image
that holds the code location (``make dev``, the PostgreSQL instance of
``deploy/``). The child runs with the daemon's environment. Kubernetes and ECS
keep their own launchers. When a source file under ``reload_packages``
changes (an edit under ``dagster dev``), the next launch starts a new server,
so a run never executes older code than the code server shows.

A launch survives the daemon's death once its request is written: the request
goes into the server's input at once, before the server has finished
importing (the slow part of a launch), and the server forks every request it
has read before it sees the end of its input. The worker records its own pid
on the run (``orchestrator/run-worker-pid``) before the run starts, so the
next daemon's run monitoring finds it, alive or dead, by that tag.

Instance config::

    run_launcher:
      module: orchestrator_pipelines.run_launcher
      class: PreforkRunLauncher
      config:                    # both optional
        preload_modules: [orchestrator_pipelines.run_worker_preload]
        reload_packages: [orchestrator_pipelines, resources, sensors]
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import Array, Field, Noneable
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

from orchestrator_pipelines.alembic_scripts import install as install_alembic_scripts_once
from orchestrator_pipelines.run_worker_server import RUN_WORKER_PID_TAG

install_alembic_scripts_once()  # the daemon opens the event-log shard of every run it creates
DEFAULT_PRELOAD = ["orchestrator_pipelines.run_worker_preload"]
DEFAULT_RELOAD_PACKAGES = ["orchestrator_pipelines", "resources", "sensors"]
START_TIMEOUT_S = 120.0
REMEMBERED_WORKERS = 10_000  # pids and exit codes kept in memory; older runs are judged by their tag and /proc
FORK_TIMEOUT_S = 30.0
EXIT_REPORT_WAIT_S = 2.0


class RunWorkerServerError(RuntimeError):
    """The fork server could not be started or stopped answering."""


class ServerReplaced(RunWorkerServerError):
    """The request could not be written: the server was stopped (replaced) meanwhile. Nothing was sent."""


def source_fingerprint(packages: Sequence[str]) -> tuple:
    """(path, mtime, size) of every Python file of ``packages``, found without importing them."""
    entries = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class _Server:
    """One fork server process and the thread reading its replies."""

    def __init__(self, modules: Sequence[str], on_exit=None):
        self._on_exit = on_exit or (lambda pid, code: None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator_pipelines.run_worker_server", *modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._lock = threading.Lock()
        self._forked: dict[str, int] = {}
        self.exit_codes: dict[int, int] = {}
        self._changed = threading.Condition(self._lock)
        self.ready = False
        self.replies_ended = False  # the server closed its output: every reply it sent has been read
        self._reader = threading.Thread(target=self._read, name="run-worker-server-replies", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            with self._changed:
                if "ready" in message:
                    self.ready = True
                elif "run_id" in message:
                    self._forked[message["run_id"]] = message["pid"]
                else:
                    self.exit_codes[message["pid"]] = message["exit_code"]
                    _forget_oldest(self.exit_codes)
                self._changed.notify_all()
            if "exit_code" in message:
                self._on_exit(message["pid"], message["exit_code"])
        with self._changed:
            self.replies_ended = True
            self._changed.notify_all()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, run_id: str, instance_ref_json: str) -> int:
        """Write the request (read by the server once it has imported its modules), then wait for the pid.

        Written before the server is ready, so that if this process dies while it waits, the server still
        forks the run: it reads every request before the end of its input. Concurrent launches write
        theirs at once (waiting releases the lock). A server that exits has sent its last pid before its
        output ends, so the answer is judged only once that end has been read.
        """
        assert self.process.stdin is not None
        request = json.dumps({"run_id": run_id, "instance_ref": instance_ref_json}) + "\n"
        with self._changed:
            try:
                self.process.stdin.write(request.encode())
                self.process.stdin.flush()
            except (ValueError, BrokenPipeError) as exc:  # closed by stop(), or the server is gone
                raise ServerReplaced(f"run worker server stopped before run {run_id} was sent") from exc
            limit = FORK_TIMEOUT_S if self.ready else START_TIMEOUT_S + FORK_TIMEOUT_S
            if not self._changed.wait_for(lambda: run_id in self._forked or self.replies_ended, limit):
                if not self.ready:
                    raise RunWorkerServerError(f"run worker server did not start within {START_TIMEOUT_S:.0f} s")
                raise RunWorkerServerError(f"run worker server did not fork run {run_id} within {FORK_TIMEOUT_S:.0f} s")
            if run_id not in self._forked:
                what = "before run" if self.ready else "while starting, before run"
                raise RunWorkerServerError(f"run worker server exited (code {self.process.poll()}) {what} {run_id}")
            return self._forked.pop(run_id)

    def exit_code(self, pid: int, wait_s: float = 0.0) -> int | None:
        """The exit code of worker ``pid`` if reaped, waiting up to ``wait_s`` for the server's report of it."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self.exit_codes or self.replies_ended, wait_s)
            return self.exit_codes.get(pid)

    def stop(self, timeout_s: float = 10.0) -> None:
        """End of input stops the server; runs it forked carry on by themselves."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def _forget_oldest(entries: dict) -> None:
    while len(entries) > REMEMBERED_WORKERS:
        del entries[next(iter(entries))]


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (a worker whose parent has not reaped it yet has finished)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


class PreforkRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in its own process, forked from a server that has the code location imported."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        preload_modules: Sequence[str] | None = None,
        reload_packages: Sequence[str] | None = None,
    ):
        self._inst_data = inst_data
        self.preload_modules = list(preload_modules if preload_modules is not None else DEFAULT_PRELOAD)
        self.reload_packages = list(reload_packages if reload_packages is not None else DEFAULT_RELOAD_PACKAGES)
        self._server: _Server | None = None
        self._fingerprint: tuple | None = None
        self._pids: OrderedDict[str, int] = OrderedDict()
        self._run_of_pid: OrderedDict[int, str] = OrderedDict()
        self._exited: OrderedDict[int, int] = OrderedDict()
        self._lock = threading.Lock()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(Noneable(Array(str)), is_required=False, default_value=None,
                                     description="Modules the fork server imports once (default: the project's "
                                     "run_worker_preload, which imports the code location and the steps' libraries)."),
            "reload_packages": Field(Noneable(Array(str)), is_required=False, default_value=None,
                                     description="Packages whose source files, when changed, make the next launch "
                                     "start a new fork server."),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> PreforkRunLauncher:
        return cls(
            inst_data=inst_data,
            preload_modules=config_value.get("preload_modules"),
            reload_packages=config_value.get("reload_packages"),
        )

    def _current_server(self) -> _Server:
        fingerprint = source_fingerprint(self.reload_packages)
        if self._server is not None and (not self._server.alive or fingerprint != self._fingerprint):
            self._retire_server()
        if self._server is None:
            self._server = _Server(self.preload_modules, on_exit=self._worker_exited)
            self._fingerprint = fingerprint
        return self._server

    def _retire_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._exited.update(self._server.exit_codes)
            _forget_oldest(self._exited)
            self._server = None

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise RunWorkerServerError(f"run {run.run_id} has no job code origin: it cannot be executed here")
        instance_ref_json = serialize_value(self._instance.get_ref())
        with self._lock:
            server = self._current_server()
        # Not under the launcher's lock: a launch waiting for a starting server must not keep another
        # launch's request out of the pipe (if the daemon dies then, only written requests are forked).
        try:
            pid = server.fork(run.run_id, instance_ref_json)
        except ServerReplaced:  # a source change replaced it meanwhile: the request was not sent
            with self._lock:
                server = self._current_server()
            pid = server.fork(run.run_id, instance_ref_json)
        with self._lock:
            self._pids[run.run_id] = pid
            self._run_of_pid[pid] = run.run_id
            _forget_oldest(self._pids)
            _forget_oldest(self._run_of_pid)
        # The pid tag is the worker's to write (run_worker_server.execute_run), before its run starts.

    def _worker_exited(self, pid: int, code: int) -> None:
        """A worker that died before its run finished fails the run now, as Dagster's code server does.

        Without this a ``kill -9``, an out-of-memory kill or a crash would leave the run STARTED until
        run monitoring's next poll; failed now, the run retry daemon re-executes it at once (it is not
        a step failure).
        """
        if code == 0:
            return
        run_id = self._run_of_pid.get(pid)
        if run_id is None or not self.has_instance:
            return
        try:
            run = self._instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                return
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            self._instance.report_engine_event(f"Run worker (pid {pid}) ended before the run finished: {how}.", run)
            self._instance.report_run_failed(
                run, job_failure_data=JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
            )
        except Exception:  # noqa: BLE001 - run monitoring still finds the dead worker on its next poll
            logging.getLogger(__name__).exception(f"could not report the end of run worker {pid} (run {run_id})")

    def _pid_of(self, run) -> int | None:
        if run.run_id in self._pids:
            return self._pids[run.run_id]
        tag = run.tags.get(RUN_WORKER_PID_TAG)
        return int(tag) if tag and tag.isdigit() else None

    def _exit_code(self, pid: int, wait_s: float = 0.0) -> int | None:
        if pid in self._exited:
            return self._exited[pid]
        server = self._server
        return server.exit_code(pid, wait_s) if server is not None else None

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        pid = self._pid_of(run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"no run worker pid recorded for run {run.run_id}")
        code = self._exit_code(pid)
        if code is None and _pid_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if code is None and run.run_id in self._pids:
            code = self._exit_code(pid, wait_s=EXIT_REPORT_WAIT_S)  # reaped a moment ago: its report is on the way
        if code == 0:
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        how = f"exit code {code}" if code is not None else "no longer running"
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {pid} of run {run.run_id}: {how}")

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        pid = self._pid_of(run)
        if pid is None or self._exit_code(pid) is not None or not _pid_alive(pid):
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(pid, signal.SIGTERM)  # the worker turns it into an interrupt: the run ends CANCELED
        except ProcessLookupError:
            return False
        return True

    def dispose(self) -> None:
        with self._lock:
            self._retire_server()
