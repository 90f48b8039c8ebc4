"""A fault-injecting HTTP proxy for JSON-RPC servers, on loopback, for tests.

A real node misbehaves in a few ways: it answers HTTP 500, resets the
connection, sends a truncated body, or takes longer than the client waits.
:class:`FaultProxy` sits in front of a real server (the devnet node) and does
each of these to a configurable share of the requests, choosing with a seeded
RNG, so a test can show that the orchestrator gets through a given fault rate
rather than hoping the network is kind. Everything else is forwarded as is,
unless ``rewrite`` is set: a peer that answers well-formed but wrong (another
chain id, another hash for a block) is a fault of its own, and
:func:`rewrite_result` makes one from a real server's answers.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

# Headers that describe the client's connection to the proxy, not the request itself.
HOP_HEADERS = {"host", "content-length", "content-type", "connection", "keep-alive", "transfer-encoding"}
FAULTS = ("http_500", "reset", "truncated_json", "delay")
# Also available: an answer that is valid JSON without ``result`` or ``error``, and a gateway's 503.
ALL_FAULTS = FAULTS + ("no_result", "http_503")


class FaultProxy:
    """Forward POSTs and GETs to ``upstream``; with probability ``rate`` inject one of ``faults`` instead.

    A request's path (and query) is appended to ``upstream``'s path, so a REST
    API such as the prover's can sit behind it as well as a JSON-RPC server.

    ``counts`` tells how many requests got each fault ("ok" for forwarded ones).
    A delayed request is held ``delay_s`` and then forwarded (the client has
    usually given up by then). Use as a context manager; ``rate`` and
    ``rewrite`` (request body, answer body -> answer body, applied to every
    forwarded answer) can be changed while it runs.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        seed: int,
        faults: Iterable[str] = FAULTS,
        delay_s: float = 3.0,
    ):
        self.faults = tuple(faults)
        unknown = set(self.faults) - set(ALL_FAULTS)
        if unknown or not self.faults:
            raise ValueError(f"unknown or no faults: {sorted(unknown)}")
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_path = parts.path or "/"
        self.rate = rate
        self.delay_s = delay_s
        self.rewrite: Callable[[bytes, bytes], bytes] | None = None
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fault-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def injected(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "ok")

    def choose(self) -> str:
        with self._lock:
            kind = self._rng.choice(self.faults) if self._rng.random() < self.rate else "ok"
            self.counts[kind] += 1
            return kind

    def forward(
        self, body: bytes, content_type: str, method: str = "POST", path: str = "/", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) of the upstream's answer to the request."""
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        target = self.upstream_path if path in ("", "/") else self.upstream_path.rstrip("/") + path
        sent_headers = {**(headers or {}), "Content-Type": content_type}
        try:
            connection.request(method, target, body=body if method != "GET" else None, headers=sent_headers)
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type") or "application/json"
        finally:
            connection.close()

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def rewrite_result(method: str, change: Callable[[Any, Any], Any]) -> Callable[[bytes, bytes], bytes]:
    """A ``rewrite`` replacing the ``result`` of JSON-RPC ``method`` calls by ``change(params, result)``.

    Other methods, errors and answers that are not JSON pass unchanged.
    """

    def rewrite(request: bytes, answer: bytes) -> bytes:
        try:
            call, reply = json.loads(request), json.loads(answer)
        except ValueError:
            return answer
        if not isinstance(call, dict) or call.get("method") != method or "result" not in reply:
            return answer
        reply["result"] = change(call.get("params"), reply["result"])
        return json.dumps(reply).encode()

    return rewrite


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: FaultProxy):
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = proxy.choose()
        if kind == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if kind == "http_500":
            self._answer(500, b"internal server error (injected)", "text/plain")
            return
        if kind == "http_503":
            self._answer(503, b"<html>503 Service Unavailable (injected)</html>", "text/html")
            return
        if kind == "no_result":
            self._answer(200, b'{"jsonrpc":"2.0","id":0}', "application/json")
            return
        if kind == "delay":
            time.sleep(proxy.delay_s)
        # Authentication travels through (the prover checks its API key header).
        passed = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            status, answer, content_type = proxy.forward(
                body, self.headers.get("Content-Type", "application/json"), method, self.path, passed
            )
        except OSError:
            self._answer(502, b"upstream unreachable", "text/plain")
            return
        rewrite = proxy.rewrite
        if rewrite is not None:
            answer = rewrite(body, answer)
        if kind == "truncated_json":
            answer = answer[: max(1, len(answer) // 2)]
        self._answer(status, answer, content_type)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout) and closed the connection
        self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was reset on purpose

    def log_message(self, *args: object) -> None:
        pass
