"""A local proving service that speaks the Atlantic (Herodotus) and SHARP gateway APIs.

The orchestrator's prover clients talk to this server exactly as they talk to the
real services, so the whole proof path (submit, poll, fetch, fact valid on L1) runs
on a laptop. Nothing is proven: a query "proves" by waiting ``proving_delay_s``;
what is real is the fact, computed from the uploaded Cairo PIE, and its
registration on the devnet fact registry when the query turns DONE, which is
what the core contract checks before accepting a state update.

Atlantic subset (paths and JSON shapes of the real API, as the Madara
orchestrator's ``atlantic-service`` client uses them):

- ``POST /atlantic-query`` multipart form (``pieFile``, ``declaredJobSize``,
  ``result``, ``layout``, ``cairoVm``, ``cairoVersion``, ``network``, ``dedupId``,
  ...) -> 201 ``{"atlanticQueryId": id}``. A second submission with a dedupId
  that names a live (not FAILED) query answers 409
  ``{"message": "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS", "atlanticQueryId": id}``,
  as the real service does; a dedupId whose query FAILED may be submitted again,
  so a pipeline can retry a failed proof under the same id.
- ``GET /atlantic-query/{id}`` -> ``{"atlanticQuery": {...}, "metadataUrls": [...]}``.
- ``GET /atlantic-query-by-dedup-id?dedupId=...`` (or ``/atlantic-query-by-dedup-id/{dedupId}``).
- ``GET /queries/{id}/proof.json`` and ``/queries/{id}/metadata.json`` once DONE.
- ``GET /is-alive`` (and ``/health``).

Submissions and look-ups by dedup id need the API key, in the ``api-key`` header
or the ``apiKey`` query parameter (401 otherwise); status and artifact reads are
open, as in the real API.

SHARP gateway subset (``/add_job``, ``/get_status``, ``/get_proof``,
``/is_alive``, optionally under ``/v1/gateway``) shares the same query store and
life cycle, keyed by the client's ``cairo_job_key``.

Devnet controls: ``POST /_devnet/fail-next?count=N`` (API key required) makes the
next N submitted queries end FAILED.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import os
import random
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from orchestrator_pipelines.clients.snos import SnosResult, snos_result_from_pie
from orchestrator_pipelines.starknet.calldata import atlantic_job_size

DEDUP_EXISTS_MESSAGE = "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS"
STEPS = ["TRACE_GENERATION", "PROOF_GENERATION", "PROOF_VERIFICATION"]
SHARP_PREFIX = "/v1/gateway"

RegisterFact = Callable[[str, str, str, bytes], Any]


@dataclass(frozen=True)
class ProverConfig:
    """How the devnet prover behaves.

    ``proving_delay_s`` is the time from submission to DONE; a query shows
    RECEIVED for the first ``received_fraction`` of it, then IN_PROGRESS.
    ``failure_rate`` fails that share of queries, drawn from ``random.Random(seed)``
    so a run is repeatable. With ``l1_rpc_url``, ``fact_registry_address`` and
    ``registrar_private_key`` set, every DONE query's fact is registered on L1
    first; a registration error fails the query with the reason.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = "devnet-api-key"
    proving_delay_s: float = 5.0
    failure_rate: float = 0.0
    seed: int = 0
    l1_rpc_url: str | None = None
    fact_registry_address: str | None = None
    registrar_private_key: str | None = None
    data_dir: str | None = None
    received_fraction: float = 0.3


