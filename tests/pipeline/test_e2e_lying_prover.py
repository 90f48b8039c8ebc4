"""A prover that reports DONE without registering the fact on L1: settlement of that batch is held, not attempted.

Real parts: the devnet node, the devnet prover told to lie about the next
query (``/_devnet/unregistered-next``), anvil with the fact registry and the
core contract, the real sensors and jobs on a persistent Dagster instance, and
alerts through SNS (moto) read back from SQS.
"""

from __future__ import annotations

import pytest

from orchestrator_pipelines.devnet.l1_deploy import register_fact
from orchestrator_pipelines.local_runner import LocalRunner
from tests.pipeline.aggregated_e2e import devnet_prover_control
from tests.pipeline.sensor_helpers import (
    all_succeeded,
    definitions_with,
    evaluate,
    keys,
    latest_metadata,
    mined_nonce,
    prepare,
    produce_blocks,
    prove,
    runs_of,
    settlement_client,
)


def lie_about_next_proofs(pipeline, count: int) -> None:
    devnet_prover_control(pipeline.stack, pipeline.env, "unregistered-next", count)


@pytest.mark.e2e
def test_a_proof_done_without_its_fact_on_l1_holds_the_batch_until_the_fact_is_registered_and_rechecked(
    manual_pipeline, sns_inbox
):
    pipeline = manual_pipeline
    instance = pipeline.instance
    defs = definitions_with(pipeline, max_batch_blocks=4, max_batch_age_s=3600, **sns_inbox.settings())
    runner = LocalRunner(defs, instance)
    failures = evaluate(defs, instance, "run_failure_alert_sensor", None).cursor
    client = settlement_client(pipeline)
    nonce = mined_nonce(client)

    lie_about_next_proofs(pipeline, 1)  # batch 0's query; batch 1's prover is honest
    produce_blocks(pipeline, 8)
    prepare(runner, keys(0, 1))
    prove(runner, keys(0, 1))  # recording the proofs succeeds: the prover did say DONE
    fact = latest_metadata(instance, "proof", "000000")["fact"]
    assert latest_metadata(instance, "proof", "000000")["fact_valid_on_l1"] is False
    assert latest_metadata(instance, "proof", "000001")["fact_valid_on_l1"] is True
    assert not client.is_fact_valid(bytes.fromhex(fact[2:]))

    held = f"batch 000000 held: proof fact {fact} is not registered on L1 (check fact_registered_on_l1 failed)"
    for _ in range(3):
        report = runner.tick("settlement_sensor")
        assert not report.runs and report.skip_reason == held
    assert runs_of(instance, "settle_batch", "000000") == runs_of(instance, "settle_batch", "000001") == 0
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Settlement held at batch 000000"]
    assert held in alerts[0]["Message"]
    # No run failed, so no generic run-failure alert either.
    evaluate(defs, instance, "run_failure_alert_sensor", failures)
    assert sns_inbox.receive(wait_s=1) == []
    assert client.state().block_number == 0 and mined_nonce(client) == nonce

    # The fact reaches the registry; the batch stays held until the check says so for it.
    register_fact(
        pipeline.env["ORCHESTRATOR_ETHEREUM_RPC_URL"], pipeline.stack.fact_registrar_account.private_key,
        pipeline.env["ORCHESTRATOR_FACT_REGISTRY_ADDRESS"], bytes.fromhex(fact[2:]),
    )
    assert runner.tick("settlement_sensor").skip_reason == held
    recheck = defs.resolve_job_def("record_proof").execute_in_process(instance=instance, partition_key="000000")
    assert recheck.success and latest_metadata(instance, "proof", "000000")["fact_valid_on_l1"] is True

    runs = all_succeeded(runner.tick_until_idle("settlement_sensor"))
    assert [run.tags["dagster/partition"] for run in runs] == ["000000", "000001"]
    assert client.state().block_number == 8
    # Exactly one state update per batch: two settle runs, two transactions from the settlement account.
    assert runs_of(instance, "settle_batch", "000000") == runs_of(instance, "settle_batch", "000001") == 1
    assert mined_nonce(client) == nonce + 2
    tx_hashes = {latest_metadata(instance, "state_update", key)["tx_hash"] for key in keys(0, 1)}
    assert len(tx_hashes) == 2
    assert sns_inbox.receive(wait_s=1) == []
