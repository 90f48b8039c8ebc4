"""The SHARP gateway (StarkWare) over mutual TLS: child jobs and applicative (aggregator) jobs.

Paths and parameters are those of the Madara orchestrator's ``sharp-service``
crate: ``POST add_job`` and ``POST add_applicative_job`` with ``customer_id``,
``cairo_job_key``, ``offchain_proof`` and ``program_hash_function`` in the
query and the base64 PIE in a JSON body; ``GET get_status`` and ``get_proof``
by ``cairo_job_key``; ``GET is_alive``. ``service_url`` includes the gateway
prefix (``https://host/v1/gateway``).

The gateway authenticates the client by certificate: ``user_crt`` and
``user_key`` (Madara's ``SHARP_USER_CRT`` / ``SHARP_USER_KEY``) are the
client's certificate and key, ``server_crt`` (``SHARP_SERVER_CRT``) the
certificate the server must present (it is self-signed, so it is the trust
anchor). Each is a file path or the PEM text itself.

Applicative path: children are ordinary jobs (``offchain_proof=true``: their
proofs are not verified on L1); the aggregator PIE, built locally, goes to
``add_applicative_job`` with the children's keys and ``offchain_proof=false``,
so SHARP verifies the aggregation on L1. Its ``cairo_job_key`` is derived from
the aggregator fact, so submitting it again is harmless. The aggregation is
done when SHARP says PROCESSED *and* the aggregator fact is valid on L1.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator_pipelines.clients.prover_base import (
    AggregationStatus,
    Http,
    PieInput,
    ProofStatus,
    pie_bytes,
)
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError

PROGRAM_HASH_FUNCTION = "PEDERSEN"
CHILD_OFFCHAIN_PROOF = True
APPLICATIVE_OFFCHAIN_PROOF = False


def status_object(raw: Any, key: str) -> dict[str, Any]:
    """A ``get_status`` answer must be a JSON object; anything else is a one-line TransientError (polled again)."""
    if not isinstance(raw, dict):
        raise TransientError(f"SHARP get_status of job {key}: answer is not a JSON object: {json.dumps(raw)[:200]}")
    return raw


def sharp_job_key(dedup_id: str) -> str:
    """The SHARP ``cairo_job_key`` (a UUID) derived from a dedup id, so resubmitting is idempotent."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orchestrator-dedup:{dedup_id}"))


def applicative_job_key(aggregator_fact: bytes) -> str:
    """The applicative job's ``cairo_job_key``: the aggregator fact, as the UUID SHARP keys must be."""
    if len(aggregator_fact) != 32:
        raise InvalidInputError(f"aggregator fact must be 32 bytes, got {len(aggregator_fact)}")
    return sharp_job_key(f"aggregator:0x{aggregator_fact.hex()}")


def pem_material(name: str, value: str) -> bytes:
    """A PEM given as its text or as a file path; refused with one line if it is neither."""
    text = value.strip()
    if "-----BEGIN" in text:
        return (text + "\n").encode()
    path = Path(value).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        raise InvalidInputError(f"{name}: {path} is not a PEM file")
    return data


