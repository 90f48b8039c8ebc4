"""Where an operator hears that settlement is stuck: log, SNS topic, Slack.

A run failure at 3 a.m. must reach a person with enough context to act (batch,
block range, stage, error), so an :class:`Alert` carries a short title, a text
body and a flat dict of fields. Sinks are deliberately small and independent;
:class:`FanOutAlertSink` sends to all of them and never lets one broken channel
(an expired webhook, a missing IAM permission) silence the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests

from orchestrator_pipelines.errors import InvalidInputError, TransientError

Severity = Literal["info", "warning", "critical"]

SNS_SUBJECT_MAX = 100
_SEVERITY_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
_SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


@dataclass(frozen=True)
class Alert:
    """One notification: what happened (title), details (text) and key facts (fields)."""

    title: str
    text: str
    severity: Severity = "warning"
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in _SEVERITY_LOG_LEVEL:
            raise ValueError(
                f"alert severity must be one of {sorted(_SEVERITY_LOG_LEVEL)}, got {self.severity!r}"
            )

    def subject(self, limit: int = SNS_SUBJECT_MAX) -> str:
        """A one-line subject of at most ``limit`` characters (SNS rejects longer ones)."""
        line = f"[{self.severity.upper()}] {self.title}".replace("\n", " ").replace("\r", " ")
        return line if len(line) <= limit else line[: limit - 1] + "…"

    def plain_text(self) -> str:
        """Title, text and fields as plain text, one field a line."""
        lines = [self.subject(limit=10_000), "", self.text]
        if self.fields:
            lines.append("")
            lines.extend(f"{name}: {value}" for name, value in self.fields.items())
        return "\n".join(lines)


class AlertSink(Protocol):
    """Anything that can deliver an alert; raises when delivery failed."""

    def send(self, alert: Alert) -> None: ...


class LogAlertSink:
    """Writes the alert to a logger at a level matching its severity."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def send(self, alert: Alert) -> None:
        fields = " ".join(f"{name}={value}" for name, value in alert.fields.items())
        self.logger.log(
            _SEVERITY_LOG_LEVEL[alert.severity],
            "ALERT %s: %s%s",
            alert.title,
            alert.text,
            f" ({fields})" if fields else "",
        )


def sns_topic_arn(client: Any, topic: str) -> str:
    """The ARN of ``topic``, given as an ARN (returned as is) or a name (looked up, never created).

    Creating topics is ``orchestrator setup``'s job; a name that matches no topic
    is an :class:`InvalidInputError` so alerts are not silently lost.
    """
    if topic.startswith("arn:"):
        return topic
    for page in client.get_paginator("list_topics").paginate():
        for entry in page.get("Topics", []):
            if entry["TopicArn"].rsplit(":", 1)[-1] == topic:
                return entry["TopicArn"]
    raise InvalidInputError(f"SNS topic {topic!r} does not exist; create it with `orchestrator setup`")


class SnsAlertSink:
    """Publishes to an SNS topic (e-mail, PagerDuty, SQS subscribers) via a boto3 SNS client."""

    def __init__(self, topic_arn: str, client: Any):
        self.topic_arn = topic_arn
        self.client = client

    def send(self, alert: Alert) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=alert.subject(),
            Message=alert.plain_text(),
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": alert.severity},
            },
        )


class SlackWebhookAlertSink:
    """Posts to a Slack incoming webhook (text fallback plus Block Kit sections)."""

    def __init__(self, url: str, timeout_s: float = 10.0):
        self.url = url
        self.timeout_s = timeout_s

    @staticmethod
    def payload(alert: Alert) -> dict[str, Any]:
        """The webhook JSON body for ``alert``."""
        header = f"{_SEVERITY_EMOJI[alert.severity]} *{alert.title}*"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{header}\n{alert.text}"}}
        ]
        if alert.fields:
            # Slack allows at most 10 fields per section block.
            items = [
                {"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in alert.fields.items()
            ]
            for start in range(0, len(items), 10):
                blocks.append({"type": "section", "fields": items[start : start + 10]})
        return {"text": f"{alert.subject()}\n{alert.text}", "blocks": blocks}

    def send(self, alert: Alert) -> None:
        try:
            response = requests.post(
                self.url,
                data=json.dumps(self.payload(alert)),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise TransientError(f"Slack webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise TransientError(f"Slack webhook answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise RuntimeError(
                f"Slack webhook refused the alert: HTTP {response.status_code} {response.text[:200]}"
            )


class FanOutAlertSink:
    """Sends every alert to all sinks; a failing sink is logged and the rest still run."""

    def __init__(self, sinks: Iterable[AlertSink], logger: logging.Logger | None = None):
        self.sinks = list(sinks)
        self.logger = logger or logging.getLogger(__name__)

    def send(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception as exc:  # one broken channel must not silence the others
                self.logger.error(
                    "alert sink %s failed for %r: %s", type(sink).__name__, alert.title, exc
                )
