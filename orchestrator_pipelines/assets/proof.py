"""``proof_request`` and ``proof``: proving is split in two runs so nothing waits for hours.

``proof_request`` submits the PIE (idempotent: the dedup id is the fact, so a
retried submission finds the existing query instead of paying twice). The proof
sensor polls the prover; when the query is DONE it requests ``proof``, which
records the proof and checks that the fact is valid on the settlement layer.
When a query FAILED the sensor requests a new ``proof_request`` with the next
attempt number (a new dedup id), up to the configured maximum.
"""

import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestrator_pipelines.assets.common import (
    GROUP,
    PIE,
    PROGRAM_OUTPUT,
    PROOF,
    PROOF_REQUEST,
    TRANSIENT_RETRY,
    Stopwatch,
    fail_fast_on_bad_data,
    load_manifest,
    range_metadata,
    read_json,
    write_json,
)
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.errors import TransientError
from orchestrator_pipelines.partitions import batches_partitions
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.prover import ProverResource

PROOF_ATTEMPT_TAG = "orchestrator/proof-attempt"
FACT_CHECK = "fact_registered_on_l1"


def dedup_id(fact: str, attempt: int) -> str:
    """The prover-side idempotency key: the fact, plus the attempt after a failed query."""
    return fact if attempt <= 1 else f"{fact}-attempt-{attempt}"


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    deps=["snos_output"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"atlantic"},
    description="The batch's PIE submitted to the prover (Atlantic or SHARP); holds the prover's query id. "
    "Idempotent: the dedup id is the fact.",
)
def proof_request(
    context: AssetExecutionContext, prover: ProverResource, artifacts: ArtifactStoreResource
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    attempt = int(context.run.tags.get(PROOF_ATTEMPT_TAG, "1"))
    with fail_fast_on_bad_data(context):
        manifest = load_manifest(store, key)
        snos = read_json(store, key, PROGRAM_OUTPUT)
        dedup = dedup_id(snos["fact"], attempt)
        client = prover.client()
        external_id = client.find_by_dedup_id(dedup)
        reused = external_id is not None
        if external_id is None:
            external_id = client.submit(
                store.get_bytes(batch_key(key, PIE)), dedup_id=dedup, n_steps=snos["n_steps"], layout=prover.layout
            )
    request = {
        "external_id": external_id,
        "dedup_id": dedup,
        "attempt": attempt,
        "fact": snos["fact"],
        "prover": prover.kind,
        "submitted_at": time.time(),
    }
    uri = write_json(store, key, PROOF_REQUEST, request)
    context.log.info(f"batch {key}: prover query {external_id} (attempt {attempt}, {'existing' if reused else 'new'})")
    return MaterializeResult(
        metadata={
            **range_metadata(manifest),
            "external_id": external_id,
            "dedup_id": dedup,
            "attempt": attempt,
            "reused_existing_query": reused,
            "fact": snos["fact"],
            "proof_request": MetadataValue.url(uri),
            "duration_s": watch.seconds,
        }
    )


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    deps=["proof_request"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"atlantic"},
    check_specs=[
        # Not blocking: blocking stops only later steps of the same run, and settlement runs in another
        # run. The settlement sensor reads this check's latest evaluation for the batch and holds the batch
        # while it failed (orchestrator_pipelines.settlement_gating); the partitions make that evaluation
        # findable per batch. A proof whose fact is not on L1 is still recorded: a re-run passes once it is.
        AssetCheckSpec(
            FACT_CHECK,
            asset="proof",
            partitions_def=batches_partitions,
            description="The fact is valid in the settlement layer's fact registry, so updateStateKzgDA will accept it; "
            "settlement of the batch waits for it.",
        )
    ],
    description="The verified proof: the prover's query is DONE, the fact valid on L1, and the proof "
    "document kept when STORE_AUDIT_ARTIFACTS is set. "
    "Requested by the proof sensor once the prover reports DONE.",
)
def proof(
    context: AssetExecutionContext,
    prover: ProverResource,
    settlement: SettlementResource,
    artifacts: ArtifactStoreResource,
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        manifest = load_manifest(store, key)
        request = read_json(store, key, PROOF_REQUEST)
        client = prover.client()
        status = client.status(request["external_id"])
        if status.state == "pending":
            raise TransientError(f"prover query {request['external_id']} is still in progress")
        if status.state == "failed":
            raise Failure(
                description=f"proof of batch {key}: prover query {request['external_id']} failed: {status.detail}",
                allow_retries=False,
            )
        # Only the fact is needed to settle; the proof document is kept for audits (STORE_AUDIT_ARTIFACTS).
        proof_bytes = client.fetch_proof(request["external_id"]) if artifacts.store_audit_artifacts else None
        fact_valid = settlement.client().is_fact_valid(bytes.fromhex(request["fact"][2:]))
    proof_uri = store.put_bytes(batch_key(key, PROOF), proof_bytes) if proof_bytes else None
    prover_duration = round(time.time() - request["submitted_at"], 3)
    check = AssetCheckResult(
        check_name=FACT_CHECK,
        passed=fact_valid,
        severity=AssetCheckSeverity.ERROR,
        metadata={"fact": request["fact"]},
        description=None if fact_valid else f"fact {request['fact']} is not valid in the fact registry",
    )
    return MaterializeResult(
        metadata={
            **range_metadata(manifest),
            "external_id": request["external_id"],
            "attempt": request["attempt"],
            "fact": request["fact"],
            "fact_valid_on_l1": fact_valid,
            "prover_duration_s": prover_duration,
            "proof": MetadataValue.url(proof_uri) if proof_uri else MetadataValue.text(
                "prover returned no artifact" if artifacts.store_audit_artifacts else "not kept (STORE_AUDIT_ARTIFACTS=false)"
            ),
            "duration_s": watch.seconds,
        },
        check_results=[check],
    )
