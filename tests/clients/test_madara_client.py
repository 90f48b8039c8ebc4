"""MadaraClient against the devnet Starknet node and against misbehaving HTTP servers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from orchestrator_pipelines.clients.madara import (
    BlockNotFoundError,
    ContractNotFoundError,
    MadaraClient,
    MadaraRpcError,
)
from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.devnet.starknet_node.generator import STRK_FEE_TOKEN_ADDRESS, balance_key
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet.state_update import StateUpdate

CHAIN_LENGTH = 15


@pytest.fixture(scope="module")
def node() -> Iterator[NodeServer]:
    config = NodeConfig(block_time_s=0, seed=5, large_block_every=5, large_block_storage_writes=1_000)
    with NodeServer(config) as server:
        for _ in range(CHAIN_LENGTH):
            server.produce_block()
        yield server


@pytest.fixture(scope="module")
def client(node: NodeServer) -> MadaraClient:
    return MadaraClient(node.url, timeout_s=10)


def test_head_chain_id_and_spec_version(node: NodeServer, client: MadaraClient) -> None:
    assert client.head() == node.state.head == CHAIN_LENGTH
    assert client.chain_id() == "MADARA_DEVNET"
    assert client.spec_version() == "0.10.2"


def test_block_headers_match_the_node_and_chain(node: NodeServer, client: MadaraClient) -> None:
    headers = [client.block(n) for n in range(CHAIN_LENGTH + 1)]
    for header in headers:
        stored = node.state.block(header.number)
        assert (header.block_hash, header.parent_hash, header.new_root, header.timestamp) == (
            stored.block_hash,
            stored.parent_hash,
            stored.new_root,
            stored.timestamp,
        )
        assert header.starknet_version == "0.13.4"
    for parent, child in zip(headers, headers[1:]):
        assert child.parent_hash == parent.block_hash


def test_state_updates_convert_to_the_formats_model(node: NodeServer, client: MadaraClient) -> None:
    updates = client.state_updates(0, CHAIN_LENGTH)
    assert len(updates) == CHAIN_LENGTH + 1
    assert all(isinstance(u, StateUpdate) for u in updates)
    for number, update in enumerate(updates):
        assert update == node.state.block(number).state_update()
        if number:
            assert update.old_root == updates[number - 1].new_root
    assert client.state_update(5) == updates[5]
    assert sum(len(d.storage_entries) for d in updates[5].state_diff.storage_diffs) >= 1_000
    assert client.state_updates(3, 3) == [updates[3]]


def test_nonce_and_storage_at_past_blocks(node: NodeServer, client: MadaraClient) -> None:
    update = client.state_update(7)
    sender = update.state_diff.nonces[0]
    assert client.nonce(sender.contract_address, 7) == sender.nonce
    assert client.nonce(sender.contract_address, 6) == node.state.nonce_at(sender.contract_address, 6)
    assert client.nonce(sender.contract_address, 6) < sender.nonce
    touched = [d.address for d in update.state_diff.storage_diffs] + [n.contract_address for n in update.state_diff.nonces]
    nonces = client.nonces(touched + touched[:1], 7)
    assert list(nonces) == list(dict.fromkeys(touched))
    assert nonces == {a: node.state.nonce_at(a, 7) for a in touched}
    with pytest.raises(ContractNotFoundError, match="contract 0xabc not found at block 7"):
        client.nonces([touched[0], 0xABC], 7)
    key = balance_key(node.config.sequencer_address)
    values = [client.storage_at(STRK_FEE_TOKEN_ADDRESS, key, n) for n in range(CHAIN_LENGTH + 1)]
    assert values == [node.state.storage_at(STRK_FEE_TOKEN_ADDRESS, key, n) for n in range(CHAIN_LENGTH + 1)]
    assert values[0] == 0 < values[1] < values[-1]


def test_missing_block_and_contract_are_named(client: MadaraClient) -> None:
    missing = CHAIN_LENGTH + 100
    with pytest.raises(BlockNotFoundError, match=f"block {missing} not found") as info:
        client.block(missing)
    assert info.value.block_number == missing
    assert isinstance(info.value, OrchestratorError)
    with pytest.raises(BlockNotFoundError, match=f"block {missing} "):
        client.state_update(missing)
    with pytest.raises(BlockNotFoundError, match=f"block {CHAIN_LENGTH + 1} "):
        client.state_updates(CHAIN_LENGTH - 1, CHAIN_LENGTH + 1)
    with pytest.raises(ContractNotFoundError, match="contract 0xabc not found at block 3"):
        client.nonce(0xABC, 3)
    with pytest.raises(ContractNotFoundError):
        client.storage_at(0xABC, 1, 3)
    with pytest.raises(OrchestratorError, match="invalid block range"):
        client.state_updates(5, 4)


def test_safe_from_threads_and_from_inside_an_event_loop(node: NodeServer, client: MadaraClient) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(client.state_update, range(CHAIN_LENGTH + 1)))
    assert [r.block_hash for r in results] == [node.state.block(n).block_hash for n in range(CHAIN_LENGTH + 1)]

    async def from_async_code() -> int:
        return client.head()

    assert asyncio.run(from_async_code()) == CHAIN_LENGTH


def test_connection_refused_is_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientError) as info:
        MadaraClient(url, timeout_s=5, read_attempts=1).head()
    assert url in str(info.value) and "starknet_blockNumber" in str(info.value)


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections queue in the kernel and are never answered
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TransientError, match=r"starknet_getStateUpdate at http://127\.0\.0\.1:\d+: no answer within 0.5 s"):
            MadaraClient(url, timeout_s=0.5, read_attempts=1).state_update(1)


class _ScriptedRpc(ThreadingHTTPServer):
    """A real HTTP server whose JSON-RPC answers come from a function (method, params) -> (status, body)."""

    daemon_threads = True

    def __init__(self, answer: Callable[[str, Any], tuple[int, Any]]):
        self.answer = answer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, result = self.server.answer(request["method"], request.get("params"))  # type: ignore[attr-defined]
                body = json.dumps(result if status != 200 else {"jsonrpc": "2.0", "id": request["id"], **result})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[str, Any], tuple[int, Any]]], _ScriptedRpc]]:
    servers: list[_ScriptedRpc] = []

    def start(answer: Callable[[str, Any], tuple[int, Any]]) -> _ScriptedRpc:
        servers.append(_ScriptedRpc(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _spec_then(answer: Callable[[str, Any], tuple[int, Any]]) -> Callable[[str, Any], tuple[int, Any]]:
    def respond(method: str, params: Any) -> tuple[int, Any]:
        if method == "starknet_specVersion":
            return 200, {"result": "0.10.2"}
        return answer(method, params)

    return respond


def test_http_5xx_is_transient_and_4xx_is_not(scripted: Any) -> None:
    failing = scripted(_spec_then(lambda method, params: (503, {"error": "overloaded"})))
    with pytest.raises(TransientError, match=r"starknet_blockNumber at .*HTTP 503"):
        MadaraClient(failing.url, read_attempts=1).head()
    wrong_path = scripted(_spec_then(lambda method, params: (404, {"error": "no such path"})))
    with pytest.raises(MadaraRpcError, match="starknet_blockNumber"):
        MadaraClient(wrong_path.url).head()


def test_internal_error_is_transient_and_bad_shape_is_not(scripted: Any) -> None:
    internal = scripted(_spec_then(lambda m, p: (200, {"error": {"code": -32603, "message": "db busy"}})))
    with pytest.raises(TransientError, match="db busy"):
        MadaraClient(internal.url, read_attempts=1).state_update(1)
    old_schema = scripted(_spec_then(lambda m, p: (200, {"result": {"block_hash": "0x1", "block_number": 1}})))
    with pytest.raises(MadaraRpcError, match="starknet_getBlockWithTxHashes .*schema"):
        MadaraClient(old_schema.url).block(1)


def test_real_mainnet_state_update_converts_losslessly(vectors_dir: Path, scripted: Any) -> None:
    path = sorted((vectors_dir / "da_legacy" / "state_update").glob("*.json"))[0]
    raw = json.loads(path.read_text())
    seen: list[Any] = []

    def answer(method: str, params: Any) -> tuple[int, Any]:
        seen.append((method, params))
        return 200, {"result": raw}

    server = scripted(_spec_then(answer))
    number = int(path.stem)
    update = MadaraClient(server.url).state_update(number)
    assert seen == [("starknet_getStateUpdate", {"block_id": {"block_number": number}})]
    assert update == StateUpdate.parse(raw)
    assert len(update.state_diff.storage_diffs) == len(raw["state_diff"]["storage_diffs"]) > 0
