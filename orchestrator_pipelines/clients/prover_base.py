"""What every proving service client shares: the status types, the two interfaces, and one HTTP policy.

Two interfaces, because Starknet settles two ways:

- :class:`ProverClient`: one PIE, one proof, one fact (the direct path: a SNOS
  run proven on its own, its fact registered on L1).
- :class:`AggregatingProver`: an aggregation (an Atlantic *bucket*, a SHARP
  applicative job, or the mock prover's local registration) over numbered
  children, whose aggregator fact is what the core contract checks. See that
  class for the life cycle the pipeline drives.

Error policy (the one Madara's clients follow): a network error (timeout,
refused or reset connection) or a gateway answer (HTTP 502, 503, 504, or an HTML
error page from a proxy) is retried a few times inside the call, then raised as
:class:`TransientError` (the run retries later). Any other answer that is not a
success is the service's own verdict: it is raised at once as
:class:`OrchestratorError` with one readable line (service, operation, HTTP
status, the server's message), because sending the same request again will not
change it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Union

import requests

from orchestrator_pipelines.errors import OrchestratorError, TransientError

ProofState = Literal["pending", "done", "failed"]
PieInput = Union[str, os.PathLike, bytes]

GATEWAY_STATUSES = (502, 503, 504)


@dataclass(frozen=True)
class ProofStatus:
    """Where a proof job stands: ``pending``, ``done`` (fact valid on L1) or ``failed`` (with why)."""

    state: ProofState
    detail: str
    raw: dict[str, Any] = field(default_factory=dict)


class ProverClient(Protocol):
    """What the direct (one PIE, one proof) pipeline needs from a proving service."""

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        """Submit a Cairo PIE zip; returns the service's job id. Same dedup_id -> same job."""
        ...

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        """The job id already submitted under ``dedup_id``, or None."""
        ...

    def status(self, external_id: str) -> ProofStatus: ...

    def fetch_proof(self, external_id: str) -> bytes | None:
        """The proof document once available, None before (or when the service keeps no off-chain proof)."""
        ...


@dataclass(frozen=True)
class ChildStatus:
    """One child of an aggregation as the service reports it (``index`` is 1-based)."""

    index: int
    job_id: str
    state: ProofState
    detail: str


@dataclass(frozen=True)
class AggregationStatus:
    """Where an aggregation stands.

    ``state`` is ``pending`` (open, or closed and being aggregated/proven),
    ``done`` (the aggregator fact is registered: settle) or ``failed``
    (``detail`` says why; ``failed_children`` names the children that failed,
    empty when the aggregation step itself failed). ``service_status`` is the
    service's own word (Atlantic bucket OPEN / IN_PROGRESS / DONE / FAILED, SHARP
    job status). ``aggregation_job_id`` is the id of the query that holds the
    aggregation's artifacts, once the service has one.
    """

    state: ProofState
    detail: str
    service_status: str
    children: tuple[ChildStatus, ...] = ()
    aggregation_job_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_children(self) -> tuple[ChildStatus, ...]:
        return tuple(child for child in self.children if child.state == "failed")


@dataclass(frozen=True)
class AggregationArtifacts:
    """What a service that aggregates remotely hands back: the aggregator PIE and its DA segment.

    ``da_segment`` is the list of felts of ``da_blob.json`` (what the blobs are
    built from); ``proof`` is the proof document when the service keeps one.
    """

    cairo_pie: bytes
    da_segment: list[int]
    proof: bytes | None = None


