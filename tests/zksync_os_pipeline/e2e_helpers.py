"""What the ZKsync OS end-to-end tests share: the devnet, its environment, the code location, the drive loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from dagster import DagsterInstance, DagsterRunStatus

from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_definitions
from orchestrator_pipelines.devnet.zksync_os.stack import ZkOsDevnet, ZkOsDevnetConfig
from orchestrator_pipelines.local_runner import LocalRunner
from web3 import Web3

from orchestrator_pipelines.zksync_os.l1_client import ZkOsL1Client
from tests.pipeline.e2e_helpers import patched_environ

SENSORS = ("zkos_batching_sensor", "zkos_l1_sensor")


class ZkOsPipeline:
    def __init__(self, devnet: ZkOsDevnet, env: dict[str, str], instance: DagsterInstance):
        self.devnet = devnet
        self.env = env
        self.instance = instance
        self.settings = load_settings(env)
        self.defs = build_definitions(self.settings)
        self.runner = LocalRunner(self.defs, instance)
        self.skip_reasons: list[str] = []

    def l1(self) -> ZkOsL1Client:
        return ZkOsL1Client(
            self.env["ORCHESTRATOR_ETHEREUM_RPC_URL"],
            self.env["ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS"],
            int(self.env["ORCHESTRATOR_ZKOS_CHAIN_ID"]),
            commit_key=self.env["ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY"],
            prove_key=self.env["ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY"],
            execute_key=self.env["ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY"],
        )

    @property
    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.env["ORCHESTRATOR_ETHEREUM_RPC_URL"]))

    def drive(self, until: Callable[[], bool], what: str, deadline_s: float = 90.0) -> None:
        """Tick both sensors, executing their runs here, until ``until()``; every run must succeed."""
        deadline = time.monotonic() + deadline_s
        while not until():
            assert time.monotonic() < deadline, f"{what}: not reached in {deadline_s} s ({self.skip_reasons[-2:]})"
            for name in SENSORS:
                report = self.runner.tick(name)
                if report.skip_reason:
                    self.skip_reasons.append(report.skip_reason)
                for run in report.runs:
                    assert run.status == DagsterRunStatus.SUCCESS, (
                        f"{run.job_name} run {run.run_id} for {run.tags.get('dagster/partition') or run.tags} failed"
                    )
            time.sleep(0.3)


@contextmanager
def zkos_pipeline(tmp_path: Path, instance: DagsterInstance | None = None, **config: Any) -> Iterator[ZkOsPipeline]:
    devnet = ZkOsDevnet(ZkOsDevnetConfig(state_dir=tmp_path / "devnet", **config))
    with devnet:
        env = devnet.orchestrator_env(tmp_path / "artifacts")
        env.update(ORCHESTRATOR_SENSOR_INTERVAL_SECONDS="1", ORCHESTRATOR_BATCHER_BATCH_TIMEOUT="2",
                   ORCHESTRATOR_MAX_BATCHES_PER_TICK="2")
        with patched_environ(env):
            if instance is None:
                (tmp_path / "dagster").mkdir(exist_ok=True)
                with DagsterInstance.local_temp(str(tmp_path / "dagster")) as local:
                    yield ZkOsPipeline(devnet, env, local)
            else:
                yield ZkOsPipeline(devnet, env, instance)
