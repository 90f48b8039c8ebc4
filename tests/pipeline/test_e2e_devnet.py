"""From an empty devnet to settled batches on anvil, through the real sensors, jobs and assets.

The sensors are ticked and the runs they request executed in this process
(``LocalRunner``) against a persistent Dagster instance; everything else is
real: the Starknet node over JSON-RPC, the prover over HTTP, anvil with the
core contract verifying facts and KZG proofs through the point-evaluation
precompile.
"""

from __future__ import annotations

import requests

from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.partitions import batch_partition_key, is_materialized
from tests.pipeline.e2e_helpers import (
    ASSETS,
    last_settled_index,
    latest_metadata,
    settle_in_process,
    settlement_client,
)

TARGET_BATCHES = 5
DEADLINE_S = 420


def test_devnet_settles_batches_in_order_with_a_multi_blob_batch_and_a_prover_failure(devnet_pipeline):
    pipeline = devnet_pipeline
    stack, instance = pipeline.stack, pipeline.instance
    # The first query the prover receives ends FAILED: the proof sensor must resubmit it.
    answer = requests.post(
        f"{stack.prover_url}/_devnet/fail-next", params={"count": 1},
        headers={"api-key": pipeline.env["ORCHESTRATOR_ATLANTIC_API_KEY"]}, timeout=10,
    )
    assert answer.status_code == 200, answer.text

    settlement = settlement_client(pipeline.env)
    settle_in_process(pipeline, TARGET_BATCHES, DEADLINE_S)

    keys = [batch_partition_key(i) for i in range(TARGET_BATCHES)]
    for key in keys:
        for asset in ASSETS:
            assert is_materialized(instance, asset, key), f"{asset} of batch {key} not materialized"

    store = pipeline.defs.resources["artifacts"].store()
    manifests = [load_manifest(store, key) for key in keys]
    assert manifests[0].first_block == 1
    for previous, current in zip(manifests, manifests[1:]):
        assert current.first_block == previous.last_block + 1

    # The chain is exactly at the last settled batch (or beyond it if more batches settled meanwhile).
    chain = settlement.state()
    last_settled = last_settled_index(instance)
    assert chain.block_number == load_manifest(store, batch_partition_key(last_settled)).last_block
    last_update = latest_metadata(instance, "state_update", batch_partition_key(last_settled))
    assert last_update["l1_state_block_number"] == chain.block_number
    assert last_update["tx_hash"].startswith("0x") and last_update["gas_used"] > 0 and last_update["fee_wei"] > 0

    blob_counts = [latest_metadata(instance, "da_blob", key)["blob_count"] for key in keys]
    assert max(blob_counts) >= 2, f"no multi-blob batch among {blob_counts}"

    attempts = [latest_metadata(instance, "proof", key)["attempt"] for key in keys]
    assert attempts[0] == 2 and all(a == 1 for a in attempts[1:]), attempts
    for key in keys:
        assert latest_metadata(instance, "proof", key)["fact_valid_on_l1"] is True