class _PemFiles:
    """PEM texts written to private files (requests takes paths), removed when the client goes."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="sharp-tls-")
        os.chmod(self.dir, 0o700)

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    @staticmethod
    def remove(directory: str) -> None:
        for entry in Path(directory).glob("*"):
            entry.unlink(missing_ok=True)
        Path(directory).rmdir()


class SharpClient:
    """The SHARP gateway, for the direct path (:class:`ProverClient`) and the applicative path (:class:`AggregatingProver`).

    Job keys are derived from dedup ids (:func:`sharp_job_key`), so submitting
    twice is harmless and :meth:`find_by_dedup_id` needs no look-up table.
    ``offchain_proof`` applies to direct jobs (Madara's ``SHARP_OFFCHAIN_PROOF``;
    false: SHARP registers the fact on L1); aggregation children are always
    off-chain and applicative jobs always on chain, as Madara sends them.
    ``fact_checker`` answers whether a fact is valid on L1; the applicative job
    counts as done only once it says yes.
    """

    kind = "sharp"
    aggregates_remotely = False

    def __init__(
        self,
        service_url: str,
        customer_id: str,
        *,
        user_crt: str | None = None,
        user_key: str | None = None,
        server_crt: str | None = None,
        offchain_proof: bool = False,
        program_hash_function: str = PROGRAM_HASH_FUNCTION,
        fact_checker: Callable[[bytes], bool] | None = None,
        timeout_s: float = 60,
        attempts: int = 3,
        backoff_s: float = 1.0,
    ):
        if not customer_id:
            raise OrchestratorError("SHARP customer id is empty: set ORCHESTRATOR_SHARP_CUSTOMER_ID")
        if (user_crt is None) != (user_key is None):
            raise InvalidInputError("SHARP mutual TLS needs both the client certificate and its key (SHARP_USER_CRT, SHARP_USER_KEY)")
        self.customer_id = customer_id
        self.offchain_proof = offchain_proof
        self.program_hash_function = program_hash_function
        self.fact_checker = fact_checker
        self._http = Http("SHARP", service_url, timeout_s, attempts=attempts, backoff_s=backoff_s)
        if user_crt is not None or server_crt is not None:
            files = _PemFiles()
            weakref.finalize(self, _PemFiles.remove, files.dir)
            if user_crt is not None and user_key is not None:
                self._http.cert = (
                    files.write("user.crt", pem_material("SHARP_USER_CRT", user_crt)),
                    files.write("user.key", pem_material("SHARP_USER_KEY", user_key)),
                )
            if server_crt is not None:
                self._http.verify = files.write("server.crt", pem_material("SHARP_SERVER_CRT", server_crt))

    def _params(self, **extra: str) -> dict[str, str]:
        return {"customer_id": self.customer_id, **extra}

    def _add(self, path: str, key: str, pie: bytes, offchain: bool, extra_body: dict[str, Any]) -> None:
        params = self._params(cairo_job_key=key, offchain_proof=str(offchain).lower(),
                              program_hash_function=self.program_hash_function)
        body = {"cairo_pie_encoded": base64.b64encode(pie).decode("ascii"), **extra_body}
        response = self._http.request("POST", path, path, params=params, json=body)
        answer = self._http.json(response, path)
        code = answer.get("code") if isinstance(answer, dict) else None
        if code and code != "JOB_RECEIVED_SUCCESSFULLY":
            raise OrchestratorError(f"SHARP {path}: {code}: {answer.get('message') or ''}".rstrip(": "))

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        key = sharp_job_key(dedup_id)
        self._add("add_job", key, pie_bytes(pie), self.offchain_proof, {})
        return key

    def add_child_job(self, pie: PieInput, *, dedup_id: str) -> str:
        """``POST add_job`` for an aggregation child: its proof stays off chain."""
        key = sharp_job_key(dedup_id)
        self._add("add_job", key, pie_bytes(pie), CHILD_OFFCHAIN_PROOF, {})
        return key

    def add_applicative_job(self, pie: PieInput, *, cairo_job_key: str, children_cairo_job_keys: list[str]) -> str:
        """``POST add_applicative_job``: the aggregator PIE over already-submitted children."""
        if not children_cairo_job_keys:
            raise InvalidInputError("an applicative job needs at least one child job key")
        self._add("add_applicative_job", cairo_job_key, pie_bytes(pie), APPLICATIVE_OFFCHAIN_PROOF,
                  {"children_cairo_job_keys": list(children_cairo_job_keys)})
        return cairo_job_key

    def get_status(self, key: str) -> dict[str, Any]:
        response = self._http.request("GET", "get_status", "get_status", params=self._params(cairo_job_key=key))
        return status_object(self._http.json(response, "get_status"), key)

    def is_alive(self) -> bool:
        return self._http.request("GET", "is_alive", "is_alive", allow=(404,)).ok

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        key = sharp_job_key(dedup_id)
        status = str(self.get_status(key).get("status", "UNKNOWN"))
        return None if status == "UNKNOWN" else key

    @classmethod
    def status_of(cls, raw: Any, key: str) -> ProofStatus:
        """The status of a ``get_status`` answer for job ``key`` (what :meth:`status` reports)."""
        raw = status_object(raw, key)
        failed = cls._failure(raw, key)
        if failed is not None:
            return failed
        status = str(raw.get("status"))
        if status in ("PROCESSED", "ONCHAIN"):
            return ProofStatus("done", status, raw)
        return ProofStatus("pending", status, raw)

    @staticmethod
    def _failure(raw: dict[str, Any], key: str) -> ProofStatus | None:
        status = str(raw.get("status", "UNKNOWN"))
        if status == "FAILED":
            return ProofStatus("failed", f"FAILED: {raw.get('error_log') or 'no error log'}", raw)
        if status == "INVALID":
            reason = f"INVALID: {raw.get('invalid_reason') or 'UNKNOWN'}: {raw.get('error_log') or ''}"
            return ProofStatus("failed", reason.rstrip(": "), raw)
        if status == "UNKNOWN":
            return ProofStatus("failed", f"SHARP does not know job {key}", raw)
        return None

    def status(self, external_id: str) -> ProofStatus:
        return self.status_of(self.get_status(external_id), external_id)

    def fetch_proof(self, external_id: str) -> bytes | None:
        response = self._http.request("GET", "get_proof", "get_proof", params=self._params(cairo_job_key=external_id),
                                      allow=(404,))
        if response.status_code == 404:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("code") == "NO_OFFCHAIN_PROOF_FOR_JOB":
            return None
        return response.content

    # ---- AggregatingProver --------------------------------------------------

    def open_aggregation(self, *, external_id: str) -> str:
        """SHARP keeps no bucket: the aggregation's id is local, derived from ``external_id``."""
        return sharp_job_key(f"aggregation:{external_id}")

    def submit_child(self, pie: PieInput, *, aggregation_id: str, index: int, dedup_id: str, n_steps: int) -> str:
        if index < 1:
            raise InvalidInputError(f"child index counts from 1, got {index}")
        return self.add_child_job(pie, dedup_id=dedup_id)

    def child_status(self, job_id: str) -> ProofStatus:
        """A child is done once SHARP validated it (PROCESSED, or IN_PROGRESS with ``validation_done``)."""
        raw = self.get_status(job_id)
        failed = self._failure(raw, job_id)
        if failed is not None:
            return failed
        status = str(raw.get("status"))
        if status in ("PROCESSED", "ONCHAIN") or (status == "IN_PROGRESS" and raw.get("validation_done") is True):
            return ProofStatus("done", status, raw)
        return ProofStatus("pending", status, raw)

    def close_aggregation(self, aggregation_id: str, *, aggregator_pie: bytes | None = None,
                          aggregator_fact: bytes | None = None, children_job_ids: list[str] | None = None) -> str:
        if aggregator_pie is None or aggregator_fact is None or not children_job_ids:
            raise InvalidInputError("SHARP aggregates locally: close_aggregation needs the aggregator PIE, "
                                    "its fact and the children's job keys")
        return self.add_applicative_job(aggregator_pie, cairo_job_key=applicative_job_key(aggregator_fact),
                                        children_cairo_job_keys=children_job_ids)

    def aggregation_status(self, aggregation_id: str, *, fact: bytes | None = None) -> AggregationStatus:
        raw = self.get_status(aggregation_id)
        status = str(raw.get("status", "UNKNOWN"))
        failed = self._failure(raw, aggregation_id)
        if failed is not None:
            return AggregationStatus("failed", f"applicative job {aggregation_id} {failed.detail}", status,
                                     aggregation_job_id=aggregation_id, raw=raw)
        if status in ("PROCESSED", "ONCHAIN"):
            if fact is not None and self.fact_checker is not None and not self.fact_checker(fact):
                return AggregationStatus("pending", f"applicative job {aggregation_id} {status}, fact 0x{fact.hex()} "
                                         "not yet valid on L1", status, aggregation_job_id=aggregation_id, raw=raw)
            return AggregationStatus("done", f"applicative job {aggregation_id} {status}", status,
                                     aggregation_job_id=aggregation_id, raw=raw)
        return AggregationStatus("pending", f"applicative job {aggregation_id} {status}", status,
                                 aggregation_job_id=aggregation_id, raw=raw)

    def aggregation_artifacts(self, aggregation_id: str) -> None:
        """The aggregator PIE and DA segment were built locally: nothing to fetch."""
        return None
