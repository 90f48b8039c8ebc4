"""What the proof sensor reads for :func:`orchestrator_pipelines.proof_submissions.next_submission`.

The batches whose newest ``prepare_batch`` or ``submit_proof`` run failed in
its ``proof_request`` step (the prover refused or was down), found among the
newest failed runs of those jobs (a bounded look-back, as the batching
sensor's relaunch), with how many submission runs failed since, when the last
one ended and its first line of error. A run Dagster's run retries will take
again is left to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from orchestrator_pipelines.assets.proof import PROOF_ATTEMPT_TAG
from orchestrator_pipelines.jobs import prepare_batch_job, submit_proof_job
from orchestrator_pipelines.proof_submissions import FailedSubmission

RESUBMIT_TAG = "orchestrator/resubmission"
SUBMITTING_JOBS = (prepare_batch_job.name, submit_proof_job.name)
LOOKBACK = 20


@dataclass(frozen=True)
class Failure:
    submission: FailedSubmission
    attempt: str  # the proof attempt the failed run submitted: requested again with the same dedup id


def _failed_in_proof_request(instance: DagsterInstance, run_id: str) -> str | None:
    """The first line of the ``proof_request`` step's error in run ``run_id``, or None if that step did not fail."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is not None and event.step_key == "proof_request":
            error = event.step_failure_data.error
            if error is None:
                return "step failed"
            line = error.message.strip().splitlines()[0]
            # A Failure's message is "dagster._core.definitions.events.Failure: <description>": keep the description.
            return line.split(": ", 1)[1] if error.cls_name == "Failure" and ": " in line else line
    return None


def _failed_resubmissions(instance: DagsterInstance, key: str) -> int:
    """The failed ``submit_proof`` runs the proof sensor requested again for batch ``key``."""
    runs = instance.get_run_records(RunsFilter(
        job_name=submit_proof_job.name, tags={"dagster/partition": key}, statuses=[DagsterRunStatus.FAILURE]
    ))
    return sum(1 for r in runs if RESUBMIT_TAG in r.dagster_run.tags)


def failed_submissions(instance: DagsterInstance) -> list[Failure]:
    """The batches whose newest submission run failed asking the prover (see the module docstring)."""
    failures, seen = [], set()
    candidates = [
        record
        for job in SUBMITTING_JOBS
        for record in instance.get_run_records(
            RunsFilter(job_name=job, statuses=[DagsterRunStatus.FAILURE]), limit=LOOKBACK
        )
    ]
    for record in sorted(candidates, key=lambda r: r.create_timestamp, reverse=True):
        run = record.dagster_run
        key = run.tags.get("dagster/partition")
        if key is None or key in seen or run.tags.get("dagster/will_retry") == "true":
            continue
        seen.add(key)
        newest = [
            r for r in instance.get_run_records(RunsFilter(tags={"dagster/partition": key}), limit=10)
            if r.dagster_run.job_name in SUBMITTING_JOBS
        ]
        if not newest or newest[0].dagster_run.run_id != run.run_id:
            continue  # a later submission run exists: in flight, or it succeeded
        error = _failed_in_proof_request(instance, run.run_id)
        if error is None:
            continue  # it failed before the prover was asked: not a prover fault
        failed_at = record.end_time or record.update_timestamp.timestamp()
        failures.append(Failure(
            FailedSubmission(key, 1 + _failed_resubmissions(instance, key), failed_at, error),
            run.tags.get(PROOF_ATTEMPT_TAG, "1"),
        ))
    return failures
