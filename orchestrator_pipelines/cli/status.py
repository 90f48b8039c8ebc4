"""The operator's runbook commands over the Dagster instance (``$DAGSTER_HOME``).

    orchestrator status block N        the batch holding block N, its stage, its L1 tx if settled
    orchestrator status batches        the newest batches (--failed: those with a run still failed)
    orchestrator retry failed          re-execute every still-failed run from its failure
    orchestrator batches close-open    the batching sensor closes the open batch at its next tick

Each prints a table, or with ``--json`` one JSON object. They read the same
settings as the code location (for the artifact store holding the manifests).
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from typing import Any, Iterator

STATUS_COLUMNS = ("batch", "first_block", "last_block", "starknet_version", "stage", "l1_tx", "failed_runs")


def register(subparsers: Any) -> None:
    status = subparsers.add_parser("status", help="where blocks and batches stand (Dagster instance)")
    status_sub = status.add_subparsers(dest="status_command", required=True, metavar="SUBCOMMAND")
    block = status_sub.add_parser("block", help="the batch holding a block, its stage and L1 transaction")
    block.add_argument("number", type=int, help="L2 block number")
    block.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    block.set_defaults(func=run_status_block)
    batches = status_sub.add_parser("batches", help="the newest batches and their stage")
    batches.add_argument("--failed", action="store_true", help="only batches with a run still failed")
    batches.add_argument("--limit", type=int, default=20, help="batches shown (default 20)")
    batches.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    batches.set_defaults(func=run_status_batches)

    retry = subparsers.add_parser("retry", help="re-execute failed runs")
    retry_sub = retry.add_subparsers(dest="retry_command", required=True, metavar="SUBCOMMAND")
    failed = retry_sub.add_parser("failed", help="re-execute every still-failed run from its failure, oldest first")
    failed.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    failed.set_defaults(func=run_retry_failed)

    batches_cmd = subparsers.add_parser("batches", help="act on batches")
    batches_sub = batches_cmd.add_subparsers(dest="batches_command", required=True, metavar="SUBCOMMAND")
    close = batches_sub.add_parser("close-open", help="the batching sensor closes the open batch at its next tick")
    close.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    close.set_defaults(func=run_close_open)


def _instance() -> Any:
    """The instance of ``$DAGSTER_HOME``, or one line saying why it cannot be opened."""
    from dagster import DagsterInstance

    from orchestrator_pipelines.errors import OrchestratorError

    try:
        return DagsterInstance.get()
    except Exception as exc:  # DAGSTER_HOME unset, or its dagster.yaml invalid
        raise OrchestratorError(f"Dagster instance: {str(exc).splitlines()[0]}") from None


@contextmanager
def _instance_and_store() -> Iterator[tuple[Any, Any]]:
    from orchestrator_pipelines.config import load_settings
    from orchestrator_pipelines.definitions import build_resources

    settings = load_settings()
    store = build_resources(settings)["artifacts"].store()
    with _instance() as instance:
        yield instance, store


def _print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)).rstrip())
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(f"{item['job']} {item['run_id'][:8]}" for item in value) if value else "—"
    return str(value)


def run_status_block(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.runbook import block_status

    with _instance_and_store() as (instance, store):
        answer = block_status(instance, store, args.number)
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    elif answer["batch"] is None:
        print(f"block {args.number}: not batched yet")
    else:
        _print_table([answer], ("block",) + STATUS_COLUMNS + ("l1_block",))
    return 0


def run_status_batches(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.runbook import list_batches

    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    with _instance_and_store() as (instance, store):
        rows = [status.to_dict() for status in list_batches(instance, store, only_failed=args.failed, limit=args.limit)]
    if args.json:
        print(json.dumps({"batches": rows}, sort_keys=True))
    elif not rows:
        print("no failed batches" if args.failed else "no batches yet")
    else:
        _print_table(rows, STATUS_COLUMNS)
    return 0


def run_retry_failed(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.runbook import retry_failed

    with _instance() as instance:
        results = retry_failed(instance)
    if args.json:
        print(json.dumps({"retried": results}, sort_keys=True))
    elif not results:
        print("no failed runs")
    else:
        _print_table(results, ("batch", "job", "failed_run_id", "new_run_id", "status"))
    return 0 if all(r["status"] == "SUCCESS" for r in results) else 1


def run_close_open(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.runbook import request_close_open

    with _instance() as instance:
        requested_at = request_close_open(instance)
    answer = {"requested_at": int(requested_at), "closes": "at the batching sensor's next tick"}
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    else:
        print("close requested: the batching sensor closes the open batch at its next tick")
    return 0
