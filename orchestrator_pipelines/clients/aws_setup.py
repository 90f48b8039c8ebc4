"""Create the AWS resources a deployment needs, idempotently: the artifact bucket with its lifecycle rule, the alerts topic.

What ``orchestrator setup`` does on AWS, as the Madara orchestrator's ``setup``
does (names from ``AWS_S3_BUCKET_IDENTIFIER`` / ``AWS_SNS_TOPIC_IDENTIFIER``
with ``AWS_PREFIX``, or ARNs used as they are). Running it again changes
nothing: an existing bucket is kept, the expiry rule is replaced by an equal
one (other lifecycle rules stay), ``CreateTopic`` on an existing name returns
that topic. Plain boto3 clients, no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator_pipelines.clients.artifacts import S3ArtifactStore
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError


@dataclass(frozen=True)
class SetupStep:
    """One resource: what it is, its name, and what setup did (``created``, ``exists``, ``updated``, ``ok``)."""

    resource: str
    name: str
    action: str
    detail: str = ""


def ensure_bucket(s3: Any, bucket: str, region: str) -> SetupStep:
    """The bucket, created when missing (in ``region``)."""
    try:
        s3.head_bucket(Bucket=bucket)
        return SetupStep("s3 bucket", bucket, "exists")
    except s3.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise OrchestratorError(f"S3 bucket {bucket}: {code} (is it someone else's, or are permissions missing?)") from None
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)
    return SetupStep("s3 bucket", bucket, "created")


def ensure_expiry_rule(store: S3ArtifactStore, days: int) -> SetupStep:
    """The lifecycle rule expiring batch artifacts after ``days`` (replaced only if it differs)."""
    wanted = store.expiry_rule(days)
    current = [rule for rule in store.current_rules() if rule.get("ID") == wanted["ID"]]
    if current and _same_rule(current[0], wanted):
        return SetupStep("lifecycle rule", wanted["ID"], "exists", f"expire after {days} days")
    store.apply_expiry(days)
    return SetupStep("lifecycle rule", wanted["ID"], "updated" if current else "created", f"expire after {days} days")


def _same_rule(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(current.get(key) == value for key, value in wanted.items())


def ensure_topic(sns: Any, topic: str) -> SetupStep:
    """The SNS topic: an ARN must exist already; a name is created (CreateTopic is idempotent)."""
    if topic.startswith("arn:"):
        try:
            sns.get_topic_attributes(TopicArn=topic)
        except sns.exceptions.NotFoundException:
            raise InvalidInputError(f"SNS topic {topic} does not exist (an ARN names an existing topic)") from None
        return SetupStep("sns topic", topic, "exists")
    existing = _topic_arn_by_name(sns, topic)
    if existing:
        return SetupStep("sns topic", existing, "exists")
    return SetupStep("sns topic", sns.create_topic(Name=topic)["TopicArn"], "created")


def _topic_arn_by_name(sns: Any, name: str) -> str | None:
    for page in sns.get_paginator("list_topics").paginate():
        for entry in page.get("Topics", []):
            if entry["TopicArn"].rsplit(":", 1)[-1] == name:
                return entry["TopicArn"]
    return None
