"""``da_blob``: EIP-4844 blobs of the batch's DA data, with KZG commitments and proofs at x_0.

Everything derived from the blobs with the KZG trusted setup is computed here, once:
the openings at x_0 for the calldata, and the sidecar proofs for both blob wrapper
versions. ``state_update`` then sends the transaction without loading the setup
(a few CPU-seconds per process), checking the blobs by their recorded sha256.
"""

import hashlib

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestrator_pipelines.assets.common import (
    DA_FELTS,
    GROUP,
    KZG,
    TRANSIENT_RETRY,
    Stopwatch,
    blob_name,
    fail_fast_on_bad_data,
    hex32,
    load_manifest,
    load_program_output,
    range_metadata,
    read_json,
    write_json,
)
from orchestrator_pipelines.batch_work import blobs_with_point_proofs
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.partitions import batches_partitions
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import blob_to_hex
from orchestrator_pipelines.starknet.os_output import check_blobs_against_output, parse_os_output
from resources.artifacts import ArtifactStoreResource
from resources.policy import PipelinePolicyResource

BLOBS_MATCH_CHECK = "blob_evaluations_match_os_output"


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    deps=["batch", "snos_output"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"ethereum"},
    check_specs=[
        # Not blocking: the proof does not depend on the blobs, so proving goes on, and settlement (another
        # run, which blocking would not stop) is held by the settlement sensor while this check failed for
        # the batch (orchestrator_pipelines.settlement_gating); re-running da_blob with a fix resumes it.
        AssetCheckSpec(
            BLOBS_MATCH_CHECK,
            asset="da_blob",
            partitions_def=batches_partitions,
            description="Each blob's KZG commitment and p(x_0) equal what the OS output commits to; "
            "a mismatch would revert updateStateKzgDA on L1, so settlement of the batch waits for it.",
        )
    ],
    description="The batch's DA felts as EIP-4844 blobs (evaluation form), their KZG commitments, versioned "
    "hashes and point-evaluation proofs at the x_0 of the OS output.",
)
def da_blob(
    context: AssetExecutionContext, artifacts: ArtifactStoreResource, policy: PipelinePolicyResource
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        manifest = load_manifest(store, key)
        felts = [int(felt, 16) for felt in read_json(store, key, DA_FELTS)]
        output = parse_os_output(load_program_output(store, key))
        if output.kzg is None:
            raise OrchestratorError("the OS output has no KZG DA segment (use_kzg_da = 0)")
        built = blobs_with_point_proofs(felts, output.kzg.x0, policy.max_blobs)
        blobs, commitments, proofs, ys = built.blobs, built.commitments, built.proofs, built.y_values
        sidecar = kzg.blob_sidecar(blobs, commitments)
    blob_uris = [store.put_bytes(batch_key(key, blob_name(i)), blob_to_hex(blob).encode()) for i, blob in enumerate(blobs)]
    kzg_uri = write_json(
        store,
        key,
        KZG,
        {
            "x0": hex(output.kzg.x0),
            "commitments": ["0x" + c.hex() for c in commitments],
            "versioned_hashes": ["0x" + kzg.versioned_hash(c).hex() for c in commitments],
            "proofs": ["0x" + p.hex() for p in proofs],
            "y_values": [hex(y) for y in ys],
            "blob_sha256": ["0x" + hashlib.sha256(blob).hexdigest() for blob in blobs],
            "blob_proofs": sidecar.to_json()["blob_proofs"],
            "cell_proofs": sidecar.to_json()["cell_proofs"],
        },
    )
    try:
        check_blobs_against_output(output, blobs)
        check = AssetCheckResult(check_name=BLOBS_MATCH_CHECK, passed=True, metadata={"blobs": len(blobs)})
    except OrchestratorError as exc:
        check = AssetCheckResult(
            check_name=BLOBS_MATCH_CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
            description=str(exc), metadata={"blobs": len(blobs), "os_output_blobs": len(output.kzg.commitments)},
        )
    return MaterializeResult(
        metadata={
            **range_metadata(manifest),
            "blob_count": len(blobs),
            "da_felts": len(felts),
            "x0": hex32(output.kzg.x0),
            "versioned_hashes": MetadataValue.json(["0x" + kzg.versioned_hash(c).hex() for c in commitments]),
            "kzg": MetadataValue.url(kzg_uri),
            "blobs": MetadataValue.json(blob_uris),
            "duration_s": watch.seconds,
        },
        check_results=[check],
    )
