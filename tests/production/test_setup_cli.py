"""``orchestrator setup`` on moto's S3/SNS server and a PostgreSQL Dagster instance, run twice."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from orchestrator_pipelines.cli import main
from orchestrator_pipelines.clients.artifacts import EXPIRY_RULE_ID
from tests.production.postgres_instance import render_postgres_home

pytestmark = pytest.mark.postgres


@pytest.fixture
def setup_env(monkeypatch, tmp_path: Path, moto_endpoint: str, aws_env: None, pg_env: str) -> dict[str, str]:
    """Madara's own variable names, as an operator's environment file has them."""
    env = {
        "ORCHESTRATOR_ARTIFACT_STORE": "s3",
        "MADARA_ORCHESTRATOR_AWS_PREFIX": "mo",
        "MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER": f"bucket-{tmp_path.name[-8:].lower().replace('_', '-')}",
        "MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER": f"alerts-{tmp_path.name[-8:].replace('_', '-')}",
        "MADARA_ORCHESTRATOR_STORAGE_EXPIRATION_DAYS": "7",
        "ORCHESTRATOR_S3_PREFIX": "chain-a",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "DAGSTER_HOME": str(render_postgres_home(tmp_path / "dagster_home")),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def setup_once(capsys) -> dict:
    assert main(["setup", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_setup_twice_makes_one_bucket_one_rule_one_topic_and_checks_the_database(setup_env, aws_client, capsys):
    bucket = "mo-" + setup_env["MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER"]
    topic = "mo_" + setup_env["MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER"]

    first = setup_once(capsys)["steps"]
    assert [(s["resource"], s["action"]) for s in first] == [
        ("s3 bucket", "created"), ("lifecycle rule", "created"), ("sns topic", "created"), ("dagster instance", "ok"),
    ]
    second = setup_once(capsys)["steps"]
    assert [(s["resource"], s["action"]) for s in second] == [
        ("s3 bucket", "exists"), ("lifecycle rule", "exists"), ("sns topic", "exists"), ("dagster instance", "ok"),
    ]
    assert first[3]["name"] == "PostgresRunStorage"

    s3, sns = aws_client("s3"), aws_client("sns")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(bucket) == 1
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"], r["Filter"]["Prefix"]) for r in rules] == [
        (EXPIRY_RULE_ID, 7, "chain-a/batches/")
    ]
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":" + topic)]
    assert len(topics) == 1 and first[2]["name"] == topics[0]


def test_setup_changes_the_rule_when_the_expiry_changes_and_keeps_other_rules(setup_env, aws_client, monkeypatch, capsys):
    setup_once(capsys)
    bucket = "mo-" + setup_env["MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER"]
    s3 = aws_client("s3")
    other = {"ID": "operator-rule", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 90}}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] + [other]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})

    monkeypatch.setenv("MADARA_ORCHESTRATOR_STORAGE_EXPIRATION_DAYS", "30")
    steps = setup_once(capsys)["steps"]
    assert steps[1]["action"] == "updated"
    days = {r["ID"]: r["Expiration"]["Days"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert days == {EXPIRY_RULE_ID: 30, "operator-rule": 90}


def test_setup_refuses_a_madara_variable_with_no_meaning_here(setup_env, monkeypatch, capsys):
    monkeypatch.setenv("MADARA_ORCHESTRATOR_AWS_SQS_QUEUE_IDENTIFIER", "mo_{}_queue")
    assert main(["setup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orchestrator: error: MADARA_ORCHESTRATOR_AWS_SQS_QUEUE_IDENTIFIER: not used")
    assert "\n" not in err


def test_setup_fails_in_one_line_when_the_database_is_unreachable(setup_env, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_PG_PORT", "1")
    assert main(["setup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orchestrator: error: Dagster instance") and "\n" not in err


def test_alerts_reach_a_topic_given_by_name_with_the_aws_prefix(setup_env, aws_client, capsys):
    """MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER (a name) was not read: alerts were silently off."""
    from orchestrator_pipelines.clients.alerts import Alert, SnsAlertSink
    from orchestrator_pipelines.config import load_settings
    from orchestrator_pipelines.definitions import build_resources

    topic_arn = setup_once(capsys)["steps"][2]["name"]
    sqs = aws_client("sqs")
    queue_url = sqs.create_queue(QueueName=f"alerts-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    sink = build_resources(load_settings())["alerts"].sink()
    assert [s.topic_arn for s in sink.sinks if isinstance(s, SnsAlertSink)] == [topic_arn]
    sink.send(Alert(title="Settlement stalled", text="no state update", severity="critical"))
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20).get("Messages", [])
    assert [json.loads(m["Body"])["Subject"] for m in messages] == ["[CRITICAL] Settlement stalled"]
