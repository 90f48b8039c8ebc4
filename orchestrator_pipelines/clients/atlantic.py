"""The Atlantic (Herodotus) API as the hosted service takes it: queries, buckets, artifacts.

Paths, form fields and JSON shapes are those the Madara orchestrator's
``atlantic-service`` crate sends and reads, so the same client talks to the
hosted service and to the devnet prover:

- ``POST /atlantic-query`` (multipart: ``pieFile`` plus ``declaredJobSize``,
  ``result``, ``network``, ``cairoVersion``, ``cairoVm``, ``sharpProver``,
  ``mockFactHash``, ``dedupId``, ``externalId``; ``layout`` only when the proof
  is verified on Starknet; ``bucketId`` and ``bucketJobIndex`` for a bucket's
  child) -> ``{"atlanticQueryId"}``.
- ``GET /atlantic-query/{id}`` -> ``{"atlanticQuery": {...}, "metadataUrls"}``.
- ``GET /atlantic-queries?search=&limit=&network=`` (look-up of an earlier
  submission by its dedup/external id, so a retried submit does not pay twice).
- ``POST /buckets`` (JSON: ``externalId``, ``nodeWidth``, ``aggregatorVersion``,
  ``aggregatorParams``, ``mockProof``) -> ``{"atlanticBucket": {...}}``;
  ``POST /buckets/close?bucketId=``; ``GET /buckets/{id}`` ->
  ``{"bucket": {...}, "queries": [...]}``.
- Artifacts are not served by the API host but from object storage under
  ``artifacts_base_url`` (Madara's ``ATLANTIC_ARTIFACTS_BASE_URL``):
  ``{base}/queries/{id}/proof.json``, ``pie.cairo0.zip``, ``da_blob.json``.

The ``api-key`` header goes only where the API asks for it (submissions,
bucket creation and closing, the look-up); status, bucket reads and artifacts
are public and are sent without it, so the key is not spread further than needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator_pipelines.clients.prover_base import (
    AggregationArtifacts,
    AggregationStatus,
    ChildStatus,
    Http,
    PieInput,
    ProofStatus,
    pie_bytes,
    server_message,
)
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from orchestrator_pipelines.starknet.calldata import atlantic_job_size

DEDUP_EXISTS_MESSAGE = "ATLANTIC_QUERY_WITH_DEDUP_ID_ALREADY_EXISTS"
NO_OFFCHAIN_PROOF = "NO_OFFCHAIN_PROOF_FOR_JOB"
# Madara's defaults (``orchestrator/src/cli/prover/atlantic.rs``).
DEFAULT_ARTIFACTS_BASE_URL = "https://storage.googleapis.com/hero-atlantic-bucket"
DEFAULT_RESULT = "PROOF_GENERATION"
DEFAULT_AGGREGATOR_VERSION = "snos_aggregator_0.14.1"

RESULTS = (
    "TRACE_GENERATION",
    "PROOF_GENERATION",
    "PROOF_VERIFICATION",
    "PROOF_VERIFICATION_ON_L1",
    "PROOF_VERIFICATION_ON_L2",
    "PROOF_GENERATION_AND_VERIFICATION",
    "FACT_HASH_REGISTRATION",
    "TRACE_AND_METADATA_GENERATION",
)
NETWORKS = ("MAINNET", "TESTNET")
CAIRO_VMS = ("rust", "python")
CAIRO_VERSIONS = ("cairo0", "cairo1")
SHARP_PROVERS = ("stone", "stwo")
SETTLEMENT_LAYERS = ("ethereum", "starknet")
AGGREGATOR_VERSIONS = ("snos_aggregator_0.13.2", "snos_aggregator_0.13.3", "snos_aggregator_0.14.1")
BUCKET_STATUSES = ("OPEN", "IN_PROGRESS", "DONE", "FAILED")
# The steps of a bucket's aggregation query (the one that carries the artifacts).
AGGREGATION_STEPS = ("FACT_HASH_REGISTRATION", "PROOF_GENERATION_AND_VERIFICATION")

PIE_ARTIFACT = "pie.cairo0.zip"
DA_ARTIFACT = "da_blob.json"
PROOF_ARTIFACT = "proof.json"


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInputError(f"Atlantic {name} {value!r} is not one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class BucketParams:
    """What a bucket is created with: the aggregator program and its parameters.

    ``chain_id_hex``, ``fee_token_address`` and ``public_keys`` (encrypted DA)
    are sent only when set, as Madara does. The aggregator runs with
    ``use_kzg_da`` on and ``full_output`` off: its output is what the core
    contract reads.
    """

    aggregator_version: str = DEFAULT_AGGREGATOR_VERSION
    chain_id_hex: str | None = None
    fee_token_address: str | None = None
    public_keys: tuple[str, ...] | None = None
    mock_proof: bool = False
    node_width: int | None = None

    def __post_init__(self) -> None:
        _one_of("aggregatorVersion", self.aggregator_version, AGGREGATOR_VERSIONS)

    def body(self, external_id: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"use_kzg_da": True, "full_output": False}
        if self.chain_id_hex is not None:
            params["chain_id_hex"] = self.chain_id_hex
        if self.fee_token_address is not None:
            params["fee_token_address"] = self.fee_token_address
        if self.public_keys is not None:
            params["public_keys"] = list(self.public_keys)
        return {
            "externalId": external_id,
            "nodeWidth": None if self.node_width is None else str(self.node_width),
            "aggregatorVersion": self.aggregator_version,
            "aggregatorParams": params,
            "mockProof": self.mock_proof,
        }


@dataclass(frozen=True)
class BucketQuery:
    """One query of a bucket: a child (``index`` from 1) or the aggregation (``index`` None)."""

    id: str
    index: int | None
    status: str
    step: str | None
    error_reason: str | None
    fact: str | None

    @property
    def is_aggregation(self) -> bool:
        return self.index is None or (self.step or "") in AGGREGATION_STEPS


@dataclass(frozen=True)
class Bucket:
    """``GET /buckets/{id}``: the bucket's status and its queries."""

    id: str
    status: str
    external_id: str | None
    queries: tuple[BucketQuery, ...]
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def children(self) -> tuple[BucketQuery, ...]:
        return tuple(sorted((q for q in self.queries if not q.is_aggregation), key=lambda q: q.index or 0))

    @property
    def aggregation_query(self) -> BucketQuery | None:
        found = [q for q in self.queries if q.is_aggregation]
        return found[-1] if found else None


