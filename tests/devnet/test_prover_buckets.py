"""Atlantic buckets on the devnet prover, driven through the real client: the life cycle and the real rules."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from eth_hash.auto import keccak

from orchestrator_pipelines.clients.prover import AggregationStatus, AtlanticClient, BucketParams
from orchestrator_pipelines.devnet.prover import ProverConfig, ProverServer
from orchestrator_pipelines.devnet.prover_aggregation import DevnetAggregation
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.cairo_pie import pie_zip_bytes

API_KEY = "bucket-key"
PROGRAM = [0x208B7FFF7FFF7FFE]


class RecordingAggregator:
    """Stands in for the aggregation domain code: records what the prover hands it, answers deterministically."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[list[int]], dict[str, Any]]] = []

    def __call__(self, outputs: list[list[int]], params: dict[str, Any]) -> DevnetAggregation:
        self.calls.append((outputs, params))
        output = [len(outputs)] + [word for child in outputs for word in child]
        fact = keccak(b"".join(w.to_bytes(32, "big") for w in output))
        return DevnetAggregation(cairo_pie=b"PK-aggregator-" + fact, output=output,
                                 da_segment=[sum(output), 7], fact=fact)


def child_pie(marker: int) -> bytes:
    return pie_zip_bytes(PROGRAM, [marker, marker + 1], n_steps=100)


@pytest.fixture
def aggregator() -> RecordingAggregator:
    return RecordingAggregator()


@pytest.fixture
def prover(aggregator: RecordingAggregator) -> Iterator[ProverServer]:
    with ProverServer(ProverConfig(api_key=API_KEY, proving_delay_s=0.3, aggregator=aggregator)) as server:
        yield server


def atlantic(url: str, **kwargs: Any) -> AtlanticClient:
    params = BucketParams(chain_id_hex="0x534e5f5345504f4c4941", fee_token_address="0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d")
    return AtlanticClient(url, API_KEY, artifacts_base_url=url, bucket=params, timeout_s=10, attempts=1, **kwargs)


@pytest.fixture
def client(prover: ProverServer) -> AtlanticClient:
    return atlantic(prover.url)


def wait_bucket(client: AtlanticClient, bucket_id: str, deadline_s: float = 20) -> tuple[AggregationStatus, list[str]]:
    seen: list[str] = []
    end = time.monotonic() + deadline_s
    while True:
        status = client.aggregation_status(bucket_id)
        if not seen or seen[-1] != status.service_status:
            seen.append(status.service_status)
        if status.state != "pending":
            return status, seen
        assert time.monotonic() < end, f"bucket {bucket_id} still {seen}"
        time.sleep(0.05)


def api_error(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"message", "error", "statusCode"} and body["statusCode"] == response.status_code
    return response.status_code, body["message"]


def test_bucket_life_cycle_ends_with_the_aggregators_artifacts(
    prover: ProverServer, client: AtlanticClient, aggregator: RecordingAggregator
) -> None:
    bucket_id = client.open_aggregation(external_id="agg-batch-1")
    assert client.get_bucket(bucket_id).status == "OPEN"
    # children may arrive out of order; the aggregator sees them by bucketJobIndex
    second = client.submit_child(child_pie(20), aggregation_id=bucket_id, index=2, dedup_id="snos-2", n_steps=100)
    first = client.submit_child(child_pie(10), aggregation_id=bucket_id, index=1, dedup_id="snos-1", n_steps=100)
    pending = client.aggregation_status(bucket_id)
    assert pending.state == "pending" and pending.service_status == "OPEN"
    assert [(c.index, c.job_id) for c in pending.children] == [(1, first), (2, second)]
    assert client.close_aggregation(bucket_id) == bucket_id
    status, seen = wait_bucket(client, bucket_id)
    assert status.state == "done", status.detail
    assert seen[0] == "IN_PROGRESS" and seen[-1] == "DONE"
    assert [c.state for c in status.children] == ["done", "done"]
    outputs, params = aggregator.calls[0]
    assert outputs == [[10, 11], [20, 21]]
    assert params == {"use_kzg_da": True, "full_output": False, "chain_id_hex": "0x534e5f5345504f4c4941",
                      "fee_token_address": "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d"}
    bucket = client.get_bucket(bucket_id)
    aggregation = bucket.aggregation_query
    assert aggregation is not None and aggregation.id == status.aggregation_job_id
    assert aggregation.step == "FACT_HASH_REGISTRATION" and aggregation.status == "DONE"
    expected = aggregator(outputs, params)
    assert aggregation.fact == "0x" + expected.fact.hex()
    artifacts = client.aggregation_artifacts(bucket_id)
    assert artifacts.cairo_pie == expected.cairo_pie
    assert artifacts.da_segment == expected.da_segment
    # the artifacts are where object storage serves them, under the aggregation query
    raw = requests.get(f"{prover.url}/queries/{aggregation.id}/da_blob.json", timeout=10)
    assert raw.json() == [hex(x) for x in expected.da_segment]
    assert bucket.raw["bucket"]["externalId"] == "agg-batch-1"
    assert bucket.raw["bucket"]["aggregatorVersion"] == "snos_aggregator_0.14.1"


