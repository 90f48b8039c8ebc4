"""The four jobs the sensors launch; a batch needs three runs (four per failed proof).

Each job runs its steps in one process (``in_process_executor``): a run of a
few light steps costs ~1.6 s in-process against ~5.6 s with a process per step,
and throughput is what lets the pipeline keep pace with the chain. Tags feed
the queued run coordinator's concurrency limits (one settlement transaction at
a time; prover submissions limited per deployment).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor


SETTLEMENT_TAG = "orchestrator/settlement"
PROVER_SUBMIT_TAG = "orchestrator/prover-submit"
# The queue dequeues higher priorities first: settlement is the ordered critical
# path and must not wait behind a backlog of batches being prepared.
PRIORITY_TAG = "dagster/priority"

prepare_batch_job = define_asset_job(
    "prepare_batch",
    selection=AssetSelection.assets("batch", "snos_output", "da_blob", "proof_request"),
    executor_def=in_process_executor,
    tags={PROVER_SUBMIT_TAG: "submit"},
    description="Fetch and encode the batch, run SNOS, build the blobs, submit the proof.",
)

submit_proof_job = define_asset_job(
    "submit_proof",
    selection=AssetSelection.assets("proof_request"),
    executor_def=in_process_executor,
    tags={PROVER_SUBMIT_TAG: "submit", PRIORITY_TAG: "1"},
    description="Submit the batch's PIE to the prover again after a failed query.",
)

record_proof_job = define_asset_job(
    "record_proof",
    selection=AssetSelection.assets("proof"),
    executor_def=in_process_executor,
    tags={PRIORITY_TAG: "1"},
    description="Record a finished proof and check its fact on L1.",
)

settle_batch_job = define_asset_job(
    "settle_batch",
    selection=AssetSelection.assets("state_update"),
    executor_def=in_process_executor,
    tags={SETTLEMENT_TAG: "l1", PRIORITY_TAG: "2"},
    description="Send the batch's updateStateKzgDA blob transaction (strictly in order).",
)

ALL_JOBS = [prepare_batch_job, submit_proof_job, record_proof_job, settle_batch_job]
