"""The ZKsync OS batch assets: batch → prover input → FRI proof → commit → SNARK proof → prove → execute.

Thin: the domain builds and checks, these read and write artifacts under
``zksync_os/batches/<key>/`` and say in metadata what happened. Every L1 step
asks L1 first (``getTotalBatches*``, ``storedBatchHash``): a step L1 already
has is recorded without sending, a step that is not next fails without
sending, and a retried step that finds a recorded transaction hash waits for
that transaction instead of signing another.
"""


import json
import time
from typing import Any, Callable

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestrator_pipelines.assets.common import TRANSIENT_RETRY, Stopwatch, fail_fast_on_bad_data
from orchestrator_pipelines.clients.artifacts import ArtifactStore
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.zksync_os.batch_record import (
    BatchRecord,
    batch_prover_input,
    build_batch_record,
    genesis_record,
)
from orchestrator_pipelines.zksync_os.commitment import (
    batch_output_hash,
    da_commitment,
    fake_proof,
    parse_rollup_operator_da_input,
)
from orchestrator_pipelines.zksync_os.priority_tree import PriorityTree
from orchestrator_pipelines.zksync_os_pipeline.partitions import artifact_key, zkos_batches_partitions, zkos_number
from orchestrator_pipelines.zksync_os_pipeline.resources import ProverApiResource, ZkOsL1Resource, ZkOsNodeResource
from resources.artifacts import ArtifactStoreResource

GROUP = "zksync_os"
SEAL = "seal.json"
BATCH = "batch.json"
PROVER_INPUT = "prover_input.b64"
FRI_PROOF = "fri_proof.json"
SNARK_PROOF = "snark_proof.json"
COMMIT_TX = "commit_tx.json"
PROVE_TX = "prove_tx.json"
EXECUTE_TX = "execute_tx.json"


def read_record(store: ArtifactStore, batch_number: int) -> BatchRecord:
    return BatchRecord.from_json(store.get_bytes(artifact_key(batch_number, BATCH)))


def read_json(store: ArtifactStore, batch_number: int, name: str) -> Any:
    return json.loads(store.get_bytes(artifact_key(batch_number, name)))


def write_json(store: ArtifactStore, batch_number: int, name: str, value: Any) -> str:
    return store.put_bytes(artifact_key(batch_number, name), json.dumps(value, indent=1, sort_keys=True).encode())


def _range(context: AssetExecutionContext) -> tuple[int, int]:
    keys = context.partition_key_range
    return zkos_number(keys.start), zkos_number(keys.end)


def _fail(context: AssetExecutionContext, message: str) -> Failure:
    return Failure(description=f"{context.asset_key.to_user_string()}: {message}", allow_retries=False)