def test_a_closed_bucket_takes_no_child_and_closing_twice_is_harmless(client: AtlanticClient, prover: ProverServer) -> None:
    bucket_id = client.create_bucket(external_id="closed")
    client.submit(child_pie(1), dedup_id="c1", n_steps=100, layout="dynamic", bucket_id=bucket_id, bucket_job_index=1)
    assert client.close_bucket(bucket_id) == "IN_PROGRESS"
    with pytest.raises(OrchestratorError, match=rf"Atlantic submit: HTTP 400: bucket {bucket_id} is (IN_PROGRESS|DONE): it takes no more queries"):
        client.submit(child_pie(2), dedup_id="c2", n_steps=100, layout="dynamic", bucket_id=bucket_id, bucket_job_index=2)
    assert client.close_bucket(bucket_id) in ("IN_PROGRESS", "DONE")
    raw = requests.post(f"{prover.url}/buckets/close", params={"bucketId": bucket_id}, headers={"api-key": API_KEY}, timeout=10)
    assert api_error(raw)[0] == 400 and "only an OPEN bucket can be closed" in api_error(raw)[1]


def test_indexes_must_be_one_to_n_without_gaps_or_repeats(client: AtlanticClient, prover: ProverServer) -> None:
    bucket_id = client.create_bucket(external_id="gaps")
    raw_close = lambda: requests.post(f"{prover.url}/buckets/close", params={"bucketId": bucket_id},  # noqa: E731
                                      headers={"api-key": API_KEY}, timeout=10)
    assert api_error(raw_close()) == (400, f"bucket {bucket_id} has no queries: nothing to aggregate")
    client.submit_child(child_pie(1), aggregation_id=bucket_id, index=1, dedup_id="g1", n_steps=100)
    client.submit_child(child_pie(3), aggregation_id=bucket_id, index=3, dedup_id="g3", n_steps=100)
    with pytest.raises(OrchestratorError, match="HTTP 409: bucket .* already has a query at bucketJobIndex 3"):
        client.submit_child(child_pie(4), aggregation_id=bucket_id, index=3, dedup_id="g3-again", n_steps=100)
    assert api_error(raw_close()) == (400, f"bucket {bucket_id}: bucketJobIndex values must be 1..3 without gaps; missing 2")
    client.submit_child(child_pie(2), aggregation_id=bucket_id, index=2, dedup_id="g2", n_steps=100)
    assert raw_close().status_code == 200
    assert wait_bucket(client, bucket_id)[0].state == "done"


def test_unknown_bucket_is_the_real_404(client: AtlanticClient, prover: ProverServer) -> None:
    with pytest.raises(OrchestratorError, match="Atlantic get bucket: HTTP 404: bucket nope not found"):
        client.get_bucket("nope")
    with pytest.raises(OrchestratorError, match="Atlantic submit: HTTP 404: bucket nope not found"):
        client.submit_child(child_pie(1), aggregation_id="nope", index=1, dedup_id="orphan", n_steps=100)
    raw = requests.post(f"{prover.url}/buckets/close", params={"bucketId": "nope"}, headers={"api-key": API_KEY}, timeout=10)
    assert api_error(raw) == (404, "bucket nope not found")
    assert raw.json()["error"] == "Not Found"


def test_a_failed_child_fails_its_bucket(client: AtlanticClient, prover: ProverServer, aggregator: RecordingAggregator) -> None:
    bucket_id = client.open_aggregation(external_id="doomed")
    client.submit_child(child_pie(1), aggregation_id=bucket_id, index=1, dedup_id="ok-1", n_steps=100)
    requests.post(f"{prover.url}/_devnet/fail-next", params={"count": 1}, headers={"api-key": API_KEY}, timeout=10)
    doomed = client.submit_child(child_pie(2), aggregation_id=bucket_id, index=2, dedup_id="bad-2", n_steps=100)
    status, seen = wait_bucket(client, bucket_id)
    assert status.state == "failed" and seen[-1] == "FAILED"
    assert [(c.index, c.job_id) for c in status.failed_children] == [(2, doomed)]
    assert f"child 2 (query {doomed}) FAILED" in status.detail
    with pytest.raises(OrchestratorError, match="is FAILED: it takes no more queries"):
        client.submit_child(child_pie(3), aggregation_id=bucket_id, index=3, dedup_id="late-3", n_steps=100)
    assert aggregator.calls == []


