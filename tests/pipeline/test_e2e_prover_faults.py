"""A prover answering HTTP 500 fails the submission at once; the proof sensor requests it again until it heals.

Real parts: the devnet prover behind :class:`tests.fault_proxy.FaultProxy`, the
devnet node and anvil, the real sensors and jobs on a persistent Dagster
instance, alerts through SNS (moto) read back from SQS. The project's rule: a
gateway's 502/503/504 is retried inside the call, any other error answer is
the service's verdict and fails the step at once with its one-line message;
then the proof sensor requests the failed submission again, a bounded number
of times with a doubling pause, and the batch settles once the prover answers.
"""

from __future__ import annotations

import pytest
from dagster import DagsterRunStatus

from orchestrator_pipelines.clients.atlantic import AtlanticClient
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.local_runner import LocalRunner
from tests.fault_proxy import FaultProxy
from tests.pipeline.sensor_helpers import (
    all_succeeded,
    definitions_with,
    keys,
    produce_blocks,
    prove,
    runs_of,
    settlement_client,
    wait_for,
)


def failure_message(instance, run) -> str:
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is not None and event.is_step_failure:
            return event.step_failure_data.error.message.strip()
    raise AssertionError(f"run {run.run_id} has no step failure")


@pytest.mark.e2e
def test_a_prover_answering_http_500_fails_the_submission_at_once_and_it_is_requested_again_until_it_heals(
    manual_pipeline, sns_inbox
):
    pipeline = manual_pipeline
    instance = pipeline.instance
    api_key = pipeline.env["ORCHESTRATOR_ATLANTIC_API_KEY"]
    with FaultProxy(pipeline.stack.prover_url, rate=1.0, seed=1, faults=("http_503",)) as proxy:
        # A gateway's 503 is retried inside the call (3 tries), then left to the caller as transient.
        client = AtlanticClient(proxy.url, api_key, timeout_s=5, backoff_s=0.05)
        with pytest.raises(TransientError, match="HTTP 503"):
            client.status("no-such-query")
        assert proxy.counts["http_503"] == 3

        proxy.faults = ("http_500",)
        defs = definitions_with(
            pipeline, atlantic_service_url=proxy.url, max_batch_blocks=4, max_batch_age_s=3600,
            submit_retry_after_s=0.5, max_submit_attempts=3, **sns_inbox.settings(),
        )
        runner = LocalRunner(defs, instance)
        produce_blocks(pipeline, 4)
        [prepare_run] = runner.tick("batching_sensor").runs
        assert prepare_run.status == DagsterRunStatus.FAILURE
        error = failure_message(instance, prepare_run)
        assert "proof_request of batch 000000: Atlantic look-up: HTTP 500" in error and "\n" not in error
        assert proxy.counts["http_500"] == 1  # not retried: the service's verdict surfaces at once
        with pytest.raises(OrchestratorError, match="HTTP 500"):
            client.status("no-such-query")
        assert proxy.counts["http_500"] == 2

        # Still down: the proof sensor requests the submission again after the pause, and it fails again.
        resubmitted = wait_for(lambda: runner.tick("proof_sensor").runs, "a resubmission", deadline_s=10)
        assert [(run.job_name, run.status) for run in resubmitted] == [("submit_proof", DagsterRunStatus.FAILURE)]
        alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
        assert [a["Subject"] for a in alerts] == ["[WARNING] Proof submission retried for batch 000000"]
        assert (
            "proof submission of batch 000000 failed (1 runs): proof_request of batch 000000: "
            "Atlantic look-up: HTTP 500: internal server error (injected)"
        ) in alerts[0]["Message"]

        proxy.rate = 0  # healed: the next resubmission goes through, the proof is recorded, the batch settles
        prove(runner, keys(0))
        assert runs_of(instance, "submit_proof", "000000") == 2
        runs = all_succeeded(runner.tick_until_idle("settlement_sensor"))
        assert [run.tags["dagster/partition"] for run in runs] == ["000000"]
    assert settlement_client(pipeline).state().block_number == 4
    assert sns_inbox.receive(wait_s=1) == []
