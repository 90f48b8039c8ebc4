"""The prover API's HTTP server: the server's prover routes plus the orchestrator's job routes.

Prover routes (as ``prover_server/legacy``; JSON field names are the server's,
``block_number`` there meaning the batch number):

- ``POST /prover-jobs/FRI/pick`` → ``{"block_number", "prover_input"}`` or 204
- ``POST /prover-jobs/FRI/submit?id=P`` ``{"block_number", "proof"}`` → 204;
  400 bad base64 or a proof that does not verify, 404 unknown batch
- ``GET /prover-jobs/FRI/{n}/peek`` → the job or 204
- ``POST /prover-jobs/SNARK/pick`` → ``{"block_number_from", "block_number_to", "fri_proofs"}`` or 204
- ``POST /prover-jobs/SNARK/submit`` ``{"block_number_from", "block_number_to", "proof"}`` → 204; 400 rejected
- ``GET /prover-jobs/SNARK/{from}/{to}/peek`` → the FRI proofs; 400 bad range, 404 missing proof
- ``GET /prover-jobs/status`` → ``[{"batch_number", "assigned_seconds_ago"}]``

Orchestrator routes (this project's; the server has these steps in-process):

- ``PUT /orchestrator/FRI/{n}`` ``{"prover_input", "vk_hash"}`` → 201 new, 200 already offered, 409 different input
- ``GET /orchestrator/FRI/{n}`` → the job's state and proof, 404 unknown
- ``GET /orchestrator/SNARK/{n}`` → the proven range covering batch n, 404 none yet
- ``GET /health``
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.zksync_os.prover_api.store import (
    ProofRejectedError,
    ProverJobStore,
    UnknownJobError,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024

_FRI_PEEK = re.compile(r"^/prover-jobs/FRI/(\d+)/peek$")
_SNARK_PEEK = re.compile(r"^/prover-jobs/SNARK/(\d+)/(\d+)/peek$")
_ORCH_FRI = re.compile(r"^/orchestrator/FRI/(\d+)$")
_ORCH_SNARK = re.compile(r"^/orchestrator/SNARK/(\d+)$")


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    # -- dispatch ---------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = urlsplit(self.path).path.rstrip("/") or "/"
        store = self.server.store
        if path == "/health":
            return self._json(HTTPStatus.OK, {"status": "ok"})
        if path == "/prover-jobs/status":
            return self._json(HTTPStatus.OK, store.status())
        if match := _FRI_PEEK.match(path):
            job = store.peek_fri(int(match[1]))
            if job is None:
                return self._empty()
            return self._json(HTTPStatus.OK, {"block_number": job.batch_number, "prover_input": job.prover_input})
        if match := _SNARK_PEEK.match(path):
            batch_from, batch_to = int(match[1]), int(match[2])
            try:
                fri_proofs = store.peek_snark(batch_from, batch_to)
            except InvalidInputError as exc:
                return self._text(HTTPStatus.BAD_REQUEST, str(exc))
            except UnknownJobError as exc:
                return self._text(HTTPStatus.NOT_FOUND, str(exc))
            return self._json(
                HTTPStatus.OK,
                {"block_number_from": batch_from, "block_number_to": batch_to, "fri_proofs": fri_proofs},
            )
        if match := _ORCH_FRI.match(path):
            result = store.fri_result(int(match[1]))
            if result is None:
                return self._text(HTTPStatus.NOT_FOUND, f"batch {match[1]} was not offered")
            return self._json(HTTPStatus.OK, result)
        if match := _ORCH_SNARK.match(path):
            result = store.snark_result(int(match[1]))
            if result is None:
                return self._text(HTTPStatus.NOT_FOUND, f"no SNARK proof covers batch {match[1]} yet")
            return self._json(HTTPStatus.OK, result)
        return self._text(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        store = self.server.store
        prover_id = (parse_qs(url.query).get("id") or ["unknown_prover"])[0]
        if path == "/prover-jobs/FRI/pick":
            self._drain()
            job = store.pick_fri(prover_id)
            if job is None:
                return self._empty()
            return self._json(HTTPStatus.OK, {"block_number": job.batch_number, "prover_input": job.prover_input})
        if path == "/prover-jobs/SNARK/pick":
            self._drain()
            snark = store.pick_snark(prover_id)
            if snark is None:
                return self._empty()
            return self._json(
                HTTPStatus.OK,
                {"block_number_from": snark.batch_from, "block_number_to": snark.batch_to, "fri_proofs": snark.fri_proofs},
            )
        if path == "/prover-jobs/FRI/submit":
            body = self._body(("block_number", int), ("proof", str))
            if body is None:
                return
            try:
                store.submit_fri(body["block_number"], body["proof"], prover_id)
            except UnknownJobError:
                return self._text(HTTPStatus.NOT_FOUND, "unknown block")
            except (ProofRejectedError, InvalidInputError) as exc:
                return self._text(HTTPStatus.BAD_REQUEST, str(exc))
            return self._empty()
        if path == "/prover-jobs/SNARK/submit":
            body = self._body(("block_number_from", int), ("block_number_to", int), ("proof", str))
            if body is None:
                return
            try:
                store.submit_snark(body["block_number_from"], body["block_number_to"], body["proof"], prover_id)
            except (UnknownJobError, ProofRejectedError, InvalidInputError) as exc:
                message = str(exc)
                return self._text(HTTPStatus.BAD_REQUEST, message if message.startswith("proof rejected") else f"proof rejected: {message}")
            return self._empty()
        return self._text(HTTPStatus.NOT_FOUND, "not found")

    def do_PUT(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        match = _ORCH_FRI.match(path)
        if not match:
            return self._text(HTTPStatus.NOT_FOUND, "not found")
        body = self._body(("prover_input", str))
        if body is None:
            return
        vk_hash = body.get("vk_hash", "")
        try:
            created = self.server.store.offer_fri(int(match[1]), body["prover_input"], str(vk_hash))
        except InvalidInputError as exc:
            status = HTTPStatus.CONFLICT if "already offered" in str(exc) else HTTPStatus.BAD_REQUEST
            return self._text(status, str(exc))
        return self._json(HTTPStatus.CREATED if created else HTTPStatus.OK, {"batch_number": int(match[1]), "created": created})

    # -- bodies and answers -------------------------------------------------------------

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, MAX_BODY_BYTES))

    def _body(self, *fields: tuple[str, type]) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError as exc:
            self._text(HTTPStatus.BAD_REQUEST, f"invalid JSON body: {exc}")
            return None
        if not isinstance(body, dict):
            self._text(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return None
        for name, kind in fields:
            value = body.get(name)
            if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
                self._text(HTTPStatus.UNPROCESSABLE_ENTITY, f"field {name!r} must be a {'non-negative integer' if kind is int else 'string'}")
                return None
        return body

    def _json(self, status: HTTPStatus, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _text(self, status: HTTPStatus, message: str) -> None:
        self._send(status, message.encode(), "text/plain; charset=utf-8")

    def _empty(self) -> None:
        self._send(HTTPStatus.NO_CONTENT, b"", None)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str | None) -> None:
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OrchestratorError as exc:  # a store failure: one line to the client, the API keeps serving
            log.error("prover API request failed: %s", exc)
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: ProverJobStore):
        self.store = store
        super().__init__(address, _Handler)


class ProverApiServer:
    """The prover API on ``host:port`` (0 picks a free port); a context manager."""

    def __init__(self, store: ProverJobStore, host: str = "127.0.0.1", port: int = 0):
        self.store = store
        self.host = host
        self.port = port
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._http is None:
            raise OrchestratorError("the prover API is not started")
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._http is None:
            self._http = _HttpServer((self.host, self.port), self.store)
            self._thread = threading.Thread(target=self._http.serve_forever, name="zkos-prover-api", daemon=True)
            self._thread.start()
            log.info("ZKsync OS prover API at %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ProverApiServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
