"""The ZKsync OS jobs; about three runs per batch (prepare, commit) plus one per proven and executed range.

In-process executor, as the Starknet stack: a run of a few light steps costs
far less than a process per step. Each L1 step has its own concurrency tag so
one transaction per step is in flight, in order.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

ZKOS_L1_TAG = "orchestrator/zkos-l1"
PRIORITY_TAG = "dagster/priority"

zkos_genesis_job = define_asset_job(
    "zkos_record_genesis",
    selection=AssetSelection.assets("zkos_batch"),
    executor_def=in_process_executor,
    description="Record batch 0 (the chain's genesis) after checking it against L1's storedBatchHash(0).",
)

zkos_prepare_job = define_asset_job(
    "zkos_prepare_batch",
    selection=AssetSelection.assets("zkos_batch", "zkos_prover_input"),
    executor_def=in_process_executor,
    description="Build the batch's commit info and prover input from the node's blocks; offer its FRI job.",
)

zkos_commit_job = define_asset_job(
    "zkos_commit_batch",
    selection=AssetSelection.assets("zkos_fri_proof", "zkos_commit"),
    executor_def=in_process_executor,
    tags={ZKOS_L1_TAG: "commit", PRIORITY_TAG: "2"},
    description="Record the submitted FRI proof and commit the batch on L1 (strictly in order).",
)

zkos_prove_job = define_asset_job(
    "zkos_prove_batches",
    selection=AssetSelection.assets("zkos_snark_proof", "zkos_prove"),
    executor_def=in_process_executor,
    tags={ZKOS_L1_TAG: "prove", PRIORITY_TAG: "2"},
    description="Record the SNARK proof of a range and prove the range on L1.",
)

zkos_execute_job = define_asset_job(
    "zkos_execute_batches",
    selection=AssetSelection.assets("zkos_execute"),
    executor_def=in_process_executor,
    tags={ZKOS_L1_TAG: "execute", PRIORITY_TAG: "2"},
    description="Execute a proven range on L1 with its priority operations.",
)

ZKOS_JOBS = [zkos_genesis_job, zkos_prepare_job, zkos_commit_job, zkos_prove_job, zkos_execute_job]