@dataclass
class _Query:
    """One proving job, whichever API submitted it."""

    id: str
    dedup_id: str | None
    api: str  # "atlantic" | "sharp"
    created: float
    form: dict[str, str]
    pie_path: Path
    pie: SnosResult | None
    pie_error: str | None
    doomed_reason: str | None
    status: str = "RECEIVED"
    step: str = "TRACE_GENERATION"
    error_reason: str | None = None
    completed: float | None = None
    transaction_id: str | None = None
    registering: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:
    """A ULID, the id format Atlantic uses (48-bit milliseconds + 80 random bits)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


class _ApiError(Exception):
    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}


class ProverService:
    """The query store and the clock that moves queries along; no HTTP in here."""

    def __init__(self, config: ProverConfig, data_dir: Path, register_fact: RegisterFact | None = None):
        self.config = config
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._queries: dict[str, _Query] = {}
        self._by_dedup: dict[str, str] = {}
        self._rng = random.Random(config.seed)
        self._fail_next = 0
        self._register_fact = register_fact
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="devnet-prover-clock", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.advance()
            self._wake.wait(0.05)
            self._wake.clear()

    def advance(self, now: float | None = None) -> None:
        """Move every query whose time has come; registers facts outside the lock."""
        with self._lock:
            unread = [q for q in self._queries.values() if q.pie is None and q.pie_error is None]
        for query in unread:
            self._read_pie(query)
        now = time.time() if now is None else now
        to_finish: list[_Query] = []
        with self._lock:
            for query in self._queries.values():
                if query.status in ("DONE", "FAILED") or query.registering:
                    continue
                elapsed = now - query.created
                if query.status == "RECEIVED" and elapsed >= self._received_for():
                    query.status, query.step = "IN_PROGRESS", "PROOF_GENERATION"
                if elapsed >= self.config.proving_delay_s:
                    query.registering = True
                    to_finish.append(query)
        for query in to_finish:
            self._finish(query)

    def _read_pie(self, query: _Query) -> None:
        """Read the uploaded PIE (program hash and fact); off the request path, as it can take seconds."""
        try:
            summary, error = snos_result_from_pie(query.pie_path), None
        except Exception as exc:  # an unreadable PIE fails the query, like a real trace failure
            summary, error = None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with self._lock:
            query.pie, query.pie_error = summary, error

    def _received_for(self) -> float:
        return self.config.proving_delay_s * self.config.received_fraction

    def _finish(self, query: _Query) -> None:
        reason = query.doomed_reason or (f"trace generation failed: {query.pie_error}" if query.pie_error else None)
        tx: str | None = None
        if reason is None:
            with self._lock:
                query.step = "PROOF_VERIFICATION"
            try:
                tx = self._register(query)
            except Exception as exc:  # any failure of the L1 call is the query's failure reason
                reason = f"fact registration on L1 failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        with self._lock:
            query.registering = False
            query.completed = time.time()
            if reason is None:
                query.status = "DONE"
                query.transaction_id = tx
            else:
                query.status = "FAILED"
                query.error_reason = reason

    def _register(self, query: _Query) -> str | None:
        cfg = self.config
        if not (cfg.l1_rpc_url and cfg.fact_registry_address and cfg.registrar_private_key):
            return None
        assert query.pie is not None
        register = self._register_fact
        if register is None:
            from orchestrator_pipelines.devnet.l1_deploy import register_fact as register
        result = register(cfg.l1_rpc_url, cfg.registrar_private_key, cfg.fact_registry_address, query.pie.fact)
        if result is None:
            return None
        return result.hex() if isinstance(result, (bytes, bytearray)) else str(result)

    # ---- submissions -----------------------------------------------------

    def fail_next(self, count: int) -> int:
        if count < 0:
            raise _ApiError(400, "count must be >= 0")
        with self._lock:
            self._fail_next += count
            return self._fail_next

    def _doom(self) -> str | None:
        """Decide at submission whether this query will fail (called with the lock held)."""
        if self._fail_next > 0:
            self._fail_next -= 1
            return "devnet prover: failure injected by /_devnet/fail-next"
        if self.config.failure_rate > 0 and self._rng.random() < self.config.failure_rate:
            return "devnet prover: random failure (failure_rate)"
        return None

    def submit(self, api: str, pie_bytes: bytes, form: dict[str, str], dedup_id: str | None,
               query_id: str | None = None) -> tuple[_Query, bool]:
        """Store a new query, or return the live one with this dedup id (second value: created)."""
        with self._lock:
            existing = self._live_by_dedup(dedup_id)
            if existing is not None:
                return existing, False
        qid = query_id or _ulid()
        pie_path = self.data_dir / f"{qid}.zip"
        pie_path.write_bytes(pie_bytes)
        with self._lock:
            existing = self._live_by_dedup(dedup_id)
            if existing is not None:
                return existing, False
            query = _Query(
                id=qid, dedup_id=dedup_id, api=api, created=time.time(), form=dict(form),
                pie_path=pie_path, pie=None, pie_error=None, doomed_reason=self._doom(),
            )
            self._queries[qid] = query
            if dedup_id:
                self._by_dedup[dedup_id] = qid
        self._wake.set()
        return query, True

    def _live_by_dedup(self, dedup_id: str | None) -> _Query | None:
        if not dedup_id or dedup_id not in self._by_dedup:
            return None
        query = self._queries[self._by_dedup[dedup_id]]
        return None if query.status == "FAILED" else query

    def get(self, query_id: str) -> _Query | None:
        with self._lock:
            return self._queries.get(query_id)

    def by_dedup(self, dedup_id: str) -> _Query | None:
        with self._lock:
            qid = self._by_dedup.get(dedup_id)
            return self._queries.get(qid) if qid else None

    # ---- views -------------------------------------------------------------

    def atlantic_view(self, query: _Query, base_url: str) -> dict[str, Any]:
        with self._lock:
            pie = query.pie
            declared = query.form.get("declaredJobSize") or None
            actual = atlantic_job_size(pie.n_steps) if pie else None
            order = "SML"
            valid = bool(declared and actual and declared in order and order.index(declared) >= order.index(actual))
            atlantic_query = {
                "id": query.id,
                "externalId": query.form.get("externalId"),
                "dedupId": query.dedup_id,
                "transactionId": query.transaction_id,
                "status": query.status,
                "step": query.step,
                "programHash": hex(pie.program_hash) if pie else None,
                "integrityFactHash": None,
                "sharpFactHash": "0x" + pie.fact.hex() if pie else None,
                "layout": query.form.get("layout"),
                "isFactMocked": False,
                "chain": "L1",
                "jobSize": actual,
                "declaredJobSize": declared,
                "cairoVm": query.form.get("cairoVm"),
                "cairoVersion": query.form.get("cairoVersion"),
                "steps": list(STEPS),
                "errorReason": query.error_reason,
                "submittedByClient": "devnet-client",
                "projectId": "devnet-project",
                "createdAt": _iso(query.created),
                "completedAt": _iso(query.completed),
                "result": query.form.get("result"),
                "network": query.form.get("network"),
                "hints": None,
                "sharpProver": "stone",
                "bucketId": query.form.get("bucketId"),
                "bucketJobIndex": int(query.form["bucketJobIndex"]) if query.form.get("bucketJobIndex") else None,
                "customerName": "devnet",
                "isJobSizeValid": valid,
                "isProofMocked": True,
                "nSteps": pie.n_steps if pie else None,
                "client": {"clientId": "devnet-client", "name": "devnet", "email": None,
                           "isEmailVerified": None, "image": None},
            }
        urls = [f"{base_url}/queries/{query.id}/metadata.json"] if query.status == "DONE" else []
        return {"atlanticQuery": atlantic_query, "metadataUrls": urls}

    def sharp_status(self, query: _Query | None) -> dict[str, Any]:
        if query is None:
            return {"status": "UNKNOWN"}
        with self._lock:
            if query.status == "FAILED" and query.pie_error:
                return {"status": "INVALID", "invalid_reason": "INVALID_CAIRO_PIE_FILE_FORMAT",
                        "error_log": query.pie_error, "validation_done": False}
            mapping = {"RECEIVED": "NOT_CREATED", "IN_PROGRESS": "IN_PROGRESS", "DONE": "PROCESSED",
                       "FAILED": "FAILED"}
            answer: dict[str, Any] = {"status": mapping[query.status], "validation_done": query.status == "DONE"}
            if query.error_reason:
                answer["error_log"] = query.error_reason
            return answer

    def proof_document(self, query: _Query) -> dict[str, Any] | None:
        with self._lock:
            if query.status != "DONE" or query.pie is None:
                return None
            pie = query.pie
            return {
                "config": {"cairo_version": query.form.get("cairoVersion", "cairo0"),
                           "layout": query.form.get("layout", "dynamic"), "memory_layout": "standard"},
                "proof": {"mocked": True, "query_id": query.id},
                "program_hash": hex(pie.program_hash),
                "fact_hash": "0x" + pie.fact.hex(),
                "n_steps": pie.n_steps,
                "verification_result": "VALID",
            }

    def metadata_document(self, query: _Query) -> dict[str, Any] | None:
        with self._lock:
            if query.status != "DONE" or query.pie is None:
                return None
            pie = query.pie
            return {
                "program_hash": hex(pie.program_hash),
                "output": [hex(x) for x in pie.program_output],
                "sharp_fact_hash": "0x" + pie.fact.hex(),
                "execution_resources": {"n_steps": pie.n_steps},
            }


# ---- HTTP ---------------------------------------------------------------------


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body into text fields and file fields."""
    if "multipart/form-data" not in content_type.lower():
        raise _ApiError(400, "expected a multipart/form-data body")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        raise _ApiError(400, "malformed multipart body")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = payload
        else:
            fields[str(name)] = payload.decode("utf-8", errors="replace")
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    server: "_HttpServer"
    protocol_version = "HTTP/1.1"
    _request_body = b""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and devnet logs stay readable
        return

    # ---- plumbing ----

    @property
    def service(self) -> ProverService:
        return self.server.service

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, err: _ApiError) -> None:
        phrase = HTTPStatus(err.status).phrase
        self._send(err.status, {"message": err.message, "error": phrase, "statusCode": err.status, **err.extra})

    def _body(self) -> bytes:
        return self._request_body

    def _route(self, method: str) -> None:
        # Read the whole body before answering, even an error: on a kept-alive
        # connection unread bytes would be taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self._request_body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/") or "/"
        try:
            self._dispatch(method, path, query)
        except _ApiError as err:
            self._error(err)
        except Exception as exc:  # a bug must still answer, or the client sees a dropped connection
            self._error(_ApiError(500, f"devnet prover internal error: {type(exc).__name__}: {exc}"))

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _require_key(self, query: dict[str, str]) -> None:
        key = self.headers.get("api-key") or query.get("apiKey")
        if key != self.service.config.api_key:
            raise _ApiError(401, "missing api key" if not key else "invalid api key")

    @property
    def _base_url(self) -> str:
        return self.server.base_url

    # ---- routes ----

    def _dispatch(self, method: str, path: str, query: dict[str, str]) -> None:
        if path.startswith(SHARP_PREFIX + "/"):
            path = path[len(SHARP_PREFIX):]
        parts = [unquote(p) for p in path.strip("/").split("/")] if path != "/" else []
        if method == "GET" and path in ("/is-alive", "/health", "/is_alive"):
            return self._send(200, {"status": "alive", "service": "devnet-prover"})
        if method == "POST" and path == "/atlantic-query":
            return self._atlantic_submit(query)
        if method == "GET" and len(parts) == 2 and parts[0] == "atlantic-query":
            found = self.service.get(parts[1])
            if found is None or found.api != "atlantic":
                raise _ApiError(404, f"atlantic query {parts[1]} not found")
            return self._send(200, self.service.atlantic_view(found, self._base_url))
        if method == "GET" and parts and parts[0] == "atlantic-query-by-dedup-id" and len(parts) <= 2:
            self._require_key(query)
            dedup = parts[1] if len(parts) == 2 else query.get("dedupId", "")
            found = self.service.by_dedup(dedup) if dedup else None
            if found is None or found.api != "atlantic":
                raise _ApiError(404, f"no atlantic query with dedupId {dedup!r}")
            return self._send(200, self.service.atlantic_view(found, self._base_url))
        if method == "GET" and len(parts) == 3 and parts[0] == "queries" and parts[2] in ("proof.json", "metadata.json"):
            found = self.service.get(parts[1])
            doc = None
            if found is not None:
                doc = (self.service.proof_document if parts[2] == "proof.json" else self.service.metadata_document)(found)
            if doc is None:
                raise _ApiError(404, f"{parts[2]} of query {parts[1]} is not available")
            return self._send(200, doc)
        if method == "POST" and path == "/_devnet/fail-next":
            self._require_key(query)
            try:
                count = int(query.get("count", "1"))
            except ValueError:
                raise _ApiError(400, "count must be an integer") from None
            return self._send(200, {"failNext": self.service.fail_next(count)})
        if method == "POST" and path == "/add_job":
            return self._sharp_add_job(query)
        if method == "GET" and path == "/get_status":
            self._sharp_customer(query)
            found = self.service.get(self._sharp_key(query))
            return self._send(200, self.service.sharp_status(found if found and found.api == "sharp" else None))
        if method == "GET" and path == "/get_proof":
            self._sharp_customer(query)
            found = self.service.get(self._sharp_key(query))
            doc = self.service.proof_document(found) if found and found.api == "sharp" else None
            if doc is None:
                raise _ApiError(404, "proof not available")
            return self._send(200, doc)
        raise _ApiError(404, f"no route for {method} {path}")

    def _atlantic_submit(self, query: dict[str, str]) -> None:
        self._require_key(query)
        fields, files = _parse_multipart(self.headers.get("Content-Type", ""), self._body())
        pie = files.get("pieFile")
        if pie is None:
            raise _ApiError(400, "pieFile is required")
        for name in ("declaredJobSize", "result"):
            if not fields.get(name):
                raise _ApiError(400, f"{name} is required")
        if fields["declaredJobSize"] not in ("S", "M", "L"):
            raise _ApiError(400, f"declaredJobSize must be S, M or L, got {fields['declaredJobSize']!r}")
        dedup = fields.get("dedupId") or None
        stored, created = self.service.submit("atlantic", pie, fields, dedup)
        if not created:
            raise _ApiError(409, DEDUP_EXISTS_MESSAGE, {"atlanticQueryId": stored.id})
        self._send(201, {"atlanticQueryId": stored.id})

    def _sharp_customer(self, query: dict[str, str]) -> str:
        customer = query.get("customer_id", "")
        if not customer:
            raise _ApiError(400, "customer_id is required")
        return customer

    def _sharp_key(self, query: dict[str, str]) -> str:
        key = query.get("cairo_job_key", "")
        if not key:
            raise _ApiError(400, "cairo_job_key is required")
        return key

    def _sharp_add_job(self, query: dict[str, str]) -> None:
        self._sharp_customer(query)
        key = self._sharp_key(query)
        try:
            body = json.loads(self._body() or b"{}")
            encoded = body["cairo_pie_encoded"]
            pie = base64.b64decode(encoded, validate=True)
        except (ValueError, KeyError, TypeError):
            raise _ApiError(400, "body must be JSON with a base64 cairo_pie_encoded field") from None
        existing = self.service.get(key)
        if existing is not None and existing.api != "sharp":
            raise _ApiError(409, f"cairo_job_key {key} is already used")
        if existing is None:
            self.service.submit("sharp", pie, {"layout": "dynamic", "cairoVersion": "cairo0"}, key, query_id=key)
        self._send(200, {"code": "JOB_RECEIVED_SUCCESSFULLY"})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: ProverService):
        super().__init__(address, _Handler)
        self.service = service
        host, port = self.server_address[:2]
        self.base_url = f"http://{host}:{port}"


