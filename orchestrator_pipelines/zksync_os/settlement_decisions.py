"""What to send to L1 next: the sensors' decisions as pure functions of what they observed.

Each L1 step is judged by L1's totals (``getTotalBatchesCommitted / Verified /
Executed``), never by memory:

- commit: batch ``committed + 1``, only once its FRI proof exists (as the
  server's gapless committer) and no commit run for it is in flight;
- prove: the SNARK range that starts at ``verified + 1``, once every batch in
  it is committed;
- execute: the proven batches from ``executed + 1`` whose execution delay has
  passed (the timelock's ``TimeNotReached`` otherwise), at most
  ``max_batches`` per transaction.

Each returns either the work or a one-line reason to wait, which the sensor
shows as its skip reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class L1Totals:
    committed: int
    verified: int
    executed: int


@dataclass(frozen=True)
class Wait:
    reason: str


def next_commit(totals: L1Totals, *, prepared_up_to: int, fri_proven: bool, in_flight: bool) -> int | Wait:
    """The batch to commit now, or why not. ``fri_proven`` is about batch ``committed + 1``."""
    batch = totals.committed + 1
    if batch > prepared_up_to:
        return Wait(f"L1 committed {totals.committed}; batch {batch} is not prepared yet")
    if in_flight:
        return Wait(f"commit of batch {batch} is in flight")
    if not fri_proven:
        return Wait(f"batch {batch} waits for its FRI proof")
    return batch


def next_prove(totals: L1Totals, *, snark_range: tuple[int, int] | None, in_flight: bool) -> tuple[int, int] | Wait:
    """The range to prove now, or why not. ``snark_range`` is the proven SNARK covering ``verified + 1``."""
    first = totals.verified + 1
    if first > totals.committed:
        return Wait(f"L1 verified {totals.verified} = committed; nothing to prove")
    if snark_range is None:
        return Wait(f"batch {first} waits for a SNARK proof")
    start, end = snark_range
    if start != first:
        return Wait(f"the SNARK proof covering batch {first} starts at {start}, not at verified + 1")
    if end > totals.committed:
        return Wait(f"SNARK range {start}-{end} waits for batch {end} to be committed (L1 committed {totals.committed})")
    if in_flight:
        return Wait(f"proof of batches {start}-{end} is in flight")
    return start, end


def next_execute(
    totals: L1Totals,
    *,
    executable_up_to: int,
    max_batches: int,
    in_flight: bool,
) -> tuple[int, int] | Wait:
    """The range to execute now, or why not. ``executable_up_to``: the last batch past its execution delay."""
    first = totals.executed + 1
    if first > totals.verified:
        return Wait(f"L1 executed {totals.executed} = verified; nothing to execute")
    if in_flight:
        return Wait(f"execution from batch {first} is in flight")
    last = min(totals.verified, executable_up_to, first + max_batches - 1)
    if last < first:
        return Wait(f"batch {first} waits for the execution delay")
    return first, last


def next_prepare(
    batch: int, *, sealed_up_to: int, previous_prepared: bool, in_flight: bool, failed_attempts: int, max_attempts: int
) -> int | Wait:
    """The batch to prepare now, or why not: batch ``batch`` is the oldest sealed batch not yet prepared.

    A batch's record starts from its predecessor's (the state commitment and the priority queue
    chain), so preparations go one after the other, never side by side: two runs in flight at once
    would see the later one fail on the earlier one's missing record, and with it every batch after.
    A failed preparation is requested again (the asset writes nothing half-done) up to ``max_attempts``.
    """
    if batch > sealed_up_to:
        return Wait(f"batch {batch} is not sealed yet")
    if in_flight:
        return Wait(f"preparation of batch {batch} is in flight")
    if not previous_prepared:
        return Wait(f"batch {batch} waits for batch {batch - 1} to be prepared")
    if failed_attempts >= max_attempts:
        return Wait(f"batch {batch}: {failed_attempts} preparations failed, waiting for an operator")
    return batch
