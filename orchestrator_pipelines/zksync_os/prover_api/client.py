"""HTTP clients of the prover API: the orchestrator's (offer jobs, read results) and a prover's.

Error policy as the other service clients: a timeout, a connection error or an
HTTP 5xx is a :class:`TransientError`; any other unexpected status is an
:class:`OrchestratorError` carrying the API's one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.zksync_os.prover_api.store import FriJob, SnarkJob


class _Http:
    def __init__(self, base_url: str, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def request(self, method: str, path: str, *, ok: tuple[int, ...], **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"prover API {method} {path} unreachable: {type(exc).__name__}") from None
        if response.status_code in ok:
            return response
        message = (response.text or "").strip().splitlines()[0][:300] if response.text else response.reason
        if response.status_code >= 500:
            raise TransientError(f"prover API {method} {path}: HTTP {response.status_code}: {message}")
        raise OrchestratorError(f"prover API {method} {path}: HTTP {response.status_code}: {message}")


@dataclass(frozen=True)
class FriResult:
    batch_number: int
    attempts: int
    assigned_to: str | None
    proof: str | None
    proved_by: str | None
    proved_at: float | None


@dataclass(frozen=True)
class SnarkResult:
    batch_from: int
    batch_to: int
    proof: str
    proved_at: float


class OrchestratorProverApi:
    """What the Dagster assets use: offer a FRI job, read FRI and SNARK results."""

    def __init__(self, base_url: str, timeout_s: float = 30.0):
        self._http = _Http(base_url, timeout_s)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def offer_fri(self, batch_number: int, prover_input: str, vk_hash: str = "") -> bool:
        """Offer batch ``batch_number`` to FRI provers; True if new (idempotent)."""
        response = self._http.request(
            "PUT", f"/orchestrator/FRI/{batch_number}", ok=(200, 201),
            json={"prover_input": prover_input, "vk_hash": vk_hash},
        )
        return response.status_code == 201

    def fri_result(self, batch_number: int) -> FriResult | None:
        response = self._http.request("GET", f"/orchestrator/FRI/{batch_number}", ok=(200, 404))
        if response.status_code == 404:
            return None
        body = response.json()
        return FriResult(
            batch_number=body["batch_number"], attempts=body["attempts"], assigned_to=body["assigned_to"],
            proof=body["proof"], proved_by=body["proved_by"], proved_at=body["proved_at"],
        )

    def snark_result(self, batch_number: int) -> SnarkResult | None:
        response = self._http.request("GET", f"/orchestrator/SNARK/{batch_number}", ok=(200, 404))
        if response.status_code == 404:
            return None
        body = response.json()
        return SnarkResult(body["batch_from"], body["batch_to"], body["proof"], body["proved_at"])

    def status(self) -> list[dict[str, int]]:
        return self._http.request("GET", "/prover-jobs/status", ok=(200,)).json()


class ProverClient:
    """A prover's side of the API (what the fake provers, or a real prover binary, call)."""

    def __init__(self, base_url: str, prover_id: str, timeout_s: float = 30.0):
        self._http = _Http(base_url, timeout_s)
        self.prover_id = prover_id

    def pick_fri(self) -> FriJob | None:
        response = self._http.request("POST", "/prover-jobs/FRI/pick", ok=(200, 204), params={"id": self.prover_id})
        if response.status_code == 204:
            return None
        body = response.json()
        return FriJob(body["block_number"], body["prover_input"], "")

    def submit_fri(self, batch_number: int, proof: str) -> None:
        self._http.request(
            "POST", "/prover-jobs/FRI/submit", ok=(200, 204), params={"id": self.prover_id},
            json={"block_number": batch_number, "proof": proof},
        )

    def pick_snark(self) -> SnarkJob | None:
        response = self._http.request("POST", "/prover-jobs/SNARK/pick", ok=(200, 204), params={"id": self.prover_id})
        if response.status_code == 204:
            return None
        body = response.json()
        return SnarkJob(body["block_number_from"], body["block_number_to"], body["fri_proofs"])

    def submit_snark(self, batch_from: int, batch_to: int, proof: str) -> None:
        self._http.request(
            "POST", "/prover-jobs/SNARK/submit", ok=(200, 204), params={"id": self.prover_id},
            json={"block_number_from": batch_from, "block_number_to": batch_to, "proof": proof},
        )
