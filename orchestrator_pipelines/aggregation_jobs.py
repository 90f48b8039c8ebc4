"""The jobs of the aggregated pipeline; an aggregator batch of n SNOS batches needs n + 4 runs.

One run per SNOS batch (its OS run and its submission as a child), and per
aggregator batch one to open its aggregation, one to close it, one to record
the prover's result (aggregator PIE, DA segment, blobs) and one to settle: 14
runs for 100 blocks with the default sizes, against 30 for the direct
pipeline's ten 10-block batches. All on the in-process executor (see jobs.py).
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from orchestrator_pipelines.jobs import PRIORITY_TAG, PROVER_SUBMIT_TAG, SETTLEMENT_TAG

open_aggregation_job = define_asset_job(
    "open_aggregation",
    selection=AssetSelection.assets("aggregation"),
    executor_def=in_process_executor,
    tags={PROVER_SUBMIT_TAG: "submit", PRIORITY_TAG: "1"},
    description="Open the prover-side aggregation (Atlantic bucket) of an aggregator batch.",
)

prove_snos_batch_job = define_asset_job(
    "prove_snos_batch",
    selection=AssetSelection.assets("snos_batch_output", "child_proof"),
    executor_def=in_process_executor,
    tags={PROVER_SUBMIT_TAG: "submit"},
    description="Run the OS over one SNOS batch (full output) and submit it as a child of its aggregation.",
)

submit_snos_child_job = define_asset_job(
    "submit_snos_child",
    selection=AssetSelection.assets("child_proof"),
    executor_def=in_process_executor,
    tags={PROVER_SUBMIT_TAG: "submit", PRIORITY_TAG: "1"},
    description="Submit an already-run SNOS batch to a new aggregation after the previous one failed.",
)

close_aggregation_job = define_asset_job(
    "close_aggregation",
    selection=AssetSelection.assets("aggregator_batch"),
    executor_def=in_process_executor,
    tags={PRIORITY_TAG: "1"},
    description="Record the closed aggregator batch and close its aggregation once every child is submitted.",
)

record_aggregation_job = define_asset_job(
    "record_aggregation",
    selection=AssetSelection.assets("aggregator_proof", "aggregator_da_blob"),
    executor_def=in_process_executor,
    tags={PRIORITY_TAG: "1"},
    description="Record the finished aggregation (aggregator PIE, DA segment, fact on L1) and build the blobs.",
)

settle_aggregator_batch_job = define_asset_job(
    "settle_aggregator_batch",
    selection=AssetSelection.assets("aggregator_state_update"),
    executor_def=in_process_executor,
    tags={SETTLEMENT_TAG: "l1", PRIORITY_TAG: "2"},
    description="Send the aggregator batch's updateStateKzgDA blob transaction (strictly in order).",
)

AGGREGATION_JOBS = [
    open_aggregation_job,
    prove_snos_batch_job,
    submit_snos_child_job,
    close_aggregation_job,
    record_aggregation_job,
    settle_aggregator_batch_job,
]

JOB_FOR_ACTION = {
    "open": open_aggregation_job,
    "prove_child": prove_snos_batch_job,
    "submit_child": submit_snos_child_job,
    "close": close_aggregation_job,
    "record": record_aggregation_job,
}
