"""Child processes that do not outlive the devnet command that started them.

Started by a service manager, ``nohup`` or ``&`` in a script, a command
inherits SIGINT ignored, and so would its children: ``dagster dev`` shuts down
on SIGINT (and maps SIGTERM to the same handler), so it would ignore both.
Children therefore start with the default SIGINT and SIGTERM dispositions.

A parent that is SIGKILLed stops nothing, so on Linux each child also asks the
kernel for a SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); anvil dumps
its state and ``dagster dev`` stops its webserver and daemon on it. The kernel
sends that signal when the *thread* that forked exits, so it is only asked for
when forking from the main thread; a child started from another thread is
stopped by its owner only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _load_prctl() -> Any:
    """libc's prctl, looked up once here: the child between fork and exec must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def child_preexec(death_signal: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn``: default SIGINT/SIGTERM handling, and ``death_signal`` when this process dies.

    Call it in the parent (it records the parent's pid and thread); the function
    it returns runs in the child between fork and exec, where it does no more
    than two ``signal`` calls and one ``prctl``.
    """
    parent = os.getpid()
    watch_parent = _PRCTL is not None and threading.current_thread() is threading.main_thread()

    def preexec() -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        if watch_parent:
            _PRCTL(PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl: nobody would send the signal
                os.kill(os.getpid(), death_signal)

    return preexec


@contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread on the first SIGINT or SIGTERM, whatever was inherited.

    Later signals are ignored so that they do not break off the stopping itself,
    which is bounded by its own timeouts. Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
