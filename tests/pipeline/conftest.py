"""The devnet stack and a real Dagster instance, for pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance

from tests.pipeline.e2e_helpers import Pipeline, devnet_with_env
from tests.pipeline.sensor_helpers import SnsInbox

MANUAL = {"block_time_s": 0, "prover_delay_s": 0.2, "large_block_every": 0, "max_batch_blocks": 4}


def _pipeline(tmp_path: Path, options: dict) -> Iterator[Pipeline]:
    """The devnet started with ``options`` and a Dagster instance of its own under ``tmp_path``."""
    with devnet_with_env(tmp_path, options) as (stack, env):
        home = tmp_path / "dagster_home"
        home.mkdir()
        with DagsterInstance.local_temp(str(home)) as instance:
            yield Pipeline(stack, env, instance)


@pytest.fixture
def devnet_pipeline(tmp_path: Path, request) -> Iterator[Pipeline]:
    """Devnet with fast blocks, a multi-blob block early, a short proving delay."""
    options = getattr(request, "param", {}) or {}
    yield from _pipeline(tmp_path, options)


@pytest.fixture
def manual_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """Devnet whose node makes blocks only on ``stack.node.produce_block()``; small blocks, quick proofs.

    Sensor and asset tests decide exactly which blocks exist when a sensor
    ticks, so every rule is checked against a known chain, not a racing timer.
    """
    yield from _pipeline(tmp_path, MANUAL)


@pytest.fixture
def messaging_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The manual devnet with a withdrawal every second block: bridge traffic in every batch."""
    yield from _pipeline(tmp_path, {**MANUAL, "withdrawal_every": 2})


@pytest.fixture
def sns_inbox(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> SnsInbox:
    """A fresh SNS topic with a subscribed SQS queue; dummy credentials so no real account is reachable."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_DEFAULT_REGION", SnsInbox.REGION),
    ):
        monkeypatch.setenv(name, value)
    return SnsInbox(moto_endpoint)
