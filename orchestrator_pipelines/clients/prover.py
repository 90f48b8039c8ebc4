"""Clients for the proving services: Atlantic (Herodotus) and the SHARP gateway.

Both speak the same paths and fields as the Madara orchestrator's Rust clients
(``prover-clients/atlantic-service`` and ``sharp-service``), so the pipeline can
point at the real service or at the devnet prover unchanged. They share one small
interface, :class:`ProverClient`, so the proof asset and the proof sensor never
care which service is behind it.

Error policy: a timeout, a connection error or an HTTP 5xx is a
:class:`TransientError` (retry later); a 4xx is an :class:`OrchestratorError`
carrying the server's own message (retrying the same request will not help).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Union

import requests

from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet.calldata import atlantic_job_size

ProofState = Literal["pending", "done", "failed"]
PieInput = Union[str, os.PathLike, bytes]

DEDUP_EXISTS_MESSAGE = "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS"
# Where the hosted Atlantic service publishes a DONE query's proof (as the Madara
# orchestrator's client reads it); pass it as ``proof_url_template`` for the real service.
ATLANTIC_PROOF_URL_TEMPLATE = "https://s3.pl-waw.scw.cloud/atlantic-k8s-experimental/queries/{id}/proof.json"


@dataclass(frozen=True)
class ProofStatus:
    """Where a proof job stands: ``pending``, ``done`` (fact valid on L1) or ``failed`` (with why)."""

    state: ProofState
    detail: str
    raw: dict[str, Any] = field(default_factory=dict)


class ProverClient(Protocol):
    """What the pipeline needs from a proving service."""

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        """Submit a Cairo PIE zip; returns the service's job id. Same dedup_id -> same job."""
        ...

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        """The job id already submitted under ``dedup_id``, or None."""
        ...

    def status(self, external_id: str) -> ProofStatus: ...

    def fetch_proof(self, external_id: str) -> bytes | None:
        """The proof document once available, None before."""
        ...


def _pie_bytes(pie: PieInput) -> bytes:
    if isinstance(pie, (bytes, bytearray)):
        return bytes(pie)
    return Path(pie).read_bytes()


def _server_message(response: requests.Response) -> str:
    """The one-line error the server gave (JSON ``message``/``error`` or the start of the body)."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "error_log", "detail"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:300] or response.reason or "no message"


class _Http:
    """requests with the error policy above; one place so both clients classify failures alike."""

    def __init__(self, service: str, base_url: str, timeout_s: float):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def request(self, method: str, url: str, what: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> requests.Response:
        if not url.startswith("http"):
            url = f"{self.base_url}/{url.lstrip('/')}"
        try:
            response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.Timeout as exc:
            raise TransientError(f"{self.service} {what}: timed out after {self.timeout_s}s ({url})") from exc
        except requests.RequestException as exc:
            raise TransientError(f"{self.service} {what}: {type(exc).__name__} talking to {url}") from exc
        if response.status_code in allow or response.ok:
            return response
        message = _server_message(response)
        if response.status_code >= 500:
            raise TransientError(f"{self.service} {what}: HTTP {response.status_code}: {message}")
        raise OrchestratorError(f"{self.service} {what}: HTTP {response.status_code}: {message}")

    @staticmethod
    def json(response: requests.Response, service: str, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"{service} {what}: answer is not JSON: {response.text[:200]!r}") from exc


class AtlanticClient:
    """The Atlantic API: ``POST /atlantic-query``, ``GET /atlantic-query/{id}``, dedup look-up, proof download.

    ``proof_url_template`` (with ``{id}``) is where a DONE query's proof is
    served: the hosted service publishes it on object storage
    (:data:`ATLANTIC_PROOF_URL_TEMPLATE`), the devnet prover under its own URL
    (the default). A proof that is not there (yet) reads as None.
    """

    def __init__(
        self,
        service_url: str,
        api_key: str,
        network: str = "TESTNET",
        result: str = "PROOF_VERIFICATION",
        cairo_vm: str = "rust",
        timeout_s: float = 60,
        cairo_version: str = "cairo0",
        proof_url_template: str | None = None,
    ):
        if not api_key:
            raise OrchestratorError("Atlantic API key is empty: set it in the prover resource")
        self.api_key = api_key
        self.network = network
        self.result = result
        self.cairo_vm = cairo_vm
        self.cairo_version = cairo_version
        self._http = _Http("Atlantic", service_url, timeout_s)
        self.proof_url_template = proof_url_template or f"{self._http.base_url}/queries/{{id}}/proof.json"

    @property
    def _auth(self) -> dict[str, str]:
        return {"api-key": self.api_key}

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        form = {
            "declaredJobSize": atlantic_job_size(n_steps),
            "result": self.result,
            "network": self.network,
            "cairoVersion": self.cairo_version,
            "cairoVm": self.cairo_vm,
            "layout": layout,
            "dedupId": dedup_id,
        }
        files = {"pieFile": ("pie.zip", _pie_bytes(pie), "application/zip")}
        response = self._http.request("POST", "atlantic-query", "submit", allow=(400, 409),
                                      headers=self._auth, data=form, files=files)
        if response.ok:
            return str(self._http.json(response, "Atlantic", "submit")["atlanticQueryId"])
        if _server_message(response) == DEDUP_EXISTS_MESSAGE:
            existing = self.find_by_dedup_id(dedup_id)
            if existing is not None:
                return existing
        raise OrchestratorError(f"Atlantic submit: HTTP {response.status_code}: {_server_message(response)}")

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        response = self._http.request("GET", "atlantic-query-by-dedup-id", "dedup look-up", allow=(404,),
                                      headers=self._auth, params={"dedupId": dedup_id})
        if response.status_code == 404:
            return None
        return str(self._http.json(response, "Atlantic", "dedup look-up")["atlanticQuery"]["id"])

    def status(self, external_id: str) -> ProofStatus:
        response = self._http.request("GET", f"atlantic-query/{external_id}", "status", headers=self._auth)
        raw = self._http.json(response, "Atlantic", "status")
        query = raw.get("atlanticQuery") or {}
        status = str(query.get("status", "UNKNOWN"))
        step = query.get("step")
        if status == "DONE":
            return ProofStatus("done", f"DONE (fact {query.get('sharpFactHash')})", raw)
        if status == "FAILED":
            return ProofStatus("failed", f"FAILED: {query.get('errorReason') or 'no reason given'}", raw)
        return ProofStatus("pending", f"{status} (step {step})" if step else status, raw)

    def fetch_proof(self, external_id: str) -> bytes | None:
        url = self.proof_url_template.format(id=external_id)
        response = self._http.request("GET", url, "proof download", allow=(403, 404))
        if response.status_code in (403, 404):
            return None
        return response.content


def sharp_job_key(dedup_id: str) -> str:
    """The SHARP ``cairo_job_key`` (a UUID) derived from a dedup id, so resubmitting is idempotent."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orchestrator-dedup:{dedup_id}"))


