"""The devnet prover's query book: proving jobs, their clock, failure injection and L1 facts.

Kept apart from the HTTP layer (``devnet/prover.py``) so the life cycle of a
query reads in one place: RECEIVED at submission, IN_PROGRESS after a share of
``proving_delay_s``, then DONE once the PIE's fact is registered on L1 (or
FAILED with the reason). A background thread moves the clock and does the slow
work (reading the PIE, the L1 transaction), so no HTTP request waits on it.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator_pipelines.clients.snos import SnosResult, snos_result_from_pie
from orchestrator_pipelines.devnet.l1_deploy import register_fact
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.calldata import atlantic_job_size

STEPS = ["TRACE_GENERATION", "PROOF_GENERATION", "PROOF_VERIFICATION"]


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

    def __post_init__(self) -> None:
        if self.proving_delay_s < 0:
            raise InvalidInputError(f"proving_delay_s must be >= 0, got {self.proving_delay_s}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise InvalidInputError(f"failure_rate must be in 0..1, got {self.failure_rate}")
        if not 0.0 <= self.received_fraction <= 1.0:
            raise InvalidInputError(f"received_fraction must be in 0..1, got {self.received_fraction}")
        if not self.api_key:
            raise InvalidInputError("api_key must not be empty")
        l1 = (self.l1_rpc_url, self.fact_registry_address, self.registrar_private_key)
        if any(l1) and not all(l1):
            raise InvalidInputError(
                "fact registration needs l1_rpc_url, fact_registry_address and registrar_private_key together"
            )


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


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:
    """A ULID, the id format Atlantic uses (48-bit milliseconds + 80 random bits)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


class ApiError(Exception):
    """A request the service refuses: HTTP status and the one-line message the client gets."""

    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}


class ProverService:
    """The query store and the clock that moves queries along; no HTTP in here."""

    def __init__(self, config: ProverConfig, data_dir: Path):
        self.config = config
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._queries: dict[str, _Query] = {}
        self._by_dedup: dict[str, str] = {}
        self._rng = random.Random(config.seed)
        self._fail_next = 0
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

    def advance(self) -> None:
        """Move every query whose time has come; registers facts outside the lock."""
        with self._lock:
            unread = [q for q in self._queries.values() if q.pie is None and q.pie_error is None]
        for query in unread:
            self._read_pie(query)
        now = time.time()
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
        result = register_fact(cfg.l1_rpc_url, cfg.registrar_private_key, cfg.fact_registry_address, query.pie.fact)
        if result is None:
            return None
        return result.hex() if isinstance(result, (bytes, bytearray)) else str(result)

    # ---- submissions -----------------------------------------------------

    def fail_next(self, count: int) -> int:
        if count < 0:
            raise ApiError(400, "count must be >= 0")
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
