"""The node process: HTTP JSON-RPC server plus a thread that makes a block every ``block_time_s``.

``NodeServer`` is what tests, benchmarks and ``orchestrator devnet`` start: it
binds a port (0 picks a free one), serves at "/" and "/rpc/v0_10", and makes
blocks on a timer or on demand (``produce_block``). With ``data_dir`` it replays
its block log first, so a restarted node continues the same chain. Once it
watches an L1 core contract (``watch_l1``, or ``l1_rpc_url``/``core_contract`` in
its config), it reads the contract's new ``LogMessageToL2`` events before each
block and executes them as L1 handlers in that block.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from orchestrator_pipelines.devnet.starknet_node.block_log import BlockLog
from orchestrator_pipelines.devnet.starknet_node.config import NodeConfig
from orchestrator_pipelines.devnet.starknet_node.generator import BlockGenerator
from orchestrator_pipelines.devnet.starknet_node.l1_messages import L1Message, L1MessageWatcher
from orchestrator_pipelines.devnet.starknet_node.rpc import StarknetRpc
from orchestrator_pipelines.devnet.starknet_node.state import BlockContent, ChainState, seal_block
from orchestrator_pipelines.errors import OrchestratorError, TransientError

log = logging.getLogger(__name__)

RPC_PATHS = frozenset({"/", "/rpc", "/rpc/v0_10", "/rpc/v0_10_2"})
MAX_BODY_BYTES = 16 * 1024 * 1024


class _RpcHandler(BaseHTTPRequestHandler):
    server: _RpcHttpServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.rstrip("/") not in {p.rstrip("/") for p in RPC_PATHS}:
            self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b'{"error":"request too large"}')
            return
        body = self.rfile.read(length)
        response = self.server.rpc.handle_bytes(body)
        if response is None:
            self._send(HTTPStatus.NO_CONTENT, b"")
        else:
            self._send(HTTPStatus.OK, response)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            head = self.server.rpc.state.head
            self._send(HTTPStatus.OK, f'{{"status":"ok","block_number":{head}}}'.encode())
        else:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b'{"error":"use POST for JSON-RPC"}')

    def _send(self, status: HTTPStatus, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout, cancelled request): nothing left to answer.
            log.debug("client %s went away before the answer", self.address_string())
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)


class _RpcHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], rpc: StarknetRpc):
        self.rpc = rpc
        super().__init__(address, _RpcHandler)


class NodeServer:
    """A running Starknet JSON-RPC node over a generated chain; also a context manager."""

    def __init__(self, config: NodeConfig | None = None):
        self.config = config or NodeConfig()
        # A chain upgrades its Starknet version at some block (:meth:`upgrade_starknet_version`).
        self.starknet_version = self.config.starknet_version
        self.state = ChainState()
        self.generator = BlockGenerator(self.config)
        self._block_log = BlockLog(self.config.data_dir) if self.config.data_dir is not None else None
        self._produce_lock = threading.Lock()
        self._stop = threading.Event()
        self._http: _RpcHttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._l1_watcher: L1MessageWatcher | None = None
        self._pending_l1: dict[int, L1Message] = {}
        self._load_or_create_genesis()
        if self.config.l1_rpc_url and self.config.core_contract:
            self.watch_l1(self.config.l1_rpc_url, self.config.core_contract)

    def _load_or_create_genesis(self) -> None:
        stored = self._block_log.load() if self._block_log else []
        for block in stored:
            self.state.append(block)
        if stored:
            log.info("continuing the chain from block %d (%s)", stored[-1].number, self._block_log.path)
        else:
            self._seal_and_append(0, self.generator.genesis())

    @property
    def url(self) -> str:
        if self._http is None:
            raise OrchestratorError("the Starknet node is not started")
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Bind the port, serve, start the block timer; returns the RPC URL."""
        if self._http is not None:
            return self.url
        self._stop.clear()
        self._http = _RpcHttpServer((self.config.host, self.config.port), StarknetRpc(self.state, self.config.chain_id))
        serve = threading.Thread(target=self._http.serve_forever, name="starknet-node-http", daemon=True)
        serve.start()
        self._threads = [serve]
        if self.config.block_time_s > 0:
            timer = threading.Thread(target=self._produce_on_timer, name="starknet-node-blocks", daemon=True)
            timer.start()
            self._threads.append(timer)
        log.info("Starknet node serving %s at %s", self.config.chain_id, self.url)
        return self.url

    def stop(self) -> None:
        self._stop.set()
        if self._l1_watcher is not None:
            self._l1_watcher.close()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        self._http = None

    def watch_l1(self, rpc_url: str, core_contract: str) -> None:
        """Execute the L1->L2 messages of this core contract from the next block on.

        The watch starts at the L1 block of the last message the chain already
        executed, so after a restart no message is lost and none runs twice.
        """
        with self._produce_lock:
            if self._l1_watcher is not None:
                self._l1_watcher.close()
            self._l1_watcher = L1MessageWatcher(rpc_url, core_contract, from_block=max(0, self.state.last_l1_block))
            self._pending_l1 = {}

    def upgrade_starknet_version(self, version: str) -> None:
        """Blocks produced from now on carry ``version``, as after a protocol upgrade."""
        with self._produce_lock:
            self.starknet_version = version

    def produce_block(self) -> int:
        """Make the next block now, with the L1 messages seen so far; returns its number."""
        with self._produce_lock:
            number = self.state.head + 1
            content = self.generator.next_block(self.state, number, self._next_l1_messages())
            self._seal_and_append(number, content)
            return number

    def _next_l1_messages(self) -> list[L1Message]:
        """The not yet executed L1 messages for the next block, oldest nonce first.

        An unreachable L1 only delays messages: the block is made without them and
        the next poll reads the same L1 range again.
        """
        if self._l1_watcher is None:
            return []
        try:
            for message in self._l1_watcher.poll():
                if not self.state.has_l1_message(message.nonce):
                    self._pending_l1[message.nonce] = message
        except TransientError as exc:
            log.warning("reading L1 messages failed, making the block without new ones: %s", exc)
        nonces = sorted(self._pending_l1)[: self.config.max_l1_handlers_per_block]
        return [self._pending_l1.pop(nonce) for nonce in nonces]

    def _seal_and_append(self, number: int, content: BlockContent) -> None:
        parent = self.state.block(number - 1)
        block = seal_block(
            number=number,
            parent_hash=parent.block_hash if parent else 0,
            old_root=parent.new_root if parent else 0,
            timestamp=self._timestamp(number, parent.timestamp if parent else None),
            sequencer_address=self.config.sequencer_address,
            starknet_version=self.starknet_version,
            content=content,
        )
        if self._block_log is not None:
            self._block_log.append(block)
        self.state.append(block)

    def _timestamp(self, number: int, parent_timestamp: int | None) -> int:
        if self.config.genesis_timestamp is not None:
            step = max(1, round(self.config.block_time_s))
            return self.config.genesis_timestamp + number * step
        now = math.floor(time.time())
        return now if parent_timestamp is None else max(now, parent_timestamp)

    def _produce_on_timer(self) -> None:
        next_at = time.monotonic() + self.config.block_time_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.config.block_time_s
            try:
                self.produce_block()
            except Exception:  # keep producing: one bad block must not stop the chain
                log.exception("making block %d failed", self.state.head + 1)

    def __enter__(self) -> NodeServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