class SharpClient:
    """The SHARP gateway: ``POST add_job`` (base64 PIE) and ``GET get_status`` by ``cairo_job_key``.

    The job key is derived from the dedup id (:func:`sharp_job_key`), so
    submitting twice is harmless and :meth:`find_by_dedup_id` needs no look-up
    table. ``service_url`` includes the gateway prefix when there is one
    (e.g. ``https://host/v1/gateway``). A job counts as done when PROCESSED
    (or ONCHAIN on older gateways). Client certificates for mTLS go in ``cert``
    (a path or a (cert, key) pair) and the server's CA in ``verify``.
    """

    def __init__(
        self,
        service_url: str,
        customer_id: str,
        *,
        offchain_proof: bool = False,
        program_hash_function: str = "PEDERSEN",
        timeout_s: float = 60,
        cert: str | tuple[str, str] | None = None,
        verify: bool | str = True,
    ):
        if not customer_id:
            raise OrchestratorError("SHARP customer id is empty: set it in the prover resource")
        self.customer_id = customer_id
        self.offchain_proof = offchain_proof
        self.program_hash_function = program_hash_function
        self._http = _Http("SHARP", service_url, timeout_s)
        if cert is not None:
            self._http.session.cert = cert
        self._http.session.verify = verify

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        key = sharp_job_key(dedup_id)
        params = {
            "customer_id": self.customer_id,
            "cairo_job_key": key,
            "offchain_proof": str(self.offchain_proof).lower(),
            "program_hash_function": self.program_hash_function,
        }
        body = {"cairo_pie_encoded": base64.b64encode(_pie_bytes(pie)).decode("ascii")}
        response = self._http.request("POST", "add_job", "add_job", params=params, json=body)
        answer = self._http.json(response, "SHARP", "add_job")
        code = answer.get("code") if isinstance(answer, dict) else None
        if code and code != "JOB_RECEIVED_SUCCESSFULLY":
            raise OrchestratorError(f"SHARP add_job: {code}: {answer.get('message') or ''}".rstrip(": "))
        return key

    def _get_status(self, key: str) -> dict[str, Any]:
        params = {"customer_id": self.customer_id, "cairo_job_key": key}
        response = self._http.request("GET", "get_status", "get_status", params=params)
        return self._http.json(response, "SHARP", "get_status")

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        key = sharp_job_key(dedup_id)
        status = str(self._get_status(key).get("status", "UNKNOWN"))
        return None if status == "UNKNOWN" else key

    def status(self, external_id: str) -> ProofStatus:
        raw = self._get_status(external_id)
        status = str(raw.get("status", "UNKNOWN"))
        if status in ("PROCESSED", "ONCHAIN"):
            return ProofStatus("done", status, raw)
        if status == "FAILED":
            return ProofStatus("failed", f"FAILED: {raw.get('error_log') or 'no error log'}", raw)
        if status == "INVALID":
            return ProofStatus("failed", f"INVALID: {raw.get('invalid_reason') or 'UNKNOWN'}: {raw.get('error_log') or ''}".rstrip(": "), raw)
        if status == "UNKNOWN":
            return ProofStatus("failed", f"SHARP does not know job {external_id}", raw)
        return ProofStatus("pending", status, raw)

    def fetch_proof(self, external_id: str) -> bytes | None:
        params = {"customer_id": self.customer_id, "cairo_job_key": external_id}
        response = self._http.request("GET", "get_proof", "get_proof", params=params, allow=(404,))
        return None if response.status_code == 404 else response.content
