"""L1->L2 messages as the node sees them: the core contract's ``LogMessageToL2`` events on the L1.

A Madara sequencer watches the core contract and turns each message an L1
transaction sent with ``sendMessageToL2`` into an ``L1_HANDLER`` transaction in
one of its next blocks. The node does the same with ``eth_getLogs`` on anvil,
once before each block it makes, so a message sent on L1 reaches L2 in the next
block.

Nothing about the watch is kept apart from the chain: the highest L1 block a
message was included from, and the nonces already included, are read back from
the block log on restart, and the watch starts again at that L1 block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from eth_abi import decode as abi_decode
from eth_utils import keccak

from orchestrator_pipelines.errors import TransientError

log = logging.getLogger(__name__)

LOG_MESSAGE_TO_L2_TOPIC = "0x" + keccak(
    text="LogMessageToL2(address,uint256,uint256,uint256[],uint256,uint256)"
).hex()
RPC_TIMEOUT_S = 5


@dataclass(frozen=True)
class L1Message:
    """One ``LogMessageToL2`` event: the message, its nonce and fee, and the L1 transaction that sent it."""

    from_address: int
    to_address: int
    selector: int
    payload: tuple[int, ...]
    nonce: int
    fee: int
    l1_transaction_hash: int
    l1_block_number: int


def decode_log_message_to_l2(entry: dict) -> L1Message:
    """An ``eth_getLogs`` entry of ``LogMessageToL2`` as an :class:`L1Message`.

    The three addresses/selector are indexed (topics 1-3); payload, nonce and
    fee are the ABI-encoded data.
    """
    topics = entry["topics"]
    payload, nonce, fee = abi_decode(["uint256[]", "uint256", "uint256"], bytes.fromhex(entry["data"][2:]))
    return L1Message(
        from_address=int(topics[1], 16),
        to_address=int(topics[2], 16),
        selector=int(topics[3], 16),
        payload=tuple(int(word) for word in payload),
        nonce=int(nonce),
        fee=int(fee),
        l1_transaction_hash=int(entry["transactionHash"], 16),
        l1_block_number=int(entry["blockNumber"], 16),
    )


class L1MessageWatcher:
    """Reads new ``LogMessageToL2`` events of one core contract, block range by block range."""

    def __init__(self, rpc_url: str, core_contract: str, from_block: int = 0):
        self.rpc_url = rpc_url
        self.core_contract = core_contract
        self.next_block = max(0, from_block)
        self._session = requests.Session()

    def _rpc(self, method: str, params: list) -> object:
        try:
            answer = self._session.post(
                self.rpc_url,
                json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                timeout=RPC_TIMEOUT_S,
            ).json()
        except (requests.RequestException, ValueError) as exc:
            raise TransientError(f"L1 {method} at {self.rpc_url}: {type(exc).__name__}: {exc}") from exc
        if "error" in answer:
            raise TransientError(f"L1 {method} at {self.rpc_url}: {answer['error']}")
        return answer["result"]

    def poll(self) -> list[L1Message]:
        """Messages logged since the last poll, in L1 order (block, then log index)."""
        latest = int(str(self._rpc("eth_blockNumber", [])), 16)
        if latest < self.next_block:
            return []
        entries = self._rpc(
            "eth_getLogs",
            [
                {
                    "address": self.core_contract,
                    "fromBlock": hex(self.next_block),
                    "toBlock": hex(latest),
                    "topics": [LOG_MESSAGE_TO_L2_TOPIC],
                }
            ],
        )
        assert isinstance(entries, list)
        self.next_block = latest + 1
        live = [e for e in entries if not e.get("removed")]
        live.sort(key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
        return [decode_log_message_to_l2(e) for e in live]

    def close(self) -> None:
        self._session.close()
