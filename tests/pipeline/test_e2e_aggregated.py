"""A Starknet 0.14 devnet settled through aggregation: SNOS batches proven in Atlantic buckets, one L1 update per
aggregator batch from the prover's DA segment, under the core contract's aggregator program hash.

Real parts as in the direct e2e test (node over JSON-RPC, prover over HTTP with its bucket endpoints, anvil
with the core contract checking the aggregator fact and the KZG openings); the sensors are ticked and their
runs executed in this process.
"""

from __future__ import annotations

import pytest
import requests

from orchestrator_pipelines.aggregation_partitions import aggregator_key, snos_partition_key
from orchestrator_pipelines.aggregation_status import find_block
from orchestrator_pipelines.assets.aggregation_common import load_aggregator_manifest
from orchestrator_pipelines.devnet.l1_deploy import aggregator_program_hash
from orchestrator_pipelines.devnet.snos_runner import DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
from orchestrator_pipelines.partitions import is_materialized
from tests.pipeline.e2e_helpers import (
    AGGREGATED_ASSETS,
    latest_metadata,
    settle_aggregated_in_process,
    settlement_client,
)

TARGET = 3
DEADLINE_S = 300
AGGREGATED_DEVNET = {
    "starknet_version": "0.14.1",
    "block_time_s": 0.5,
    "prover_delay_s": 0.3,
    "large_block_every": 0,
    "max_batch_blocks": 4,
    "env": {"ORCHESTRATOR_MAX_BLOCKS_PER_SNOS_BATCH": "2", "ORCHESTRATOR_MAX_BATCH_AGE_SECONDS": "60"},
}


@pytest.mark.e2e
@pytest.mark.parametrize("devnet_pipeline", [AGGREGATED_DEVNET], indirect=True)
def test_aggregator_batches_of_snos_batches_settle_under_the_aggregator_program_hash_with_a_failed_child(
    devnet_pipeline,
):
    pipeline = devnet_pipeline
    stack, instance = pipeline.stack, pipeline.instance
    assert pipeline.settings.aggregation == "on"
    # The first child query the prover receives ends FAILED: its bucket fails and is rebuilt.
    answer = requests.post(
        f"{stack.prover_url}/_devnet/fail-next", params={"count": 1},
        headers={"api-key": pipeline.env["ORCHESTRATOR_ATLANTIC_API_KEY"]}, timeout=10,
    )
    assert answer.status_code == 200, answer.text

    settle_aggregated_in_process(pipeline, TARGET, DEADLINE_S)

    store = pipeline.defs.resources["artifacts"].store()
    keys = [aggregator_key(i) for i in range(TARGET)]
    manifests = [load_aggregator_manifest(store, key) for key in keys]
    assert manifests[0].first_block == 1
    for previous, current in zip(manifests, manifests[1:]):
        assert current.first_block == previous.last_block + 1
    for key, manifest in zip(keys, manifests):
        assert len(manifest.snos_batches) >= 2, f"aggregator batch {key} has {len(manifest.snos_batches)} SNOS batches"
        for asset in AGGREGATED_ASSETS:
            assert is_materialized(instance, asset, key), f"{asset} of aggregator batch {key} not materialized"
        for position in range(1, len(manifest.snos_batches) + 1):
            child = str(snos_partition_key(key, position, pipeline_children(pipeline)))
            assert is_materialized(instance, "child_proof", child), f"child_proof {child} not materialized"

    # The first aggregation failed (its child failed) and was rebuilt from a new bucket.
    first = latest_metadata(instance, "aggregator_proof", keys[0])
    assert first["attempt"] == 2, first
    assert all(latest_metadata(instance, "aggregator_proof", key)["attempt"] == 1 for key in keys[1:])

    # Settled on L1 under the core contract's aggregator program hash, one transaction per aggregator batch.
    settlement = settlement_client(pipeline.env)
    chain = settlement.state()
    assert chain.block_number >= manifests[-1].last_block
    aggregator_hash = aggregator_program_hash(pipeline.env["ORCHESTRATOR_ETHEREUM_RPC_URL"], settlement.core_contract.address)
    assert aggregator_hash == DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
    txs = set()
    for key in keys:
        proof = latest_metadata(instance, "aggregator_proof", key)
        assert int(proof["aggregator_program_hash"], 16) == aggregator_hash
        assert proof["fact_valid_on_l1"] is True
        update = latest_metadata(instance, "aggregator_state_update", key)
        if not update["already_on_chain"]:
            txs.add(update["tx_hash"])
    assert len(txs) == TARGET

    # A settled block is found from the artifacts: its aggregator batch, SNOS batch and L1 transaction.
    where = find_block(store, manifests[1].first_block)
    assert where is not None and where.aggregator_batch == keys[1] and where.snos_position == 1
    assert where.settlement_tx and where.settlement_tx["tx_hash"] in txs


def pipeline_children(pipeline) -> int:
    from orchestrator_pipelines.definitions import max_snos_batches

    return max_snos_batches(pipeline.settings)
