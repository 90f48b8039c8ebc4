"""Alerts on failed runs (SNS / Slack / log, per the alerts resource)."""

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from orchestrator_pipelines.clients.alerts import Alert
from resources.alerts import AlertsResource


def build_run_failure_alert_sensor(default_status: DefaultSensorStatus):
    @run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=default_status,
        description="Sends an alert for every failed run of this code location.",
    )
    def run_failure_alert_sensor(context: RunFailureSensorContext, alerts: AlertsResource):
        run = context.dagster_run
        batch = run.tags.get("dagster/partition", "-")
        message = context.failure_event.message or "run failed"
        alerts.sink(context.log).send(Alert(
            title=f"Run failed: {run.job_name} for batch {batch}",
            text=message.splitlines()[0][:500],
            severity="critical",
            fields={"run_id": run.run_id, "job": run.job_name, "batch": batch},
        ))

    return run_failure_alert_sensor
