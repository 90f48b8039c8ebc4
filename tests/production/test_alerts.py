"""Alert sinks against real endpoints: moto's SNS/SQS over HTTP and a local Slack stand-in."""

from __future__ import annotations

import json
import uuid
import logging
from collections.abc import Iterator

import pytest

from orchestrator_pipelines.clients.alerts import (
    SNS_SUBJECT_MAX,
    Alert,
    FanOutAlertSink,
    LogAlertSink,
    SlackWebhookAlertSink,
    SnsAlertSink,
)
from orchestrator_pipelines.errors import TransientError
from tests.production.slack_webhook import SlackWebhook

ALERT = Alert(
    title="Batch 000042 failed at proof",
    text="Atlantic returned FAILED for query 01J9",
    severity="critical",
    fields={"batch": "000042", "first_block": 410, "last_block": 419},
)


@pytest.fixture
def webhook() -> Iterator[SlackWebhook]:
    with SlackWebhook() as hook:
        yield hook


def _sns_topic_with_queue(aws_client):
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic_arn = sns.create_topic(Name=f"orchestrator-alerts-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"alerts-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return sns, sqs, topic_arn, queue_url


def _receive_one(sqs, queue_url: str) -> dict:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=20)
    assert len(messages.get("Messages", [])) == 1
    return json.loads(messages["Messages"][0]["Body"])


def test_sns_alert_reaches_a_subscribed_queue(aws_client) -> None:
    sns, sqs, topic_arn, queue_url = _sns_topic_with_queue(aws_client)
    SnsAlertSink(topic_arn, sns).send(ALERT)
    envelope = _receive_one(sqs, queue_url)
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "[CRITICAL] Batch 000042 failed at proof"
    assert "Atlantic returned FAILED" in envelope["Message"]
    assert "last_block: 419" in envelope["Message"]
    assert envelope["MessageAttributes"]["severity"]["Value"] == "critical"


def test_sns_subject_is_cut_to_the_sns_limit(aws_client) -> None:
    sns, sqs, topic_arn, queue_url = _sns_topic_with_queue(aws_client)
    long_title = "state_update stuck: " + "x" * 300 + "\nsecond line"
    SnsAlertSink(topic_arn, sns).send(Alert(title=long_title, text="t", severity="warning"))
    subject = _receive_one(sqs, queue_url)["Subject"]
    assert len(subject) == SNS_SUBJECT_MAX
    assert "\n" not in subject
    assert subject.startswith("[WARNING] state_update stuck: xxx")


def test_slack_webhook_receives_text_and_fields(webhook: SlackWebhook) -> None:
    SlackWebhookAlertSink(webhook.url, timeout_s=5).send(ALERT)
    assert len(webhook.bodies) == 1
    body = webhook.bodies[0]
    assert body["text"].startswith("[CRITICAL] Batch 000042 failed at proof")
    assert "Atlantic returned FAILED" in body["blocks"][0]["text"]["text"]
    field_texts = [item["text"] for item in body["blocks"][1]["fields"]]
    assert "*first_block*\n410" in field_texts
    assert len(field_texts) == 3


def test_slack_fields_are_split_into_sections_of_ten(webhook: SlackWebhook) -> None:
    alert = Alert("many", "fields", "info", {f"k{i}": i for i in range(23)})
    SlackWebhookAlertSink(webhook.url).send(alert)
    sections = webhook.bodies[0]["blocks"][1:]
    assert [len(section["fields"]) for section in sections] == [10, 10, 3]


def test_slack_refusal_and_outage_raise_distinct_errors() -> None:
    with SlackWebhook(status=403) as refused:
        with pytest.raises(RuntimeError, match="HTTP 403 invalid_token"):
            SlackWebhookAlertSink(refused.url).send(ALERT)
    with SlackWebhook(status=503) as down:
        with pytest.raises(TransientError, match="HTTP 503"):
            SlackWebhookAlertSink(down.url).send(ALERT)


def test_log_sink_logs_at_severity_level(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("orchestrator.test.alerts")
    with caplog.at_level(logging.INFO, logger=logger.name):
        LogAlertSink(logger).send(ALERT)
        LogAlertSink(logger).send(Alert("settled", "batch 000041 settled", "info"))
    assert [record.levelno for record in caplog.records] == [logging.ERROR, logging.INFO]
    assert "batch=000042" in caplog.records[0].getMessage()


def test_fan_out_keeps_sending_after_a_broken_sink(
    aws_client, webhook: SlackWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    sns, sqs, topic_arn, queue_url = _sns_topic_with_queue(aws_client)
    broken_slack = SlackWebhookAlertSink("http://127.0.0.1:9/unreachable", timeout_s=2)
    logger = logging.getLogger("orchestrator.test.fanout")
    fan_out = FanOutAlertSink(
        [broken_slack, SnsAlertSink(topic_arn, sns), SlackWebhookAlertSink(webhook.url)], logger
    )
    with caplog.at_level(logging.ERROR, logger=logger.name):
        fan_out.send(ALERT)
    assert _receive_one(sqs, queue_url)["Subject"].endswith("failed at proof")
    assert len(webhook.bodies) == 1
    errors = [record for record in caplog.records if record.name == logger.name]
    assert len(errors) == 1
    assert "SlackWebhookAlertSink failed" in errors[0].getMessage()
    assert "127.0.0.1:9" not in errors[0].getMessage()


def test_unknown_severity_is_rejected() -> None:
    with pytest.raises(ValueError, match="severity"):
        Alert("t", "x", "fatal")  # type: ignore[arg-type]
