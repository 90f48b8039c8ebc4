"""Aggregator-level assets of the aggregated pipeline: one partition per aggregator batch (one L1 update).

- ``aggregation``: the prover-side aggregation opened for the batch (an
  Atlantic bucket), as soon as the batch is opened; one per attempt;
- ``aggregator_batch``: the closed batch (block range, SNOS batches, why it
  closed) and its aggregation closed, once every child was submitted;
- ``aggregator_proof``: the aggregation is DONE: the aggregator PIE and the DA
  segment (``da_blob.json``) the prover handed back, the aggregated output and
  its fact ``keccak(pedersen("AGGREGATOR", program hash) || keccak(output))``,
  checked valid on L1;
- ``aggregator_da_blob``: blobs built from the prover's DA segment, opened at
  the output's x_0 against its commitments and y values before anything is
  sent; the project's own derivation from the RPC state diffs is a
  cross-check that names the first differing felt;
- ``aggregator_state_update``: one ``updateStateKzgDA`` for the whole
  aggregator batch, strictly in order, judged by the chain.
"""


import hashlib
import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestrator_pipelines.aggregation_partitions import TO_AGGREGATOR_BATCH, aggregator_batches_partitions
from orchestrator_pipelines.assets.aggregation_common import (
    AGGREGATION,
    AGGREGATION_CLOSED,
    AGGREGATION_GROUP,
    AGGREGATOR_PIE,
    CHILD_SUBMISSION,
    DA_SEGMENT,
    OPENED,
    PROGRAM_OUTPUT,
    aggregator_artifact,
    aggregator_range_metadata,
    attempt_of,
    current_aggregation,
    fail_fast,
    load_aggregator_manifest,
    read_json_at,
    snos_artifact,
)
from orchestrator_pipelines.assets.common import (
    KZG,
    ON_L1_CHECK,
    ON_L1_CHECK_DESCRIPTION,
    TRANSIENT_RETRY,
    Stopwatch,
    blob_name,
    hex32,
    write_json_at,
)
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import blob_to_hex
from orchestrator_pipelines.starknet.os_output import parse_os_output
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from resources.prover import ProverResource

AGGREGATOR_FACT_CHECK = "aggregator_fact_registered_on_l1"
SEGMENT_OPENS_CHECK = "da_segment_opens_at_x0"
DERIVATION_CHECK = "da_derivation_matches_prover_segment"
AGGREGATOR_ROOT_CHECK = "onchain_root_matches_aggregated_output"


def _opened(store, key: str) -> dict:
    opened = aggregator_artifact(key, OPENED)
    return read_json_at(store, opened) if store.exists(opened) else {}


@asset(
    name="aggregation",
    partitions_def=aggregator_batches_partitions,
    group_name=AGGREGATION_GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"atlantic"},
    description="The prover-side aggregation of the aggregator batch (an Atlantic bucket), opened when the "
    "batch opens so its SNOS batches can be submitted as they close. A new one per attempt after a failure.",
)
def aggregation(context: AssetExecutionContext, prover: ProverResource, artifacts: ArtifactStoreResource):
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    attempt = attempt_of(context)
    with fail_fast(context, f"aggregator batch {key}"):
        current = current_aggregation(store, key)
        reused = current is not None and current["attempt"] == attempt
        if reused:
            record = current
        elif current is not None and current["attempt"] > attempt:
            raise OrchestratorError(f"aggregation attempt {current['attempt']} is already open; attempt {attempt} is stale")
        else:
            client = prover.aggregating_client()
            aggregation_id = client.open_aggregation(external_id=f"aggregator-batch-{key}-{attempt}")
            record = {"aggregation_id": aggregation_id, "attempt": attempt, "prover": prover.kind, "opened_at": time.time()}
            write_json_at(store, aggregator_artifact(key, f"aggregation_{attempt}.json"), record)
            write_json_at(store, aggregator_artifact(key, AGGREGATION), record)
    opened = _opened(store, key)
    context.log.info(f"aggregator batch {key}: aggregation {record['aggregation_id']} (attempt {attempt})")
    return MaterializeResult(
        metadata={
            "aggregation_id": record["aggregation_id"],
            "bucket_id": record["aggregation_id"] if prover.kind == "atlantic" else "",
            "attempt": attempt,
            "prover": prover.kind,
            "reused_existing_aggregation": reused,
            "first_block": opened.get("first_block", -1),
            "duration_s": watch.seconds,
        }
    )


