"""A Starknet 0.14 devnet settled through aggregation: SNOS batches proven in Atlantic buckets, one L1 update per
aggregator batch from the prover's DA segment, under the core contract's aggregator program hash, with a bridge
deposit and a withdrawal carried through aggregation.

Real parts as in the direct e2e test (node over JSON-RPC, prover over HTTP with its bucket endpoints, anvil
with the core contract checking the aggregator fact and the KZG openings); the sensors are ticked and their
runs executed in this process. The bridge traffic rides on the same devnet run: it costs a deposit transaction
and a few L1 reads, not a second devnet.
"""

from __future__ import annotations

import pytest

from tests.pipeline.aggregated_e2e import (
    AGGREGATED_DEVNET,
    check_aggregated_settlement,
    check_bridge_traffic_settled,
    fail_next_child_proof,
    send_bridge_traffic,
)
from tests.pipeline.e2e_helpers import settle_aggregated_in_process

TARGET = 3
DEADLINE_S = 300


@pytest.mark.e2e
@pytest.mark.parametrize("devnet_pipeline", [AGGREGATED_DEVNET], indirect=True)
def test_aggregator_batches_of_snos_batches_settle_under_the_aggregator_program_hash_with_a_failed_child_and_bridge_messages(
    devnet_pipeline,
):
    pipeline = devnet_pipeline
    assert pipeline.settings.aggregation == "on"
    fail_next_child_proof(pipeline.stack, pipeline.env)
    traffic = send_bridge_traffic(pipeline.stack, pipeline.env)

    settle_aggregated_in_process(pipeline, TARGET, DEADLINE_S)

    store = pipeline.defs.resources["artifacts"].store()
    outcome = check_aggregated_settlement(pipeline.instance, store, pipeline.env, TARGET)
    assert traffic.last_block <= outcome.manifests[-1].last_block, (
        f"the bridge traffic (blocks {traffic.deposit_block}, {traffic.withdrawal_block}) is past the settled range"
    )
    check_bridge_traffic_settled(pipeline.instance, store, pipeline.stack, pipeline.env, outcome, traffic)
