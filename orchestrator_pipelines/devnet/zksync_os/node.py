"""A ZKsync OS node stand-in: EVM JSON-RPC over a chain that makes a block every ``block_time_s``.

web3.py reads it as any EVM node (``eth_chainId``, ``eth_blockNumber``,
``eth_getBlockByNumber`` / ``ByHash``, ``eth_getTransactionByHash``,
``eth_getTransactionReceipt`` with ZKsync's ``l2ToL1Logs``, ``eth_getBalance``,
``eth_getTransactionCount``, ``eth_gasPrice``). Block tags ``safe`` and
``finalized`` follow L1: the last block of the last committed and of the last
executed batch, read from the chain's diamond on L1 (totals, and the
``newStateCommitment`` of each ``BlockCommit``'s calldata matched against the
node's own state commitments).

With an L1 RPC and the diamond address the node also picks up deposits: every
``NewPriorityRequest`` event becomes an L1 transaction in the next block, in
priority-id order, crediting ``transaction.to`` with ``transaction.reserved[0]``
(the mint value), as the sequencer does.

What the batcher needs per block, which a real ZKsync OS server keeps
internally, is served by ``unstable_getBlockBatchInput(blockNumber)``::

    {"number", "hash", "parentHash", "timestamp", "executionVersion",
     "stateRoot", "leafCount", "stateCommitment",
     "previousBlockHashes": [255 hashes, oldest first, zero-padded near genesis],
     "pubdata": hex, "l1TxHashes": [...], "l1TxCount", "firstPriorityId" (or null),
     "l2ToL1Logs": [{"l2ShardId", "isService", "txNumberInBlock", "sender", "key", "value"}],
     "l2ToL1Messages": [hex], "txCount",
     "proverInput": base64 of little-endian u32 words (a deterministic stand-in)}

Which of these are stand-ins is listed in :mod:`.node_chain` and the README.
Run alone: ``python -m orchestrator_pipelines.devnet.zksync_os.node --port 3050``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from orchestrator_pipelines.devnet.zksync_os.node_chain import Block, Chain, ChainConfig, Deposit, Tx
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.zksync_os.prover_api.proofs import encode_words

log = logging.getLogger(__name__)

L2_CANONICAL_TX = (
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,"
    "uint256[4],bytes,bytes,uint256[],bytes,bytes)"
)
NEW_PRIORITY_REQUEST_TOPIC = keccak(text=f"NewPriorityRequest(uint256,bytes32,uint64,{L2_CANONICAL_TX},bytes[])")
BLOCK_COMMIT_TOPIC = keccak(text="BlockCommit(uint256,bytes32,bytes32)")
COMMIT_SELECTOR = bytes.fromhex("0db9eb87")
STORED_BATCH_INFO = "(uint64,bytes32,uint64,uint256,bytes32,bytes32,bytes32,uint256,bytes32)"
COMMIT_BATCH_INFO_ZKSYNC_OS = "(uint64,bytes32,uint256,bytes32,bytes32,bytes32,address,bytes32,uint64,uint64,uint256,bytes)"
TOTAL_COMMITTED_SELECTOR = keccak(text="getTotalBatchesCommitted()")[:4]
TOTAL_EXECUTED_SELECTOR = keccak(text="getTotalBatchesExecuted()")[:4]
GAS_PRICE_WEI = 25_000_000  # 0.025 gwei, ZKsync's usual L2 base fee
TRANSFER_GAS = 21_000
RPC_ERROR_INVALID_PARAMS = -32602


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def _hex(value: int) -> str:
    return hex(value)


def _data(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass
class NodeConfig:
    host: str = "127.0.0.1"
    port: int = 0
    block_time_s: float = 1.0
    chain: ChainConfig = field(default_factory=ChainConfig)
    accounts: list[str] = field(default_factory=list)
    l1_rpc_url: str | None = None
    l1_diamond_address: str | None = None
    l1_poll_s: float = 0.5


class ZkOsNode:
    """The running node: HTTP JSON-RPC, block timer and L1 watcher; also a context manager."""

    def __init__(self, config: NodeConfig | None = None):
        from orchestrator_pipelines.devnet.anvil import DEV_ACCOUNTS

        self.config = config or NodeConfig()
        accounts = self.config.accounts or [a.address for a in DEV_ACCOUNTS]
        self.chain = Chain(self.config.chain, accounts)
        self.lock = threading.RLock()
        self.safe_block = 0
        self.finalized_block = 0
        self.batch_last_block: dict[int, int] = {0: 0}
        self._l1_from_block = 0
        self._stop = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._http is None:
            raise OrchestratorError("the ZKsync OS node is not started")
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._http is not None:
            return self.url
        self._stop.clear()
        handler = type("Handler", (_Handler,), {"node": self})
        self._http = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        self._http.daemon_threads = True
        self._spawn(self._http.serve_forever, "zkos-node-http")
        if self.config.block_time_s > 0:
            self._spawn(self._produce_on_timer, "zkos-node-blocks")
        if self.config.l1_rpc_url and self.config.l1_diamond_address:
            self._spawn(self._watch_l1, "zkos-node-l1")
        log.info("ZKsync OS node (chain %d) at %s", self.config.chain.chain_id, self.url)
        return self.url

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> ZkOsNode:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- blocks -----------------------------------------------------------------------

    def produce_block(self) -> Block:
        with self.lock:
            timestamp = max(int(time.time()), self.chain.head.timestamp)
            return self.chain.produce(timestamp)

    def _produce_on_timer(self) -> None:
        next_at = time.monotonic() + self.config.block_time_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.config.block_time_s
            try:
                self.produce_block()
            except Exception:  # one bad block must not stop the chain
                log.exception("making block %d failed", self.chain.head.number + 1)

    # -- L1 ---------------------------------------------------------------------------

    def _l1(self, method: str, params: list) -> Any:
        response = requests.post(
            self.config.l1_rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
        )
        body = response.json()
        if "error" in body:
            raise OrchestratorError(f"L1 {method}: {body['error'].get('message')}")
        return body["result"]

    def _watch_l1(self) -> None:
        while not self._stop.wait(self.config.l1_poll_s):
            try:
                self.poll_l1()
            except (requests.RequestException, OrchestratorError, ValueError) as exc:
                log.warning("reading L1 failed (will retry): %s", exc)

    def poll_l1(self) -> None:
        """One look at L1: new deposits, committed batches' last blocks, the safe and finalized blocks."""
        diamond = to_checksum_address(self.config.l1_diamond_address)
        latest = int(self._l1("eth_blockNumber", []), 16)
        if latest >= self._l1_from_block:
            logs = self._l1(
                "eth_getLogs",
                [{"fromBlock": _hex(self._l1_from_block), "toBlock": _hex(latest), "address": diamond,
                  "topics": [[_data(NEW_PRIORITY_REQUEST_TOPIC), _data(BLOCK_COMMIT_TOPIC)]]}],
            )
            for entry in logs:
                topic = bytes.fromhex(entry["topics"][0][2:])
                if topic == NEW_PRIORITY_REQUEST_TOPIC:
                    self._on_priority_request(entry)
                else:
                    self._on_block_commit(entry)
            self._l1_from_block = latest + 1
        committed = int(self._l1("eth_call", [{"to": diamond, "data": _data(TOTAL_COMMITTED_SELECTOR)}, "latest"]), 16)
        executed = int(self._l1("eth_call", [{"to": diamond, "data": _data(TOTAL_EXECUTED_SELECTOR)}, "latest"]), 16)
        with self.lock:
            self.safe_block = self.batch_last_block.get(committed, self.safe_block)
            self.finalized_block = self.batch_last_block.get(executed, self.finalized_block)

    def _on_priority_request(self, entry: dict) -> None:
        data = bytes.fromhex(entry["data"][2:])
        priority_id = int.from_bytes(data[0:32], "big")
        tx_hash = data[32:64]
        to, value = "0x" + "00" * 20, 0
        try:
            _, _, _, transaction, _ = abi_decode(["uint256", "bytes32", "uint64", L2_CANONICAL_TX, "bytes[]"], data)
            to = to_checksum_address(transaction[2].to_bytes(32, "big")[12:])
            value = transaction[10][0]
        except Exception as exc:  # an event of another layout still yields its id and hash
            log.warning("NewPriorityRequest %d: transaction not decoded (%s); crediting nothing", priority_id, exc)
        with self.lock:
            if self.chain.add_deposit(Deposit(priority_id, tx_hash, to, value, int(entry["blockNumber"], 16))):
                log.info("deposit %d: %d wei to %s", priority_id, value, to)

    def _on_block_commit(self, entry: dict) -> None:
        batch_number = int(entry["topics"][1], 16)
        tx = self._l1("eth_getTransactionByHash", [entry["transactionHash"]])
        calldata = bytes.fromhex(tx["input"][2:])
        if calldata[:4] != COMMIT_SELECTOR:
            log.warning("batch %d committed by a call the node does not decode (%s)", batch_number, calldata[:4].hex())
            return
        _, _, _, data = abi_decode(["address", "uint256", "uint256", "bytes"], calldata[4:])
        _, infos = abi_decode([STORED_BATCH_INFO, f"{COMMIT_BATCH_INFO_ZKSYNC_OS}[]"], data[1:])
        for info in infos:
            with self.lock:
                block = self.chain.block_with_commitment(info[1])
                if block is None:
                    log.warning("batch %d commits to a state this node never had", info[0])
                    continue
                self.batch_last_block[info[0]] = block.number

    # -- JSON-RPC -------------------------------------------------------------------------

    def resolve_block(self, tag: Any) -> Block | None:
        with self.lock:
            head = self.chain.head.number
            if tag in (None, "latest", "pending"):
                number = head
            elif tag == "earliest":
                number = 0
            elif tag == "safe":
                number = self.safe_block
            elif tag == "finalized":
                number = self.finalized_block
            elif isinstance(tag, str) and tag.startswith("0x"):
                try:
                    number = int(tag, 16)
                except ValueError:
                    raise RpcError(RPC_ERROR_INVALID_PARAMS, f"invalid block number {tag!r}") from None
            else:
                raise RpcError(RPC_ERROR_INVALID_PARAMS, f"invalid block tag {tag!r}")
            return self.chain.blocks[number] if 0 <= number <= head else None

    def call(self, method: str, params: list) -> Any:
        handler = getattr(self, "rpc_" + method, None)
        if handler is None:
            raise RpcError(-32601, f"the method {method} does not exist/is not available")
        try:
            return handler(*params)
        except TypeError as exc:
            raise RpcError(RPC_ERROR_INVALID_PARAMS, f"invalid params for {method}: {exc}") from None

    def rpc_eth_chainId(self) -> str:  # noqa: N802
        return _hex(self.config.chain.chain_id)

    def rpc_net_version(self) -> str:
        return str(self.config.chain.chain_id)

    def rpc_eth_blockNumber(self) -> str:  # noqa: N802
        return _hex(self.chain.head.number)

    def rpc_eth_gasPrice(self) -> str:  # noqa: N802
        return _hex(GAS_PRICE_WEI)

    def rpc_eth_getBalance(self, address: str, tag: Any = "latest") -> str:  # noqa: N802
        block = self.resolve_block(tag)
        if block is None:
            raise RpcError(RPC_ERROR_INVALID_PARAMS, f"block {tag} not found")
        with self.lock:
            if block.number != self.chain.head.number:
                raise RpcError(-32000, "historical state is not kept by this node: ask for latest")
            return _hex(self.chain.balances.get(to_checksum_address(address), 0))

    def rpc_eth_getTransactionCount(self, address: str, tag: Any = "latest") -> str:  # noqa: N802
        with self.lock:
            return _hex(self.chain.nonces.get(to_checksum_address(address), 0))

    def rpc_eth_getBlockByNumber(self, tag: Any, full: bool = False) -> dict | None:  # noqa: N802
        block = self.resolve_block(tag)
        return None if block is None else self._block_json(block, full)

    def rpc_eth_getBlockByHash(self, block_hash: str, full: bool = False) -> dict | None:  # noqa: N802
        wanted = bytes.fromhex(block_hash[2:])
        with self.lock:
            block = next((b for b in reversed(self.chain.blocks) if b.hash == wanted), None)
        return None if block is None else self._block_json(block, full)

    def rpc_eth_getTransactionByHash(self, tx_hash: str) -> dict | None:  # noqa: N802
        found = self._find_tx(tx_hash)
        return None if found is None else self._tx_json(*found)

    def rpc_eth_getTransactionReceipt(self, tx_hash: str) -> dict | None:  # noqa: N802
        found = self._find_tx(tx_hash)
        if found is None:
            return None
        block, tx = found
        l2_to_l1 = []
        for position, entry in enumerate(tx.logs):
            l2_to_l1.append({
                "blockNumber": _hex(block.number), "blockHash": _data(block.hash), "l1BatchNumber": None,
                "transactionIndex": _hex(tx.index), "transactionHash": _data(tx.hash),
                "transactionLogIndex": _hex(position), "logIndex": _hex(position),
                "shardId": _hex(entry.l2_shard_id), "isService": entry.is_service,
                "sender": entry.sender, "key": _data(entry.key), "value": _data(entry.value),
            })
        return {
            "transactionHash": _data(tx.hash), "transactionIndex": _hex(tx.index),
            "blockHash": _data(block.hash), "blockNumber": _hex(block.number),
            "from": tx.sender, "to": tx.to, "cumulativeGasUsed": _hex(TRANSFER_GAS * (tx.index + 1)),
            "gasUsed": _hex(TRANSFER_GAS), "effectiveGasPrice": _hex(GAS_PRICE_WEI), "contractAddress": None,
            "logs": [], "logsBloom": "0x" + "00" * 256, "status": "0x1", "type": "0x2" if tx.kind != "deposit" else "0x7f",
            "l2ToL1Logs": l2_to_l1,
        }

    def rpc_unstable_getBlockBatchInput(self, number: Any) -> dict | None:  # noqa: N802
        block = self.resolve_block(number if isinstance(number, str) else _hex(int(number)))
        if block is None:
            return None
        l1_txs = block.l1_txs
        previous = [b"\x00" * 32] * (255 - len(block.previous_hashes)) + block.previous_hashes
        return {
            "number": block.number, "hash": _data(block.hash), "parentHash": _data(block.parent_hash),
            "timestamp": block.timestamp, "executionVersion": block.execution_version,
            "stateRoot": _data(block.state_root), "leafCount": block.leaf_count,
            "stateCommitment": _data(block.state_commitment),
            "previousBlockHashes": [_data(h) for h in previous],
            "pubdata": _data(block.pubdata),
            "l1TxHashes": [_data(tx.hash) for tx in l1_txs], "l1TxCount": len(l1_txs),
            "firstPriorityId": l1_txs[0].priority_id if l1_txs else None,
            "l2ToL1Logs": [
                {"l2ShardId": e.l2_shard_id, "isService": e.is_service, "txNumberInBlock": e.tx_number_in_block,
                 "sender": e.sender, "key": _data(e.key), "value": _data(e.value)}
                for e in block.l2_to_l1_logs
            ],
            "l2ToL1Messages": [_data(tx.message) for tx in block.txs if tx.message is not None],
            "txCount": len(block.txs),
            "proverInput": encode_words(block.prover_input_words()),
        }

    def _find_tx(self, tx_hash: str) -> tuple[Block, Tx] | None:
        with self.lock:
            where = self.chain.tx_index.get(bytes.fromhex(tx_hash[2:]))
            if where is None:
                return None
            block = self.chain.blocks[where[0]]
            return block, block.txs[where[1]]

    def _tx_json(self, block: Block, tx: Tx) -> dict:
        return {
            "hash": _data(tx.hash), "blockHash": _data(block.hash), "blockNumber": _hex(block.number),
            "transactionIndex": _hex(tx.index), "from": tx.sender, "to": tx.to, "value": _hex(tx.value),
            "nonce": _hex(tx.nonce), "gas": _hex(TRANSFER_GAS), "gasPrice": _hex(GAS_PRICE_WEI),
            "maxFeePerGas": _hex(GAS_PRICE_WEI), "maxPriorityFeePerGas": "0x0", "input": "0x",
            "type": "0x2" if tx.kind != "deposit" else "0x7f", "chainId": _hex(self.config.chain.chain_id),
            "v": "0x0", "r": "0x0", "s": "0x0",
        }

    def _block_json(self, block: Block, full: bool) -> dict:
        return {
            "number": _hex(block.number), "hash": _data(block.hash), "parentHash": _data(block.parent_hash),
            "timestamp": _hex(block.timestamp), "stateRoot": _data(block.state_root),
            "transactionsRoot": _data(keccak(b"".join(tx.hash for tx in block.txs))),
            "receiptsRoot": "0x" + "00" * 32, "logsBloom": "0x" + "00" * 256, "miner": "0x" + "00" * 20,
            "difficulty": "0x0", "totalDifficulty": "0x0", "extraData": "0x", "size": _hex(len(block.pubdata)),
            "gasLimit": _hex(1_125_899_906_842_624), "gasUsed": _hex(TRANSFER_GAS * len(block.txs)),
            "baseFeePerGas": _hex(GAS_PRICE_WEI), "nonce": "0x0000000000000000", "mixHash": "0x" + "00" * 32,
            "sha3Uncles": _data(keccak(b"\xc0")), "uncles": [],
            "transactions": [self._tx_json(block, tx) if full else _data(tx.hash) for tx in block.txs],
        }


