"""Reading a run of blocks from the node, keeping what was read when a fault stops it.

A batching tick makes about two requests per block. Even with the client's
retries, a node that fails a share of its requests fails some tick of a long
range somewhere; raising there would throw away every block read before the
fault, the next tick would start over from the same block, and at a high
enough fault rate no batch would ever close. So the read stops at the fault
and returns what it has, with the fault: the sensor closes what those blocks
close, keeps the rest for the next tick, and says why it stopped.
"""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from orchestrator_pipelines.errors import TransientError

T = TypeVar("T")


def read_until_fault(numbers: Iterable[int], read: Callable[[int], T]) -> tuple[list[T], TransientError | None]:
    """``read`` each block number in order; stop at the first transient fault and return it with what was read."""
    items: list[T] = []
    for number in numbers:
        try:
            items.append(read(number))
        except TransientError as fault:
            return items, fault
    return items, None


def fault_note(first: int, read: int, last: int, fault: TransientError) -> str:
    """One line: how far a read got and the fault that stopped it."""
    got = f"blocks {first}..{first + read - 1} read" if read else "no block read"
    return f"{got} of {first}..{last}, stopped by a node fault (kept for the next tick): {fault}"