@asset(
    name="aggregator_batch",
    partitions_def=aggregator_batches_partitions,
    group_name=AGGREGATION_GROUP,
    deps=[AssetDep("child_proof", partition_mapping=TO_AGGREGATOR_BATCH), "aggregation"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"starknet"},
    description="The closed aggregator batch: block range, its SNOS batches in order and why it closed; its "
    "aggregation is closed once every SNOS batch was submitted to it (the prover then aggregates and proves).",
)
def aggregator_batch(context: AssetExecutionContext, prover: ProverResource, artifacts: ArtifactStoreResource):
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast(context, f"aggregator batch {key}"):
        manifest = load_aggregator_manifest(store, key)
        record = current_aggregation(store, key)
        if record is None:
            raise OrchestratorError("no aggregation was opened")
        jobs = []
        for position in range(1, len(manifest.snos_batches) + 1):
            submission_key = snos_artifact(key, position, CHILD_SUBMISSION)
            submission = read_json_at(store, submission_key) if store.exists(submission_key) else None
            if submission is None or submission["aggregation_id"] != record["aggregation_id"]:
                raise OrchestratorError(
                    f"SNOS batch {position:02d} is not submitted to aggregation {record['aggregation_id']} yet"
                )
            jobs.append(submission["job_id"])
        closed_key = aggregator_artifact(key, AGGREGATION_CLOSED)
        closed = read_json_at(store, closed_key) if store.exists(closed_key) else None
        reused = closed is not None and closed["aggregation_id"] == record["aggregation_id"]
        if not reused:
            client = prover.aggregating_client()
            if not client.aggregates_remotely:
                raise OrchestratorError(
                    f"the {prover.kind} prover aggregates locally; only Atlantic buckets are driven by this pipeline"
                )
            poll_id = client.close_aggregation(record["aggregation_id"], children_job_ids=jobs)
            closed = {"aggregation_id": record["aggregation_id"], "attempt": record["attempt"], "poll_id": poll_id,
                      "closed_at": time.time(), "children_job_ids": jobs}
            write_json_at(store, closed_key, closed)
    children = [f"{i + 1:02d}: {s.first_block}..{s.last_block}" for i, s in enumerate(manifest.snos_batches)]
    return MaterializeResult(
        metadata={
            **aggregator_range_metadata(manifest),
            "close_reason": manifest.close_reason,
            "snos_batch_ranges": MetadataValue.json(children),
            "aggregation_id": record["aggregation_id"],
            "bucket_id": record["aggregation_id"] if prover.kind == "atlantic" else "",
            "attempt": record["attempt"],
            "da_felts_estimate": manifest.da_felts,
            "aggregator_input_size_bound": manifest.input_size_bound,
            "open_for_s": round(manifest.closed_at - manifest.started_at, 3),
            "reused_closed_aggregation": reused,
            "duration_s": watch.seconds,
        }
    )


