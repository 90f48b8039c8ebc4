"""MadaraClient behind a faulty network: the devnet node through the fault-injecting proxy.

Every transport fault must end as a one-line ``TransientError`` naming the
method and the URL (no chained causes), be retried per request inside the
client, and never turn a hard answer (bad request, bad chain id) into a retry.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from orchestrator_pipelines.clients.madara import MadaraClient, MadaraRpcError
from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.errors import TransientError
from tests.fault_proxy import ALL_FAULTS, FaultProxy

CHAIN_LENGTH = 24


@pytest.fixture(scope="module")
def node() -> Iterator[NodeServer]:
    with NodeServer(NodeConfig(block_time_s=0, seed=11, large_block_every=0)) as server:
        for _ in range(CHAIN_LENGTH):
            server.produce_block()
        yield server


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_every_fault_is_one_transient_line_naming_method_and_url(node: NodeServer, fault: str) -> None:
    with FaultProxy(node.url, rate=1.0, seed=1, faults=[fault], delay_s=1.0) as proxy:
        client = MadaraClient(proxy.url, timeout_s=0.3, read_attempts=2, retry_backoff_s=0.01)
        with pytest.raises(TransientError) as info:
            client.state_update(3)
    error = info.value
    message = str(error)
    assert message.startswith("starknet_") and f" at {proxy.url}: " in message, message
    assert message.endswith("(after 2 attempts)") and "\n" not in message, message
    assert error.__cause__ is None and error.__suppress_context__, "the error carries chained causes"
    printed = "".join(traceback.format_exception(error))
    assert "During handling" not in printed and "direct cause" not in printed, printed
    assert "no running event loop" not in printed and "JSONDecodeError" not in printed, printed
    # Both attempts reached the proxy (the spec version check is the first request of the client).
    assert proxy.counts[fault] == 2


def test_truncated_json_names_what_was_wrong(node: NodeServer) -> None:
    with FaultProxy(node.url, rate=1.0, seed=2, faults=["truncated_json"]) as proxy:
        with pytest.raises(TransientError, match=r"at http://127\.0\.0\.1:\d+: malformed or truncated JSON \(\d+ bytes"):
            MadaraClient(proxy.url, read_attempts=1).head()


def test_at_a_30_percent_fault_rate_reads_complete_and_match_the_node(node: NodeServer) -> None:
    direct = MadaraClient(node.url).state_updates(1, CHAIN_LENGTH)
    with FaultProxy(node.url, rate=0.3, seed=7, delay_s=1.0) as proxy:
        client = MadaraClient(proxy.url, timeout_s=0.5, read_attempts=6, retry_backoff_s=0.02)
        started = time.monotonic()
        updates = client.state_updates(1, CHAIN_LENGTH)
        headers = [client.block(n) for n in (1, CHAIN_LENGTH)]
        elapsed = time.monotonic() - started
    assert updates == direct
    assert [h.number for h in headers] == [1, CHAIN_LENGTH]
    assert proxy.injected >= 5, proxy.counts
    # Retried request by request: a fault costs one request, not the whole range again.
    assert sum(proxy.counts.values()) < 2 * (CHAIN_LENGTH + 3), proxy.counts
    assert elapsed < 20


class _CountingRpc(ThreadingHTTPServer):
    """A real HTTP server answering every JSON-RPC request with one fixed answer, counting requests per method."""

    daemon_threads = True

    def __init__(self, status: int, answer: dict):
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.server.requests.append(request["method"])  # type: ignore[attr-defined]
                body = {"jsonrpc": "2.0", "id": 0, "result": "0.10.2"} if request["method"] == "starknet_specVersion" else answer
                data = json.dumps(body).encode()
                self.send_response(status if request["method"] != "starknet_specVersion" else 200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.mark.parametrize(
    "status, answer, error, match",
    [
        (200, {"jsonrpc": "2.0", "id": 0, "result": "0xzz"}, MadaraRpcError, "starknet_chainId at .*: not a hex short string"),
        (200, {"jsonrpc": "2.0", "id": 0, "error": {"code": -32602, "message": "Invalid params"}}, MadaraRpcError, "Invalid params"),
        (404, {"error": "no such path"}, MadaraRpcError, "starknet_chainId at .*404"),
        (200, {"jsonrpc": "2.0", "id": 0, "error": {"code": -32603, "message": "db busy"}}, TransientError, "db busy.*after 3 attempts"),
    ],
)
def test_hard_answers_are_not_retried_and_transient_ones_are(status, answer, error, match) -> None:
    server = _CountingRpc(status, answer)
    try:
        with pytest.raises(error, match=match):
            MadaraClient(server.url, read_attempts=3, retry_backoff_s=0.01).chain_id()
    finally:
        server.shutdown()
        server.server_close()
    asked = server.requests.count("starknet_chainId")
    assert asked == (3 if error is TransientError else 1), server.requests