class AggregatingProver(Protocol):
    """Proving through an aggregation; the pipeline drives it in this order.

    1. ``open_aggregation(external_id=...)`` when an aggregator batch starts:
       the aggregation id (Atlantic bucket id; a local id for SHARP and mock).
    2. ``submit_child(pie, aggregation_id=..., index=i, dedup_id=..., n_steps=...)``
       for each SNOS batch as soon as its PIE exists; ``index`` counts from 1
       with no gap. Returns the child's job id (its status: ``child_status``).
    3. ``close_aggregation(aggregation_id, ...)`` once the aggregator batch is
       closed and every child was submitted. When ``aggregates_remotely`` is
       True (Atlantic) the service builds the aggregator PIE itself and the
       optional arguments are ignored; otherwise (SHARP, mock) the caller runs
       the aggregator locally and passes ``aggregator_pie`` and
       ``aggregator_fact`` (and, for SHARP, the children's job ids).
       Returns the id to poll (the bucket id, or the applicative job key).
    4. ``aggregation_status(id, fact=...)`` until ``done`` or ``failed``.
       ``done`` means the aggregator fact is valid on the settlement layer.
       A ``failed`` aggregation is not resumed: open a new one and resubmit
       every child to it.
    5. ``aggregation_artifacts(id)`` once done: the aggregator PIE and the DA
       segment to settle from (None when aggregation ran locally: the caller
       already holds them).
    """

    kind: str
    aggregates_remotely: bool

    def open_aggregation(self, *, external_id: str) -> str: ...

    def submit_child(self, pie: PieInput, *, aggregation_id: str, index: int, dedup_id: str, n_steps: int) -> str: ...

    def child_status(self, job_id: str) -> ProofStatus: ...

    def close_aggregation(
        self,
        aggregation_id: str,
        *,
        aggregator_pie: bytes | None = None,
        aggregator_fact: bytes | None = None,
        children_job_ids: list[str] | None = None,
    ) -> str: ...

    def aggregation_status(self, aggregation_id: str, *, fact: bytes | None = None) -> AggregationStatus: ...

    def aggregation_artifacts(self, aggregation_id: str) -> AggregationArtifacts | None: ...


def pie_bytes(pie: PieInput) -> bytes:
    if isinstance(pie, (bytes, bytearray)):
        return bytes(pie)
    return Path(pie).read_bytes()


def server_message(response: requests.Response) -> str:
    """The one-line error the server gave (JSON ``message``/``error``/``code`` or the start of the body)."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "code", "error_log", "detail"):
            if body.get(key):
                value = body[key]
                value = value if isinstance(value, str) else json.dumps(value)
                return " ".join(value.split())[:300]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:300] or response.reason or "no message"


def is_gateway_answer(response: requests.Response) -> bool:
    """A proxy or load balancer answered, not the service: worth retrying.

    502/503/504, or an HTML error page, or a 404 whose body is not JSON (the
    service itself always answers in JSON; a bare "404 page not found" is the
    ingress not finding a route).
    """
    if response.status_code in GATEWAY_STATUSES:
        return True
    text = (response.text or "").lstrip()[:200].lower()
    if text.startswith("<!doctype") or text.startswith("<html"):
        return response.status_code >= 400
    if response.status_code == 404:
        try:
            json.loads(response.text or "")
        except ValueError:
            return "404 page not found" in text
    return False


class Http:
    """requests with the error policy above; one place so every client classifies failures alike.

    ``attempts`` counts tries for a retryable failure, spaced by ``backoff_s``
    doubling each time. ``allow`` lists statuses the caller handles itself.
    """

    def __init__(self, service: str, base_url: str, timeout_s: float, *, attempts: int = 3, backoff_s: float = 1.0):
        if attempts < 1:
            raise OrchestratorError(f"{service}: attempts must be >= 1, got {attempts}")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.session = requests.Session()
        # Passed with each request, not set on the session: requests lets REQUESTS_CA_BUNDLE /
        # CURL_CA_BUNDLE override a session's ``verify``, which would drop a pinned server certificate.
        self.verify: bool | str = True
        self.cert: str | tuple[str, str] | None = None

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, what: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> requests.Response:
        url = self.url(path)
        last: TransientError | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, verify=self.verify,
                                                cert=self.cert, **kwargs)
            except requests.exceptions.SSLError as exc:
                # A certificate the other side refuses is configuration, not weather.
                raise OrchestratorError(f"{self.service} {what}: TLS handshake with {url} failed: {_first_line(exc)}") from exc
            except requests.Timeout as exc:
                last = TransientError(f"{self.service} {what}: timed out after {self.timeout_s}s ({url})")
                last.__cause__ = exc
                continue
            except requests.RequestException as exc:
                last = TransientError(f"{self.service} {what}: {type(exc).__name__} talking to {url}")
                last.__cause__ = exc
                continue
            if response.status_code in allow or response.ok:
                return response
            message = server_message(response)
            if is_gateway_answer(response):
                last = TransientError(f"{self.service} {what}: HTTP {response.status_code}: {message}")
                continue
            raise OrchestratorError(f"{self.service} {what}: HTTP {response.status_code}: {message}")
        assert last is not None
        raise last

    def json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"{self.service} {what}: answer is not JSON: {response.text[:200]!r}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
