"""Where the pinned npm tools (anvil, solcjs) live.

The Makefile's set-up step installs them with ``npm ci`` into the repository's
``node_modules/.bin``; an environment variable overrides the location for
machines that install them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator_pipelines.errors import OrchestratorError

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_BIN_DIR = REPO_ROOT / "node_modules" / ".bin"


def find_node_tool(name: str, env_var: str) -> Path:
    """Return the executable ``name``: ``$env_var`` if set, else ``node_modules/.bin/name``."""
    override = os.environ.get(env_var)
    candidate = Path(override) if override else NODE_BIN_DIR / name
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        raise OrchestratorError(
            f"{name} not found at {candidate}; run the README's setup (`make setup` or `npm ci`) "
            f"or point {env_var} at the executable"
        )
    return candidate
