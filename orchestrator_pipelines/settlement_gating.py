"""Whether to request settlement of the next batch: a pure function of what the settlement sensor observed.

Why: the asset checks that settlement relies on (the proof's fact valid in the
L1 fact registry, the blobs opening to the output's commitments and y values)
run in other runs than the settle step. Dagster's ``blocking`` only stops
downstream steps of the *same* run, so a failed check never stopped a settle
run: a prover that reported DONE without registering its fact had its proof
counted as materialized, and settlement was requested (and refused in
simulation) until the attempts ran out, with a generic "Steps failed" alert.
So the gate is here: the sensors gather the batch's state (L1 block,
materializations, the latest evaluation of each gating check for the batch's
partition, runs in flight, failed attempts) into a :class:`BatchView` and call
:func:`decide`; the sensors never decide themselves.

The rules, in order, for the next unsettled batch:

1. not closed yet (no manifest or partition): wait;
2. L1 covers it and its state update is recorded (and no reorganisation took
   it back): it is settled, look at the next one;
3. a settle run for it is in flight: wait;
4. L1 is below the block before it: wait (strictly in order);
5. the node reports another hash for the batch's last block than the one its
   OS output recorded: hold it (:mod:`orchestrator_pipelines.l2_block_hashes`),
   until the node agrees again or the batch is rebuilt; the node could not be
   asked: wait;
6. a gating check of a materialized asset failed for this batch: hold it,
   with the check's reason, and alert once per batch and check; the hold lifts
   by itself when a newer evaluation passes (the check re-run, or a new proof);
7. an asset settlement needs is not materialized: wait for it;
8. a gating check was not evaluated for this batch (never, or still running): wait;
9. ``max_settle_attempts`` settle runs failed: stop, alert once, wait for an operator;
10. otherwise: request a settle run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from orchestrator_pipelines.l2_block_hashes import L2_BLOCK_HASH, unsettled_mismatch


@dataclass(frozen=True)
class Gate:
    """A check settlement relies on: ``check`` of ``asset``, and how to say in one line what its failure means.

    ``failure`` gets the evaluation's metadata (strings) and description.
    """

    asset: str
    check: str
    failure: Callable[[Mapping[str, str], str], str]


@dataclass(frozen=True)
class CheckOutcome:
    """The latest evaluation of a gating check for the batch's partition: ``passed`` None when there is none."""

    passed: bool | None
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchView:
    """What the sensor observed about one batch.

    ``first_block``/``last_block`` are None while the batch is not closed.
    ``materialized`` names the assets of the batch that have a materialization;
    ``checks`` maps each gating check name to its latest outcome for the batch.
    ``resettle``: a reorganisation took back the recorded settlement.
    ``recorded_block_hash``: the last block's hash in the batch's OS output (None
    before it exists); ``node_block_hash``: what the node reports for that block
    now, or ``node_error`` when it could not be asked.
    """

    key: str
    chain_block: int
    first_block: int | None = None
    last_block: int | None = None
    materialized: frozenset[str] = frozenset()
    checks: Mapping[str, CheckOutcome] = field(default_factory=dict)
    resettle: bool = False
    in_flight: int = 0
    failed_attempts: int = 0
    recorded_block_hash: int | None = None
    node_block_hash: int | None = None
    node_error: str = ""

    @property
    def closed(self) -> bool:
        return self.first_block is not None and self.last_block is not None


@dataclass(frozen=True)
class Rules:
    """What differs between the direct and the aggregated pipelines: names, and the attempt limit."""

    what: str  # "batch" or "aggregator batch"
    state_asset: str
    required: tuple[str, ...]
    gates: tuple[Gate, ...]
    max_attempts: int


@dataclass(frozen=True)
class Settled:
    """The batch is settled on L1 and recorded: move on to the next one."""

    key: str


@dataclass(frozen=True)
class Wait:
    reason: str


@dataclass(frozen=True)
class Hold:
    """A gating check failed for the batch: no settlement until a newer evaluation passes."""

    key: str
    check: str
    reason: str
    alert: bool
    remedy: str = "settlement resumes by itself once the check passes (re-run it, or record a new proof)"

    @property
    def alert_id(self) -> str:
        return hold_id(self.key, self.check)


@dataclass(frozen=True)
class Stop:
    """Too many settle runs failed: an operator must look."""

    key: str
    failed: int
    reason: str
    alert: bool


@dataclass(frozen=True)
class Request:
    key: str


Decision = Settled | Wait | Hold | Stop | Request


def hold_id(key: str, check: str) -> str:
    """What makes a hold alert a repeat: the batch and the check (a re-run failing again is the same hold)."""
    return f"{key}:{check}"


