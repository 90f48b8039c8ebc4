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
)


class AlertsResource(ConfigurableResource):
    sns_topic_arn: str = ""
    sns_endpoint_url: str | None = None
    region_name: str = "us-east-1"
    slack_webhook_url: str = ""

    def sink(self, logger: logging.Logger | None = None) -> AlertSink:
        sinks: list[AlertSink] = [LogAlertSink(logger or logging.getLogger("orchestrator.alerts"))]
        if self.sns_topic_arn:
            import boto3

            client = boto3.client("sns", region_name=self.region_name, endpoint_url=self.sns_endpoint_url)
            sinks.append(SnsAlertSink(self.sns_topic_arn, client))
        if self.slack_webhook_url:
            sinks.append(SlackWebhookAlertSink(self.slack_webhook_url))
        return FanOutAlertSink(sinks)
