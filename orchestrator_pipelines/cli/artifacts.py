"""``orchestrator artifacts``: expire batch artifacts in the configured store.

Uses the same settings as the pipeline (``ORCHESTRATOR_ARTIFACT_STORE``,
``ORCHESTRATOR_S3_BUCKET``, ``ORCHESTRATOR_S3_PREFIX``, ``ORCHESTRATOR_ARTIFACTS_DIR``...),
so it acts on exactly the keys the assets wrote.

    orchestrator artifacts expire-batch 000042     delete one batch's artifacts now
    orchestrator artifacts set-expiry --days 30    S3 lifecycle rule for all batches
    orchestrator artifacts show-expiry             the bucket's lifecycle rules, as JSON
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, S3ArtifactStore
from orchestrator_pipelines.errors import InvalidInputError


def register(subparsers: Any) -> None:
    artifacts = subparsers.add_parser("artifacts", help="expire batch artifacts (local directory or S3)")
    sub = artifacts.add_subparsers(dest="artifacts_command", required=True, metavar="SUBCOMMAND")

    expire = sub.add_parser("expire-batch", help="delete every artifact of one batch now")
    expire.add_argument("batch", help="batch partition key, e.g. 000042")
    expire.set_defaults(func=run_expire_batch)

    lifecycle = sub.add_parser(
        "set-expiry", help="install the S3 lifecycle rule expiring batch artifacts after N days"
    )
    lifecycle.add_argument("--days", type=int, required=True, help="days after which an artifact is deleted")
    lifecycle.set_defaults(func=run_set_expiry)

    show = sub.add_parser("show-expiry", help="print the bucket's lifecycle rules as JSON")
    show.set_defaults(func=run_show_expiry)


def _store() -> LocalArtifactStore | S3ArtifactStore:
    from orchestrator_pipelines.config import load_settings

    settings = load_settings()
    if settings.artifact_store == "local":
        return LocalArtifactStore(settings.artifacts_dir)
    if not settings.s3_bucket_name:
        raise InvalidInputError("ORCHESTRATOR_S3_BUCKET is not set")
    import boto3

    client = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint_url)
    return S3ArtifactStore(client, settings.s3_bucket_name, settings.s3_prefix)


def _s3_store() -> S3ArtifactStore:
    store = _store()
    if not isinstance(store, S3ArtifactStore):
        raise InvalidInputError("expiry rules need ORCHESTRATOR_ARTIFACT_STORE=s3 (local artifacts never expire)")
    return store


def run_expire_batch(args: argparse.Namespace) -> int:
    if not args.batch.isdigit():
        raise InvalidInputError(f"not a batch partition key: {args.batch!r}")
    store = _store()
    deleted = store.expire_batch(args.batch)
    print(f"deleted {deleted} artifacts of batch {args.batch}")
    return 0


def run_set_expiry(args: argparse.Namespace) -> int:
    rule = _s3_store().apply_expiry(args.days)
    print(json.dumps(rule, sort_keys=True))
    return 0


def run_show_expiry(args: argparse.Namespace) -> int:
    print(json.dumps(_s3_store().current_rules(), sort_keys=True, indent=1))
    return 0
