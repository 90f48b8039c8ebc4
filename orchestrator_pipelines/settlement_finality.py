"""Whether L1 still holds the settlements we recorded: a pure function of what the sensor observed.

Why: an L1 reorganisation can remove a batch's ``updateStateKzgDA`` (or move it
to another block) after its ``state_update`` was recorded. Nothing else
notices: the record stays, the settlement sensor skips the batch as settled,
and every later batch is refused as out of order. So every tick the sensor
re-reads what L1 says about the recorded settlements that are not final yet
and calls :func:`decide`.

The rules, per recorded settlement, oldest first:

1. the core contract's ``stateBlockNumber`` is below the batch's last block:
   the state update is gone;
2. the recorded transaction has no successful receipt on the canonical chain
   any more: it was dropped (or waits in the pool to be included again);
3. its receipt is in another block than the one recorded (the block hash
   changed): it was included again elsewhere, and the record is wrong.

The earliest batch found so is settled again: the settle step itself waits for
a transaction included again, or sends it once (it is judged by the chain).
The alert is sent once per batch and transaction, not every tick.

A settlement whose L1 block is at or below L1's ``finalized`` block can no
longer be reorganised away, so it leaves the watch (:func:`final_count`): the
work per tick stays bounded by what settled in the last two epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class RecordedSettlement:
    """What ``state_update`` recorded for one batch.

    ``tx_hash``/``l1_block``/``l1_block_hash``: the transaction and the L1 block
    it was confirmed in. A batch found already on chain (settled by another
    sender) has no transaction: ``l1_block`` is then the L1 head it was observed
    at, and only rule 1 applies. Records written before L1 blocks were recorded
    have no ``l1_block``: they cannot be judged and count as final.
    """

    key: str
    last_block: int
    tx_hash: str | None = None
    l1_block: int | None = None
    l1_block_hash: str | None = None


@dataclass(frozen=True)
class Inclusion:
    """Where L1 has a transaction now."""

    block_number: int
    block_hash: str


@dataclass(frozen=True)
class L1View:
    """What L1 says now: the core contract's ``stateBlockNumber`` and the recorded transactions' inclusions.

    ``inclusions`` maps every recorded ``tx_hash`` to its successful inclusion, or None when there is none.
    """

    state_block_number: int
    inclusions: Mapping[str, Inclusion | None]


@dataclass(frozen=True)
class Resettle:
    """Settle batch ``key`` again: L1 no longer holds its recorded settlement (``what_l1_says``)."""

    key: str
    tx_hash: str | None
    what_l1_says: str
    alert: bool

    @property
    def alert_id(self) -> str:
        return loss_id(self.key, self.tx_hash)

    @property
    def alert_text(self) -> str:
        tx = f"transaction {self.tx_hash}" if self.tx_hash else "its state update"
        return f"batch {self.key}: L1 no longer holds {tx}: {self.what_l1_says}; settling it again"


@dataclass(frozen=True)
class Held:
    """Every watched settlement is still on L1."""

    reason: str


def loss_id(key: str, tx_hash: str | None) -> str:
    """What makes an alert about a loss a repeat: the batch and its transaction."""
    return f"{key}:{tx_hash or '-'}"


def why_lost(recorded: RecordedSettlement, view: L1View) -> str | None:
    """What L1 says now when it no longer holds ``recorded``, in one line; None while it does."""
    if view.state_block_number < recorded.last_block:
        return (
            f"the core contract's stateBlockNumber is {view.state_block_number}, below the batch's last block "
            f"{recorded.last_block}"
        )
    if recorded.tx_hash is None:
        return None
    inclusion = view.inclusions.get(recorded.tx_hash)
    if inclusion is None:
        return f"no successful receipt for it any more (recorded in L1 block {recorded.l1_block})"
    if recorded.l1_block_hash and inclusion.block_hash.lower() != recorded.l1_block_hash.lower():
        return (
            f"it is now in L1 block {inclusion.block_number} ({inclusion.block_hash}), not in the recorded block "
            f"{recorded.l1_block} ({recorded.l1_block_hash})"
        )
    return None


def decide(recorded: Sequence[RecordedSettlement], view: L1View, *, alerted: str | None) -> Resettle | Held:
    """The earliest recorded settlement L1 no longer holds, to settle again; or why nothing is to be done.

    ``recorded`` are the watched settlements, oldest first; ``alerted`` the
    :attr:`Resettle.alert_id` of the last loss alerted (None: none since all held).
    """
    for settlement in recorded:
        lost = why_lost(settlement, view)
        if lost is not None:
            alert = alerted != loss_id(settlement.key, settlement.tx_hash)
            return Resettle(settlement.key, settlement.tx_hash, lost, alert=alert)
    if not recorded:
        return Held("no recorded settlement awaits finality")
    first, last = recorded[0].key, recorded[-1].key
    span = first if first == last else f"{first}..{last}"
    return Held(f"settlements of {span} still on L1 (stateBlockNumber {view.state_block_number})")


def final_count(recorded: Sequence[RecordedSettlement], finalized_block: int) -> int:
    """How many of ``recorded`` (oldest first) are final, counted from the oldest up to the first that is not."""
    count = 0
    for settlement in recorded:
        if settlement.l1_block is not None and settlement.l1_block > finalized_block:
            break
        count += 1
    return count
