"""``orchestrator dev`` and ``orchestrator devnet up`` stop with all their children.

Started under ``nohup`` or a service manager they inherit SIGINT ignored; a
SIGTERM (or SIGINT) must still stop them, anvil and Dagster's webserver,
daemon, code servers and runs included, within 10 s. And if they are SIGKILLed
their children must notice and go too, instead of holding ports and state.
The processes are real; the descendants are read from /proc before signalling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from orchestrator_pipelines.devnet.ports import free_port
from tests.devnet.test_stack import REPO_ROOT, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")

STOP_WITHIN_S = 10.0
# What `orchestrator dev` runs once it is up; the test waits until each one is there.
DAGSTER_PROCESSES = ("anvil", "dagster dev", "dagster_webserver", "dagster._daemon")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid``, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(pid: int) -> dict[int, tuple[int, str]]:
    """Every process below ``pid``: pid -> (start time, command line), the start time to tell a reused pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
    found: dict[int, tuple[int, str]] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            stat = _stat(child)
            if stat is not None and child not in found:
                found[child] = (stat[2], _cmdline(child))
                todo.append(child)
    return found


def still_running(processes: dict[int, tuple[int, str]]) -> list[str]:
    """Those of ``processes`` still alive (a zombie has stopped: it only waits to be reaped)."""
    left = []
    for pid, (start_time, command) in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start_time and stat[1] != "Z":
            left.append(f"{pid} {command[:120]}")
    return left


def kill_all(process: subprocess.Popen[str], processes: dict[int, tuple[int, str]]) -> None:
    """Clean up after a failed test: SIGKILL the command and whatever of its tree is left."""
    if process.poll() is None:
        process.kill()
    for pid, (start_time, _) in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start_time:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    process.wait()


class Orchestrator:
    """The ``orchestrator`` command line as a child process, its output collected by a thread."""

    def __init__(self, args: list[str], *, ignore_sigint: bool) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from orchestrator_pipelines.cli import main; sys.exit(main())", *args],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            # As under nohup, `&` in a script or a service manager.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
        )
        self.lines: list[str] = []
        self.tree: dict[int, tuple[int, str]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        wait_until(lambda: text in self.output or self.process.poll() is not None, timeout_s, repr(text))
        assert text in self.output, self.output[-3000:]

    def wait_for_processes(self, names: tuple[str, ...], timeout_s: float) -> None:
        """Until a descendant runs each of ``names``; keeps the tree seen for the checks after the signal."""

        def all_there() -> bool:
            self.tree.update(descendants(self.process.pid))
            running = still_running(self.tree)
            return all(any(name in command for command in running) for name in names)

        wait_until(lambda: all_there() or self.process.poll() is not None, timeout_s, f"processes {names}")
        assert self.process.poll() is None, self.output[-3000:]

    def assert_stops_within(self, timeout_s: float) -> None:
        self.tree.update(descendants(self.process.pid))
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {timeout_s:g} s after the signal; last output: {self.output[-1500:]}")

    def assert_tree_gone_within(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while still_running(self.tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert still_running(self.tree) == [], f"left running {timeout_s:g} s after: {still_running(self.tree)}"

    def cleanup(self) -> None:
        kill_all(self.process, {**self.tree, **descendants(self.process.pid)})


def devnet_up(tmp_path: Path, *, ignore_sigint: bool) -> Orchestrator:
    command = Orchestrator(
        ["devnet", "up", "--state-dir", str(tmp_path / "devnet"), "--block-time", "0.5"], ignore_sigint=ignore_sigint
    )
    try:
        command.wait_for("Ctrl-C stops everything.", 90)
        command.wait_for_processes(("anvil",), 10)
    except BaseException:
        command.cleanup()
        raise
    return command


def dev(tmp_path: Path, *, ignore_sigint: bool) -> Orchestrator:
    port = free_port()
    command = Orchestrator(
        ["dev", "--state-dir", str(tmp_path / "devnet"), "--port", str(port), "--block-time", "1"],
        ignore_sigint=ignore_sigint,
    )

    def ui_answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=1).ok
        except requests.RequestException:
            return command.process.poll() is not None

    try:
        wait_until(ui_answers, 180, "the Dagster UI")
        command.wait_for_processes(DAGSTER_PROCESSES, 60)
    except BaseException:
        command.cleanup()
        raise
    return command


@pytest.mark.e2e
def test_dev_started_with_sigint_ignored_stops_with_dagster_and_anvil_on_sigterm(tmp_path: Path) -> None:
    """The observed case: dagster dev inherited SIGINT ignored and ignored the SIGINT it was sent."""
    command = dev(tmp_path, ignore_sigint=True)
    try:
        command.process.send_signal(signal.SIGTERM)
        command.assert_stops_within(STOP_WITHIN_S)
        assert still_running(command.tree) == []
        assert command.process.returncode == 0, command.output[-1500:]
    finally:
        command.cleanup()


@pytest.mark.e2e
@pytest.mark.parametrize("start", [devnet_up, dev], ids=["devnet-up", "dev"])
def test_sigkilled_command_leaves_no_child_behind(tmp_path: Path, start) -> None:
    """Nothing can run in a SIGKILLed process: its children must notice by themselves."""
    command = start(tmp_path, ignore_sigint=True)
    try:
        command.tree.update(descendants(command.process.pid))
        command.process.kill()
        command.process.wait(timeout=5)
        command.assert_tree_gone_within(STOP_WITHIN_S)
    finally:
        command.cleanup()


def test_process_guard_kills_a_group_that_ignores_sigint_after_the_grace_period() -> None:
    """What keeps ``dagster dev`` bounded: a command that ignores the SIGINT, and its own child, are SIGKILLed."""
    script = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"
    )
    guard = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_pipelines.devnet.process_guard", "--grace", "1", "--",
         sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    tree: dict[int, tuple[int, str]] = {}
    try:
        assert guard.stdout is not None and guard.stdout.readline() == "up\n"

        def both_running() -> bool:
            tree.update(descendants(guard.pid))
            return len(still_running(tree)) == 2

        wait_until(both_running, 10, "the command and its child")
        guard.send_signal(signal.SIGTERM)
        assert guard.wait(timeout=5) == 128 + signal.SIGKILL
        assert still_running(tree) == []
    finally:
        kill_all(guard, tree)
