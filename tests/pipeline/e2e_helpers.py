"""What the end-to-end tests share, whatever instance storage they run on.

The SQLite test (tests/pipeline) and the PostgreSQL tests (tests/production)
start the same devnet, export the same ``ORCHESTRATOR_*`` environment and
drive the same loop; only the Dagster instance differs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus

from orchestrator_pipelines.clients.settlement import SettlementClient
from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_definitions
from orchestrator_pipelines.devnet.env import orchestrator_env
from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.partitions import batch_index, batch_partition_key, is_materialized, latest_materialized_key

ASSETS = ("batch", "snos_output", "da_blob", "proof_request", "proof", "state_update")


class Pipeline:
    """A running devnet, the code location built for it, and a persistent instance."""

    def __init__(self, stack: DevnetStack, env: dict[str, str], instance: DagsterInstance):
        self.stack = stack
        self.env = env
        self.instance = instance
        self.settings = load_settings(env)
        self.defs = build_definitions(self.settings)


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block (the code location reads secrets from it)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def devnet_with_env(tmp_path: Path, options: Mapping[str, Any] | None = None) -> Iterator[tuple[DevnetStack, dict[str, str]]]:
    """Devnet with fast blocks, a multi-blob block early, a short proving delay; its env exported.

    ``options`` tunes block_time_s, prover_delay_s, large_block_every,
    withdrawal_every, max_batch_blocks and the node's starknet_version; ``env`` adds variables;
    ``settlement_account`` and ``prover_api_key`` replace the devnet's public development secrets.
    """
    options = options or {}
    stack = DevnetStack(
        DevnetConfig(
            state_dir=tmp_path / "devnet",
            block_time_s=options.get("block_time_s", 1.0),
            prover_delay_s=options.get("prover_delay_s", 1.0),
            persist=False,
            **{name: options[name] for name in ("settlement_account", "prover_api_key") if name in options},
            node_options={
                "large_block_every": options.get("large_block_every", 12),
                "withdrawal_every": options.get("withdrawal_every", 5),
                "genesis_accounts": 8,
                **({"starknet_version": options["starknet_version"]} if "starknet_version" in options else {}),
            },
        )
    )
    with stack:
        env = orchestrator_env(stack.info(), tmp_path / "artifacts")
        env.update(
            ORCHESTRATOR_MAX_BATCH_BLOCKS=str(options.get("max_batch_blocks", 4)),
            ORCHESTRATOR_MAX_BATCH_AGE_SECONDS="30",
            ORCHESTRATOR_SENSOR_INTERVAL_SECONDS="1",
        )
        env.update(options.get("env", {}))
        with patched_environ(env):
            yield stack, env


def settlement_client(env: Mapping[str, str]) -> SettlementClient:
    return SettlementClient(
        env["ORCHESTRATOR_ETHEREUM_RPC_URL"],
        env["ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"],
        env["ORCHESTRATOR_CORE_CONTRACT_ADDRESS"],
        fact_registry_address=env["ORCHESTRATOR_FACT_REGISTRY_ADDRESS"],
    )


def settled_count(instance: DagsterInstance, upto: int) -> int:
    """How many of the first ``upto`` batches have a ``state_update`` materialization."""
    return sum(1 for i in range(upto) if is_materialized(instance, "state_update", batch_partition_key(i)))


def last_settled_index(instance: DagsterInstance) -> int:
    """The newest batch with a ``state_update`` (settlement is strictly ordered)."""
    key = latest_materialized_key(instance, "state_update")
    assert key is not None, "no batch is settled"
    return batch_index(key)


def settle_in_process(pipeline: Pipeline, target: int, deadline_s: float) -> LocalRunner:
    """Tick the sensors and execute their runs here until ``target`` batches are settled.

    Every run must succeed; the loop fails with the count reached when the
    deadline passes.
    """
    runner = LocalRunner(pipeline.defs, pipeline.instance)
    deadline = time.monotonic() + deadline_s
    settled = 0
    while settled < target:
        assert time.monotonic() < deadline, f"only {settled} batches settled in {deadline_s} s"
        for report in runner.tick_all() + runner.tick_until_idle("settlement_sensor"):
            for run in report.runs:
                assert run.status == DagsterRunStatus.SUCCESS, (
                    f"{run.job_name} run for batch {run.tags.get('dagster/partition')} failed"
                )
        settled = settled_count(pipeline.instance, target)
        time.sleep(0.2)
    return runner


def latest_metadata(instance: DagsterInstance, asset: str, key: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    assert records, f"{asset} of batch {key} is not materialized"
    return {name: value.value for name, value in records[0].asset_materialization.metadata.items()}


AGGREGATED_SENSORS = ("aggregator_batching_sensor", "aggregation_sensor")
AGGREGATED_ASSETS = (
    "aggregation", "aggregator_batch", "aggregator_proof", "aggregator_da_blob", "aggregator_state_update",
)


def aggregated_settled_count(instance: DagsterInstance, upto: int) -> int:
    return sum(1 for i in range(upto) if is_materialized(instance, "aggregator_state_update", batch_partition_key(i)))


def settle_aggregated_in_process(pipeline: Pipeline, target: int, deadline_s: float) -> LocalRunner:
    """Tick the aggregated pipeline's sensors and execute their runs here until ``target`` aggregator batches settle."""
    runner = LocalRunner(pipeline.defs, pipeline.instance)
    deadline = time.monotonic() + deadline_s
    settled = 0
    while settled < target:
        assert time.monotonic() < deadline, f"only {settled} aggregator batches settled in {deadline_s} s"
        reports = runner.tick_all(AGGREGATED_SENSORS) + runner.tick_until_idle("aggregator_settlement_sensor")
        for report in reports:
            for run in report.runs:
                assert run.status == DagsterRunStatus.SUCCESS, (
                    f"{run.job_name} run for {run.tags.get('dagster/partition')} failed"
                )
        settled = aggregated_settled_count(pipeline.instance, target)
        time.sleep(0.2)
    return runner
