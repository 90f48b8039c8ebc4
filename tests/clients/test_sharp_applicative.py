"""The SHARP applicative path against the devnet gateway: children, then the aggregator PIE over their keys."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from eth_hash.auto import keccak

from orchestrator_pipelines.clients.prover import AggregationStatus, SharpClient, applicative_job_key
from orchestrator_pipelines.devnet.prover import ProverConfig, ProverServer
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.cairo_pie import pie_zip_bytes

PROGRAM = [0x208B7FFF7FFF7FFE]
AGGREGATOR_PIE = pie_zip_bytes(PROGRAM, [2, 4, 0, 1, 4, 0, 2, 99], n_steps=500)
AGGREGATOR_FACT = keccak(b"devnet aggregator fact")


def aggregator_fact_of(path: Path) -> bytes:
    """The gateway's fact of an aggregator PIE; here only the one PIE these tests send is known."""
    assert path.read_bytes() == AGGREGATOR_PIE, "the gateway received another PIE than the one sent"
    return AGGREGATOR_FACT


class L1Facts:
    """What the test lets the fact checker see on L1."""

    def __init__(self) -> None:
        self.valid: set[bytes] = set()

    def __call__(self, fact: bytes) -> bool:
        return fact in self.valid


@pytest.fixture
def gateway() -> Iterator[ProverServer]:
    config = ProverConfig(api_key="k", proving_delay_s=0.3, aggregator_fact=aggregator_fact_of)
    with ProverServer(config) as server:
        yield server


def wait(client: SharpClient, key: str, until, deadline_s: float = 20) -> AggregationStatus:
    end = time.monotonic() + deadline_s
    while not until(status := client.aggregation_status(key, fact=AGGREGATOR_FACT)):
        assert time.monotonic() < end, status.detail
        time.sleep(0.05)
    return status


def submit_children(client: SharpClient, aggregation: str, n: int) -> list[str]:
    return [client.submit_child(pie_zip_bytes(PROGRAM, [i, i], n_steps=100), aggregation_id=aggregation, index=i,
                                dedup_id=f"child-{aggregation}-{i}", n_steps=100) for i in range(1, n + 1)]


def test_applicative_job_is_done_when_processed_and_the_fact_is_valid_on_l1(gateway: ProverServer) -> None:
    l1 = L1Facts()
    client = SharpClient(gateway.url + "/v1/gateway", "customer", fact_checker=l1, attempts=1, timeout_s=10)
    aggregation = client.open_aggregation(external_id="agg-1")
    children = submit_children(client, aggregation, 2)
    end = time.monotonic() + 20
    while any(client.child_status(c).state != "done" for c in children):
        assert time.monotonic() < end
        time.sleep(0.05)
    key = client.close_aggregation(aggregation, aggregator_pie=AGGREGATOR_PIE, aggregator_fact=AGGREGATOR_FACT,
                                   children_job_ids=children)
    assert key == applicative_job_key(AGGREGATOR_FACT)
    # submitting again is harmless: same key, same job
    assert client.close_aggregation(aggregation, aggregator_pie=AGGREGATOR_PIE, aggregator_fact=AGGREGATOR_FACT,
                                    children_job_ids=children) == key
    processed = wait(client, key, lambda s: s.service_status == "PROCESSED")
    assert processed.state == "pending" and "not yet valid on L1" in processed.detail
    l1.valid.add(AGGREGATOR_FACT)
    assert wait(client, key, lambda s: s.state != "pending").state == "done"
    assert client.aggregation_artifacts(key) is None
    proof = requests.get(f"{gateway.url}/get_proof", params={"customer_id": "customer", "cairo_job_key": key}, timeout=10)
    assert proof.json()["fact_hash"] == "0x" + AGGREGATOR_FACT.hex()


def test_a_failed_child_fails_the_applicative_job(gateway: ProverServer) -> None:
    client = SharpClient(gateway.url, "customer", attempts=1, timeout_s=10)
    aggregation = client.open_aggregation(external_id="agg-2")
    requests.post(f"{gateway.url}/_devnet/fail-next", params={"count": 1}, headers={"api-key": "k"}, timeout=10)
    children = submit_children(client, aggregation, 2)
    key = client.close_aggregation(aggregation, aggregator_pie=AGGREGATOR_PIE, aggregator_fact=AGGREGATOR_FACT,
                                   children_job_ids=children)
    failed = wait(client, key, lambda s: s.state != "pending")
    assert failed.state == "failed"
    assert f"child job {children[0]} FAILED" in failed.detail


def test_the_gateway_refuses_an_applicative_job_over_unknown_or_no_children(gateway: ProverServer) -> None:
    client = SharpClient(gateway.url, "customer", attempts=1, timeout_s=10)
    with pytest.raises(OrchestratorError, match="SHARP add_applicative_job: HTTP 400: children_cairo_job_keys: unknown job nope"):
        client.add_applicative_job(AGGREGATOR_PIE, cairo_job_key="k1", children_cairo_job_keys=["nope"])
    raw = requests.post(f"{gateway.url}/add_applicative_job",
                        params={"customer_id": "c", "cairo_job_key": "k2", "offchain_proof": "false"},
                        json={"cairo_pie_encoded": ""}, timeout=10)
    assert raw.status_code == 400
    assert raw.json()["message"] == "children_cairo_job_keys must be a non-empty list of job keys"
    with pytest.raises(OrchestratorError, match="needs the aggregator PIE, its fact and the children's job keys"):
        client.close_aggregation("local", aggregator_pie=AGGREGATOR_PIE)
