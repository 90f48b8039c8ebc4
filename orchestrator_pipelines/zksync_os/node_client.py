"""JSON-RPC client of a ZKsync OS node: the head, and per block what a batch is built from.

``block_for_batch(n)`` reads ``unstable_getBlockBatchInput`` (see
:mod:`orchestrator_pipelines.devnet.zksync_os.node`) into the domain's
:class:`~orchestrator_pipelines.zksync_os.commitment.BlockForBatch`, checking
every field, so a node that answers something else fails with one line naming
the block and the field. Timeouts, connection errors and HTTP 5xx are
:class:`TransientError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from orchestrator_pipelines.zksync_os.commitment import BlockForBatch
from orchestrator_pipelines.zksync_os.hexbytes import to_bytes, to_word
from orchestrator_pipelines.zksync_os.l2_logs import L2ToL1Log
from orchestrator_pipelines.zksync_os.sealing import BlockSummary


@dataclass(frozen=True)
class NodeBlock:
    """One block as the batcher sees it: the domain's block record plus sealing and proving data."""

    block: BlockForBatch
    execution_version: int
    first_priority_id: int | None
    prover_input: str  # base64 of little-endian u32 words
    tx_count: int

    def summary(self) -> BlockSummary:
        return BlockSummary(
            number=self.block.number, timestamp=self.block.timestamp, pubdata_bytes=len(self.block.pubdata),
            l2_to_l1_logs=len(self.block.l2_to_l1_logs), execution_version=self.execution_version,
        )


class ZkOsNodeClient:
    def __init__(self, rpc_url: str, timeout_s: float = 30.0):
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._id = 0

    def _call(self, method: str, params: list) -> Any:
        self._id += 1
        try:
            response = self._session.post(
                self.rpc_url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params},
                timeout=self.timeout_s,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"ZKsync OS node {method}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise TransientError(f"ZKsync OS node {method}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise OrchestratorError(f"ZKsync OS node {method}: the answer is not JSON") from None
        if "error" in body:
            raise OrchestratorError(f"ZKsync OS node {method}: {body['error'].get('message')}")
        return body.get("result")

    def chain_id(self) -> int:
        return int(self._call("eth_chainId", []), 16)

    def head(self) -> int:
        return int(self._call("eth_blockNumber", []), 16)

    def block_for_batch(self, number: int) -> NodeBlock:
        data = self._call("unstable_getBlockBatchInput", [number])
        if data is None:
            raise TransientError(f"ZKsync OS node has no block {number} yet")
        where = f"block {number}"
        try:
            if data["number"] != number:
                raise InvalidInputError(f"{where}: the node answered block {data['number']}")
            previous = tuple(to_word(h, f"{where}.previousBlockHashes") for h in data["previousBlockHashes"])
            if len(previous) != 255:
                raise InvalidInputError(f"{where}: expected 255 previous block hashes, got {len(previous)}")
            logs = tuple(L2ToL1Log.from_dict(entry, f"{where}.l2ToL1Logs").encode() for entry in data["l2ToL1Logs"])
            block = BlockForBatch(
                number=number,
                timestamp=int(data["timestamp"]),
                block_hash=to_word(data["hash"], f"{where}.hash"),
                previous_255_block_hashes=previous,
                state_root=to_word(data["stateRoot"], f"{where}.stateRoot"),
                leaf_count=int(data["leafCount"]),
                pubdata=to_bytes(data["pubdata"], f"{where}.pubdata"),
                l1_tx_hashes=tuple(to_word(h, f"{where}.l1TxHashes") for h in data["l1TxHashes"]),
                l2_to_l1_logs=logs,
            )
            return NodeBlock(
                block=block,
                execution_version=int(data["executionVersion"]),
                first_priority_id=data["firstPriorityId"],
                prover_input=str(data["proverInput"]),
                tx_count=int(data["txCount"]),
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}: field {exc.args[0]!r} is missing in the node's answer") from None
