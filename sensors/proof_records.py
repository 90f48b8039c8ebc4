"""The proof sensor's second chance for a DONE proof whose ``record_proof`` run failed.

Reads the batch's ``record_proof`` runs since its current query was submitted
and asks :func:`orchestrator_pipelines.proof_submissions.next_record` whether
to request the recording again (run key ``proof-<batch>-<query>-again-<n>``),
wait, or give up with one alert naming the batch.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import DagsterRunStatus, RunRequest, RunsFilter, SensorEvaluationContext

from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.jobs import record_proof_job
from orchestrator_pipelines.proof_submissions import GiveUp, RecordRuns, Resubmit, next_record

FINISHED_WELL = (DagsterRunStatus.SUCCESS,)
FINISHED_BADLY = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def record_runs(context: SensorEvaluationContext, key: str, since: float) -> RecordRuns:
    """The ``record_proof`` runs of batch ``key`` created since ``since`` (the query's submission), by outcome."""
    records = context.instance.get_run_records(RunsFilter(
        job_name=record_proof_job.name, tags={"dagster/partition": key},
        created_after=datetime.fromtimestamp(since, tz=timezone.utc),
    ))
    failed = [r for r in records if r.dagster_run.status in FINISHED_BADLY]
    return RecordRuns(
        key,
        in_flight=sum(1 for r in records if not r.dagster_run.is_finished),
        succeeded=sum(1 for r in records if r.dagster_run.status in FINISHED_WELL),
        failed=len(failed),
        last_failed_at=max((r.end_time or r.update_timestamp.timestamp() for r in failed), default=None),
    )


def record_again(
    context: SensorEvaluationContext, key: str, entry: dict, policy, alerts, now: float
) -> RunRequest | None:
    """A new ``record_proof`` request for batch ``key`` (its pending ``entry``) when :func:`next_record` says so."""
    runs = record_runs(context, key, entry["since"])
    decision = next_record(
        runs, max_attempts=policy.max_submit_attempts, retry_after_s=policy.submit_retry_after_s, now=now
    )
    if isinstance(decision, GiveUp):
        if entry.get("record_alerted") != runs.failed:
            alerts.sink(context.log).send(Alert(
                title=f"Recording the proof failed for batch {key}", text=decision.text, severity="critical",
                fields={"batch": key, "query": entry["id"]},
            ))
            entry["record_alerted"] = runs.failed
        return None
    if not isinstance(decision, Resubmit):
        return None
    context.log.warning(decision.text)
    if decision.alert:
        alerts.sink(context.log).send(Alert(
            title=f"Recording the proof retried for batch {key}", text=decision.text, severity="warning",
            fields={"batch": key, "query": entry["id"]},
        ))
    return RunRequest(
        run_key=f"proof-{key}-{entry['id']}-again-{decision.number}", partition_key=key,
        job_name=record_proof_job.name,
    )
