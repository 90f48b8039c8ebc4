"""Run a command in its own process group and take the whole group down with it.

``python -m orchestrator_pipelines.devnet.process_guard --grace S -- COMMAND...``

``orchestrator dev`` runs ``dagster dev`` through it. ``dagster dev`` starts a
webserver, a daemon, code servers and run workers; killed, it leaves them all
running (they wait for a shutdown message or a heartbeat that never comes), and
its own orderly stop has no time limit. Its owner cannot help when it is itself
SIGKILLed, hence this small process between the two:

- COMMAND runs in a new process group, with default SIGINT and SIGTERM handling
  and a SIGTERM from the kernel if the guard dies;
- on SIGINT or SIGTERM (its owner stopping, or the kernel reporting that the
  owner died) the guard sends SIGINT to the whole group, as a terminal's Ctrl-C
  would, and SIGKILLs the group if COMMAND has not exited within S seconds;
- once COMMAND exits, whatever is left of its group is SIGKILLed, and the guard
  exits with COMMAND's status (128 + N for a signal N).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Sequence

from orchestrator_pipelines.devnet.children import STOP_SIGNALS, child_preexec


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="process_guard", description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=6.0, help="seconds COMMAND gets to stop before a SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)
    try:
        child = subprocess.Popen(command, process_group=0, preexec_fn=child_preexec())
    except OSError as exc:
        print(f"process_guard: cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    deadline: float | None = None
    while child.poll() is None:
        if stop.is_set() and deadline is None:
            _signal_group(child.pid, signal.SIGINT)
            deadline = time.monotonic() + args.grace
        if deadline is not None:
            if time.monotonic() >= deadline:
                print(f"process_guard: {command[0]} did not stop within {args.grace:g} s; killing it",
                      file=sys.stderr, flush=True)
                break
            time.sleep(0.05)
        else:
            stop.wait(0.2)
    _signal_group(child.pid, signal.SIGKILL)
    status = child.wait()
    return 128 - status if status < 0 else status


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass  # nobody left in the group


if __name__ == "__main__":
    sys.exit(main())