@asset(
    name="aggregator_proof",
    partitions_def=aggregator_batches_partitions,
    group_name=AGGREGATION_GROUP,
    deps=["aggregator_batch"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"atlantic"},
    check_specs=[
        # Not blocking: settlement runs in another run, which blocking would not stop; the aggregator
        # settlement sensor holds the batch while this check failed for it (settlement_gating), and the
        # blobs, which do not depend on the fact, are still built in this run.
        AssetCheckSpec(
            AGGREGATOR_FACT_CHECK,
            asset="aggregator_proof",
            partitions_def=aggregator_batches_partitions,
            description="The aggregator fact is valid in the settlement layer's fact registry, so "
            "updateStateKzgDA (checked under aggregatorProgramHash) will accept it; settlement waits for it.",
        )
    ],
    description="The aggregation is DONE: the aggregator PIE and DA segment the prover handed back, the "
    "aggregated output, and its fact keccak(pedersen('AGGREGATOR', program hash) || keccak(output)).",
)
def aggregator_proof(
    context: AssetExecutionContext,
    prover: ProverResource,
    settlement: SettlementResource,
    artifacts: ArtifactStoreResource,
):
    from orchestrator_pipelines.starknet.aggregator import AggregatorPie

    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast(context, f"aggregator batch {key}"):
        manifest = load_aggregator_manifest(store, key)
        closed = read_json_at(store, aggregator_artifact(key, AGGREGATION_CLOSED))
        client = prover.aggregating_client()
        status = client.aggregation_status(closed["poll_id"])
        if status.state == "pending":
            raise TransientError(f"aggregation {closed['poll_id']} is still {status.service_status}")
        if status.state == "failed":
            raise Failure(
                description=f"aggregator_proof of aggregator batch {key}: aggregation {closed['poll_id']} failed: "
                f"{status.detail}",
                allow_retries=False,
            )
        received = client.aggregation_artifacts(closed["poll_id"])
        if received is None:
            raise OrchestratorError("the prover returned no aggregator PIE and DA segment")
        pie = AggregatorPie.from_zip(received.cairo_pie)
        fact = pie.fact()
        prefixed = pie.prefixed_program_hash()
        fact_valid = settlement.client().is_fact_valid(fact)
    pie_uri = store.put_bytes(aggregator_artifact(key, AGGREGATOR_PIE), received.cairo_pie)
    segment_uri = write_json_at(store, aggregator_artifact(key, DA_SEGMENT), [hex(f) for f in received.da_segment])
    output_uri = write_json_at(
        store,
        aggregator_artifact(key, PROGRAM_OUTPUT),
        {"fact": hex32(fact), "aggregator_program_hash": hex(prefixed), "aggregation_id": closed["aggregation_id"],
         "program_output": [hex(felt) for felt in pie.aggregated_words]},
    )
    check = AssetCheckResult(
        check_name=AGGREGATOR_FACT_CHECK,
        passed=fact_valid,
        severity=AssetCheckSeverity.ERROR,
        metadata={"fact": hex32(fact)},
        description=None if fact_valid else f"aggregator fact {hex32(fact)} is not valid in the fact registry",
    )
    return MaterializeResult(
        metadata={
            **aggregator_range_metadata(manifest),
            "aggregation_id": closed["aggregation_id"],
            "attempt": closed["attempt"],
            "prover_status": status.service_status,
            "aggregation_job_id": status.aggregation_job_id or "",
            "fact": hex32(fact),
            "aggregator_program_hash": hex(prefixed),
            "fact_valid_on_l1": fact_valid,
            "children_in_pie": len(pie.children),
            "aggregated_output_felts": len(pie.aggregated_words),
            "da_segment_felts": len(received.da_segment),
            "prover_duration_s": round(time.time() - closed["closed_at"], 3),
            "aggregator_pie": MetadataValue.url(pie_uri),
            "da_segment": MetadataValue.url(segment_uri),
            "program_output": MetadataValue.url(output_uri),
            "duration_s": watch.seconds,
        },
        check_results=[check],
    )


def aggregated_output(store, key: str) -> list[int]:
    return [int(f, 16) for f in read_json_at(store, aggregator_artifact(key, PROGRAM_OUTPUT))["program_output"]]