def query_status(raw: Any, query_id: str) -> ProofStatus:
    """The status of an ``atlantic-query/{id}`` answer.

    An answer without an ``atlanticQuery`` object (a proxy's error page passed as
    JSON, an API change) is a one-line :class:`TransientError`: the poll is retried.
    """
    query = raw.get("atlanticQuery") if isinstance(raw, dict) else None
    if not isinstance(query, dict):
        raise TransientError(
            f"Atlantic status of query {query_id}: answer has no atlanticQuery object: {json.dumps(raw)[:200]}"
        )
    status = str(query.get("status", "UNKNOWN"))
    step = query.get("step")
    if status == "DONE":
        return ProofStatus("done", f"DONE (fact {query.get('sharpFactHash') or query.get('integrityFactHash')})", raw)
    if status == "FAILED":
        return ProofStatus("failed", f"FAILED: {query.get('errorReason') or 'no reason given'}", raw)
    return ProofStatus("pending", f"{status} (step {step})" if step else status, raw)


def _query_state(status: str) -> str:
    return {"DONE": "done", "FAILED": "failed"}.get(status, "pending")


class AtlanticClient:
    """The Atlantic API for both paths: direct queries (:class:`ProverClient`) and buckets (:class:`AggregatingProver`).

    ``result`` is the last step Atlantic runs (Madara's ``ATLANTIC_RESULT``,
    default ``PROOF_GENERATION``). ``settlement_layer`` decides whether
    ``layout`` is sent: Ethereum verification picks the layout itself, Starknet
    verification needs it. ``mock_fact_hash`` asks Atlantic to register a mock
    fact (test networks). ``fact_checker``, when given, is asked whether an
    aggregator fact is valid on L1 before a bucket counts as done.
    """

    kind = "atlantic"
    aggregates_remotely = True

    def __init__(
        self,
        service_url: str,
        api_key: str,
        *,
        network: str = "TESTNET",
        result: str = DEFAULT_RESULT,
        cairo_vm: str = "rust",
        cairo_version: str = "cairo0",
        sharp_prover: str = "stone",
        mock_fact_hash: bool = False,
        settlement_layer: str = "ethereum",
        artifacts_base_url: str = DEFAULT_ARTIFACTS_BASE_URL,
        bucket: BucketParams | None = None,
        fact_checker: Callable[[bytes], bool] | None = None,
        timeout_s: float = 60,
        attempts: int = 3,
        backoff_s: float = 1.0,
        proof_url_template: str | None = None,
    ):
        if not api_key:
            raise OrchestratorError("Atlantic API key is empty: set ORCHESTRATOR_ATLANTIC_API_KEY (or its _FILE)")
        self.api_key = api_key
        self.network = _one_of("network", network, NETWORKS)
        self.result = _one_of("result", result, RESULTS)
        self.cairo_vm = _one_of("cairoVm", cairo_vm, CAIRO_VMS)
        self.cairo_version = _one_of("cairoVersion", cairo_version, CAIRO_VERSIONS)
        self.sharp_prover = _one_of("sharpProver", sharp_prover, SHARP_PROVERS)
        self.settlement_layer = _one_of("settlement layer", settlement_layer, SETTLEMENT_LAYERS)
        self.mock_fact_hash = mock_fact_hash
        self.artifacts_base_url = artifacts_base_url.rstrip("/")
        self.bucket = bucket or BucketParams()
        self.fact_checker = fact_checker
        self._http = Http("Atlantic", service_url, timeout_s, attempts=attempts, backoff_s=backoff_s)
        self.proof_url_template = proof_url_template or f"{self.artifacts_base_url}/queries/{{id}}/{PROOF_ARTIFACT}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"api-key": self.api_key}

    # ---- queries ---------------------------------------------------------

    def submit_form(
        self,
        *,
        dedup_id: str,
        n_steps: int,
        layout: str,
        external_id: str | None = None,
        bucket_id: str | None = None,
        bucket_job_index: int | None = None,
    ) -> dict[str, str]:
        """The form fields of ``POST /atlantic-query`` (without the PIE), as Madara sends them."""
        form = {
            "declaredJobSize": atlantic_job_size(n_steps),
            "result": self.result,
            "network": self.network,
            "cairoVersion": self.cairo_version,
            "cairoVm": self.cairo_vm,
            "sharpProver": self.sharp_prover,
            "mockFactHash": "true" if self.mock_fact_hash else "false",
            "dedupId": dedup_id,
            "externalId": external_id or dedup_id,
        }
        if self.settlement_layer == "starknet":
            form["layout"] = layout
        if (bucket_id is None) != (bucket_job_index is None):
            raise InvalidInputError("a bucket child needs both bucket_id and bucket_job_index")
        if bucket_id is not None:
            if bucket_job_index is None or bucket_job_index < 1:
                raise InvalidInputError(f"bucketJobIndex counts from 1, got {bucket_job_index}")
            form["bucketId"] = bucket_id
            form["bucketJobIndex"] = str(bucket_job_index)
        return form

    def submit(
        self,
        pie: PieInput,
        *,
        dedup_id: str,
        n_steps: int,
        layout: str,
        external_id: str | None = None,
        bucket_id: str | None = None,
        bucket_job_index: int | None = None,
    ) -> str:
        """Submit a PIE; returns the query id. A dedup id already used returns the earlier query."""
        form = self.submit_form(dedup_id=dedup_id, n_steps=n_steps, layout=layout, external_id=external_id,
                                bucket_id=bucket_id, bucket_job_index=bucket_job_index)
        files = {"pieFile": ("pie.zip", pie_bytes(pie), "application/zip")}
        response = self._http.request("POST", "atlantic-query", "submit", allow=(400, 409),
                                      headers=self._auth, data=form, files=files)
        if response.ok:
            return str(self._http.json(response, "submit")["atlanticQueryId"])
        if server_message(response) == DEDUP_EXISTS_MESSAGE:
            body = self._http.json(response, "submit")
            existing = body.get("atlanticQueryId") if isinstance(body, dict) else None
            existing = existing or self.find_by_dedup_id(dedup_id)
            if existing is not None:
                return str(existing)
        raise OrchestratorError(f"Atlantic submit: HTTP {response.status_code}: {server_message(response)}")

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        """The live (not FAILED) query submitted under ``dedup_id``, or None."""
        params = {"search": dedup_id, "limit": "10", "network": self.network}
        response = self._http.request("GET", "atlantic-queries", "look-up", headers=self._auth, params=params)
        body = self._http.json(response, "look-up")
        for query in body.get("atlanticQueries") or []:
            if dedup_id in (query.get("dedupId"), query.get("externalId")) and query.get("status") != "FAILED":
                return str(query["id"])
        return None

    def query(self, query_id: str) -> dict[str, Any]:
        response = self._http.request("GET", f"atlantic-query/{query_id}", "status")
        return self._http.json(response, "status")

    def status(self, external_id: str) -> ProofStatus:
        return query_status(self.query(external_id), external_id)

    def fetch_artifact(self, query_id: str, name: str) -> bytes | None:
        """``{artifacts_base_url}/queries/{id}/{name}``; None while it is not there.

        A JSON ``{"code": "NO_OFFCHAIN_PROOF_FOR_JOB"}`` answer also reads as
        None: the service keeps no off-chain copy (the proof went on chain).
        """
        return self._fetch(f"{self.artifacts_base_url}/queries/{query_id}/{name}", f"{name} download")

    def fetch_proof(self, external_id: str) -> bytes | None:
        return self._fetch(self.proof_url_template.format(id=external_id), "proof download")

    def _fetch(self, url: str, what: str) -> bytes | None:
        response = self._http.request("GET", url, what, allow=(403, 404))
        if response.status_code in (403, 404):
            return None
        if response.content[:1] == b"{" and len(response.content) < 1024:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("code") == NO_OFFCHAIN_PROOF:
                return None
        return response.content

    # ---- buckets ----------------------------------------------------------

    def create_bucket(self, *, external_id: str | None = None, params: BucketParams | None = None) -> str:
        """``POST /buckets``; returns the new bucket's id."""
        body = (params or self.bucket).body(external_id)
        response = self._http.request("POST", "buckets", "create bucket",
                                      headers={**self._auth, "Accept": "application/json"}, json=body)
        return str(self._bucket_of(self._http.json(response, "create bucket"), "create bucket")["id"])

    def close_bucket(self, bucket_id: str) -> str:
        """``POST /buckets/close?bucketId=``; returns the bucket's status after closing.

        Closing a bucket that is already closed is not an error here: the
        bucket is read back and its status returned, so a retried close is harmless.
        """
        response = self._http.request("POST", "buckets/close", "close bucket", allow=(400, 409),
                                      headers={**self._auth, "Accept": "application/json"},
                                      params={"bucketId": bucket_id})
        if response.ok:
            return str(self._bucket_of(self._http.json(response, "close bucket"), "close bucket").get("status"))
        current = self.get_bucket(bucket_id)
        if current.status != "OPEN":
            return current.status
        raise OrchestratorError(f"Atlantic close bucket: HTTP {response.status_code}: {server_message(response)}")

    def get_bucket(self, bucket_id: str) -> Bucket:
        """``GET /buckets/{id}``."""
        response = self._http.request("GET", f"buckets/{bucket_id}", "get bucket")
        raw = self._http.json(response, "get bucket")
        bucket = raw.get("bucket") if isinstance(raw, dict) else None
        if not isinstance(bucket, dict) or "status" not in bucket:
            raise TransientError(f"Atlantic get bucket: answer has no bucket status: {json.dumps(raw)[:200]}")
        queries = tuple(
            BucketQuery(
                id=str(q.get("id")),
                index=int(q["bucketJobIndex"]) if q.get("bucketJobIndex") is not None else None,
                status=str(q.get("status")),
                step=q.get("step"),
                error_reason=q.get("errorReason"),
                fact=q.get("sharpFactHash") or q.get("integrityFactHash"),
            )
            for q in raw.get("queries") or []
        )
        return Bucket(id=str(bucket.get("id", bucket_id)), status=str(bucket["status"]),
                      external_id=bucket.get("externalId"), queries=queries, raw=raw)

    @staticmethod
    def _bucket_of(body: Any, what: str) -> dict[str, Any]:
        bucket = body.get("atlanticBucket") if isinstance(body, dict) else None
        if not isinstance(bucket, dict) or "id" not in bucket:
            raise TransientError(f"Atlantic {what}: answer has no atlanticBucket: {json.dumps(body)[:200]}")
        return bucket

    # ---- AggregatingProver --------------------------------------------------

    def open_aggregation(self, *, external_id: str) -> str:
        return self.create_bucket(external_id=external_id)

    def submit_child(self, pie: PieInput, *, aggregation_id: str, index: int, dedup_id: str, n_steps: int) -> str:
        return self.submit(pie, dedup_id=dedup_id, n_steps=n_steps, layout="dynamic",
                           bucket_id=aggregation_id, bucket_job_index=index)

    def child_status(self, job_id: str) -> ProofStatus:
        return self.status(job_id)

    def close_aggregation(self, aggregation_id: str, *, aggregator_pie: bytes | None = None,
                          aggregator_fact: bytes | None = None, children_job_ids: list[str] | None = None) -> str:
        self.close_bucket(aggregation_id)
        return aggregation_id

    def aggregation_status(self, aggregation_id: str, *, fact: bytes | None = None) -> AggregationStatus:
        bucket = self.get_bucket(aggregation_id)
        children = tuple(
            ChildStatus(index=q.index or 0, job_id=q.id, state=_query_state(q.status),  # type: ignore[arg-type]
                        detail=q.status if q.status != "FAILED" else f"FAILED: {q.error_reason or 'no reason given'}")
            for q in bucket.children
        )
        aggregation = bucket.aggregation_query
        agg_id = aggregation.id if aggregation else None
        common = dict(service_status=bucket.status, children=children, aggregation_job_id=agg_id, raw=bucket.raw)
        if bucket.status == "FAILED":
            failed = [c for c in children if c.state == "failed"]
            if failed:
                why = "; ".join(f"child {c.index} (query {c.job_id}) {c.detail}" for c in failed)
            elif aggregation is not None and aggregation.status == "FAILED":
                why = f"aggregation query {aggregation.id} FAILED: {aggregation.error_reason or 'no reason given'}"
            else:
                why = "no failed query named"
            return AggregationStatus("failed", f"bucket {aggregation_id} FAILED: {why}", **common)
        if bucket.status == "DONE":
            if agg_id is None:
                return AggregationStatus("pending", f"bucket {aggregation_id} DONE, aggregation query not listed yet", **common)
            if fact is not None and self.fact_checker is not None and not self.fact_checker(fact):
                return AggregationStatus("pending", f"bucket {aggregation_id} DONE, fact 0x{fact.hex()} not yet valid on L1", **common)
            return AggregationStatus("done", f"bucket {aggregation_id} DONE (aggregation query {agg_id})", **common)
        done = sum(1 for c in children if c.state == "done")
        return AggregationStatus("pending", f"bucket {aggregation_id} {bucket.status}: {done}/{len(children)} children done", **common)

    def aggregation_artifacts(self, aggregation_id: str) -> AggregationArtifacts:
        """The aggregation query's ``pie.cairo0.zip`` and ``da_blob.json``, once the bucket is DONE."""
        bucket = self.get_bucket(aggregation_id)
        aggregation = bucket.aggregation_query
        if bucket.status != "DONE" or aggregation is None:
            raise TransientError(f"Atlantic bucket {aggregation_id} is {bucket.status}: its artifacts are not ready")
        pie = self.fetch_artifact(aggregation.id, PIE_ARTIFACT)
        da = self.fetch_artifact(aggregation.id, DA_ARTIFACT)
        if pie is None or da is None:
            missing = PIE_ARTIFACT if pie is None else DA_ARTIFACT
            raise TransientError(f"Atlantic bucket {aggregation_id}: {missing} of query {aggregation.id} is not published yet")
        return AggregationArtifacts(cairo_pie=pie, da_segment=parse_da_blob(da, f"da_blob.json of query {aggregation.id}"),
                                    proof=self.fetch_artifact(aggregation.id, PROOF_ARTIFACT))


def parse_da_blob(data: bytes, where: str) -> list[int]:
    """``da_blob.json``: a JSON list of felts (hex strings or integers)."""
    try:
        values = json.loads(data)
    except ValueError as exc:
        raise InvalidInputError(f"{where} is not JSON: {exc}") from None
    if isinstance(values, dict):
        values = values.get("data", values.get("da_segment"))
    if not isinstance(values, list):
        raise InvalidInputError(f"{where} is not a list of felts")
    out: list[int] = []
    for i, value in enumerate(values):
        try:
            out.append(int(value, 0) if isinstance(value, str) else int(value))
        except (TypeError, ValueError):
            raise InvalidInputError(f"{where}[{i}] is not a felt: {value!r}") from None
    return out