def test_the_aggregation_failing_fails_the_bucket_with_the_reason(prover: ProverServer) -> None:
    def broken(outputs: list[list[int]], params: dict[str, Any]) -> DevnetAggregation:
        raise ValueError("child 1 output is not a full-output SNOS output")

    with ProverServer(ProverConfig(api_key=API_KEY, proving_delay_s=0.2, aggregator=broken)) as server:
        client = atlantic(server.url)
        bucket_id = client.open_aggregation(external_id="broken")
        client.submit_child(child_pie(1), aggregation_id=bucket_id, index=1, dedup_id="b1", n_steps=100)
        client.close_aggregation(bucket_id)
        status, _ = wait_bucket(client, bucket_id)
    assert status.state == "failed"
    assert "aggregation failed: child 1 output is not a full-output SNOS output" in status.detail


def test_bucket_children_are_proven_but_only_the_aggregation_fact_is_registered() -> None:
    from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, FACT_REGISTRAR_ACCOUNT, AnvilProcess
    from orchestrator_pipelines.devnet.l1_deploy import deploy_settlement_contracts, transfer_fact_registry_ownership
    from tests.devnet.test_prover import fact_is_valid

    aggregator = RecordingAggregator()
    with AnvilProcess() as anvil:
        deployed = deploy_settlement_contracts(anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=1, config_hash=2,
                                               genesis_root=0, genesis_block_number=0, genesis_block_hash=0)
        transfer_fact_registry_ownership(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry,
                                         FACT_REGISTRAR_ACCOUNT.address)
        on_l1 = lambda fact: fact_is_valid(anvil.url, deployed.fact_registry, fact)  # noqa: E731
        config = ProverConfig(api_key=API_KEY, proving_delay_s=0.3, aggregator=aggregator, l1_rpc_url=anvil.url,
                              fact_registry_address=deployed.fact_registry,
                              registrar_private_key=FACT_REGISTRAR_ACCOUNT.private_key)
        with ProverServer(config) as server:
            client = atlantic(server.url, fact_checker=on_l1)
            bucket_id = client.open_aggregation(external_id="on-l1")
            child = client.submit_child(child_pie(5), aggregation_id=bucket_id, index=1, dedup_id="l1-child", n_steps=100)
            client.close_aggregation(bucket_id)
            status, _ = wait_bucket(client, bucket_id)
            assert status.state == "done", status.detail
            fact = aggregator(*aggregator.calls[0]).fact
            assert client.aggregation_status(bucket_id, fact=fact).state == "done"
            assert client.aggregation_status(bucket_id, fact=b"\x01" * 32).state == "pending"
            aggregation = client.get_bucket(bucket_id).aggregation_query
            child_fact = bytes.fromhex(client.status(child).raw["atlanticQuery"]["sharpFactHash"][2:])
            tx = client.query(aggregation.id)["atlanticQuery"]["transactionId"]
        assert on_l1(fact) and tx.startswith("0x")
        assert not on_l1(child_fact)


def test_a_bucket_of_real_children_gives_the_real_aggregators_da_segment(vectors_dir: Path) -> None:
    """The devnet prover's default aggregator over the children of a real aggregation (blocks 309146..309148).

    Each child is submitted as its own PIE; on close the bucket's ``da_blob.json``
    and the KZG part of the aggregated output are those the real aggregator committed to.
    """
    from orchestrator_pipelines.starknet.aggregator import AggregatorPie
    from orchestrator_pipelines.starknet.os_output import parse_os_output

    real = AggregatorPie.from_zip(vectors_dir / "aggregator" / "309146_309148" / "local_aggregator_pie.zip")
    with ProverServer(ProverConfig(api_key=API_KEY, proving_delay_s=0.1)) as server:
        client = atlantic(server.url)
        bucket_id = client.open_aggregation(external_id="309146-309148")
        for index, child in enumerate(real.children, start=1):
            client.submit_child(pie_zip_bytes(PROGRAM, child.words(), n_steps=1000), aggregation_id=bucket_id,
                                index=index, dedup_id=f"real-{index}", n_steps=1000)
        client.close_aggregation(bucket_id)
        status, _ = wait_bucket(client, bucket_id, deadline_s=120)
        assert status.state == "done", status.detail
        artifacts = client.aggregation_artifacts(bucket_id)
    output = parse_os_output(AggregatorPie.from_zip(artifacts.cairo_pie).aggregated_words)
    assert (output.kzg.x0, output.kzg.commitments) == (real.aggregated.kzg.x0, real.aggregated.kzg.commitments)
    assert (output.new_block_number, output.final_root) == (real.aggregated.new_block_number, real.aggregated.final_root)
    assert len(artifacts.da_segment) > 0
