"""The ``l1_reorg`` fault of bench_faults: take a recorded settlement back from anvil, as a reorg would.

Why: after ``state_update`` recorded a batch's ``updateStateKzgDA``, an L1
reorganisation can remove the block that holds it. The orchestrator must then
notice (sensors/settlement_watch.py), settle the batch again exactly once and
record where it is now, never keeping a record of a block the chain no longer
has. :func:`reorg_out` makes that happen on purpose: ``anvil_reorg`` of a depth
equal to the transaction's confirmations (its own block counted), so that its
block and every block after it are replaced by empty ones.

Every ``updateStateKzgDA`` in the dropped blocks is gone for good (a later
batch's too, when it landed there), as if it had fallen out of the mempool: the
pipeline has to send it again. The other transactions of those blocks (fact
registrations and the like, from other senders) are sent again at once, as a
real chain would include them again, so that the reorganisation takes back
settlements and nothing the pipeline could not redo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import requests

from orchestrator_pipelines.starknet.calldata import UPDATE_STATE_KZG_DA_SELECTOR, decode_update_state_kzg_da

# Tries when a new block lands between reading the head and reorganising (anvil mines on receipt).
REORG_TRIES = 3


def rpc(url: str, method: str, *params: Any) -> Any:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def new_block_number(tx: dict, core: str) -> int | None:
    """The OS output's new Starknet block number when ``tx`` is an ``updateStateKzgDA`` to ``core``, else None."""
    data = bytes.fromhex(tx["input"][2:])
    if (tx.get("to") or "").lower() != core.lower() or data[:4] != UPDATE_STATE_KZG_DA_SELECTOR:
        return None
    output, _ = decode_update_state_kzg_da(data)
    return output[3]


@dataclass
class Reorg:
    """What one reorganisation took back."""

    depth: int
    dropped: list[dict]  # updateStateKzgDA taken back: tx_hash, l1_block, batch
    replayed: int  # other transactions of the replaced blocks, sent again


def reorg_out(l1_url: str, core: str, tx_hash: str, batch_of: Callable[[int], str], max_depth: int) -> Reorg | None:
    """Replace the block holding ``tx_hash`` and all after it; None when it is not mined or deeper than ``max_depth``.

    ``batch_of`` names the batch of a state update from its new Starknet block number.
    """
    depth, dropped, replay = 0, [], []
    for _ in range(REORG_TRIES):
        receipt = rpc(l1_url, "eth_getTransactionReceipt", tx_hash)
        if receipt is None:
            break
        block = int(receipt["blockNumber"], 16)
        head = int(rpc(l1_url, "eth_blockNumber"), 16)
        if head - block + 1 > max_depth:
            return None if not dropped else Reorg(depth, dropped, len(replay))
        found, others = _transactions(l1_url, core, block, head, batch_of)
        rpc(l1_url, "anvil_reorg", head - block + 1, [])
        depth = max(depth, head - block + 1)
        dropped.extend(found)
        senders = {entry["from"] for entry in found}
        replay.extend(tx for tx in others if tx["from"].lower() not in senders)
    for tx in replay:
        if tx["raw"] is None:
            raise RuntimeError(f"anvil gave no raw form of {tx['hash']} to send again")
        rpc(l1_url, "eth_sendRawTransaction", tx["raw"])
    return Reorg(depth, dropped, len(replay)) if dropped else None


def _transactions(l1_url: str, core: str, first: int, last: int, batch_of) -> tuple[list[dict], list[dict]]:
    """(state updates, other transactions) of L1 blocks ``first``..``last``.

    The raw form of the others is read now: once their blocks are replaced anvil no longer has them.
    """
    state_updates, others = [], []
    for number in range(first, last + 1):
        for tx in rpc(l1_url, "eth_getBlockByNumber", hex(number), True)["transactions"]:
            new_block = new_block_number(tx, core)
            if new_block is not None:
                state_updates.append({"tx_hash": tx["hash"], "l1_block": number, "batch": batch_of(new_block),
                                      "from": tx["from"].lower()})
            else:
                others.append({**tx, "raw": rpc(l1_url, "eth_getRawTransactionByHash", tx["hash"])})
    return state_updates, others
