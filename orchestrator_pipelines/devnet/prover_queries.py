"""The devnet prover's query book: proving jobs, their clock, failure injection and L1 facts.

Kept apart from the HTTP layer (``devnet/prover.py``) so the life cycle of a
query reads in one place: RECEIVED at submission, IN_PROGRESS after a share of
``proving_delay_s``, then DONE once the PIE's fact is registered on L1 (or
FAILED with the reason). A background thread moves the clock and does the slow
work (reading the PIE, the L1 transaction), so no HTTP request waits on it.

Buckets (Atlantic's applicative recursion) follow the real rules: a bucket is
OPEN until closed and takes children with ``bucketJobIndex`` 1, 2, ... (an
index once; a closed or failed bucket takes none); closing needs the indexes to
be exactly 1..n; a FAILED child fails its bucket at once. A closed bucket is
IN_PROGRESS until every child is DONE; then the devnet aggregator combines the
children's outputs (``devnet/prover_aggregation.py``), an aggregation query
(step ``FACT_HASH_REGISTRATION``) is added holding ``pie.cairo0.zip`` and
``da_blob.json``, the aggregator fact is registered on L1, and the bucket is DONE.
Children of a bucket are proven but their own facts are not registered: only
the aggregation's fact goes on chain, as with the real service.

A SHARP applicative job waits for its children (any FAILED child fails it),
then registers the fact of the aggregator PIE it was given.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator_pipelines.clients.snos import SnosResult, snos_result_from_pie
from orchestrator_pipelines.devnet.l1_deploy import register_fact
from orchestrator_pipelines.devnet.prover_aggregation import (
    Aggregator,
    AggregatorFact,
    DevnetAggregation,
    default_aggregator,
    default_aggregator_fact,
)
from orchestrator_pipelines.devnet.prover_errors import ApiError
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.calldata import atlantic_job_size

STEPS = ["TRACE_GENERATION", "PROOF_GENERATION", "PROOF_VERIFICATION"]


@dataclass(frozen=True)
class TlsConfig:
    """Serve HTTPS: the server's certificate and key; with ``client_ca_file``, clients must present
    a certificate signed by it (mutual TLS, as the SHARP gateway requires). ``host_name`` is the
    name the certificate is issued for (the server's URL uses it)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    host_name: str | None = None


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
    aggregator: Aggregator = default_aggregator
    tls: TlsConfig | None = None
    aggregator_fact: AggregatorFact = default_aggregator_fact

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
    bucket_id: str | None = None
    bucket_index: int | None = None
    children: tuple[str, ...] = ()  # SHARP applicative job: the children's keys
    aggregation: DevnetAggregation | None = None  # a bucket's aggregation query
    fact_override: bytes | None = None
    unregistered: bool = False  # a lying prover: DONE without registering the fact (/_devnet/unregistered-next)


@dataclass
class _Bucket:
    """An Atlantic bucket: its children by index, then its aggregation query."""

    id: str
    created: float
    request: dict[str, Any]
    status: str = "OPEN"
    children: dict[int, str] = field(default_factory=dict)
    aggregation_query_id: str | None = None
    aggregating: bool = False
    error_reason: str | None = None
    stalled: bool = False  # never aggregated: a bucket that never finishes (/_devnet/stall-next-bucket)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:
    """A ULID, the id format Atlantic uses (48-bit milliseconds + 80 random bits)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


class ProverService:
    """The query and bucket store and the clock that moves them along; no HTTP in here."""

    def __init__(self, config: ProverConfig, data_dir: Path):
        self.config = config
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._queries: dict[str, _Query] = {}
        self._by_dedup: dict[str, str] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._rng = random.Random(config.seed)
        self._fail_next = 0
        self._unregistered_next = 0
        self._stall_next_buckets = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._read_wake = threading.Event()

    # ---- life cycle -------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="devnet-prover-clock", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="devnet-prover-reader", daemon=True)
        self._worker.start()
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._read_wake.set()
        for thread in (self._worker, self._reader):
            if thread is not None:
                thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.advance()
            self._wake.wait(0.05)
            self._wake.clear()

    def _read_loop(self) -> None:
        """Reads uploaded PIEs on its own thread: a slow read (seconds for a real PIE) never stalls the clock."""
        while not self._stop.is_set():
            self.read_pending_pies()
            self._read_wake.wait(0.05)
            self._read_wake.clear()

    def read_pending_pies(self) -> None:
        with self._lock:
            unread = [q for q in self._queries.values() if q.pie is None and q.pie_error is None and q.aggregation is None]
        for query in unread:
            self._read_pie(query)

    def advance(self) -> None:
        """Move every query and bucket whose time has come; slow work (L1 transactions) runs outside the lock.

        A query finishes only once its PIE was read (its trace exists), however short ``proving_delay_s`` is.
        """
        now = time.time()
        to_finish: list[_Query] = []
        with self._lock:
            for query in self._queries.values():
                if query.status in ("DONE", "FAILED") or query.registering or query.aggregation is not None:
                    continue
                elapsed = now - query.created
                if query.status == "RECEIVED" and elapsed >= self._received_for():
                    query.status, query.step = "IN_PROGRESS", "PROOF_GENERATION"
                read = query.pie is not None or query.pie_error is not None
                if elapsed >= self.config.proving_delay_s and read and self._children_settled(query):
                    query.registering = True
                    to_finish.append(query)
        for query in to_finish:
            self._finish(query)
        for bucket in self._buckets_to_aggregate():
            self._aggregate(bucket)

    def _children_settled(self, query: _Query) -> bool:
        """An applicative job proceeds once every child is DONE or one FAILED (called with the lock held)."""
        states = [self._queries[key].status for key in query.children if key in self._queries]
        return all(state in ("DONE", "FAILED") for state in states)

    def _read_pie(self, query: _Query) -> None:
        """Read the uploaded PIE (program hash and fact); off the request path, as it can take seconds."""
        try:
            summary, error = snos_result_from_pie(query.pie_path), None
            if query.children:  # an aggregator PIE: its fact is under the prefixed aggregator program hash
                query.fact_override = self.config.aggregator_fact(query.pie_path)
        except Exception as exc:  # an unreadable PIE fails the query, like a real trace failure
            summary, error = None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with self._lock:
            query.pie, query.pie_error = summary, error

    def _received_for(self) -> float:
        return self.config.proving_delay_s * self.config.received_fraction

    def _finish(self, query: _Query) -> None:
        reason = query.doomed_reason or (f"trace generation failed: {query.pie_error}" if query.pie_error else None)
        if reason is None and query.children:
            with self._lock:
                failed = [key for key in query.children if self._queries[key].status == "FAILED"]
            if failed:
                reason = f"child job {failed[0]} FAILED"
        tx: str | None = None
        # Only on-chain proofs register their fact: a bucket child's or an off-chain SHARP job's does not.
        on_chain = query.bucket_id is None and query.form.get("offchain_proof") != "true"
        if reason is None and on_chain:
            with self._lock:
                query.step = "PROOF_VERIFICATION"
            try:
                tx = None if query.unregistered else self._register(self._fact(query))
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
            if query.bucket_id is not None and query.status == "FAILED":
                bucket = self._buckets[query.bucket_id]
                if bucket.status in ("OPEN", "IN_PROGRESS"):
                    bucket.status = "FAILED"
                    bucket.error_reason = f"child {query.bucket_index} (query {query.id}) FAILED: {reason}"

    def _fact(self, query: _Query) -> bytes:
        if query.aggregation is not None:
            return query.aggregation.fact
        if query.fact_override is not None:
            return query.fact_override
        assert query.pie is not None
        return query.pie.fact

    def _register(self, fact: bytes) -> str | None:
        cfg = self.config
        if not (cfg.l1_rpc_url and cfg.fact_registry_address and cfg.registrar_private_key):
            return None
        result = register_fact(cfg.l1_rpc_url, cfg.registrar_private_key, cfg.fact_registry_address, fact)
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

    def unregistered_next(self, count: int) -> int:
        """The next ``count`` submitted on-chain queries end DONE without their fact registered on L1.

        Why: a real prover can report DONE while its fact never reached the
        registry (a failed or dropped registration transaction, a verifier on
        another chain); the orchestrator must not settle on its word alone.
        """
        if count < 0:
            raise ApiError(400, "count must be >= 0")
        with self._lock:
            self._unregistered_next += count
            return self._unregistered_next

    def stall_next_buckets(self, count: int) -> int:
        """The next ``count`` buckets closed stay IN_PROGRESS for good: their aggregation never runs.

        Why: a real bucket can hang (a stuck child, a prover incident) without
        ever reporting FAILED; the orchestrator must give up on it after its
        timeout instead of waiting for ever.
        """
        if count < 0:
            raise ApiError(400, "count must be >= 0")
        with self._lock:
            self._stall_next_buckets += count
            return self._stall_next_buckets

    def _take_unregistered(self) -> bool:
        """Whether this submission is one of the lies asked for (called with the lock held)."""
        if self._unregistered_next > 0:
            self._unregistered_next -= 1
            return True
        return False

    def _doom(self) -> str | None:
        """Decide at submission whether this query will fail (called with the lock held)."""
        if self._fail_next > 0:
            self._fail_next -= 1
            return "devnet prover: failure injected by /_devnet/fail-next"
        if self.config.failure_rate > 0 and self._rng.random() < self.config.failure_rate:
            return "devnet prover: random failure (failure_rate)"
        return None

    def submit(self, api: str, pie_bytes: bytes, form: dict[str, str], dedup_id: str | None,
               query_id: str | None = None, *, bucket_index: int | None = None,
               children: tuple[str, ...] = ()) -> tuple[_Query, bool]:
        """Store a new query, or return the live one with this dedup id (second value: created).

        A bucket child (``form["bucketId"]`` and ``bucket_index``) is refused
        unless its bucket exists, is OPEN and has no child at that index yet.
        An applicative job's ``children`` must all be known SHARP jobs.
        """
        bucket_id = form.get("bucketId") or None
        with self._lock:
            existing = self._live_by_dedup(dedup_id)
            if existing is not None:
                return existing, False
            if bucket_id is not None:
                self._check_bucket_slot(bucket_id, bucket_index)
            unknown = [key for key in children if key not in self._queries or self._queries[key].api != "sharp"]
            if unknown:
                raise ApiError(400, f"children_cairo_job_keys: unknown job {unknown[0]}")
        qid = query_id or _ulid()
        pie_path = self.data_dir / f"{qid}.zip"
        pie_path.write_bytes(pie_bytes)
        with self._lock:
            existing = self._live_by_dedup(dedup_id)
            if existing is not None:
                return existing, False
            if bucket_id is not None:
                self._check_bucket_slot(bucket_id, bucket_index)
            query = _Query(
                id=qid, dedup_id=dedup_id, api=api, created=time.time(), form=dict(form),
                pie_path=pie_path, pie=None, pie_error=None, doomed_reason=self._doom(),
                bucket_id=bucket_id, bucket_index=bucket_index, children=tuple(children),
                unregistered=bucket_id is None and self._take_unregistered(),
            )
            self._queries[qid] = query
            if dedup_id:
                self._by_dedup[dedup_id] = qid
            if bucket_id is not None and bucket_index is not None:
                self._buckets[bucket_id].children[bucket_index] = qid
        self._read_wake.set()
        self._wake.set()
        return query, True

    def _check_bucket_slot(self, bucket_id: str, index: int | None) -> None:
        bucket = self._buckets.get(bucket_id)
        if bucket is None:
            raise ApiError(404, f"bucket {bucket_id} not found")
        if bucket.status != "OPEN":
            raise ApiError(400, f"bucket {bucket_id} is {bucket.status}: it takes no more queries")
        if index is None:
            raise ApiError(400, "bucketJobIndex is required when bucketId is given")
        if index in bucket.children:
            raise ApiError(409, f"bucket {bucket_id} already has a query at bucketJobIndex {index}",
                           {"atlanticQueryId": bucket.children[index]})

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

    def search(self, text: str, network: str | None, limit: int) -> list[_Query]:
        """``GET /atlantic-queries?search=``: Atlantic queries whose id, dedupId or externalId contain ``text``."""
        with self._lock:
            found = [
                q for q in self._queries.values()
                if q.api == "atlantic" and q.aggregation is None
                and (not network or q.form.get("network") == network)
                and (not text or any(text in (v or "") for v in (q.id, q.dedup_id, q.form.get("externalId"))))
            ]
        found.sort(key=lambda q: q.created, reverse=True)
        return found[:limit]

    # ---- buckets -------------------------------------------------------------

    def create_bucket(self, request: dict[str, Any]) -> _Bucket:
        bucket = _Bucket(id=_ulid(), created=time.time(), request=request)
        with self._lock:
            self._buckets[bucket.id] = bucket
        return bucket

    def bucket(self, bucket_id: str) -> _Bucket:
        with self._lock:
            found = self._buckets.get(bucket_id)
        if found is None:
            raise ApiError(404, f"bucket {bucket_id} not found")
        return found

    def close_bucket(self, bucket_id: str) -> _Bucket:
        """Close an OPEN bucket whose children are exactly 1..n; it is then aggregated once they are DONE."""
        with self._lock:
            bucket = self._buckets.get(bucket_id)
            if bucket is None:
                raise ApiError(404, f"bucket {bucket_id} not found")
            if bucket.status != "OPEN":
                raise ApiError(400, f"bucket {bucket_id} is {bucket.status}: only an OPEN bucket can be closed")
            if not bucket.children:
                raise ApiError(400, f"bucket {bucket_id} has no queries: nothing to aggregate")
            indexes = sorted(bucket.children)
            if indexes != list(range(1, len(indexes) + 1)):
                missing = sorted(set(range(1, indexes[-1] + 1)) - set(indexes))
                raise ApiError(400, f"bucket {bucket_id}: bucketJobIndex values must be 1..{indexes[-1]} "
                                    f"without gaps; missing {', '.join(map(str, missing))}")
            bucket.status = "IN_PROGRESS"
            if self._stall_next_buckets > 0:
                self._stall_next_buckets -= 1
                bucket.stalled = True
        self._wake.set()
        return bucket

    def _buckets_to_aggregate(self) -> list[_Bucket]:
        with self._lock:
            ready = []
            for bucket in self._buckets.values():
                if bucket.status != "IN_PROGRESS" or bucket.aggregating or bucket.stalled:
                    continue
                if all(self._queries[qid].status == "DONE" for qid in bucket.children.values()):
                    bucket.aggregating = True
                    ready.append(bucket)
            return ready

    def _aggregate(self, bucket: _Bucket) -> None:
        """Run the devnet aggregator over the children, register its fact, add the aggregation query."""
        with self._lock:
            children = [self._queries[bucket.children[i]] for i in sorted(bucket.children)]
        reason: str | None = None
        aggregation: DevnetAggregation | None = None
        tx: str | None = None
        try:
            outputs = [list(child.pie.program_output) for child in children if child.pie is not None]
            aggregation = self.config.aggregator(outputs, dict(bucket.request["aggregatorParams"]))
            tx = self._register(aggregation.fact)
        except Exception as exc:  # the aggregation step failing fails the bucket, with the reason
            reason = f"aggregation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        now = time.time()
        qid = _ulid()
        pie_path = self.data_dir / f"{qid}.zip"
        if aggregation is not None:
            pie_path.write_bytes(aggregation.cairo_pie)
        query = _Query(
            id=qid, dedup_id=None, api="atlantic", created=now, form={"result": "FACT_HASH_REGISTRATION",
            "cairoVersion": "cairo0", "layout": "recursive_with_poseidon", "externalId": bucket.request.get("externalId")},
            pie_path=pie_path, pie=None, pie_error=None, doomed_reason=None,
            status="DONE" if reason is None else "FAILED", step="FACT_HASH_REGISTRATION",
            error_reason=reason, completed=now, transaction_id=tx, bucket_id=bucket.id, aggregation=aggregation,
        )
        with self._lock:
            self._queries[qid] = query
            bucket.aggregation_query_id = qid
            bucket.aggregating = False
            bucket.status = "DONE" if reason is None else "FAILED"
            bucket.error_reason = reason

    # ---- views -------------------------------------------------------------

    def atlantic_view(self, query: _Query, base_url: str) -> dict[str, Any]:
        with self._lock:
            atlantic_query = self._query_dict(query)
        urls = [f"{base_url}/queries/{query.id}/metadata.json"] if query.status == "DONE" else []
        return {"atlanticQuery": atlantic_query, "metadataUrls": urls}

    def _query_dict(self, query: _Query) -> dict[str, Any]:
        """One query as Atlantic lists it (called with the lock held)."""
        pie = query.pie
        declared = query.form.get("declaredJobSize") or None
        actual = atlantic_job_size(pie.n_steps) if pie else None
        order = "SML"
        valid = bool(declared and actual and declared in order and order.index(declared) >= order.index(actual))
        fact = None
        if query.aggregation is not None:
            fact = "0x" + query.aggregation.fact.hex()
        elif pie is not None:
            fact = "0x" + (query.fact_override or pie.fact).hex()
        return {
            "id": query.id,
            "externalId": query.form.get("externalId"),
            "dedupId": query.dedup_id,
            "transactionId": query.transaction_id,
            "status": query.status,
            "step": query.step,
            "programHash": hex(pie.program_hash) if pie else None,
            "integrityFactHash": None,
            "sharpFactHash": fact,
            "layout": query.form.get("layout"),
            "isFactMocked": query.form.get("mockFactHash") == "true",
            "chain": "L1",
            "jobSize": actual,
            "declaredJobSize": declared,
            "cairoVm": query.form.get("cairoVm"),
            "cairoVersion": query.form.get("cairoVersion"),
            "steps": list(STEPS) if query.aggregation is None else ["FACT_HASH_REGISTRATION"],
            "errorReason": query.error_reason,
            "submittedByClient": "devnet-client",
            "projectId": "devnet-project",
            "createdAt": _iso(query.created),
            "completedAt": _iso(query.completed),
            "result": query.form.get("result"),
            "network": query.form.get("network"),
            "hints": None,
            "sharpProver": query.form.get("sharpProver") or "stone",
            "bucketId": query.bucket_id,
            "bucketJobIndex": query.bucket_index,
            "customerName": "devnet",
            "isJobSizeValid": valid if query.aggregation is None else True,
            "isProofMocked": True,
            "nSteps": pie.n_steps if pie else None,
            "client": {"clientId": "devnet-client", "name": "devnet", "email": None,
                       "isEmailVerified": None, "image": None},
        }

    def bucket_dict(self, bucket: _Bucket) -> dict[str, Any]:
        with self._lock:
            return {
                "id": bucket.id,
                "externalId": bucket.request.get("externalId"),
                "status": bucket.status,
                "aggregatorVersion": bucket.request["aggregatorVersion"],
                "nodeWidth": bucket.request.get("nodeWidth"),
                "leaves": len(bucket.children),
                "chain": "L1",
                "projectId": "devnet-project",
                "createdByClient": "devnet-client",
                "createdAt": _iso(bucket.created),
                "errorReason": bucket.error_reason,
            }

    def bucket_view(self, bucket: _Bucket) -> dict[str, Any]:
        view = self.bucket_dict(bucket)
        with self._lock:
            ids = [bucket.children[i] for i in sorted(bucket.children)]
            if bucket.aggregation_query_id:
                ids.append(bucket.aggregation_query_id)
            queries = [self._query_dict(self._queries[qid]) for qid in ids]
        return {"bucket": view, "queries": queries}

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

    def artifact(self, query: _Query, name: str) -> tuple[bytes, str] | None:
        """An artifact of a DONE query as object storage serves it: (body, content type), or None."""
        with self._lock:
            if query.status != "DONE":
                return None
            aggregation = query.aggregation
        if aggregation is not None:
            if name == "pie.cairo0.zip":
                return aggregation.cairo_pie, "application/zip"
            if name == "da_blob.json":
                return json.dumps([hex(x) for x in aggregation.da_segment]).encode(), "application/json"
        if name == "proof.json":
            doc = self.proof_document(query)
        elif name == "metadata.json":
            doc = self.metadata_document(query)
        else:
            doc = None
        return None if doc is None else (json.dumps(doc).encode(), "application/json")

    def proof_document(self, query: _Query) -> dict[str, Any] | None:
        with self._lock:
            if query.status != "DONE":
                return None
            if query.aggregation is not None:
                return {"proof": {"mocked": True, "query_id": query.id},
                        "fact_hash": "0x" + query.aggregation.fact.hex(), "verification_result": "VALID"}
            if query.pie is None:
                return None
            pie = query.pie
            return {
                "config": {"cairo_version": query.form.get("cairoVersion", "cairo0"),
                           "layout": query.form.get("layout", "dynamic"), "memory_layout": "standard"},
                "proof": {"mocked": True, "query_id": query.id},
                "program_hash": hex(pie.program_hash),
                "fact_hash": "0x" + (query.fact_override or pie.fact).hex(),
                "n_steps": pie.n_steps,
                "verification_result": "VALID",
            }

    def metadata_document(self, query: _Query) -> dict[str, Any] | None:
        with self._lock:
            if query.status != "DONE":
                return None
            if query.aggregation is not None:
                return {"output": [hex(x) for x in query.aggregation.output],
                        "sharp_fact_hash": "0x" + query.aggregation.fact.hex()}
            if query.pie is None:
                return None
            pie = query.pie
            return {
                "program_hash": hex(pie.program_hash),
                "output": [hex(x) for x in pie.program_output],
                "sharp_fact_hash": "0x" + (query.fact_override or pie.fact).hex(),
                "execution_resources": {"n_steps": pie.n_steps},
            }