class ProverServer:
    """Runs the devnet prover on a background thread: ``url = server.start()``, then ``server.stop()``."""

    def __init__(self, config: ProverConfig | None = None, register_fact: RegisterFact | None = None):
        self.config = config or ProverConfig()
        self._register_fact = register_fact
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.service: ProverService | None = None

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("prover server is not running")
        return self._http.base_url

    def start(self) -> str:
        if self._http is not None:
            return self.url
        if self.config.data_dir:
            data_dir = Path(self.config.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="devnet-prover-")
            data_dir = Path(self._tmp.name)
        self.service = ProverService(self.config, data_dir, self._register_fact)
        self._http = _HttpServer((self.config.host, self.config.port), self.service)
        self.service.start()
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="devnet-prover-http", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self.service is not None:
            self.service.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "ProverServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()



def main(argv: list[str] | None = None) -> int:
    """``python -m orchestrator_pipelines.devnet.prover``: run the devnet prover until interrupted.

    The registrar key is read from the environment variable named by
    ``--registrar-key-env``, never from the command line (it would show in ``ps``).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m orchestrator_pipelines.devnet.prover", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=ProverConfig.api_key)
    parser.add_argument("--proving-delay", type=float, default=ProverConfig.proving_delay_s)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--l1-rpc-url")
    parser.add_argument("--fact-registry")
    parser.add_argument("--registrar-key-env", default="DEVNET_PROVER_REGISTRAR_KEY")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    config = ProverConfig(
        host=args.host, port=args.port, api_key=args.api_key, proving_delay_s=args.proving_delay,
        failure_rate=args.failure_rate, seed=args.seed, l1_rpc_url=args.l1_rpc_url,
        fact_registry_address=args.fact_registry, registrar_private_key=os.environ.get(args.registrar_key_env),
        data_dir=args.data_dir,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ProverServer(config) as server:
        print(f"devnet prover listening on {server.url}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
