"""Where alerts go: the Dagster log always, plus an SNS topic and/or a Slack webhook when configured."""

from __future__ import annotations

import logging

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.alerts import (
    AlertSink,
    FanOutAlertSink,
    LogAlertSink,
    SlackWebhookAlertSink,
    SnsAlertSink,
    sns_topic_arn,
)
from orchestrator_pipelines.config import setting_default as default


class AlertsResource(ConfigurableResource):
    """``sns_topic`` is the topic's ARN or its name (Madara's ``AWS_SNS_TOPIC_IDENTIFIER``, prefix applied);
    a name is looked up in SNS; a topic that cannot be found is logged as an error with every alert."""

    sns_topic: str = default("sns_topic")
    sns_endpoint_url: str | None = default("s3_endpoint_url")
    region_name: str = default("aws_region")
    slack_webhook_url: str = ""

    def sink(self, logger: logging.Logger | None = None) -> AlertSink:
        log = logger or logging.getLogger("orchestrator.alerts")
        sinks: list[AlertSink] = [LogAlertSink(log)]
        if self.sns_topic:
            import boto3

            client = boto3.client("sns", region_name=self.region_name, endpoint_url=self.sns_endpoint_url)
            try:
                sinks.append(SnsAlertSink(sns_topic_arn(client, self.sns_topic), client))
            except Exception as exc:  # a missing topic or permission must not silence the other channels
                log.error(f"alerts not sent to SNS: {exc}")
        if self.slack_webhook_url:
            sinks.append(SlackWebhookAlertSink(self.slack_webhook_url))
        return FanOutAlertSink(sinks)
