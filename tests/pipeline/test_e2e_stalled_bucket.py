"""An Atlantic bucket that never finishes: settlement is not requested, an alert names the batch, proving starts over.

Real parts: the devnet node, the devnet prover told to leave the next closed
bucket IN_PROGRESS for ever (``/_devnet/stall-next-bucket``), anvil with the
core contract, the real sensors and jobs ticked in this process, and alerts
through SNS (moto) read back from SQS. With a short
``ORCHESTRATOR_AGGREGATION_TIMEOUT_SECONDS`` the aggregation sensor gives the
stalled bucket up, says so once, and proves the aggregator batch again from a
new bucket; the batch settles once, from the new bucket's aggregation.
"""

from __future__ import annotations

import re

import pytest
import requests
from dagster import AssetKey

from tests.pipeline.aggregated_e2e import AGGREGATED_DEVNET, check_aggregated_settlement, devnet_prover_control
from tests.pipeline.e2e_helpers import settle_aggregated_in_process
from tests.pipeline.sensor_helpers import definitions_with

TARGET = 2
DEADLINE_S = 300
TIMEOUT_S = 15


def _aggregation_ids(instance, key: str) -> list[str]:
    """The aggregation (bucket) opened for each attempt of aggregator batch ``key``, in order."""
    records = instance.fetch_materializations(AssetKey("aggregation"), limit=100).records
    found = [
        (r.event_log_entry.timestamp, r.asset_materialization.metadata["aggregation_id"].value)
        for r in records
        if r.asset_materialization.partition == key
    ]
    return [aggregation_id for _, aggregation_id in sorted(found)]


@pytest.mark.e2e
@pytest.mark.parametrize("devnet_pipeline", [AGGREGATED_DEVNET], indirect=True)
def test_a_bucket_that_never_finishes_is_given_up_after_the_timeout_and_proven_again_from_a_new_one(
    devnet_pipeline, sns_inbox
):
    pipeline = devnet_pipeline
    # At most 3 aggregator batches ahead of settlement: the stalled one holds the rest back, as it would in production.
    pipeline.defs = definitions_with(
        pipeline, aggregation_timeout_s=TIMEOUT_S, max_unsettled_batches=2, **sns_inbox.settings()
    )
    devnet_prover_control(pipeline.stack, pipeline.env, "stall-next-bucket")

    settle_aggregated_in_process(pipeline, TARGET, DEADLINE_S)

    store = pipeline.defs.resources["artifacts"].store()
    outcome = check_aggregated_settlement(pipeline.instance, store, pipeline.env, TARGET)
    first = outcome.keys[0]

    # Two buckets for the first aggregator batch: the stalled one, then the one it settled from.
    stalled, settled_from = _aggregation_ids(pipeline.instance, first)
    assert stalled != settled_from
    bucket = requests.get(f"{pipeline.stack.prover_url}/buckets/{stalled}", timeout=10).json()
    assert bucket["bucket"]["status"] == "IN_PROGRESS", bucket
    for key in outcome.keys[1:]:
        assert len(_aggregation_ids(pipeline.instance, key)) == 1

    # One alert, naming the aggregator batch, the bucket and how long it waited; nothing else went wrong.
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == [f"[WARNING] Aggregation timed out for aggregator batch {first}"], alerts
    text = alerts[0]["Message"]
    assert f"aggregation {stalled} (attempt 1)" in text and "proving again from a new aggregation (attempt 2)" in text
    waited = re.search(r"(\d+) s after it was closed \(timeout (\d+) s\)", text)
    assert waited and int(waited.group(2)) == TIMEOUT_S and int(waited.group(1)) >= TIMEOUT_S, text