# -- batch and prover input ------------------------------------------------------------------


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync"},
    check_specs=[
        AssetCheckSpec("da_commitment_matches_pubdata", asset="zkos_batch", blocking=True,
                       description="keccak of the DA input's first 97 bytes, recomputed from the pubdata it carries"),
        AssetCheckSpec("output_hash_matches_commit_info", asset="zkos_batch", blocking=True,
                       description="the stored commitment is the batch output hash of the commit info"),
    ],
    description="The batch's commit info from the node's blocks (range sealed by the batching sensor): "
    "state commitment, priority operations, L2→L1 logs root, DA input and commitment. Batch 0 is genesis, "
    "checked against L1's storedBatchHash(0).",
)
def zkos_batch(context: AssetExecutionContext, zkos_node: ZkOsNodeResource, zkos_l1: ZkOsL1Resource,
               artifacts: ArtifactStoreResource):
    number = zkos_number(context.partition_key)
    store = artifacts.store()
    watch = Stopwatch()
    node = zkos_node.client()
    with fail_fast_on_bad_data(context):
        l1 = zkos_l1.reader()
        if number == 0:
            record = genesis_record(node.block_for_batch(0))
            on_l1 = l1.stored_batch_hash(0)
            if on_l1 != record.stored.hash():
                raise OrchestratorError(
                    f"the node's genesis (stored hash 0x{record.stored.hash().hex()}) is not L1's batch 0 (0x{on_l1.hex()})"
                )
            uri = store.put_bytes(artifact_key(0, BATCH), record.to_json())
            yield MaterializeResult(
                metadata={"genesis": True, "state_commitment": "0x" + record.stored.state_commitment.hex(),
                          "stored_batch_hash": "0x" + on_l1.hex(), "batch_json": MetadataValue.url(uri)},
                check_results=[
                    AssetCheckResult(check_name="da_commitment_matches_pubdata", passed=True, metadata={"genesis": True}),
                    AssetCheckResult(check_name="output_hash_matches_commit_info", passed=True, metadata={"genesis": True}),
                ],
            )
            return
        seal = read_json(store, number, SEAL)
        previous = read_record(store, number - 1)
        blocks = [node.block_for_batch(n) for n in range(seal["first_block"], seal["last_block"] + 1)]
        found = l1.chain
        record = build_batch_record(
            batch_number=number, blocks=blocks, previous=previous, chain_id=zkos_l1.chain_id,
            chain_address=bytes.fromhex(found.diamond[2:]), l2_da_validator=bytes.fromhex(found.l2_da_validator[2:]),
            seal_reason=seal["reason"],
        )
    uri = store.put_bytes(artifact_key(number, BATCH), record.to_json())
    info = record.commit_info
    pubdata = parse_rollup_operator_da_input(info.operator_da_input).pubdata
    da_ok = da_commitment(pubdata) == info.da_commitment
    output_ok = batch_output_hash(info) == record.stored.commitment
    yield MaterializeResult(
        metadata={
            "first_block": record.first_block, "last_block": record.last_block,
            "n_blocks": record.last_block - record.first_block + 1, "seal_reason": record.seal_reason,
            "pubdata_bytes": record.pubdata_bytes, "l1_txs": len(record.l1_tx_hashes),
            "first_priority_id": record.first_priority_id, "l2_to_l1_logs": record.n_l2_to_l1_logs,
            "execution_version": record.execution_version, "da_mode": found.da_mode.name.lower(),
            "state_commitment": "0x" + info.new_state_commitment.hex(),
            "batch_output_hash": "0x" + record.stored.commitment.hex(),
            "stored_batch_hash": "0x" + record.stored.hash().hex(),
            "first_block_timestamp": record.first_block_timestamp, "last_block_timestamp": record.last_block_timestamp,
            "batch_json": MetadataValue.url(uri), "duration_s": watch.seconds,
        },
        check_results=[
            AssetCheckResult(check_name="da_commitment_matches_pubdata", passed=da_ok,
                             metadata={"da_commitment": "0x" + info.da_commitment.hex(), "pubdata_bytes": len(pubdata)}),
            AssetCheckResult(check_name="output_hash_matches_commit_info", passed=output_ok,
                             metadata={"commitment": "0x" + record.stored.commitment.hex()}),
        ],
    )


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync"},
    deps=["zkos_batch"],
    description="The batch's prover input, offered to FRI provers as a job on the prover API.",
)
def zkos_prover_input(context: AssetExecutionContext, zkos_node: ZkOsNodeResource, prover_api: ProverApiResource,
                      artifacts: ArtifactStoreResource) -> MaterializeResult:
    number = zkos_number(context.partition_key)
    store = artifacts.store()
    with fail_fast_on_bad_data(context):
        record = read_record(store, number)
        node = zkos_node.client()
        blocks = [node.block_for_batch(n) for n in range(record.first_block, record.last_block + 1)]
        prover_input = batch_prover_input(record, blocks)
        uri = store.put_bytes(artifact_key(number, PROVER_INPUT), prover_input.encode())
        created = prover_api.client().offer_fri(number, prover_input, vk_hash=f"execution-version-{record.execution_version}")
    return MaterializeResult(
        metadata={"prover_input_words": len(prover_input) * 3 // 4 // 4, "fri_job": "offered" if created else "already offered",
                  "prover_api": prover_api.url, "prover_input": MetadataValue.url(uri)}
    )


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync"},
    deps=["zkos_prover_input"],
    description="The FRI proof a prover submitted for the batch (the proving sensor requests it once there is one).",
)
def zkos_fri_proof(context: AssetExecutionContext, prover_api: ProverApiResource,
                   artifacts: ArtifactStoreResource) -> MaterializeResult:
    number = zkos_number(context.partition_key)
    result = prover_api.client().fri_result(number)
    if result is None or result.proof is None:
        raise _fail(context, f"batch {number} has no FRI proof on the prover API yet")
    uri = write_json(artifacts.store(), number, FRI_PROOF,
                     {"proof": result.proof, "proved_by": result.proved_by, "attempts": result.attempts,
                      "proved_at": result.proved_at})
    return MaterializeResult(metadata={"proved_by": result.proved_by, "attempts": result.attempts,
                                       "proof_bytes": len(result.proof) * 3 // 4, "fri_proof": MetadataValue.url(uri)})


# -- L1 steps ---------------------------------------------------------------------------------------


def _send_once(context: AssetExecutionContext, store: ArtifactStore, *, batch_number: int, name: str,
               send: Callable[..., Any]) -> dict[str, Any]:
    """Run one L1 step through the client, its transaction hashes recorded in ``name`` before broadcast.

    The client judges L1 first (already there: nothing sent; not next: refused),
    simulates, and waits for any hash an earlier attempt recorded instead of
    sending again; so a retried or resumed step never sends twice.
    """
    key = artifact_key(batch_number, name)
    record = json.loads(store.get_bytes(key)) if store.exists(key) else {"hashes": []}

    def remember(tx_hash: str) -> None:
        record["hashes"].append(tx_hash)
        record["sent_at"] = time.time()
        store.put_bytes(key, json.dumps(record, indent=1).encode())
        context.log.info(f"broadcasting {tx_hash}")

    result = send(on_sent=remember, sent_tx_hashes=tuple(record["hashes"]))
    if not result.already_on_l1:
        record["mined"] = {"tx_hash": result.tx_hash, "block": result.block_number, "gas_used": result.gas_used}
        store.put_bytes(key, json.dumps(record, indent=1).encode())
    metadata = result.metadata()
    if result.fee_wei is not None:
        metadata["fee_eth"] = result.fee_wei / 1e18
    metadata["broadcasts"] = len(record["hashes"])
    return {k: v if not isinstance(v, tuple) else ", ".join(v) for k, v in metadata.items()}


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync", "ethereum"},
    deps=["zkos_batch", "zkos_fri_proof"],
    tags={"orchestrator/zkos-l1": "commit"},
    description="commitBatchesSharedBridge for this one batch, with the committer key, once its FRI proof exists "
    "and L1 is at the batch before it.",
)
def zkos_commit(context: AssetExecutionContext, zkos_l1: ZkOsL1Resource, artifacts: ArtifactStoreResource) -> MaterializeResult:
    number = zkos_number(context.partition_key)
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        l1 = zkos_l1.client()
        record = read_record(store, number)
        if not store.exists(artifact_key(number, FRI_PROOF)):
            raise OrchestratorError(f"batch {number} has no recorded FRI proof: it is never committed before it is proven")
        sent = _send_once(context, store, batch_number=number, name=COMMIT_TX,
                          send=lambda **kw: l1.commit(record.previous, record.commit_info, **kw))
        if l1.stored_batch_hash(number) != record.stored.hash():
            raise OrchestratorError(f"L1's batch {number} is a different batch than this one (storedBatchHash differs)")
    return MaterializeResult(metadata={
        "first_block": record.first_block, "last_block": record.last_block,
        "da_mode": l1.chain.da_mode.name.lower(), **sent,
        "block_to_committed_s": round(time.time() - record.last_block_timestamp, 1), "duration_s": watch.seconds,
    })


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync"},
    deps=["zkos_fri_proof"],
    backfill_policy=BackfillPolicy.single_run(),
    description="The SNARK proof over the range of FRI proofs (one run per range), as a SNARK prover submitted it.",
)
def zkos_snark_proof(context: AssetExecutionContext, prover_api: ProverApiResource,
                     artifacts: ArtifactStoreResource) -> MaterializeResult:
    start, end = _range(context)
    result = prover_api.client().snark_result(start)
    if result is None or (result.batch_from, result.batch_to) != (start, end):
        got = None if result is None else f"{result.batch_from}-{result.batch_to}"
        raise _fail(context, f"no SNARK proof of exactly batches {start}-{end} on the prover API (found {got})")
    store = artifacts.store()
    for number in range(start, end + 1):
        write_json(store, number, SNARK_PROOF, {"batch_from": start, "batch_to": end, "proof": result.proof})
    return MaterializeResult(metadata={"batch_from": start, "batch_to": end, "batches": end - start + 1})


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync", "ethereum"},
    deps=["zkos_commit", "zkos_snark_proof"],
    backfill_policy=BackfillPolicy.single_run(),
    description="proveBatchesSharedBridge over the SNARK's range, with the prover key.",
)
def zkos_prove(context: AssetExecutionContext, zkos_l1: ZkOsL1Resource, artifacts: ArtifactStoreResource) -> MaterializeResult:
    start, end = _range(context)
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        l1 = zkos_l1.client()
        records = [read_record(store, n) for n in range(start, end + 1)]
        previous, stored = records[0].previous, [r.stored for r in records]
        # The SNARK proofs here are the stand-in provers'; L1 gets the development proof over the range,
        # which only development chains accept (InvalidProof elsewhere).
        proof = fake_proof(previous, stored)
        sent = _send_once(context, store, batch_number=start, name=PROVE_TX,
                          send=lambda **kw: l1.prove(previous, stored, proof, **kw))
    return MaterializeResult(metadata={
        "batch_from": start, "batch_to": end, "public_input": hex(proof[-1]), **sent, "duration_s": watch.seconds,
    })


