"""The aggregation sensor's decisions, one aggregator batch at a time, without a devnet."""

from __future__ import annotations

from orchestrator_pipelines.aggregation_decisions import AggregatorBatchView, decide

KEY = "000004"


def kinds(decision):
    return [(a.kind, a.attempt, a.position) for a in decision.actions]


def test_a_new_batch_opens_its_aggregation_first():
    decision = decide(AggregatorBatchView(KEY, children=(1,)), max_attempts=3)
    assert kinds(decision) == [("open", 1, None)]
    assert decision.actions[0].run_key == "agg-open-000004-1"


def test_closed_snos_batches_are_proven_as_soon_as_the_aggregation_is_open_even_if_the_batch_is_open():
    view = AggregatorBatchView(KEY, children=(1, 2, 3), attempt=1, aggregation_id="b1", submitted=frozenset({1}))
    decision = decide(view, max_attempts=3)
    assert kinds(decision) == [("prove_child", 1, 2), ("prove_child", 1, 3)]
    assert decision.actions[0].run_key == "agg-prove_child-000004-002-1"
    assert "02, 03" in decision.waiting_for


def test_an_open_batch_with_every_child_submitted_waits_to_close():
    view = AggregatorBatchView(KEY, children=(1, 2), attempt=1, aggregation_id="b1", submitted=frozenset({1, 2}))
    decision = decide(view, max_attempts=3)
    assert decision.actions == [] and "close" in decision.waiting_for


def test_a_closed_batch_closes_its_aggregation_once_every_child_is_submitted():
    view = AggregatorBatchView(KEY, children=(1, 2), n_children=2, attempt=1, aggregation_id="b1", submitted=frozenset({1, 2}))
    assert kinds(decide(view, max_attempts=3)) == [("close", 1, None)]


def test_a_closed_aggregation_is_polled_and_recorded_when_done():
    base = dict(children=(1, 2), n_children=2, attempt=1, aggregation_id="b1", submitted=frozenset({1, 2}), closed_id="b1")
    pending = AggregatorBatchView(KEY, **base, status="pending", detail="IN_PROGRESS")
    assert pending.needs_status and decide(pending, max_attempts=3).actions == []
    assert "IN_PROGRESS" in decide(pending, max_attempts=3).waiting_for
    done = AggregatorBatchView(KEY, **base, status="done")
    assert kinds(decide(done, max_attempts=3)) == [("record", 1, None)]
    open_batch = AggregatorBatchView(KEY, children=(1,), attempt=1, aggregation_id="b1", submitted=frozenset({1}))
    assert open_batch.needs_status  # an open bucket can fail too
    recorded = AggregatorBatchView(KEY, **base, recorded_id="b1")
    assert not recorded.needs_status and decide(recorded, max_attempts=3).waiting_for == "settlement"


def test_a_failed_aggregation_alerts_and_reopens_then_every_child_is_submitted_again_without_rerunning_the_os():
    failed = AggregatorBatchView(
        KEY, children=(1, 2), n_children=2, attempt=1, aggregation_id="b1", submitted=frozenset({1, 2}),
        outputs=frozenset({1, 2}), closed_id="b1", status="failed", detail="child 2 FAILED: trace too large",
    )
    decision = decide(failed, max_attempts=3)
    assert kinds(decision) == [("open", 2, None)]
    assert decision.alerts and "000004" in decision.alerts[0].title and "child 2 FAILED" in decision.alerts[0].text
    # Attempt 2 is open: nothing was submitted to it yet; the OS outputs exist, so children are only resubmitted.
    reopened = AggregatorBatchView(
        KEY, children=(1, 2), n_children=2, attempt=2, aggregation_id="b2", outputs=frozenset({1, 2}), closed_id="b1",
    )
    assert kinds(decide(reopened, max_attempts=3)) == [("submit_child", 2, 1), ("submit_child", 2, 2)]


def test_after_the_last_attempt_fails_the_batch_waits_for_an_operator():
    failed = AggregatorBatchView(
        KEY, children=(1,), n_children=1, attempt=3, aggregation_id="b3", submitted=frozenset({1}),
        closed_id="b3", status="failed", detail="aggregation step failed",
    )
    decision = decide(failed, max_attempts=3)
    assert decision.actions == [] and decision.alerts[0].severity == "critical"
    assert "operator" in decision.waiting_for


def test_a_bucket_failed_while_open_is_rebuilt_without_waiting_for_the_batch_to_close():
    view = AggregatorBatchView(
        KEY, children=(1, 2), attempt=1, aggregation_id="b1", submitted=frozenset({1}), outputs=frozenset({1, 2}),
        status="failed", detail="child 1 FAILED",
    )
    decision = decide(view, max_attempts=3)
    assert kinds(decision) == [("open", 2, None)] and decision.alerts


# A closed bucket the prover still reports in progress: closed at t=1000, the timeout 600 s.
STUCK = AggregatorBatchView(
    KEY, children=(1, 2), n_children=2, attempt=1, aggregation_id="b1", submitted=frozenset({1, 2}),
    closed_id="b1", status="pending", detail="IN_PROGRESS", closed_at=1000.0,
)


def test_a_closed_aggregation_within_its_timeout_is_waited_for():
    decision = decide(STUCK, max_attempts=3, timeout_s=600, now=1600.0)
    assert decision.actions == [] and decision.alerts == []
    assert decision.waiting_for == "the prover (aggregation b1: IN_PROGRESS)"


def test_an_aggregation_that_never_finishes_is_given_up_after_the_timeout_and_proven_again():
    decision = decide(STUCK, max_attempts=3, timeout_s=600, now=1750.0)
    assert kinds(decision) == [("open", 2, None)]
    [alert] = decision.alerts
    assert alert.title == "Aggregation timed out for aggregator batch 000004" and alert.severity == "warning"
    assert alert.text == (
        "aggregation b1 (attempt 1) is still IN_PROGRESS 750 s after it was closed (timeout 600 s); "
        "proving again from a new aggregation (attempt 2)"
    )


def test_the_last_attempt_timing_out_waits_for_an_operator_and_no_timeout_means_no_limit():
    last = AggregatorBatchView(**{**STUCK.__dict__, "attempt": 3})
    decision = decide(last, max_attempts=3, timeout_s=600, now=1750.0)
    assert decision.actions == [] and decision.waiting_for == "an operator: 3 aggregations failed"
    assert decision.alerts[0].severity == "critical" and "750 s after it was closed" in decision.alerts[0].text
    assert decide(STUCK, max_attempts=3, timeout_s=None, now=10**9).actions == []


def test_an_open_aggregation_is_not_timed_out_before_it_was_closed():
    still_open = AggregatorBatchView(**{**STUCK.__dict__, "closed_id": None, "closed_at": None, "n_children": None})
    assert decide(still_open, max_attempts=3, timeout_s=1, now=10**9).actions == []
