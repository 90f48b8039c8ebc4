"""Map a CPU-bound function over a few items on every CPU the process may use.

The KZG work of a batch is a handful of independent, equally heavy calls into
ckzg, which keeps the GIL while it computes: threads run them one after the
other. Worker processes do run them side by side, but a spawned worker would
first load the KZG trusted setup again (about two seconds of CPU, more than
the work itself). Forked workers inherit everything the parent has already
loaded, so the parent loads once and the children start computing at once.

Where fork does not exist, one CPU is all there is, or there is one item,
the items are mapped in this process, with the same results.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the whole machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def forked_map(fn: Callable[[Item], Result], items: Iterable[Item], workers: int | None = None) -> list[Result]:
    """``[fn(item) for item in items]``, computed in up to ``workers`` forked processes.

    ``fn``, the items and the results travel between processes by pickle, so ``fn``
    must be a module-level function (or a ``functools.partial`` of one). An exception
    ``fn`` raises in a worker is raised here. If a worker dies (killed, out of memory),
    the items are mapped again in this process: ``fn`` is expected to be a pure
    computation, so doing it twice changes nothing but the time it takes.
    """
    work = list(items)
    count = min(len(work), workers if workers is not None else usable_cpus())
    if count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(item) for item in work]
    try:
        with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(fn, work))
    except BrokenProcessPool:
        return [fn(item) for item in work]