@asset(
    name="aggregator_da_blob",
    partitions_def=aggregator_batches_partitions,
    group_name=AGGREGATION_GROUP,
    deps=["aggregator_proof"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"ethereum"},
    check_specs=[
        AssetCheckSpec(
            SEGMENT_OPENS_CHECK,
            asset="aggregator_da_blob",
            blocking=True,
            partitions_def=aggregator_batches_partitions,  # read per batch by the aggregator settlement sensor
            description="The blobs built from the prover's DA segment have the aggregated output's commitments, "
            "x_0 and y values; anything else would revert updateStateKzgDA.",
        ),
        AssetCheckSpec(
            DERIVATION_CHECK,
            asset="aggregator_da_blob",
            description="The DA segment derived here from the blocks' state updates (squashed against the "
            "pre-batch state, compressed) equals the prover's; names the first differing felt. Encrypted DA "
            "cannot be rebuilt and is settled as received.",
        ),
    ],
    description="EIP-4844 blobs of the prover's DA segment (da_blob.json): padded, evaluated, opened at the "
    "aggregated output's x_0; KZG commitments, proofs and sidecar recorded for settlement.",
)
def aggregator_da_blob(
    context: AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    madara: MadaraRpcResource,
    policy: PipelinePolicyResource,
):
    from orchestrator_pipelines.starknet.da_segment import open_segment_against_output

    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast(context, f"aggregator batch {key}"):
        manifest = load_aggregator_manifest(store, key)
        output = parse_os_output(aggregated_output(store, key))
        segment = [int(f, 16) for f in read_json_at(store, aggregator_artifact(key, DA_SEGMENT))]
        opening = open_segment_against_output(output, segment, max_blobs=policy.max_blobs)
        proofs = [kzg.compute_point_proof(blob, opening.x0)[0] for blob in opening.blobs]
        sidecar = kzg.blob_sidecar(opening.blobs, opening.commitments)
    blob_uris = [
        store.put_bytes(aggregator_artifact(key, blob_name(i)), blob_to_hex(blob).encode())
        for i, blob in enumerate(opening.blobs)
    ]
    kzg_uri = write_json_at(store, aggregator_artifact(key, KZG), {
        "x0": hex(opening.x0),
        "commitments": ["0x" + c.hex() for c in opening.commitments],
        "versioned_hashes": ["0x" + kzg.versioned_hash(c).hex() for c in opening.commitments],
        "proofs": ["0x" + p.hex() for p in proofs],
        "y_values": [hex(y) for y in opening.y_values],
        "blob_sha256": ["0x" + hashlib.sha256(blob).hexdigest() for blob in opening.blobs],
        "blob_proofs": sidecar.to_json()["blob_proofs"],
        "cell_proofs": sidecar.to_json()["cell_proofs"],
    })
    opens = AssetCheckResult(
        check_name=SEGMENT_OPENS_CHECK, passed=True, metadata={"blobs": len(opening.blobs), "x0": hex32(opening.x0)}
    )
    return MaterializeResult(
        metadata={
            **aggregator_range_metadata(manifest),
            "blob_count": len(opening.blobs),
            "da_segment_felts": len(segment),
            "x0": hex32(opening.x0),
            "versioned_hashes": MetadataValue.json(["0x" + kzg.versioned_hash(c).hex() for c in opening.commitments]),
            "kzg": MetadataValue.url(kzg_uri),
            "blobs": MetadataValue.json(blob_uris),
            "duration_s": watch.seconds,
        },
        check_results=[opens, _derivation_check(madara, manifest, segment)],
    )


def _derivation_check(madara: MadaraRpcResource, manifest, segment: list[int]) -> AssetCheckResult:
    """The project's own DA derivation from the RPC state updates, compared felt by felt with the prover's."""
    from orchestrator_pipelines.aggregation_derivation import derive_da_segment, first_difference

    try:
        derived = derive_da_segment(madara.client(), manifest.first_block, manifest.last_block, manifest.starknet_version)
    except (OrchestratorError, TransientError) as exc:
        return AssetCheckResult(
            check_name=DERIVATION_CHECK, passed=False, severity=AssetCheckSeverity.WARN,
            description=f"could not derive the DA segment from the node: {exc}",
        )
    difference = first_difference(derived, segment)
    if difference is None:
        return AssetCheckResult(check_name=DERIVATION_CHECK, passed=True, metadata={"felts": len(segment)})
    index, ours, theirs = difference
    return AssetCheckResult(
        check_name=DERIVATION_CHECK,
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"felt {index} differs: derived {hex(ours) if ours is not None else 'nothing (shorter)'}, prover's "
            f"{hex(theirs) if theirs is not None else 'nothing (shorter)'} ({len(derived)} derived felts, "
            f"{len(segment)} in the segment); the prover's segment is what the output commits to and is settled"
        ),
        metadata={"first_differing_felt": index, "derived_felts": len(derived), "segment_felts": len(segment)},
    )


