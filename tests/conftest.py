"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
