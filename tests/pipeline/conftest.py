"""The devnet stack and a real Dagster instance, for pipeline tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance

from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_definitions
from orchestrator_pipelines.devnet.env import orchestrator_env
from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack


class Pipeline:
    """A running devnet, the code location built for it, and a persistent instance."""

    def __init__(self, stack: DevnetStack, env: dict[str, str], instance: DagsterInstance):
        self.stack = stack
        self.env = env
        self.instance = instance
        self.settings = load_settings(env)
        self.defs = build_definitions(self.settings)


@pytest.fixture
def devnet_pipeline(tmp_path: Path, request) -> Iterator[Pipeline]:
    """Devnet with fast blocks, a multi-blob block early, a short proving delay."""
    options = getattr(request, "param", {}) or {}
    stack = DevnetStack(
        DevnetConfig(
            state_dir=tmp_path / "devnet",
            block_time_s=options.get("block_time_s", 1.0),
            prover_delay_s=options.get("prover_delay_s", 1.0),
            persist=False,
            node_options={"large_block_every": options.get("large_block_every", 12), "genesis_accounts": 8},
        )
    )
    with stack:
        env = orchestrator_env(stack.info(), tmp_path / "artifacts")
        env.update(
            ORCHESTRATOR_MAX_BATCH_BLOCKS=str(options.get("max_batch_blocks", 4)),
            ORCHESTRATOR_MAX_BATCH_AGE_SECONDS="30",
            ORCHESTRATOR_SENSOR_INTERVAL_SECONDS="1",
        )
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            home = tmp_path / "dagster_home"
            home.mkdir()
            with DagsterInstance.local_temp(str(home)) as instance:
                yield Pipeline(stack, env, instance)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