class _Handler(BaseHTTPRequestHandler):
    node: ZkOsNode
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            return self._send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
        if isinstance(request, list):
            return self._send([self._one(item) for item in request])
        self._send(self._one(request))

    def _one(self, request: Any) -> dict:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        try:
            result = self.node.call(request["method"], list(request.get("params") or []))
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": exc.code, "message": str(exc)}}

    def do_GET(self) -> None:  # noqa: N802
        self._send({"status": "ok", "block_number": self.node.chain.head.number})

    def _send(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator_pipelines.devnet.zksync_os.node",
        description="Serve a ZKsync OS chain stand-in over EVM JSON-RPC.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3050)
    parser.add_argument("--block-time", type=float, default=1.0, help="seconds between blocks; 0: none")
    parser.add_argument("--chain-id", type=int, default=270)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--l1-rpc-url", default=None, help="L1 to read deposits and commit/execute from")
    parser.add_argument("--l1-diamond", default=None, help="the chain's diamond (Mailbox, Executor) on L1")
    parser.add_argument("--withdrawal-every", type=int, default=3)
    parser.add_argument("--heavy-pubdata-every", type=int, default=0)
    parser.add_argument("--upgrade-at-block", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NodeConfig(
        host=args.host, port=args.port, block_time_s=args.block_time,
        chain=ChainConfig(chain_id=args.chain_id, seed=args.seed, withdrawal_every=args.withdrawal_every,
                          heavy_pubdata_every=args.heavy_pubdata_every, upgrade_at_block=args.upgrade_at_block),
        l1_rpc_url=args.l1_rpc_url, l1_diamond_address=args.l1_diamond,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ZkOsNode(config) as node:
        print(node.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
