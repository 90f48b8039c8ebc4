"""Peers that answer well-formed but wrong: another chain id, another hash for a batched or settled block.

Real parts: the devnet node and anvil behind :class:`tests.fault_proxy.FaultProxy`
(which rewrites one JSON-RPC result and forwards everything else), the real
sensors and jobs on a persistent Dagster instance, alerts through SNS (moto)
read back from SQS. What must hold: nothing is batched or settled through a
peer of another chain, nor is a batch whose last block the node now reports
with another hash; each case is one readable line and one alert; the pipeline
resumes by itself once the peer heals.
"""

from __future__ import annotations

import pytest

from orchestrator_pipelines.local_runner import LocalRunner
from resources import chain_ids
from tests.fault_proxy import FaultProxy, rewrite_result
from tests.pipeline.sensor_helpers import (
    all_succeeded,
    definitions_with,
    keys,
    latest_metadata,
    mined_nonce,
    prepare,
    produce_blocks,
    prove,
    runs_of,
    settlement_client,
)

FORKED_HASH = "0xbad"


def other_chain_id(value: str):
    return rewrite_result("starknet_chainId", lambda params, result: value)


def forked_block(number: int):
    def change(params, result):
        if (params or {}).get("block_id", {}).get("block_number") == number:
            return {**result, "block_hash": FORKED_HASH}
        return result

    return rewrite_result("starknet_getBlockWithTxHashes", change)


@pytest.fixture
def node_proxy(manual_pipeline):
    with FaultProxy(manual_pipeline.env["ORCHESTRATOR_MADARA_RPC_URL"], rate=0, seed=1) as proxy:
        yield proxy


@pytest.fixture
def l1_proxy(manual_pipeline):
    with FaultProxy(manual_pipeline.env["ORCHESTRATOR_ETHEREUM_RPC_URL"], rate=0, seed=1) as proxy:
        yield proxy


def through(pipeline, sns_inbox, node_proxy, l1_proxy, **overrides):
    """The pipeline's code location reading the node and L1 through the proxies (SNOS reads the node directly)."""
    return definitions_with(
        pipeline, madara_rpc_url=node_proxy.url, ethereum_rpc_url=l1_proxy.url, snos_rpc_url=pipeline.settings.snos_rpc,
        max_batch_blocks=4, max_batch_age_s=3600, **sns_inbox.settings(), **overrides,
    )


@pytest.mark.e2e
def test_a_node_then_an_l1_of_another_chain_stop_batching_and_settlement_until_they_heal(
    manual_pipeline, sns_inbox, node_proxy, l1_proxy, monkeypatch
):
    # A matching chain id is trusted for a minute; here a peer turns into another chain within seconds.
    monkeypatch.setattr(chain_ids, "CHAIN_ID_RECHECK_S", 0.0)
    pipeline = manual_pipeline
    instance = pipeline.instance
    assert pipeline.settings.madara_chain_id == "MADARA_DEVNET" and pipeline.settings.l1_chain_id == 31337
    client = settlement_client(pipeline)
    nonce = mined_nonce(client)
    produce_blocks(pipeline, 4)

    node_proxy.rewrite = other_chain_id("0x534e5f4d41494e")  # SN_MAIN
    runner = LocalRunner(through(pipeline, sns_inbox, node_proxy, l1_proxy), instance)
    refused = (
        f"Madara node at {node_proxy.url} reports chain id SN_MAIN, expected MADARA_DEVNET "
        "(ORCHESTRATOR_MADARA_CHAIN_ID): nothing is batched or settled from it"
    )
    for _ in range(2):
        report = runner.tick("batching_sensor")
        assert not report.runs and report.skip_reason == refused
    assert not instance.get_dynamic_partitions("batches")
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] batching_sensor stopped: a peer reports another chain"]
    assert refused in alerts[0]["Message"]

    node_proxy.rewrite = None  # healed: the same sensor goes on from where it stopped
    prepare(runner, keys(0))
    prove(runner, keys(0))

    l1_proxy.rewrite = rewrite_result("eth_chainId", lambda params, result: "0x1")
    runner = LocalRunner(through(pipeline, sns_inbox, node_proxy, l1_proxy), instance)
    refused = (
        f"Ethereum RPC at {l1_proxy.url} reports chain id 1, expected 31337 (ORCHESTRATOR_L1_CHAIN_ID): "
        "nothing is settled through it"
    )
    for _ in range(2):
        report = runner.tick("settlement_sensor")
        assert not report.runs and report.skip_reason == refused
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] settlement_sensor stopped: a peer reports another chain"]
    # A settle run started by hand refuses too, with the same line and without a retry.
    settle = runner.defs.resolve_job_def("settle_batch").execute_in_process(
        instance=instance, partition_key="000000", raise_on_error=False
    )
    assert not settle.success
    failure = next(e for e in settle.all_events if e.is_step_failure).step_failure_data.error.message
    assert f"state_update of batch 000000: {refused}" in failure
    assert client.state().block_number == 0 and mined_nonce(client) == nonce

    l1_proxy.rewrite = None
    runs = all_succeeded(runner.tick_until_idle("settlement_sensor"))
    assert [run.tags["dagster/partition"] for run in runs] == ["000000"]
    assert client.state().block_number == 4 and mined_nonce(client) == nonce + 1
    assert runs_of(instance, "settle_batch", "000000") == 2  # the refused one by hand, then the sensor's
    assert sns_inbox.receive(wait_s=1) == []


@pytest.mark.e2e
def test_a_node_reporting_another_hash_for_a_batched_block_holds_it_and_for_a_settled_block_alerts(
    manual_pipeline, sns_inbox, node_proxy, l1_proxy
):
    pipeline = manual_pipeline
    instance = pipeline.instance
    client = settlement_client(pipeline)
    nonce = mined_nonce(client)
    runner = LocalRunner(through(pipeline, sns_inbox, node_proxy, l1_proxy), instance)
    produce_blocks(pipeline, 8)
    prepare(runner, keys(0, 1))
    prove(runner, keys(0, 1))

    node_proxy.rewrite = forked_block(4)  # batch 0's last block
    recorded = latest_metadata(instance, "snos_output", "000000")
    recorded_hash = hex(int(pipeline.stack.node.state.block(4).block_hash))
    held = f"batch 000000 held: node reports block 4 hash {FORKED_HASH}, batch 000000 recorded {recorded_hash}"
    for _ in range(2):
        report = runner.tick("settlement_sensor")
        assert not report.runs and report.skip_reason == held, (report.skip_reason, recorded)
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] Settlement held at batch 000000"]
    assert held in alerts[0]["Message"]
    assert runs_of(instance, "settle_batch", "000000") == 0
    assert client.state().block_number == 0 and mined_nonce(client) == nonce

    node_proxy.rewrite = None
    runs = all_succeeded(runner.tick_until_idle("settlement_sensor"))
    assert [run.tags["dagster/partition"] for run in runs] == ["000000", "000001"]
    assert client.state().block_number == 8 and mined_nonce(client) == nonce + 2

    node_proxy.rewrite = forked_block(8)  # batch 1 is settled: the node forked below L1's state
    for _ in range(2):
        assert not runner.tick("settlement_sensor").runs
    alerts = sns_inbox.receive(wait_s=1) + sns_inbox.receive(wait_s=1)
    assert [a["Subject"] for a in alerts] == ["[CRITICAL] L2 reorganised below settled batch 000001"]
    assert f"node reports block 8 hash {FORKED_HASH}, batch 000001 recorded" in alerts[0]["Message"]
    assert mined_nonce(client) == nonce + 2
