"""What both settlement sensors read for the block hash rules of :mod:`orchestrator_pipelines.l2_block_hashes`.

Before settling: the next batch's recorded last-block hash (from its OS
output, once it exists) and what the node reports for that block now, one
header read per tick, only for a batch that is not settled. After settling:
the newest settled batch's last block is read again each tick (one read; a
reorganisation deeper than it changes its hash too, since hashes chain) and a
mismatch is alerted once.
"""

from __future__ import annotations

from typing import Any, Callable

from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.clients.madara import BlockNotFoundError, MadaraClient
from orchestrator_pipelines.errors import TransientError
from orchestrator_pipelines.l2_block_hashes import settled_mismatch
from orchestrator_pipelines.starknet.os_output import parse_os_output

ALERTED = "l2_reorg_alerted"


def recorded_last_hash(read_output: Callable[[], list[int]], exists: bool) -> int | None:
    """The last block hash in a batch's OS output (``new_block_hash``), None while there is no output."""
    return parse_os_output(read_output()).new_block_hash if exists else None


def node_hash(client: Callable[[], MadaraClient], block: int) -> tuple[int | None, str]:
    """(hash the node reports for ``block``, "") or (None, why it could not say: a node fault is no verdict)."""
    try:
        return client().block(block).block_hash, ""
    except (TransientError, BlockNotFoundError) as exc:
        return None, str(exc)


def hash_view(client: Callable[[], MadaraClient], recorded: int | None, last_block: int) -> dict[str, Any]:
    """The :class:`BatchView` fields of the hash rule: the node is asked only when a hash is recorded."""
    if recorded is None:
        return {}
    reported, error = node_hash(client, last_block)
    return {"recorded_block_hash": recorded, "node_block_hash": reported, "node_error": error}


def watch_settled_hash(
    context, *, client: Callable[[], MadaraClient], cursor: dict[str, Any], alerts, what: str, key: str, last_block: int,
    recorded: int | None,
) -> str | None:
    """Alert once when the node no longer has the newest settled batch's last block; the reason, or None."""
    reported, _ = node_hash(client, last_block) if recorded is not None else (None, "")
    mismatch, alert = settled_mismatch(what, key, last_block, recorded, reported, alerted=cursor.get(ALERTED))
    if mismatch is None:
        if reported is not None:
            cursor.pop(ALERTED, None)
        return None
    if alert:
        alerts.sink(context.log).send(Alert(
            title=f"L2 reorganised below settled {what} {key}",
            text=f"{mismatch.reason}; L1 holds a state the node no longer reaches: stop the sequencer's fork "
            "or resync the node onto the settled chain",
            severity="critical",
            fields={what.replace(" ", "_"): key, "block": last_block, "recorded": hex(mismatch.recorded),
                    "reported": hex(mismatch.reported)},
        ))
        cursor[ALERTED] = mismatch.alert_id
    context.log.error(mismatch.reason)
    return mismatch.reason
