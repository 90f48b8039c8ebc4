"""The proof sensor: polls the prover for submitted batches and reacts to finished queries.

Per tick it reads the new ``proof_request`` and ``proof`` materializations
since its cursor (a page of events, by storage id), keeps the batches whose
proof is in flight in the cursor (bounded by the unsettled-batch limit), and
asks the prover about each:

- DONE: request ``record_proof`` for the batch (run key = batch + query id);
  if that run fails or is lost, request it again a bounded number of times
  (:mod:`sensors.proof_records`);
- FAILED: request ``submit_proof`` with the next attempt number (a new dedup
  id), or alert once the attempts are used up;
- still proving for longer than ``proof_timeout_s``: alert once.

A submission run that failed asking the prover (an HTTP 500, or the prover
down past the client's retries) recorded nothing, so the batch is not among
those: it is found among the failed submission runs and requested again, a
bounded number of times with a doubling pause, alerting once
(:mod:`sensors.proof_resubmissions`, decided by
:func:`orchestrator_pipelines.proof_submissions.next_submission`), so the
pipeline resumes by itself once the prover answers.
"""

import time

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestrator_pipelines.assets.proof import PROOF_ATTEMPT_TAG
from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.errors import TransientError
from orchestrator_pipelines.jobs import record_proof_job, submit_proof_job
from orchestrator_pipelines.proof_submissions import GiveUp, Resubmit, next_submission
from resources.alerts import AlertsResource
from resources.policy import PipelinePolicyResource
from resources.prover import ProverResource
from sensors.cursor import dump_cursor, load_cursor
from sensors.proof_records import record_again
from sensors.proof_resubmissions import RESUBMIT_TAG, failed_submissions

EVENT_PAGE = 500


def _new_materializations(context: SensorEvaluationContext, asset: str, after: int):
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), after_storage_id=after or None),
        limit=EVENT_PAGE,
        ascending=True,
    ).records
    return records, (records[-1].storage_id if records else after)


def resubmissions(context: SensorEvaluationContext, cursor: dict, policy, alerts) -> list[RunRequest]:
    """Requests for the failed submissions :func:`next_submission` says to send again; alerts it asks for."""
    alerted: dict[str, int] = cursor.get("submit_alerted", {})
    requests, still_failing = [], {}
    for failure in failed_submissions(context.instance):
        submission = failure.submission
        decision = next_submission(
            submission, max_attempts=policy.max_submit_attempts, retry_after_s=policy.submit_retry_after_s,
            now=time.time(), alerted=alerted.get(submission.key),
        )
        still_failing[submission.key] = alerted.get(submission.key)
        if isinstance(decision, (Resubmit, GiveUp)) and decision.alert:
            alerts.sink(context.log).send(Alert(
                title=f"Proof submission {'failed' if isinstance(decision, GiveUp) else 'retried'} "
                f"for batch {submission.key}",
                text=decision.text,
                severity="critical" if isinstance(decision, GiveUp) else "warning",
                fields={"batch": submission.key, "failed_runs": submission.failed},
            ))
            still_failing[submission.key] = submission.failed
        if isinstance(decision, Resubmit):
            context.log.warning(decision.text)
            requests.append(RunRequest(
                run_key=f"proof-resubmit-{submission.key}-{failure.attempt}-{decision.number}",
                partition_key=submission.key,
                job_name=submit_proof_job.name,
                tags={PROOF_ATTEMPT_TAG: failure.attempt, RESUBMIT_TAG: str(decision.number)},
            ))
    cursor["submit_alerted"] = {k: v for k, v in still_failing.items() if v is not None}
    return requests


def build_proof_sensor(interval_s: int, default_status: DefaultSensorStatus):
    @sensor(
        name="proof_sensor",
        jobs=[record_proof_job, submit_proof_job],
        minimum_interval_seconds=interval_s,
        default_status=default_status,
        description="Polls the prover for submitted batches: records finished proofs, resubmits failed ones.",
    )
    def proof_sensor(
        context: SensorEvaluationContext,
        prover: ProverResource,
        policy: PipelinePolicyResource,
        alerts: AlertsResource,
    ):
        cursor = load_cursor(context.cursor)
        pending: dict[str, dict] = cursor.get("pending", {})

        requests_seen, cursor["requests_after"] = _new_materializations(context, "proof_request", cursor.get("requests_after", 0))
        for record in requests_seen:
            meta = record.asset_materialization.metadata
            pending[record.partition_key] = {
                "id": meta["external_id"].value,
                "attempt": meta["attempt"].value,
                "since": record.timestamp,
            }
        proofs_seen, cursor["proofs_after"] = _new_materializations(context, "proof", cursor.get("proofs_after", 0))
        for record in proofs_seen:
            entry = pending.get(record.partition_key)
            if entry is not None and entry["id"] == record.asset_materialization.metadata["external_id"].value:
                del pending[record.partition_key]

        client = prover.client()
        requests: list[RunRequest] = resubmissions(context, cursor, policy, alerts)
        sink = None
        for key in sorted(pending):
            entry = pending[key]
            if entry.get("requested"):
                again = record_again(context, key, entry, policy, alerts, time.time())
                if again is not None:
                    requests.append(again)
                continue
            try:
                status = client.status(entry["id"])
            except TransientError as exc:
                context.log.warning(f"batch {key}: prover status unavailable: {exc}")
                continue
            if status.state == "done":
                requests.append(RunRequest(run_key=f"proof-{key}-{entry['id']}", partition_key=key, job_name=record_proof_job.name))
                entry["requested"] = True
            elif status.state == "failed":
                if entry["attempt"] < policy.max_proof_attempts:
                    attempt = entry["attempt"] + 1
                    context.log.warning(f"batch {key}: prover query {entry['id']} failed ({status.detail}); attempt {attempt}")
                    requests.append(
                        RunRequest(
                            run_key=f"proof-request-{key}-{attempt}",
                            partition_key=key,
                            job_name=submit_proof_job.name,
                            tags={PROOF_ATTEMPT_TAG: str(attempt)},
                        )
                    )
                    del pending[key]
                else:
                    sink = sink or alerts.sink(context.log)
                    sink.send(Alert(
                        title=f"Proving failed for batch {key}",
                        text=f"{entry['attempt']} prover attempts failed; last query {entry['id']}: {status.detail}",
                        severity="critical",
                        fields={"batch": key, "query": entry["id"]},
                    ))
                    del pending[key]
            elif time.time() - entry["since"] > policy.proof_timeout_s and not entry.get("timeout_alerted"):
                sink = sink or alerts.sink(context.log)
                sink.send(Alert(
                    title=f"Proof verification timeout for batch {key}",
                    text=f"prover query {entry['id']} still running after {policy.proof_timeout_s} s",
                    severity="warning",
                    fields={"batch": key, "query": entry["id"]},
                ))
                entry["timeout_alerted"] = True

        cursor["pending"] = pending
        if not requests:
            return SensorResult(skip_reason=SkipReason(f"{len(pending)} proofs in flight"), cursor=dump_cursor(cursor))
        return SensorResult(run_requests=requests, cursor=dump_cursor(cursor))

    return proof_sensor
