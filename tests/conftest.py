"""Fixtures shared by every test layer."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from orchestrator_pipelines.devnet.anvil import AnvilProcess
from orchestrator_pipelines.devnet.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def _vectors_dir() -> Path:
    override = os.environ.get("ORCHESTRATOR_VECTORS_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The real mainnet/Sepolia reference data (../shared/vectors beside the checkout)."""
    path = _vectors_dir()
    if not (path / "README.md").is_file():
        pytest.fail(
            f"reference vectors not found at {path}: clone the project with ../shared beside it "
            f"or set ORCHESTRATOR_VECTORS_DIR"
        )
    return path


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One real moto server over HTTP (S3, SNS, SQS, ECS...) for the whole session.

    Tests share it and keep apart by naming their own buckets, topics and queues.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    """A real anvil per test module: the module's tests share its chain, no module sees another's."""
    with AnvilProcess(log_file=tmp_path_factory.mktemp("anvil") / "anvil.log") as process:
        yield process
