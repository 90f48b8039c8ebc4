"""When the proof sensor requests a failed proof submission again (pure, no prover, no Dagster)."""

from __future__ import annotations

from orchestrator_pipelines.proof_submissions import (
    FailedSubmission,
    GiveUp,
    RecordRuns,
    Resubmit,
    WaitToResubmit,
    next_record,
    next_submission,
)

ERROR = "proof_request of batch 000002: Atlantic atlantic-query: HTTP 500: internal server error"


def decide(failed: int, now: float, alerted: int | None = None):
    failure = FailedSubmission("000002", failed=failed, failed_at=100.0, error=ERROR)
    return next_submission(failure, max_attempts=3, retry_after_s=10.0, now=now, alerted=alerted)


def test_a_first_failure_is_requested_again_after_the_pause_with_one_alert():
    assert decide(1, now=105.0) == WaitToResubmit("000002", 5.0)
    first = decide(1, now=110.0)
    assert isinstance(first, Resubmit) and first.number == 1 and first.alert
    assert first.text == (
        f"proof submission of batch 000002 failed (1 runs): {ERROR}; "
        "requesting it again (1 of at most 3) until the prover answers"
    )


def test_the_pause_doubles_after_each_failed_resubmission_and_only_the_first_is_alerted():
    assert decide(2, now=119.0, alerted=1) == WaitToResubmit("000002", 1.0)
    again = decide(2, now=120.0, alerted=1)
    assert isinstance(again, Resubmit) and again.number == 2 and not again.alert
    assert isinstance(decide(3, now=139.0, alerted=1), WaitToResubmit)
    assert decide(3, now=140.0, alerted=1).number == 3


def test_after_the_last_resubmission_failed_it_gives_up_alerting_once():
    given_up = decide(4, now=10**6, alerted=1)
    assert isinstance(given_up, GiveUp) and given_up.alert
    assert "requested again 3 times, waiting for an operator" in given_up.text
    assert decide(4, now=10**6, alerted=4).alert is False


def record(in_flight=0, succeeded=0, failed=0, last_failed_at=100.0):
    runs = RecordRuns("000004", in_flight=in_flight, succeeded=succeeded, failed=failed, last_failed_at=last_failed_at)
    return next_record(runs, max_attempts=2, retry_after_s=10.0, now=NOW)


NOW = 125.0


def test_a_failed_recording_is_requested_again_after_a_doubling_pause_then_given_up():
    first = record(failed=1)
    assert isinstance(first, Resubmit) and first.number == 1 and first.alert
    assert first.text == "recording the proof of batch 000004 failed (1 runs); requesting it again (1 of at most 2)"
    # The second failure waits 20 s from its end, and asks again without a second alert.
    assert record(failed=2, last_failed_at=110.0) == WaitToResubmit("000004", 5.0)
    second = record(failed=2, last_failed_at=100.0)
    assert isinstance(second, Resubmit) and second.number == 2 and not second.alert
    assert record(failed=3) == GiveUp(
        "000004", alert=True,
        text="recording the proof of batch 000004 failed (3 runs); waiting for an operator (re-execute record_proof)",
    )


def test_nothing_is_requested_while_a_recording_runs_after_one_succeeded_or_before_any_failed():
    assert record(failed=1, in_flight=1) is None  # Dagster's own retry, or the sensor's, is running
    assert record(failed=1, succeeded=1) is None
    assert record() is None
