"""Whether to request a failed proof submission again: a pure function of the batch's failed submission runs.

Why: the prover client retries network errors and gateway answers (502, 503,
504) inside the call, but any other refusal, an HTTP 500 included, is the
service's verdict and fails the ``proof_request`` step at once, with its
one-line message. The run then ends failed, no ``proof_request`` is recorded,
the proof sensor (which follows recorded submissions) never hears of the
batch, and it and every later batch wait for settlement forever, although the
prover may answer again a minute later. So the proof sensor looks at the
batches whose latest submission run failed in ``proof_request`` and asks
:func:`next_submission`:

1. fewer than ``max_attempts`` submissions were requested again: request one
   more once ``retry_after_s`` × 2^(requested so far) has passed since the
   last failure (the same proof attempt, so the same dedup id: a query the
   prover did accept is found, not sent twice); alert once, at the first
   failure, naming the batch and the error;
2. otherwise: give up, alert once, and wait for an operator (re-execute the
   run once the prover is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FailedSubmission:
    """A batch whose latest submission run failed in ``proof_request``.

    ``failed``: its failed submission runs since the last recorded
    ``proof_request`` (the first one and every one requested again);
    ``failed_at``: when the latest one ended; ``error``: its one-line message.
    """

    key: str
    failed: int
    failed_at: float
    error: str


@dataclass(frozen=True)
class Resubmit:
    key: str
    number: int  # how many submissions of the batch were requested again, this one included
    alert: bool
    text: str


@dataclass(frozen=True)
class WaitToResubmit:
    key: str
    seconds: float


@dataclass(frozen=True)
class GiveUp:
    key: str
    alert: bool
    text: str


def next_submission(
    failure: FailedSubmission, *, max_attempts: int, retry_after_s: float, now: float, alerted: int | None
) -> Resubmit | WaitToResubmit | GiveUp:
    """What to do about ``failure`` now; ``alerted`` is the failure count last alerted for the batch."""
    requested = failure.failed - 1
    what = f"proof submission of batch {failure.key} failed ({failure.failed} runs): {failure.error}"
    if requested >= max_attempts:
        return GiveUp(
            failure.key, alert=alerted != failure.failed,
            text=f"{what}; requested again {requested} times, waiting for an operator (re-execute the run once "
            "the prover answers)",
        )
    ready_at = failure.failed_at + retry_after_s * 2**requested
    if now < ready_at:
        return WaitToResubmit(failure.key, ready_at - now)
    return Resubmit(
        failure.key, requested + 1, alert=alerted is None,
        text=f"{what}; requesting it again ({requested + 1} of at most {max_attempts}) until the prover answers",
    )


@dataclass(frozen=True)
class RecordRuns:
    """The ``record_proof`` runs of one batch since its current query was submitted.

    ``in_flight``: queued or running (a retry Dagster made included);
    ``succeeded``: ended well (the proof is recorded, the sensor sees it next);
    ``failed``: ended failed; ``last_failed_at``: when the newest of those ended.
    """

    key: str
    in_flight: int
    succeeded: int
    failed: int
    last_failed_at: float | None


def next_record(
    runs: RecordRuns, *, max_attempts: int, retry_after_s: float, now: float
) -> Resubmit | WaitToResubmit | GiveUp | None:
    """Whether to request ``record_proof`` again for a DONE proof whose recording run failed; None: nothing to do.

    Why: the proof sensor requests ``record_proof`` once per DONE query. A run
    killed or failed after that (a worker lost in a restart, L1 unreachable
    while reading the fact) leaves the batch unrecorded, and a run retry the
    instance was meant to create may never come; every later batch then waits
    behind it. Recording is idempotent (it reads the prover and L1, sends
    nothing), so it is requested again once no run is in flight, after a
    doubling pause (which also leaves time for a run retry of Dagster's own to
    appear first), up to ``max_attempts`` times.
    """
    if runs.in_flight or runs.succeeded or not runs.failed:
        return None
    requested = runs.failed - 1
    what = f"recording the proof of batch {runs.key} failed ({runs.failed} runs)"
    if requested >= max_attempts:
        return GiveUp(runs.key, alert=True, text=f"{what}; waiting for an operator (re-execute record_proof)")
    ready_at = (runs.last_failed_at or now) + retry_after_s * 2**requested
    if now < ready_at:
        return WaitToResubmit(runs.key, ready_at - now)
    return Resubmit(
        runs.key, requested + 1, alert=requested == 0,
        text=f"{what}; requesting it again ({requested + 1} of at most {max_attempts})",
    )
