"""``batch``: the blocks' state updates, squashed and DA-encoded — what the blobs will carry.

Its metadata also counts the blocks' L1<->L2 messages (read from their receipts):
``messages_to_l1`` sent by the blocks' transactions (withdrawals), ``messages_to_l2``
executed as L1 handlers (deposits); the OS output of the batch carries the same.
"""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from orchestrator_pipelines.assets.common import (
    DA_FELTS,
    GROUP,
    STATE_DIFF,
    TRANSIENT_RETRY,
    Stopwatch,
    fail_fast_on_bad_data,
    load_manifest,
    range_metadata,
    write_json,
)
from orchestrator_pipelines.batch_work import encode_batch
from orchestrator_pipelines.partitions import batches_partitions
from orchestrator_pipelines.starknet.blob import FIELD_ELEMENTS_PER_BLOB
from orchestrator_pipelines.starknet.da_encoding import uses_compression
from resources.artifacts import ArtifactStoreResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from orchestrator_pipelines.errors import TooManyBlobsError


@asset(
    partitions_def=batches_partitions,
    group_name=GROUP,
    retry_policy=TRANSIENT_RETRY,
    kinds={"starknet"},
    description="State updates of the batch's blocks from Madara, squashed into one diff and DA-encoded "
    "(compressed from Starknet 0.13.3 on). Range from the batch manifest written by the batching sensor.",
)
def batch(
    context: AssetExecutionContext,
    madara: MadaraRpcResource,
    artifacts: ArtifactStoreResource,
    policy: PipelinePolicyResource,
) -> MaterializeResult:
    key = context.partition_key
    store = artifacts.store()
    watch = Stopwatch()
    with fail_fast_on_bad_data(context):
        manifest = load_manifest(store, key)
        client = madara.client()
        encoded = encode_batch(client, manifest.first_block, manifest.last_block, manifest.starknet_version)
        messages = client.messages(manifest.first_block, manifest.last_block)
        diff, nonces, felts = encoded.diff, encoded.nonces, encoded.felts
        blob_count = max(1, -(-len(felts) // FIELD_ELEMENTS_PER_BLOB))
        if blob_count > policy.max_blobs:
            raise TooManyBlobsError(blob_count, policy.max_blobs)
    diff_uri = write_json(store, key, STATE_DIFF, diff.to_rpc_json())
    felts_uri = write_json(store, key, DA_FELTS, [hex(felt) for felt in felts])
    n_storage = sum(len(entry.storage_entries) for entry in diff.storage_diffs)
    return MaterializeResult(
        metadata={
            **range_metadata(manifest),
            "close_reason": manifest.close_reason,
            "contracts": len(nonces),
            "storage_writes": n_storage,
            "declared_classes": len(diff.declared_classes) + len(diff.deprecated_declared_classes),
            "deployed_contracts": len(diff.deployed_contracts),
            "da_felts": len(felts),
            "messages_to_l1": len(messages.to_l1),
            "messages_to_l2": len(messages.to_l2),
            "compressed": uses_compression(manifest.starknet_version),
            "blob_count": blob_count,
            "state_diff": MetadataValue.url(diff_uri),
            "da_felts_artifact": MetadataValue.url(felts_uri),
            "duration_s": watch.seconds,
        }
    )