def decide(view: BatchView, rules: Rules, *, alerted_hold: str | None, alerted_stop: str | None) -> Decision:
    """What to do about batch ``view.key`` now (see the module docstring for the rules).

    ``alerted_hold`` is the :attr:`Hold.alert_id` last alerted, ``alerted_stop``
    the key of the batch whose stop was last alerted: no alert is sent twice.
    """
    what, key = f"{rules.what} {view.key}", view.key
    if not view.closed:
        return Wait(f"{what} is not closed yet (L1 at block {view.chain_block})")
    assert view.first_block is not None and view.last_block is not None
    if not view.resettle and view.chain_block >= view.last_block and rules.state_asset in view.materialized:
        return Settled(key)
    if view.in_flight:
        return Wait(f"{what} settlement in flight")
    if not view.resettle and rules.state_asset in view.materialized:
        # Recorded after this tick read L1 (a settle run ended mid-tick): the next tick's read shows it.
        # A settlement L1 really lost is reported by the watch (``resettle``), never inferred here.
        return Wait(f"{what} is recorded; L1 read at the start of this tick (block {view.chain_block}) predates it")
    if view.chain_block < view.first_block - 1:
        return Wait(f"{what} waits for L1 to reach block {view.first_block - 1}")
    if view.recorded_block_hash is not None and view.node_error:
        return Wait(f"{what} waits for the node to report block {view.last_block}: {view.node_error}")
    mismatch = unsettled_mismatch(rules.what, key, view.last_block, view.recorded_block_hash, view.node_block_hash)
    if mismatch is not None:
        return Hold(
            key, L2_BLOCK_HASH, f"{what} held: {mismatch.reason}",
            alert=alerted_hold != hold_id(key, L2_BLOCK_HASH),
            remedy="settlement resumes by itself once the node reports the recorded hash again; if the chain was "
            "reorganised, rebuild the batch from the node's blocks",
        )
    for gate in rules.gates:
        outcome = view.checks.get(gate.check)
        if gate.asset in view.materialized and outcome is not None and outcome.passed is False:
            reason = f"{what} held: {gate.failure(outcome.metadata, outcome.description)} (check {gate.check} failed)"
            return Hold(key, gate.check, reason, alert=alerted_hold != hold_id(key, gate.check))
    missing = [asset for asset in rules.required if asset not in view.materialized]
    if missing:
        return Wait(f"{what} waits for {', '.join(missing)}")
    unevaluated = [gate for gate in rules.gates if (view.checks.get(gate.check) or CheckOutcome(None)).passed is None]
    if unevaluated:
        names = ", ".join(f"{gate.check} of {gate.asset}" for gate in unevaluated)
        return Wait(f"{what} waits for check {names} to be evaluated")
    if view.failed_attempts >= rules.max_attempts:
        return Stop(
            key, view.failed_attempts,
            f"{what}: {view.failed_attempts} failed settle runs, waiting for an operator",
            alert=alerted_stop != key,
        )
    return Request(key)


def _fact_not_registered(label: str) -> Callable[[Mapping[str, str], str], str]:
    def failure(metadata: Mapping[str, str], description: str) -> str:
        return f"{label} {metadata.get('fact', '(fact unknown)')} is not registered on L1"

    return failure


def _blobs_do_not_open(output: str) -> Callable[[Mapping[str, str], str], str]:
    def failure(metadata: Mapping[str, str], description: str) -> str:
        why = f": {description}" if description else ""
        return f"the blobs do not open to the {output}'s commitments and y values{why}"

    return failure


def direct_rules(*, fact_check: str, blobs_check: str, max_attempts: int) -> Rules:
    """The direct pipeline: ``proof`` and ``da_blob`` materialized, their fact and blob checks passed."""
    return Rules(
        what="batch",
        state_asset="state_update",
        required=("proof", "da_blob"),
        gates=(
            Gate("proof", fact_check, _fact_not_registered("proof fact")),
            Gate("da_blob", blobs_check, _blobs_do_not_open("OS output")),
        ),
        max_attempts=max_attempts,
    )


def aggregated_rules(*, fact_check: str, opens_check: str, max_attempts: int) -> Rules:
    """The aggregated pipeline: the aggregator-level proof and blobs, their fact and opening checks passed."""
    return Rules(
        what="aggregator batch",
        state_asset="aggregator_state_update",
        required=("aggregator_proof", "aggregator_da_blob"),
        gates=(
            Gate("aggregator_proof", fact_check, _fact_not_registered("aggregator fact")),
            Gate("aggregator_da_blob", opens_check, _blobs_do_not_open("aggregated output")),
        ),
        max_attempts=max_attempts,
    )

