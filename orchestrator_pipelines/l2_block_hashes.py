"""Whether the node still has the blocks a batch was built from: its block hash against the recorded one.

Why: a batch's OS output records the hash of its last block (``new_block_hash``),
and that hash is what the core contract stores when the batch settles. A node
that now reports another hash for that block (an L2 reorganisation, a node
resynced onto another fork, a faulty replica behind a load balancer) means the
batch describes blocks the chain no longer has: settling it would put a state
on L1 that the chain never reaches. A block hash commits to its parent's, so
comparing the last block's hash covers the whole range with one read.

- Before settling (:func:`unsettled_mismatch`): a mismatch holds the batch,
  with one readable reason, until the node reports the recorded hash again
  (or the batch is rebuilt from the blocks the node has now).
- After settling (:func:`settled_mismatch`): nothing can be held any more; the
  settlement sensor alerts once that the chain was reorganised below the state
  settled on L1.

Pure functions of what the sensors read: the recorded hash and the node's.
"""

from __future__ import annotations

from dataclasses import dataclass

# The name the gate and its alerts go by (a hold is "batch B held: ... (check l2_block_hash failed)").
L2_BLOCK_HASH = "l2_block_hash"


@dataclass(frozen=True)
class HashMismatch:
    """The node reports ``reported`` for block ``block`` where batch ``key`` recorded ``recorded``."""

    what: str  # "batch" or "aggregator batch"
    key: str
    block: int
    recorded: int
    reported: int
    settled: bool

    @property
    def reason(self) -> str:
        line = (
            f"node reports block {self.block} hash {hex(self.reported)}, "
            f"{self.what} {self.key} recorded {hex(self.recorded)}"
        )
        return f"{line} (L2 reorganised below the state settled on L1)" if self.settled else line

    @property
    def alert_id(self) -> str:
        """A repeat is the same batch, block and reported hash; another hash is news."""
        return f"{self.key}:{self.block}:{hex(self.reported)}"


def _mismatch(what: str, key: str, block: int, recorded: int | None, reported: int | None, settled: bool):
    if recorded is None or reported is None or recorded == reported:
        return None
    return HashMismatch(what, key, block, recorded, reported, settled)


def unsettled_mismatch(
    what: str, key: str, block: int, recorded: int | None, reported: int | None
) -> HashMismatch | None:
    """A batch not settled yet: the mismatch that holds it, or None (no record yet, or the node agrees)."""
    return _mismatch(what, key, block, recorded, reported, settled=False)


def settled_mismatch(
    what: str, key: str, block: int, recorded: int | None, reported: int | None, *, alerted: str | None
) -> tuple[HashMismatch | None, bool]:
    """A settled batch: the mismatch (None when the node agrees) and whether to alert (not yet alerted for it)."""
    mismatch = _mismatch(what, key, block, recorded, reported, settled=True)
    return mismatch, mismatch is not None and mismatch.alert_id != alerted
