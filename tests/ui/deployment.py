"""A devnet deployment with settled batches, and the webserver process that serves it to the UI tests.

Operators read lineage, partitions and metadata in the Dagster UI, so the UI
is tested the way they use it: the devnet settles two batches through the real
sensors, jobs and assets (``LocalRunner``) into a SQLite instance, then
``dagster-webserver`` serves that instance and the code location
``orchestrator_pipelines.definitions`` as a deployment does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from dagster import DagsterInstance

from orchestrator_pipelines.cli.dev import prepare_dagster_home
from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.partitions import BATCHES, batch_partition_key
from tests.pipeline.e2e_helpers import (
    ASSETS,
    Pipeline,
    devnet_with_env,
    latest_metadata,
    patched_environ,
    settle_in_process,
)

BATCH_BLOCKS = 4
SETTLED_BATCHES = 2
# The batching sensor stops at this block, so exactly SETTLED_BATCHES partitions exist and
# every asset is fully materialized when the UI looks at it.
LAST_BLOCK = BATCH_BLOCKS * SETTLED_BATCHES
SETTLE_DEADLINE_S = 180
SERVE_DEADLINE_S = 90

__all__ = ["ASSETS", "BATCH_BLOCKS", "LAST_BLOCK", "SettledDeployment", "Webserver", "settle_on_devnet"]


@dataclass(frozen=True)
class SettledDeployment:
    """The instance directory the webserver serves, and what the UI must show from it."""

    home: Path
    env: dict[str, str]
    batch_keys: list[str]
    metadata: dict[tuple[str, str], dict[str, Any]]


def settle_on_devnet(root: Path) -> SettledDeployment:
    """Two batches of four blocks settled on anvil; the devnet is stopped again once they are."""
    options = {"block_time_s": 0.5, "prover_delay_s": 0.5, "max_batch_blocks": BATCH_BLOCKS}
    keys = [batch_partition_key(i) for i in range(SETTLED_BATCHES)]
    with devnet_with_env(root, options) as (stack, devnet_env):
        env = {**devnet_env, "ORCHESTRATOR_MAX_BLOCK": str(LAST_BLOCK)}
        home = prepare_dagster_home(root / "dagster_home")
        with patched_environ(env), DagsterInstance.local_temp(str(home)) as instance:
            settle_in_process(Pipeline(stack, env, instance), SETTLED_BATCHES, SETTLE_DEADLINE_S)
            assert instance.get_dynamic_partitions(BATCHES) == keys
            metadata = {(asset, key): latest_metadata(instance, asset, key) for asset in ASSETS for key in keys}
    return SettledDeployment(home=home, env=env, batch_keys=keys, metadata=metadata)


class Webserver:
    """``dagster-webserver -m orchestrator_pipelines.definitions`` on a free loopback port."""

    def __init__(self, deployment: SettledDeployment):
        self.deployment = deployment
        self.url = ""
        self.log_path = deployment.home / "webserver.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "dagster_webserver",
            "-h", "127.0.0.1", "-p", str(port), "-m", "orchestrator_pipelines.definitions",
        ]
        env = {**os.environ, **self.deployment.env, "DAGSTER_HOME": str(self.deployment.home)}
        with self.log_path.open("wb") as log:
            # Its own session, so that stopping it also stops the code server it spawns.
            self.process = subprocess.Popen(
                command, env=env, cwd=self.deployment.home, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVE_DEADLINE_S
        while not self._serving():
            assert self.process.poll() is None, f"dagster-webserver exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, (
                f"dagster-webserver not serving after {SERVE_DEADLINE_S} s:\n{self.log_tail()}"
            )
            time.sleep(0.2)
        return self.url

    def _serving(self) -> bool:
        try:
            return requests.get(f"{self.url}/server_info", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
