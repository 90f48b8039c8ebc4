"""``snos_output``: the Starknet OS run over the batch — Cairo PIE, program output, fact."""

import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from orchestrator_pipelines.assets.common import (
    GROUP,
    PIE,
    PROGRAM_OUTPUT,
    TRANSIENT_RETRY,
    Stopwatch,
    fail_fast_on_bad_data,
    hex32,
    load_manifest,
    range_metadata,
    write_json,
)
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.partitions import batches_partitions
from orchestrator_pipelines.starknet.calldata import atlantic_job_size
from orchestrator_pipelines.starknet.os_output import parse_os_output
from resources.artifacts import ArtifactStoreResource
from resources.snos import SnosRunnerResource


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    deps=["batch"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"cairo"},
    description="The Starknet OS run over the batch's blocks: Cairo PIE and OS program output in the "
    "artifact store; the SHARP fact = keccak(program_hash, output_root) computed from the PIE.",
)
def snos_output(
    context: AssetExecutionContext, snos: SnosRunnerResource, artifacts: ArtifactStoreResource
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        manifest = load_manifest(store, key)
        with tempfile.TemporaryDirectory(prefix=f"snos-{key}-") as tmp:
            # A retried step or a re-executed run reads from the backup RPC when there is one.
            retrying = context.retry_number > 0 or context.run.parent_run_id is not None
            result = snos.runner(retrying=retrying).run(manifest.first_block, manifest.last_block, Path(tmp))
            pie_uri = store.put_bytes(batch_key(key, PIE), Path(result.pie_path).read_bytes())
        output = parse_os_output(result.program_output)
    output_uri = write_json(
        store,
        key,
        PROGRAM_OUTPUT,
        {"fact": hex32(result.fact), "program_hash": hex(result.program_hash), "n_steps": result.n_steps,
         "program_output": [hex(felt) for felt in result.program_output]},
    )
    return MaterializeResult(
        metadata={
            **range_metadata(manifest),
            "fact": hex32(result.fact),
            "program_hash": hex(result.program_hash),
            "n_steps": result.n_steps,
            "job_size": atlantic_job_size(result.n_steps),
            "program_output_felts": len(result.program_output),
            "messages_to_l1": len(output.messages_to_l1),
            "messages_to_l2": len(output.messages_to_l2),
            "pie": MetadataValue.url(pie_uri),
            "program_output": MetadataValue.url(output_uri),
            "snos_rpc": snos.rpc_for(retrying),
            "duration_s": watch.seconds,
        }
    )
