"""The ``orchestrator`` console script.

Each command group lives in its own module under this package and exposes
``register(subparsers)``. Bad input exits with status 2 and one readable line,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from orchestrator_pipelines.errors import OrchestratorError

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "orchestrator_pipelines.cli.da",
    "orchestrator_pipelines.cli.kzg",
    "orchestrator_pipelines.cli.pie",
    "orchestrator_pipelines.cli.aggregator",
    "orchestrator_pipelines.cli.devnet",
    "orchestrator_pipelines.cli.dev",
    "orchestrator_pipelines.cli.metrics",
    "orchestrator_pipelines.cli.artifacts",
    "orchestrator_pipelines.cli.config",
    "orchestrator_pipelines.cli.zksync_os",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Madara settlement orchestrator: data-format tools, the local devnet and benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (OrchestratorError, ValueError, OSError, KeyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"orchestrator: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
