"""The devnet settles batches while its node's RPC fails 30% of the requests.

Every read of the node (the batching sensor, the batch asset, the devnet SNOS
runner) goes through the fault-injecting proxy: HTTP 500, connection resets,
truncated JSON and answers slower than the client waits, chosen by a seeded
RNG. The client retries request by request and the batching sensor keeps what
a tick read before a fault, so batches close and settle; a tick the daemon
would see fail (nothing new read) must fail with one line naming the node.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from orchestrator_pipelines.assets.common import load_manifest
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.partitions import batch_partition_key
from tests.fault_proxy import FaultProxy
from tests.pipeline.e2e_helpers import Pipeline, devnet_with_env, patched_environ, settled_count, settlement_client

TARGET_BATCHES = 2
DEADLINE_S = 75
FAULT_RATE = 0.3


def settle_through_faults(pipeline: Pipeline, target: int, deadline_s: float) -> list[BaseException]:
    """Tick the sensors and run what they request until ``target`` batches settle; the ticks that raised."""
    runner = LocalRunner(pipeline.defs, pipeline.instance)
    deadline = time.monotonic() + deadline_s
    failed_ticks: list[BaseException] = []
    while settled_count(pipeline.instance, target) < target:
        assert time.monotonic() < deadline, (
            f"only {settled_count(pipeline.instance, target)} batches settled in {deadline_s} s"
        )
        for sensor in ("batching_sensor", "proof_sensor", "settlement_sensor"):
            try:
                reports = [runner.tick(sensor)]
            except Exception as exc:  # the daemon records a failed tick and ticks again later
                failed_ticks.append(getattr(exc, "user_exception", None) or exc)
                continue
            for run in (run for report in reports for run in report.runs):
                assert run.status == DagsterRunStatus.SUCCESS, (
                    f"{run.job_name} run for batch {run.tags.get('dagster/partition')} failed"
                )
        time.sleep(0.2)
    return failed_ticks


@pytest.mark.e2e
def test_batches_close_and_settle_with_30_percent_faults_on_the_node_rpc(tmp_path: Path) -> None:
    options = {"block_time_s": 0.5, "prover_delay_s": 0.3, "large_block_every": 0, "max_batch_blocks": 4}
    with devnet_with_env(tmp_path, options) as (stack, env):
        node_url = env["ORCHESTRATOR_MADARA_RPC_URL"]
        with FaultProxy(node_url, rate=FAULT_RATE, seed=2024, delay_s=1.0) as proxy:
            env = {
                **env,
                "ORCHESTRATOR_MADARA_RPC_URL": proxy.url,
                "ORCHESTRATOR_MADARA_RPC_TIMEOUT_SECONDS": "0.5",
                "ORCHESTRATOR_MADARA_RETRY_BACKOFF_SECONDS": "0.05",
            }
            home = tmp_path / "dagster_home"
            home.mkdir()
            with patched_environ(env), DagsterInstance.local_temp(str(home)) as instance:
                pipeline = Pipeline(stack, env, instance)
                assert pipeline.settings.snos_rpc == proxy.url
                failed_ticks = settle_through_faults(pipeline, TARGET_BATCHES, DEADLINE_S)
                store = pipeline.defs.resources["artifacts"].store()
                manifests = [load_manifest(store, batch_partition_key(i)) for i in range(TARGET_BATCHES)]
        chain = settlement_client(env).state()
    assert proxy.injected >= 10 and all(proxy.counts[f] for f in ("http_500", "reset", "truncated_json", "delay")), (
        proxy.counts
    )
    assert [(m.first_block, m.last_block) for m in manifests] == [(1, 4), (5, 8)]
    assert chain.block_number >= manifests[-1].last_block
    for error in failed_ticks:
        assert proxy.url in str(error) and "\n" not in str(error), repr(error)