@asset(
    name="aggregator_state_update",
    partitions_def=aggregator_batches_partitions,
    group_name=AGGREGATION_GROUP,
    deps=["aggregator_proof", "aggregator_da_blob"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"ethereum"},
    check_specs=[
        AssetCheckSpec(
            AGGREGATOR_ROOT_CHECK,
            asset="aggregator_state_update",
            description="After settlement the core contract's state equals the aggregated output's final state.",
        ),
        AssetCheckSpec(ON_L1_CHECK, asset="aggregator_state_update", description=ON_L1_CHECK_DESCRIPTION),
    ],
    description="updateStateKzgDA(aggregated output, kzgProofs) with the DA segment's blobs: one L1 transaction "
    "for the whole aggregator batch, strictly in order; its fact is checked under aggregatorProgramHash.",
)
def aggregator_state_update(
    context: AssetExecutionContext, settlement: SettlementResource, artifacts: ArtifactStoreResource
):
    from orchestrator_pipelines.assets.state_update import _recorded_receipt, _settle, inclusion_metadata

    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast(context, f"aggregator batch {key}"):
        client = settlement.client()  # refuses an RPC of another chain (one line, no retry)
        manifest = load_aggregator_manifest(store, key)
        output_felts = aggregated_output(store, key)
        output = parse_os_output(output_felts)
        before = client.state()
        already_on_chain = before.block_number >= manifest.last_block
        if already_on_chain:
            receipt = _recorded_receipt(client, store, lambda name: aggregator_artifact(key, name))
        else:
            receipt = _settle(
                context, client, store, key, manifest.first_block, before.block_number, output, output_felts,
                artifact=lambda name: aggregator_artifact(key, name),
            )
        after = client.state()
        inclusion = inclusion_metadata(client, receipt)
    metadata = {
        **aggregator_range_metadata(manifest),
        "already_on_chain": already_on_chain,
        **inclusion,
        "l1_state_block_number": after.block_number,
        "l1_state_root": hex32(after.root),
        "block_to_settled_s": round(time.time() - manifest.last_block_timestamp, 3),
        "messages_to_l1": len(output.messages_to_l1),
        "messages_to_l2": len(output.messages_to_l2),
        "duration_s": watch.seconds,
    }
    if receipt is not None:
        metadata.update(
            tx_hash=receipt.tx_hash,
            gas_used=receipt.gas_used,
            effective_gas_price_wei=receipt.effective_gas_price,
            blob_gas_used=receipt.blob_gas_used,
            blob_gas_price_wei=receipt.blob_gas_price,
            fee_wei=receipt.fee_wei,
            blob_count=len(output.kzg.commitments) if output.kzg else 0,
        )
    matches = after.block_number > manifest.last_block or (
        after.block_number == manifest.last_block and after.root == output.final_root
        and after.block_hash == output.new_block_hash
    )
    check = AssetCheckResult(
        check_name=AGGREGATOR_ROOT_CHECK,
        passed=matches,
        severity=AssetCheckSeverity.ERROR,
        metadata={"aggregated_output_final_root": hex32(output.final_root), "l1_state_root": hex32(after.root)},
        description=None if matches else "the core contract's state differs from the aggregated output after settlement",
    )
    on_l1 = AssetCheckResult(check_name=ON_L1_CHECK, passed=True, metadata=inclusion)
    return MaterializeResult(metadata=metadata, check_results=[check, on_l1])


AGGREGATOR_ASSETS: list[AssetsDefinition] = [
    aggregation, aggregator_batch, aggregator_proof, aggregator_da_blob, aggregator_state_update,
]
