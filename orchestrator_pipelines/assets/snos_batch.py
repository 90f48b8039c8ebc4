"""SNOS-level assets of the aggregated pipeline: one partition per SNOS batch (aggregator batch x position).

``snos_batch_output`` runs the Starknet OS over the SNOS batch as a child of
an aggregation (``full_output = 1``, ``use_kzg_da = 0``: the state diff with
previous values, no blobs of its own); ``child_proof`` submits that PIE to the
aggregator batch's current aggregation (Atlantic bucket) at its position.

A position its aggregator batch does not use has no manifest: both assets then
produce nothing (the step succeeds, the partition stays unmaterialized), so a
backfill over whole aggregator batches is harmless.
"""


import tempfile
import time
from pathlib import Path

from dagster import AssetDep, AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from orchestrator_pipelines.aggregation_partitions import TO_AGGREGATOR_BATCH, split_snos_key
from orchestrator_pipelines.assets.aggregation_common import (
    AGGREGATION_GROUP,
    CHILD_SUBMISSION,
    PROGRAM_OUTPUT,
    SNOS_PIE,
    attempt_of,
    current_aggregation,
    fail_fast,
    load_snos_manifest,
    read_json_at,
    snos_artifact,
    snos_range_metadata,
)
from orchestrator_pipelines.assets.common import TRANSIENT_RETRY, Stopwatch, hex32, write_json_at
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet.calldata import atlantic_job_size
from resources.artifacts import ArtifactStoreResource
from resources.prover import ProverResource
from resources.snos import SnosRunnerResource


def build_snos_batch_assets(partitions_def) -> list[AssetsDefinition]:
    @asset(
        name="snos_batch_output",
        partitions_def=partitions_def,
        group_name=AGGREGATION_GROUP,
        deps=[AssetDep("aggregation", partition_mapping=TO_AGGREGATOR_BATCH)],
        retry_policy=TRANSIENT_RETRY,
        output_required=False,
        kinds={"cairo"},
        description="The Starknet OS run over one SNOS batch as an aggregation child (full_output = 1, "
        "use_kzg_da = 0, os_program_hash = 0): Cairo PIE and program output with the full state diff.",
    )
    def snos_batch_output(context: AssetExecutionContext, snos: SnosRunnerResource, artifacts: ArtifactStoreResource):
        aggregator, position = split_snos_key(context.partition_key)
        store = artifacts.store()
        watch = Stopwatch()
        manifest = load_snos_manifest(store, aggregator, position)
        if manifest is None:
            context.log.info(f"aggregator batch {aggregator} has no SNOS batch at position {position}")
            return
        with fail_fast(context, f"SNOS batch {aggregator}/{position:02d}"):
            runner = snos.runner()
            run_child = getattr(runner, "run_child", None)
            if run_child is None:
                raise OrchestratorError(f"the {snos.kind} SNOS runner cannot run aggregation children (full output)")
            with tempfile.TemporaryDirectory(prefix=f"snos-{aggregator}-{position}-") as tmp:
                result = run_child(manifest.first_block, manifest.last_block, Path(tmp))
                pie_uri = store.put_bytes(snos_artifact(aggregator, position, SNOS_PIE), Path(result.pie_path).read_bytes())
        output_uri = write_json_at(
            store,
            snos_artifact(aggregator, position, PROGRAM_OUTPUT),
            {"fact": hex32(result.fact), "program_hash": hex(result.program_hash), "n_steps": result.n_steps,
             "program_output": [hex(felt) for felt in result.program_output]},
        )
        yield MaterializeResult(
            metadata={
                **snos_range_metadata(manifest),
                "fact": hex32(result.fact),
                "n_steps": result.n_steps,
                "job_size": atlantic_job_size(result.n_steps),
                "program_output_felts": len(result.program_output),
                "pie": MetadataValue.url(pie_uri),
                "program_output": MetadataValue.url(output_uri),
                "duration_s": watch.seconds,
            }
        )

    @asset(
        name="child_proof",
        partitions_def=partitions_def,
        group_name=AGGREGATION_GROUP,
        deps=["snos_batch_output"],
        retry_policy=TRANSIENT_RETRY,
        output_required=False,
        kinds={"atlantic"},
        description="The SNOS batch's PIE submitted to its aggregator batch's aggregation (Atlantic bucket) "
        "at its 1-based position; holds the child query id. Idempotent per aggregation.",
    )
    def child_proof(context: AssetExecutionContext, prover: ProverResource, artifacts: ArtifactStoreResource):
        aggregator, position = split_snos_key(context.partition_key)
        store = artifacts.store()
        watch = Stopwatch()
        manifest = load_snos_manifest(store, aggregator, position)
        if manifest is None:
            context.log.info(f"aggregator batch {aggregator} has no SNOS batch at position {position}")
            return
        with fail_fast(context, f"SNOS batch {aggregator}/{position:02d}"):
            aggregation = current_aggregation(store, aggregator)
            if aggregation is None:
                raise TransientError(f"aggregator batch {aggregator} has no open aggregation yet")
            if aggregation["attempt"] < attempt_of(context):
                raise TransientError(
                    f"aggregation attempt {attempt_of(context)} of batch {aggregator} is not open yet"
                )
            submission_key = snos_artifact(aggregator, position, CHILD_SUBMISSION)
            previous = read_json_at(store, submission_key) if store.exists(submission_key) else None
            snos_output = read_json_at(store, snos_artifact(aggregator, position, PROGRAM_OUTPUT))
            reused = previous is not None and previous["aggregation_id"] == aggregation["aggregation_id"]
            if reused:
                job_id = previous["job_id"]
            else:
                client = prover.aggregating_client()
                status = client.aggregation_status(aggregation["aggregation_id"])
                if status.state == "failed":
                    # A failed child fails its whole bucket; the aggregation sensor opens a new one
                    # and resubmits every child to it. Nothing to submit to this one.
                    context.log.warning(
                        f"SNOS batch {aggregator}/{position:02d}: aggregation {aggregation['aggregation_id']} "
                        f"failed ({status.detail or status.service_status}); not submitting to it"
                    )
                    return
                job_id = client.submit_child(
                    store.get_bytes(snos_artifact(aggregator, position, SNOS_PIE)),
                    aggregation_id=aggregation["aggregation_id"],
                    index=position,
                    dedup_id=f"{snos_output['fact']}-{aggregation['attempt']}",
                    n_steps=snos_output["n_steps"],
                )
                write_json_at(store, submission_key, {
                    "aggregation_id": aggregation["aggregation_id"],
                    "attempt": aggregation["attempt"],
                    "job_id": job_id,
                    "position": position,
                    "submitted_at": time.time(),
                })
        context.log.info(
            f"SNOS batch {aggregator}/{position:02d}: child {job_id} of aggregation {aggregation['aggregation_id']}"
        )
        yield MaterializeResult(
            metadata={
                **snos_range_metadata(manifest),
                "aggregation_id": aggregation["aggregation_id"],
                "aggregation_attempt": aggregation["attempt"],
                "child_job_id": job_id,
                "bucket_job_index": position,
                "reused_existing_submission": reused,
                "fact": snos_output["fact"],
                "duration_s": watch.seconds,
            }
        )

    return [snos_batch_output, child_proof]
