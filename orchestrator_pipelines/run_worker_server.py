"""The fork server behind :class:`orchestrator_pipelines.run_launcher.PreforkRunLauncher`.

Started by the launcher as ``python -m orchestrator_pipelines.run_worker_server
MODULE...``: it imports the given modules once (Dagster's run worker, the code
location, the libraries the steps use, the KZG trusted setup) and then, for
each request, forks a child that executes one run, exactly as ``dagster api
execute_run`` would, and exits. A run is still its own process, so a crash or
a ``kill -9`` takes down that run and nothing else; what is saved is the
2-3 s of CPU a fresh interpreter spends importing and warming up before its
first step.

The server itself stays single-threaded and never opens a connection (no
instance, no gRPC channel, no database engine), so nothing that cannot
survive a fork exists when it forks.

Protocol, one JSON object per line: the launcher writes
``{"run_id": ..., "instance_ref": <serialized InstanceRef>}`` on the server's
stdin; the server answers on its stdout ``{"run_id": ..., "pid": N}`` once the
child is forked, and ``{"pid": N, "exit_code": C}`` when it has reaped it.
The server's own stdout is moved to another descriptor before anything is
imported, so whatever the runs print goes to stderr and never into the
protocol. End of input (the launcher closed the pipe, or its process died)
stops the server (signals do not), after it has forked every request read
before it: a launcher that dies right after writing a request (the daemon
killed while the server was still importing) still gets its run forked, and
the replies nobody reads any more are dropped. Runs already forked finish on
their own.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import signal
import sys
from typing import IO

# Written by the worker itself before its run starts: whoever launched it (a daemon since restarted,
# perhaps) can find the worker of a STARTED run, alive or dead, by it.
RUN_WORKER_PID_TAG = "orchestrator/run-worker-pid"


def _protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """Take stdin/stdout for the protocol; point fds 0 and 1 elsewhere for everything else."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return requests, replies


def _send(replies: IO[bytes], message: dict) -> None:
    try:
        replies.write((json.dumps(message) + "\n").encode())
    except BrokenPipeError:
        pass  # the launcher's process died: nobody reads the replies, but the runs it asked for are still forked


def execute_run(run_id: str, instance_ref_json: str) -> int:
    """What ``dagster api execute_run`` does with its arguments, in this (forked) process: the exit code."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import DagsterInstance
    from dagster._serdes import deserialize_value
    from dagster._core.instance.ref import InstanceRef
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()  # SIGTERM (the launcher's terminate) becomes SIGINT: the run is canceled cleanly
    with capture_interrupts():
        instance_ref = deserialize_value(instance_ref_json, InstanceRef)
        with DagsterInstance.from_ref(instance_ref) as instance:
            instance.add_run_tags(run_id, {RUN_WORKER_PID_TAG: str(os.getpid())})
            return _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=True)


def _child(run_id: str, instance_ref_json: str, protocol: list[IO[bytes]], wakeup_fds: list[int]) -> None:
    """The forked run worker: drop the server's descriptors and handlers, run, exit without the server's atexit."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for stream in protocol:
        stream.close()
    for fd in wakeup_fds:
        os.close(fd)
    code = 1
    try:
        code = execute_run(run_id, instance_ref_json)
    except BaseException:  # noqa: BLE001 - the run's failure is in its event log; the exit code says it failed
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(replies: IO[bytes]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(replies, {"pid": pid, "exit_code": os.waitstatus_to_exitcode(status)})


def serve(modules: list[str]) -> None:
    # Only the end of input stops the server: a Ctrl-C or SIGTERM to the daemon's process group reaches the
    # runs (which are canceled by it) and the daemon (which then closes the pipe), not the server mid-fork.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    requests, replies = _protocol_streams()
    for module in modules:
        importlib.import_module(module)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ, "request")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    _send(replies, {"ready": True, "pid": os.getpid()})
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
                _reap(replies)
                continue
            chunk = requests.read(65536)
            if not chunk:
                _reap(replies)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    _child(request["run_id"], request["instance_ref"], [requests, replies], [wake_read, wake_write])
                _send(replies, {"run_id": request["run_id"], "pid": pid})
        _reap(replies)


if __name__ == "__main__":
    serve(sys.argv[1:])
