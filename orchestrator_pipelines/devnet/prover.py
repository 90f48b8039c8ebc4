"""A local proving service that speaks the Atlantic (Herodotus) and SHARP gateway APIs.

The orchestrator's prover clients talk to this server exactly as they talk to the
real services, so the whole proof path (submit, poll, fetch, fact valid on L1) runs
on a laptop. Nothing is proven: a query "proves" by waiting ``proving_delay_s``;
what is real is the fact, computed from the uploaded Cairo PIE (or, for a
bucket, from the devnet aggregator's output), and its registration on the
devnet fact registry, which is what the core contract checks before accepting
a state update. Requests are checked field by field as the real service checks
them (``devnet/prover_checks.py``), so a test against this server proves the
requests the orchestrator sends.

Atlantic (paths and JSON shapes of the hosted API, as the Madara orchestrator's
``atlantic-service`` client uses them):

- ``POST /atlantic-query`` multipart form (``pieFile``, ``declaredJobSize``,
  ``result``, ``network``, ``cairoVersion``, ``cairoVm``, ``sharpProver``,
  ``mockFactHash``, ``layout``, ``dedupId``, ``externalId``, ``bucketId``,
  ``bucketJobIndex``) -> 201 ``{"atlanticQueryId": id}``. A dedupId naming a
  live (not FAILED) query answers 409
  ``{"message": "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS", "atlanticQueryId": id}``.
- ``GET /atlantic-query/{id}`` -> ``{"atlanticQuery": {...}, "metadataUrls": [...]}``.
- ``GET /atlantic-queries?search=&limit=&network=`` -> ``{"atlanticQueries": [...], "total": n}``.
- ``POST /buckets`` (JSON) -> 201 ``{"atlanticBucket": {...}}``;
  ``POST /buckets/close?bucketId=`` -> ``{"atlanticBucket": {...}}``;
  ``GET /buckets/{id}`` -> ``{"bucket": {...}, "queries": [...]}``.
- Artifacts, as object storage serves them (point ``ATLANTIC_ARTIFACTS_BASE_URL``
  here): ``GET /queries/{id}/proof.json``, ``metadata.json``, and for a bucket's
  aggregation query ``pie.cairo0.zip`` and ``da_blob.json``.
- ``GET /is-alive`` (and ``/health``).

Submissions, bucket creation and closing, and the look-up need the API key in
the ``api-key`` header (or the ``apiKey`` query parameter; 401 otherwise);
status, bucket reads and artifacts are open, as in the real API.

SHARP gateway (``/add_job``, ``/add_applicative_job``, ``/get_status``,
``/get_proof``, ``/is_alive``, optionally under ``/v1/gateway``) shares the
same store and life cycle, keyed by the client's ``cairo_job_key``. Serve it
over mutual TLS with ``ProverConfig.tls`` (:class:`TlsConfig`).

Devnet controls (API key required): ``POST /_devnet/fail-next?count=N`` makes the
next N submitted queries end FAILED; ``POST /_devnet/unregistered-next?count=N``
makes the next N submitted on-chain queries end DONE without registering their
fact on L1, as a misbehaving prover would; ``POST /_devnet/stall-next-bucket?count=N``
makes the next N buckets closed stay IN_PROGRESS for ever.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import os
import signal
import ssl
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from orchestrator_pipelines.clients.atlantic import DEDUP_EXISTS_MESSAGE
from orchestrator_pipelines.devnet.prover_checks import (
    check_bucket_body,
    check_query_form,
    check_sharp_add,
    check_sharp_params,
)
from orchestrator_pipelines.devnet.prover_errors import ApiError
from orchestrator_pipelines.devnet.prover_queries import ProverConfig, ProverService, TlsConfig

__all__ = ["DEDUP_EXISTS_MESSAGE", "ProverConfig", "ProverServer", "ProverService", "TlsConfig", "main"]

SHARP_PREFIX = "/v1/gateway"


# ---- HTTP ---------------------------------------------------------------------


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body into text fields and file fields."""
    if "multipart/form-data" not in content_type.lower():
        raise ApiError(415, "Content-Type must be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        raise ApiError(400, "malformed multipart body")
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


def _count(query: dict[str, str]) -> int:
    """The ``count`` of a devnet control request (1 when absent)."""
    try:
        return int(query.get("count", "1"))
    except ValueError:
        raise ApiError(400, "count must be an integer") from None


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

    def _error(self, err: ApiError) -> None:
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
        except ApiError as err:
            self._error(err)
        except Exception as exc:  # a bug must still answer, or the client sees a dropped connection
            self._error(ApiError(500, f"devnet prover internal error: {type(exc).__name__}: {exc}"))

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _require_key(self, query: dict[str, str]) -> None:
        key = self.headers.get("api-key") or query.get("apiKey")
        if key != self.service.config.api_key:
            raise ApiError(401, "missing api key" if not key else "invalid api key")

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
                raise ApiError(404, f"atlantic query {parts[1]} not found")
            return self._send(200, self.service.atlantic_view(found, self._base_url))
        if method == "GET" and path == "/atlantic-queries":
            return self._atlantic_search(query)
        if method == "POST" and path == "/buckets":
            self._require_key(query)
            content_type = self.headers.get("Content-Type", "")
            body = self._json_body() if "application/json" in content_type.lower() else None
            request = check_bucket_body(content_type, body)
            bucket = self.service.create_bucket(request)
            return self._send(201, {"atlanticBucket": self.service.bucket_dict(bucket)})
        if method == "POST" and path == "/buckets/close":
            self._require_key(query)
            bucket_id = query.get("bucketId", "")
            if not bucket_id:
                raise ApiError(400, "bucketId is required")
            bucket = self.service.close_bucket(bucket_id)
            return self._send(200, {"atlanticBucket": self.service.bucket_dict(bucket)})
        if method == "GET" and len(parts) == 2 and parts[0] == "buckets":
            return self._send(200, self.service.bucket_view(self.service.bucket(parts[1])))
        if method == "GET" and len(parts) == 3 and parts[0] == "queries":
            found = self.service.get(parts[1])
            artifact = self.service.artifact(found, parts[2]) if found is not None else None
            if artifact is None:
                raise ApiError(404, f"{parts[2]} of query {parts[1]} is not available")
            return self._send(200, artifact[0], artifact[1])
        if method == "POST" and path == "/_devnet/fail-next":
            self._require_key(query)
            return self._send(200, {"failNext": self.service.fail_next(_count(query))})
        if method == "POST" and path == "/_devnet/unregistered-next":
            self._require_key(query)
            return self._send(200, {"unregisteredNext": self.service.unregistered_next(_count(query))})
        if method == "POST" and path == "/_devnet/stall-next-bucket":
            self._require_key(query)
            return self._send(200, {"stallNextBuckets": self.service.stall_next_buckets(_count(query))})
        if method == "POST" and path in ("/add_job", "/add_applicative_job"):
            return self._sharp_add(query, applicative=path == "/add_applicative_job")
        if method == "GET" and path == "/get_status":
            _, key = check_sharp_params(query)
            found = self.service.get(key)
            return self._send(200, self.service.sharp_status(found if found and found.api == "sharp" else None))
        if method == "GET" and path == "/get_proof":
            _, key = check_sharp_params(query)
            found = self.service.get(key)
            doc = self.service.proof_document(found) if found and found.api == "sharp" else None
            if doc is None:
                raise ApiError(404, "proof not available")
            return self._send(200, doc)
        raise ApiError(404, f"Cannot {method} {path}")

    def _json_body(self) -> Any:
        try:
            return json.loads(self._body() or b"null")
        except ValueError:
            raise ApiError(400, "body is not valid JSON") from None

    def _atlantic_submit(self, query: dict[str, str]) -> None:
        self._require_key(query)
        fields, files = _parse_multipart(self.headers.get("Content-Type", ""), self._body())
        index = check_query_form(fields, files)
        dedup = fields.get("dedupId") or None
        stored, created = self.service.submit("atlantic", files["pieFile"], fields, dedup, bucket_index=index)
        if not created:
            raise ApiError(409, DEDUP_EXISTS_MESSAGE, {"atlanticQueryId": stored.id})
        self._send(201, {"atlanticQueryId": stored.id})

    def _atlantic_search(self, query: dict[str, str]) -> None:
        self._require_key(query)
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise ApiError(400, "limit must be an integer number") from None
        if not 1 <= limit <= 100:
            raise ApiError(400, "limit must be within 1..100")
        found = self.service.search(query.get("search", ""), query.get("network"), limit)
        views = [self.service.atlantic_view(q, self._base_url)["atlanticQuery"] for q in found]
        self._send(200, {"atlanticQueries": views, "total": len(views)})

    def _sharp_add(self, query: dict[str, str], *, applicative: bool) -> None:
        _, key = check_sharp_params(query)
        content_type = self.headers.get("Content-Type", "")
        body = self._json_body() if "application/json" in content_type.lower() else None
        encoded, children = check_sharp_add(query, content_type, body, applicative=applicative)
        try:
            pie = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ApiError(400, "cairo_pie_encoded is not base64") from None
        existing = self.service.get(key)
        if existing is not None and existing.api != "sharp":
            raise ApiError(409, f"cairo_job_key {key} is already used")
        if existing is None:
            form = {"layout": "dynamic", "cairoVersion": "cairo0", "offchain_proof": query.get("offchain_proof", "false")}
            self.service.submit("sharp", pie, form, key, query_id=key, children=tuple(children))
        self._send(200, {"code": "JOB_RECEIVED_SUCCESSFULLY"})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: ProverService):
        super().__init__(address, _Handler)
        self.service = service
        host, port = self.server_address[:2]
        tls = service.config.tls
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            if tls.client_ca_file:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(tls.client_ca_file)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            scheme = "https"
        self.base_url = f"{scheme}://{tls.host_name if tls and tls.host_name else host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:  # a refused TLS handshake is not news
        return


class ProverServer:
    """Runs the devnet prover on a background thread: ``url = server.start()``, then ``server.stop()``."""

    def __init__(self, config: ProverConfig | None = None):
        self.config = config or ProverConfig()
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
        self.service = ProverService(self.config, data_dir)
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
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM file)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM file)")
    parser.add_argument("--tls-client-ca", help="require client certificates signed by this CA (mutual TLS, as SHARP)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        parser.error("--tls-cert and --tls-key go together, and --tls-client-ca needs them")
    tls = TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    config = ProverConfig(
        host=args.host, port=args.port, api_key=args.api_key, proving_delay_s=args.proving_delay,
        failure_rate=args.failure_rate, seed=args.seed, l1_rpc_url=args.l1_rpc_url,
        fact_registry_address=args.fact_registry, registrar_private_key=os.environ.get(args.registrar_key_env) or None,
        data_dir=args.data_dir, tls=tls,
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
