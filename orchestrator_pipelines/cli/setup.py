"""``orchestrator setup``: create what a deployment needs before its first run; safe to run again.

From the same settings as the code location: the S3 artifact bucket and its
expiry rule (``STORAGE_EXPIRATION_DAYS``) when artifacts are on S3, the SNS
alerts topic when one is configured, and a check that the Dagster instance
(``$DAGSTER_HOME/dagster.yaml``) reaches its database and that its schema is
the one this Dagster expects. A second run reports everything as existing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from orchestrator_pipelines.errors import OrchestratorError


def register(subparsers: Any) -> None:
    setup = subparsers.add_parser(
        "setup", help="create the S3 bucket and its lifecycle rule, the SNS topic; check the Dagster database"
    )
    setup.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    setup.add_argument("--skip-instance", action="store_true", help="do not check the Dagster instance")
    setup.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.config import load_settings

    settings = load_settings()
    steps = aws_steps(settings)
    if not args.skip_instance:
        steps.append(check_instance())
    if args.json:
        print(json.dumps({"steps": [asdict(step) for step in steps]}, sort_keys=True))
    else:
        width = max(len(step.resource) for step in steps)
        for step in steps:
            detail = f"  ({step.detail})" if step.detail else ""
            print(f"{step.resource:<{width}}  {step.action:<8} {step.name}{detail}")
    return 0


def aws_steps(settings) -> list:
    from orchestrator_pipelines.clients.aws_setup import SetupStep, ensure_bucket, ensure_expiry_rule, ensure_topic

    steps: list[SetupStep] = []
    if settings.artifact_store == "s3":
        import boto3

        from orchestrator_pipelines.clients.artifacts import S3ArtifactStore

        s3 = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint_url)
        steps.append(ensure_bucket(s3, settings.s3_bucket_name, settings.aws_region))
        store = S3ArtifactStore(s3, settings.s3_bucket_name, settings.s3_prefix)
        steps.append(ensure_expiry_rule(store, settings.storage_expiration_days))
    if settings.sns_topic:
        import boto3

        sns = boto3.client("sns", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint_url)
        steps.append(ensure_topic(sns, settings.sns_topic_arn or settings.sns_topic_name))
    return steps


def check_instance():
    """The instance opens, answers a query, and each SQL storage's schema is at its head revision."""
    from dagster import DagsterInstance

    from orchestrator_pipelines.clients.aws_setup import SetupStep

    try:
        instance = DagsterInstance.get()
    except Exception as exc:  # DAGSTER_HOME unset or its dagster.yaml invalid
        raise OrchestratorError(f"Dagster instance: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    with instance:
        try:
            instance.get_runs_count()
        except Exception as exc:
            raise OrchestratorError(f"Dagster instance database unreachable: {str(exc).splitlines()[0]}") from None
        behind = []
        for what, storage in (
            ("run storage", instance.run_storage),
            ("event log storage", instance.event_log_storage),
            ("schedule storage", instance.schedule_storage),
        ):
            version = storage.alembic_version() if storage is not None else None
            if version and version[0] != version[1]:
                behind.append(f"{what} at {version[0]}, expected {version[1]}")
        if behind:
            raise OrchestratorError(
                "Dagster instance database is not migrated (" + "; ".join(behind) + "): run `dagster instance migrate`"
            )
        kind = type(instance.run_storage).__name__
    return SetupStep("dagster instance", kind, "ok", "database reachable, schema migrated")
