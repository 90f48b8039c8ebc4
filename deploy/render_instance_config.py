"""Render a deploy/dagster.*.yaml into the dagster.yaml an instance reads.

Dagster resolves ``{env: NAME}`` only for some fields; the queued run
coordinator's tag concurrency limits must be literal integers. This script
applies the two limits an operator tunes per environment, so one checked-in
file serves every deployment:

    ORCHESTRATOR_MAX_CONCURRENT_RUNS    run_coordinator max_concurrent_runs
    ORCHESTRATOR_PROVER_SUBMIT_LIMIT    limit of the orchestrator/prover-submit tag

Unset variables keep the file's values. Usage:

    python deploy/render_instance_config.py deploy/dagster.postgres.yaml > "$DAGSTER_HOME/dagster.yaml"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROVER_SUBMIT_TAG = "orchestrator/prover-submit"
MAX_RUNS_ENV = "ORCHESTRATOR_MAX_CONCURRENT_RUNS"
PROVER_SUBMIT_ENV = "ORCHESTRATOR_PROVER_SUBMIT_LIMIT"


def _positive_int(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def render_instance_config(text: str, environ: Mapping[str, str]) -> str:
    """Return ``text`` (a dagster.yaml) with the run limits taken from ``environ``."""
    config: dict[str, Any] = yaml.safe_load(text) or {}
    coordinator = config.get("run_coordinator", {}).get("config")
    if coordinator is None:
        raise ValueError("the file has no run_coordinator config to apply run limits to")

    max_runs = _positive_int(environ, MAX_RUNS_ENV)
    if max_runs is not None:
        coordinator["max_concurrent_runs"] = max_runs

    submit_limit = _positive_int(environ, PROVER_SUBMIT_ENV)
    if submit_limit is not None:
        limits = coordinator.setdefault("tag_concurrency_limits", [])
        for entry in limits:
            if entry.get("key") == PROVER_SUBMIT_TAG and "value" not in entry:
                entry["limit"] = submit_limit
                break
        else:
            limits.append({"key": PROVER_SUBMIT_TAG, "limit": submit_limit})

    header = "# Rendered by deploy/render_instance_config.py; edit the source file instead.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: render_instance_config.py SOURCE_YAML", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(render_instance_config(Path(argv[0]).read_text(), os.environ))
    except (OSError, ValueError) as exc:
        print(f"render_instance_config: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