@asset(
    partitions_def=zkos_batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"zksync", "ethereum"},
    deps=["zkos_prove"],
    backfill_policy=BackfillPolicy.single_run(),
    description="executeBatchesSharedBridge with the priority operations' Merkle paths in the L1 priority tree, "
    "with the executor key, once the timelock's execution delay has passed.",
)
def zkos_execute(context: AssetExecutionContext, zkos_l1: ZkOsL1Resource, artifacts: ArtifactStoreResource) -> MaterializeResult:
    start, end = _range(context)
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        l1 = zkos_l1.client()
        records = [read_record(store, n) for n in range(start, end + 1)]
        stored = [r.stored for r in records]
        # Each batch's priority operations, by the priority ids it recorded, with their paths in the tree
        # rebuilt from L1's NewPriorityRequest events (every root the tree had is historical on L1).
        tree = PriorityTree(request.tx_hash for request in l1.priority_requests())
        ops = []
        for record in records:
            if record.next_priority_id > len(tree):
                raise OrchestratorError(f"batch {record.batch_number} consumes priority txs up to "
                                        f"{record.next_priority_id - 1} but L1 has {len(tree)}")
            info = tree.batch_info(record.first_priority_id, len(record.l1_tx_hashes))
            if tuple(info.item_hashes) != record.l1_tx_hashes:
                raise OrchestratorError(f"batch {record.batch_number}: its L1 transactions are not L1's priority "
                                        f"requests {record.first_priority_id}..{record.next_priority_id - 1}")
            ops.append(info)
        sent = _send_once(context, store, batch_number=start, name=EXECUTE_TX,
                          send=lambda **kw: l1.execute(stored, ops, **kw))
    now = time.time()
    return MaterializeResult(metadata={
        "batch_from": start, "batch_to": end, "priority_ops": sum(len(r.l1_tx_hashes) for r in records), **sent,
        "block_to_executed_s": round(now - records[-1].last_block_timestamp, 1), "duration_s": watch.seconds,
    })


ZKOS_ASSETS = [zkos_batch, zkos_prover_input, zkos_fri_proof, zkos_commit, zkos_snark_proof, zkos_prove, zkos_execute]
