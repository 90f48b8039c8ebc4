"""``state_update``: the batch settled on Ethereum by one ``updateStateKzgDA`` blob transaction.

Never sent twice, never out of order — both decided by the chain, not by
memory: before sending, the core contract's ``stateBlockNumber`` is read; if it
already covers this batch the state update is recorded and nothing is sent; if
it is not exactly at the block before this batch, the step fails without
sending. Every transaction hash is written to the artifact store the moment it
is broadcast (a stuck transaction's fee-bumped replacements included), so a
retried step waits for whichever of them is mined instead of sending a second
state update.

The blobs are checked against the OS output before sending without the KZG
trusted setup: ``da_blob`` recorded each blob's sha256, commitment and sidecar
proofs after its blocking check opened them against the OS output, so here
the blobs must hash to the recorded digests and the recorded commitments must be
the OS output's.

After settlement a second check reads the core contract at the settlement's L1
block for every message the OS output carries: each message to L1 (a withdrawal)
must be consumable there (``l2ToL1Messages(hash) > 0``) and each message to L2
(a deposit the batch executed) consumed (``l1ToL2Messages(hash) == 0``). A bridge
operator learns from it that withdrawals of the batch can be finalized on L1 and
that no deposit was left hanging.

L1 can take a settlement back (a reorganisation): the materialization records
the L1 block number and hash the transaction was confirmed at, so the
settlement sensor can tell when L1 no longer has it
(:mod:`orchestrator_pipelines.settlement_finality`), fail the
``settlement_on_l1`` check of the batch and request a new run. That run is
judged by the chain like any other: a recorded transaction the node still has
(pending again, or included again elsewhere) is waited for; one the node no
longer has at all was dropped, and the state update is sent again, once.
"""

import json
import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from orchestrator_pipelines.assets.common import (
    GROUP,
    KZG,
    ON_L1_CHECK,
    ON_L1_CHECK_DESCRIPTION,
    SETTLEMENT_TX,
    TRANSIENT_RETRY,
    Stopwatch,
    blob_name,
    fail_fast_on_bad_data,
    hex32,
    load_manifest,
    load_program_output,
    range_metadata,
    write_json_at,
)
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.partitions import batches_partitions
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.kzg import BlobSidecar
from orchestrator_pipelines.starknet.messages import l1_to_l2_message_hash, l2_to_l1_message_hash
from orchestrator_pipelines.starknet.os_output import (
    check_blobs_against_output,
    check_recorded_blobs_against_output,
    parse_os_output,
)
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource

