"""What the aggregation sensor does for one aggregator batch: a pure function of what it observed.

The sensor gathers, per unsettled aggregator batch, an :class:`AggregatorBatchView`
(which SNOS batches exist, which were submitted to which aggregation, whether
the aggregation was opened, closed, and what the prover says about it) and
calls :func:`decide`. The returned actions are run requests with run keys that
name the attempt, so asking again for a run already launched is harmless (the
run key is used once), and a failed run is not retried behind the operator's
back: it waits to be re-executed from the UI.

The life of an aggregator batch (Madara's, with Atlantic buckets):

1. ``open``: an aggregation (bucket) is opened as soon as the batch is;
2. ``prove_child``: each SNOS batch, as soon as it is closed, is run through
   the OS and submitted to the aggregation at its position (1-based);
3. ``close``: once the aggregator batch is closed and every child was
   submitted to the current aggregation, the aggregation is closed;
4. ``record``: once the prover says the aggregation is DONE, its aggregator
   PIE and DA segment are recorded and the blobs built;
5. a FAILED aggregation (a failed child fails its bucket) is not resumed: an
   alert names the batch and the reason, and a new aggregation (attempt + 1)
   is opened, to which every child is submitted again; after
   ``max_attempts`` the batch waits for an operator;
6. an aggregation still not DONE ``timeout_s`` after it was closed (a bucket
   that never finishes: stuck OPEN or IN_PROGRESS at the prover) is given up
   the same way: settlement cannot be requested without its proof, so waiting
   longer only stalls every later batch; an alert names the batch, the
   aggregation and how long it waited, and proving starts again from a new
   aggregation. Should the old one still finish, nothing takes it: only the
   current aggregation's result is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ActionKind = Literal["open", "prove_child", "submit_child", "close", "record"]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    aggregator: str
    attempt: int
    position: int | None = None

    @property
    def run_key(self) -> str:
        child = f"-{self.position:03d}" if self.position is not None else ""
        return f"agg-{self.kind}-{self.aggregator}{child}-{self.attempt}"


@dataclass(frozen=True)
class AlertNote:
    title: str
    text: str
    severity: Literal["warning", "critical"]
    aggregator: str


@dataclass(frozen=True)
class AggregatorBatchView:
    """What the sensor observed about one aggregator batch.

    ``children`` are the positions of its closed SNOS batches; ``n_children``
    is set once the aggregator batch itself is closed. ``attempt`` and
    ``aggregation_id`` are those of the newest opened aggregation (None
    before the first). ``submitted`` are the positions submitted to that
    aggregation, ``outputs`` the positions whose OS run is recorded,
    ``closed_id`` the aggregation id the close step recorded,
    ``recorded_id`` the one whose artifacts were recorded. ``status`` is the
    prover's word on the current aggregation, open or closed: ``pending``,
    ``done`` or ``failed`` (``detail`` says why). ``closed_at``: when the
    close step closed the current aggregation (epoch seconds).
    """

    key: str
    children: tuple[int, ...] = ()
    n_children: int | None = None
    attempt: int | None = None
    aggregation_id: str | None = None
    submitted: frozenset[int] = frozenset()
    outputs: frozenset[int] = frozenset()
    closed_id: str | None = None
    recorded_id: str | None = None
    status: Literal["pending", "done", "failed"] | None = None
    detail: str = ""
    closed_at: float | None = None

    @property
    def closed_for_current(self) -> bool:
        return self.aggregation_id is not None and self.closed_id == self.aggregation_id

    @property
    def needs_status(self) -> bool:
        """Whether the prover must be asked about the current aggregation this tick.

        Also while it is open: a failed child fails an Atlantic bucket at once,
        and the batch is rebuilt without waiting for it to close.
        """
        return self.aggregation_id is not None and self.recorded_id != self.aggregation_id


@dataclass
class Decision:
    actions: list[Action] = field(default_factory=list)
    alerts: list[AlertNote] = field(default_factory=list)
    waiting_for: str = ""


def overdue_s(view: AggregatorBatchView, *, timeout_s: float | None, now: float) -> float | None:
    """How long the current aggregation has waited since it was closed, when that is past ``timeout_s``."""
    if timeout_s is None or view.status != "pending" or not view.closed_for_current or view.closed_at is None:
        return None
    waited = now - view.closed_at
    return waited if waited > timeout_s else None


def decide(
    view: AggregatorBatchView, *, max_attempts: int, timeout_s: float | None = None, now: float = 0.0
) -> Decision:
    """The runs (and alerts) one aggregator batch needs now; ``waiting_for`` says why nothing else."""
    decision = Decision()
    key = view.key
    if view.attempt is None:
        decision.actions.append(Action("open", key, 1))
        decision.waiting_for = "its aggregation to be opened"
        return decision
    attempt = view.attempt

    if view.needs_status and view.status == "failed":
        return _prove_again(view, f"failed: {view.detail}", "Aggregation failed", max_attempts)
    waited = overdue_s(view, timeout_s=timeout_s, now=now)
    if waited is not None:
        why = (
            f"is still {view.detail or 'in progress'} {waited:.0f} s after it was closed "
            f"(timeout {timeout_s:.0f} s)"
        )
        return _prove_again(view, why, "Aggregation timed out", max_attempts)

    missing = [p for p in view.children if p not in view.submitted]
    for position in missing:
        kind = "submit_child" if position in view.outputs else "prove_child"
        decision.actions.append(Action(kind, key, attempt, position))
    if missing:
        decision.waiting_for = f"SNOS batches {', '.join(f'{p:02d}' for p in missing)} to be proven and submitted"
        return decision
    if view.n_children is None:
        decision.waiting_for = "the aggregator batch to close"
        return decision
    if not view.closed_for_current:
        decision.actions.append(Action("close", key, attempt))
        decision.waiting_for = "its aggregation to be closed"
        return decision
    if view.recorded_id == view.aggregation_id:
        decision.waiting_for = "settlement"
        return decision
    if view.status == "done" and view.closed_for_current:
        decision.actions.append(Action("record", key, attempt))
        decision.waiting_for = "its aggregation's artifacts to be recorded"
        return decision
    decision.waiting_for = f"the prover (aggregation {view.aggregation_id}: {view.detail or 'in progress'})"
    return decision


def _prove_again(view: AggregatorBatchView, why: str, title: str, max_attempts: int) -> Decision:
    """A failed or timed-out aggregation: prove again from a new one, or after ``max_attempts`` wait for an operator."""
    decision = Decision()
    key, attempt = view.key, view.attempt or 1
    if attempt >= max_attempts:
        decision.alerts.append(AlertNote(
            title=f"Proving failed for aggregator batch {key}",
            text=f"aggregation {view.aggregation_id} (attempt {attempt} of {max_attempts}) {why}; "
            "fix the cause, then re-open the aggregation from the UI",
            severity="critical",
            aggregator=key,
        ))
        decision.waiting_for = f"an operator: {attempt} aggregations failed"
        return decision
    decision.alerts.append(AlertNote(
        title=f"{title} for aggregator batch {key}",
        text=f"aggregation {view.aggregation_id} (attempt {attempt}) {why}; "
        f"proving again from a new aggregation (attempt {attempt + 1})",
        severity="warning",
        aggregator=key,
    ))
    decision.actions.append(Action("open", key, attempt + 1))
    decision.waiting_for = f"aggregation attempt {attempt + 1} to be opened"
    return decision
