"""Batching sensors against a node that fails 30% of requests: a tick cut short keeps what it read.

The real sensors run against the devnet node through the fault-injecting
proxy, with one attempt per request so that faults reach the sensors (the
client's own retries are tested with the client). Batches must still close,
contiguous, and the blocks must be read about once, not again from the start
after every fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance

from orchestrator_pipelines.assets.aggregation_common import MANIFEST, aggregator_artifact
from orchestrator_pipelines.aggregation_batching import AggregatorBatchManifest
from orchestrator_pipelines.aggregation_partitions import aggregator_key
from sensors.aggregator_batching import load_batching_state
from tests.fault_proxy import FaultProxy
from tests.pipeline.e2e_helpers import Pipeline, devnet_with_env
from tests.pipeline.sensor_helpers import closed_batches, definitions_with, evaluate, produce_blocks

FAULT_RATE = 0.3
BLOCKS = 12
BATCH_BLOCKS = 4
NO_AGE_LIMIT = 10**9


def _tick(defs, instance, sensor: str, cursor: str | None):
    """One evaluation; a tick that raised gives (None, the one-line error it raised)."""
    try:
        return evaluate(defs, instance, sensor, cursor), None
    except Exception as exc:  # Dagster wraps what the sensor raised
        cause = getattr(exc, "user_exception", None) or exc.__cause__ or exc
        return None, cause


def test_direct_batches_close_at_a_30_percent_fault_rate_reading_each_block_about_once(manual_pipeline):
    pipeline = manual_pipeline
    produce_blocks(pipeline, BLOCKS)
    with FaultProxy(pipeline.env["ORCHESTRATOR_MADARA_RPC_URL"], rate=FAULT_RATE, seed=3, delay_s=1.0) as proxy:
        defs = definitions_with(
            pipeline, madara_rpc_url=proxy.url, madara_read_attempts=1, madara_rpc_timeout_s=0.5,
            max_batch_blocks=BATCH_BLOCKS, max_batch_age_s=NO_AGE_LIMIT, max_batches_per_tick=10,
            max_unsettled_batches=100,
        )
        store = defs.resources["artifacts"].store()
        cursor, closed, cut_short, raised, ticks = None, [], 0, [], 0
        while len(closed) < BLOCKS // BATCH_BLOCKS:
            ticks += 1
            assert ticks <= 60, f"only {len(closed)} batches closed in 60 ticks ({proxy.counts})"
            data, error = _tick(defs, pipeline.instance, "batching_sensor", cursor)
            if error is not None:
                raised.append(error)
                continue
            cursor = data.cursor
            closed += closed_batches(data, store)
            cut_short += "stopped by a node fault" in (data.skip_message or "")
    assert [(b.manifest.first_block, b.manifest.last_block) for b in closed] == [(1, 4), (5, 8), (9, 12)]
    assert cut_short >= 1 and proxy.injected >= 5, (cut_short, proxy.counts)
    for error in raised:  # a tick that read nothing new fails with the fault, one line naming the node
        assert "TransientError" in type(error).__name__ and proxy.url in str(error) and "\n" not in str(error)
    # Each tick asks the spec version and the head; each block needs its header and state update.
    needed = 2 * BLOCKS + 2 * ticks
    assert proxy.counts["ok"] <= needed, (proxy.counts, ticks)


@pytest.fixture
def aggregated_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """A Starknet 0.14.1 devnet whose node makes blocks on demand."""
    options = {"block_time_s": 0, "prover_delay_s": 0.2, "large_block_every": 0, "starknet_version": "0.14.1"}
    with devnet_with_env(tmp_path, options) as (stack, env):
        home = tmp_path / "dagster_home"
        home.mkdir()
        with DagsterInstance.local_temp(str(home)) as instance:
            yield Pipeline(stack, env, instance)


def test_aggregator_batches_close_at_a_30_percent_fault_rate(aggregated_pipeline):
    pipeline = aggregated_pipeline
    produce_blocks(pipeline, BLOCKS)
    with FaultProxy(pipeline.env["ORCHESTRATOR_MADARA_RPC_URL"], rate=FAULT_RATE, seed=4, delay_s=1.0) as proxy:
        defs = definitions_with(
            pipeline, aggregation="on", madara_rpc_url=proxy.url, madara_read_attempts=1, madara_rpc_timeout_s=0.5,
            max_batch_blocks=BATCH_BLOCKS, max_blocks_per_snos_batch=2, max_batch_age_s=NO_AGE_LIMIT,
            max_unsettled_batches=100,
        )
        store = defs.resources["artifacts"].store()
        ticks, cut_short = 0, 0
        while (state := load_batching_state(store)) is None or state.next_block <= BLOCKS:
            ticks += 1
            assert ticks <= 60, f"aggregator batching at {state} after 60 ticks ({proxy.counts})"
            data, error = _tick(defs, pipeline.instance, "aggregator_batching_sensor", None)
            if error is not None:
                assert proxy.url in str(error) and "\n" not in str(error), error
                continue
            cut_short += "stopped by a node fault" in (data.skip_message or "")
    manifests = [
        AggregatorBatchManifest.from_json(store.get_bytes(aggregator_artifact(aggregator_key(i), MANIFEST)))
        for i in range(BLOCKS // BATCH_BLOCKS)
    ]
    assert [(m.first_block, m.last_block) for m in manifests] == [(1, 4), (5, 8), (9, 12)]
    assert proxy.injected >= 5, proxy.counts
    assert proxy.counts["ok"] <= 2 * BLOCKS + 2 * ticks, (proxy.counts, ticks)