ROOT_CHECK = "onchain_root_matches_os_output"
MESSAGES_CHECK = "messages_settled_on_l1"
# A failing message check lists at most this many hashes of each kind in its metadata.
LISTED_MESSAGE_HASHES = 10


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    deps=["proof", "da_blob"],
    retry_policy=TRANSIENT_RETRY,
    kinds={"ethereum"},
    check_specs=[
        AssetCheckSpec(
            ROOT_CHECK,
            asset="state_update",
            description="After settlement the core contract's state (root, block number, block hash) "
            "equals the OS output's final state.",
        ),
        AssetCheckSpec(
            MESSAGES_CHECK,
            asset="state_update",
            description="At the settlement's L1 block every L2->L1 message of the batch is consumable "
            "(l2ToL1Messages(hash) > 0) and every L1->L2 message it executed is consumed (l1ToL2Messages(hash) == 0).",
        ),
        AssetCheckSpec(ON_L1_CHECK, asset="state_update", description=ON_L1_CHECK_DESCRIPTION),
    ],
    description="updateStateKzgDA(programOutput, kzgProofs) sent as an EIP-4844 blob transaction and mined "
    "with the configured confirmations; strictly in batch order.",
)
def state_update(
    context: AssetExecutionContext, settlement: SettlementResource, artifacts: ArtifactStoreResource
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        client = settlement.client()  # refuses an RPC of another chain (one line, no retry)
        manifest = load_manifest(store, key)
        output_felts = load_program_output(store, key)
        output = parse_os_output(output_felts)
        before = client.state()
        already_on_chain = before.block_number >= manifest.last_block
        if already_on_chain:
            receipt = _recorded_receipt(client, store, lambda name: batch_key(key, name))
        else:
            receipt = _settle(context, client, store, key, manifest.first_block, before.block_number, output, output_felts)
        after = client.state()
        inclusion = inclusion_metadata(client, receipt)
    settled_at = time.time()
    metadata = {
        **range_metadata(manifest),
        "already_on_chain": already_on_chain,
        **inclusion,
        "l1_state_block_number": after.block_number,
        "l1_state_root": hex32(after.root),
        "block_to_settled_s": round(settled_at - manifest.last_block_timestamp, 3),
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
        check_name=ROOT_CHECK,
        passed=matches,
        severity=AssetCheckSeverity.ERROR,
        metadata={"os_output_final_root": hex32(output.final_root), "l1_state_root": hex32(after.root)},
        description=None if matches else "the core contract's state differs from the OS output after settlement",
    )
    message_check = check_messages_on_l1(client, output, receipt.block_number if receipt is not None else "latest")
    on_l1 = AssetCheckResult(check_name=ON_L1_CHECK, passed=True, metadata=inclusion)
    return MaterializeResult(metadata=metadata, check_results=[check, message_check, on_l1])


def inclusion_metadata(client, receipt) -> dict:
    """Where on L1 the settlement is: its transaction's block number and hash, or the head it was found at.

    A batch found settled with no transaction of ours records only the L1 head
    (``l1_observed_block``): the sensor watches it until that block is final.
    """
    if receipt is None:
        return {"l1_observed_block": client.head()}
    return {"l1_block": receipt.block_number, "l1_block_hash": receipt.block_hash}


def _recorded_receipt(client, store, artifact):
    """For a batch L1 already covers: the receipt of our recorded transaction if L1 has it, after its confirmations.

    A run after a reorganisation that included the transaction again in another
    block records where it is now; a batch settled by someone else has none (None).
    """
    sent, _ = _previous_transactions(store, artifact)
    if not any(client.mined_receipt(tx_hash) is not None for tx_hash in sent):
        return None
    return client.wait_for_transaction(sent)


def check_messages_on_l1(client, output, l1_block) -> AssetCheckResult:
    """Read the core contract's message counters for every message of the output at ``l1_block``.

    Read at the settlement's block, not the latest one: a withdrawal consumed on L1
    since then is no failure of this batch. A batch found already on chain is read
    at the latest block.
    """
    to_l1 = [l2_to_l1_message_hash(m) for m in output.messages_to_l1]
    to_l2 = [l1_to_l2_message_hash(m) for m in output.messages_to_l2]
    try:
        not_consumable = [h for h in to_l1 if client.l2_to_l1_messages(h, l1_block) == 0]
        not_consumed = [h for h in to_l2 if client.l1_to_l2_messages(h, l1_block) != 0]
    except (OrchestratorError, TransientError) as exc:
        # The state update is on chain whatever this read says: fail the check, not the settled step.
        return AssetCheckResult(
            check_name=MESSAGES_CHECK,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata={"l1_block": str(l1_block), "messages_to_l1": len(to_l1), "messages_to_l2": len(to_l2)},
            description=f"the message counters could not be read: {exc}",
        )
    passed = not not_consumable and not not_consumed
    metadata = {
        "l1_block": str(l1_block),
        "messages_to_l1": len(to_l1),
        "messages_to_l2": len(to_l2),
        "not_consumable_on_l1": len(not_consumable),
        "not_consumed_on_l1": len(not_consumed),
    }
    if not_consumable:
        metadata["not_consumable_hashes"] = ", ".join("0x" + h.hex() for h in not_consumable[:LISTED_MESSAGE_HASHES])
    if not_consumed:
        metadata["not_consumed_hashes"] = ", ".join("0x" + h.hex() for h in not_consumed[:LISTED_MESSAGE_HASHES])
    return AssetCheckResult(
        check_name=MESSAGES_CHECK,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None
        if passed
        else f"{len(not_consumable)} message(s) to L1 not consumable and {len(not_consumed)} message(s) to L2 "
        f"not consumed on L1 after the state update",
    )


def _settle(context, client, store, key, first_block, chain_block, output, output_felts, artifact=None):
    """Send (or resume) this batch's state update; the chain must be right before the batch.

    ``artifact(name)`` is the store key of the batch's artifact ``name``
    (``batches/<key>/<name>`` by default; the aggregated pipeline keeps its
    aggregator batches under their own prefix).
    """
    artifact = artifact or (lambda name: batch_key(key, name))
    sent, failed = _previous_transactions(store, artifact)
    dropped = _recorded_list(store, artifact, "dropped_tx_hashes")
    if sent and not any(client.is_known(tx_hash) for tx_hash in sent):
        # Neither mined nor pending: a reorganisation took it out and the node forgot it. The
        # pending nonce is the dropped one's again, so at most one of them can ever be mined.
        context.log.warning(
            f"batch {key}: L1 no longer has {', '.join(sent)} (dropped by a reorganisation); sending it again"
        )
        dropped = dropped + [h for h in sent if h not in dropped]
        sent = []
    if sent:
        context.log.info(f"batch {key}: waiting for the already broadcast transaction(s) {', '.join(sent)}")
        try:
            return client.wait_for_transaction(sent)
        except OrchestratorError as exc:
            # Reverted on chain: nothing moved, so it is safe to simulate and send again;
            # the simulation surfaces the contract's reason if it would revert again.
            context.log.warning(f"batch {key}: previous transaction failed ({exc})")
            failed = failed + sent
            chain_block = client.state().block_number
    if chain_block != first_block - 1:
        raise OrchestratorError(
            f"out of order: the batch starts at block {first_block} but the core contract is at block "
            f"{chain_block}; earlier batches must settle first"
        )
    kzg_data = json.loads(store.get_bytes(artifact(KZG)))
    blobs = [blob_from_hex(store.get_bytes(artifact(blob_name(i))).decode()) for i in range(len(kzg_data["proofs"]))]
    sidecar = _checked_sidecar(output, blobs, kzg_data)
    proofs = [bytes.fromhex(p[2:]) for p in kzg_data["proofs"]]
    broadcast: list[str] = []
    first_sent_at = time.time()

    def record(tx_hash: str) -> None:
        # One nonce: the transaction and its replacements; any one of them may be the one mined.
        broadcast.append(tx_hash)
        write_json_at(
            store,
            artifact(SETTLEMENT_TX),
            {
                "tx_hash": tx_hash,
                "tx_hashes": list(broadcast),
                "failed_tx_hashes": failed,
                "dropped_tx_hashes": dropped,
                "sent_at": first_sent_at,
                "last_sent_at": time.time(),
            },
        )
        replaced = f" (replacement {len(broadcast) - 1} of {broadcast[0]})" if len(broadcast) > 1 else ""
        context.log.info(f"batch {key}: updateStateKzgDA broadcast as {tx_hash}{replaced}")

    return client.update_state_kzg_da(output_felts, proofs, blobs, on_sent=record, sidecar=sidecar)


def _checked_sidecar(output, blobs: list[bytes], kzg_data: dict) -> BlobSidecar | None:
    """The sidecar recorded by ``da_blob``, once the blobs are shown to be the OS output's; raises otherwise.

    A ``kzg.json`` written before sidecars were recorded has none: then the blobs
    are opened against the OS output again and the client computes the sidecar.
    """
    if not all(kzg_data.get(field) for field in ("blob_sha256", "blob_proofs", "cell_proofs")):
        check_blobs_against_output(output, blobs)
        return None
    sidecar = BlobSidecar.from_json(kzg_data)
    digests = [bytes.fromhex(d.removeprefix("0x")) for d in kzg_data["blob_sha256"]]
    check_recorded_blobs_against_output(output, blobs, digests, sidecar.commitments)
    return sidecar


def _previous_transactions(store, artifact) -> tuple[list[str], list[str]]:
    """(the broadcasts of this batch's last state update, earlier ones that reverted on chain).

    Records written before replacements existed hold a single ``tx_hash``.
    """
    if not store.exists(artifact(SETTLEMENT_TX)):
        return [], []
    record = json.loads(store.get_bytes(artifact(SETTLEMENT_TX)))
    return list(record.get("tx_hashes") or [record["tx_hash"]]), list(record.get("failed_tx_hashes", []))


def _recorded_list(store, artifact, field: str) -> list[str]:
    if not store.exists(artifact(SETTLEMENT_TX)):
        return []
    return list(json.loads(store.get_bytes(artifact(SETTLEMENT_TX))).get(field, []))
