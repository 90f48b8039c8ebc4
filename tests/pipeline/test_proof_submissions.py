"""When the proof sensor requests a failed proof submission again (pure, no prover, no Dagster)."""

from __future__ import annotations

from orchestrator_pipelines.proof_submissions import FailedSubmission, GiveUp, Resubmit, WaitToResubmit, next_submission

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
