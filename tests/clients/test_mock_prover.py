"""``PROVER=mock`` registers the fact itself on a mock verifier (a real anvil with the devnet fact registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from eth_hash.auto import keccak

from orchestrator_pipelines.clients.prover import MockProverClient, MockVerifier
from orchestrator_pipelines.errors import OrchestratorError

FIBONACCI_FACT = bytes.fromhex("ca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782")


@pytest.fixture(scope="module")
def verifier() -> Iterator[MockVerifier]:
    from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, AnvilProcess
    from orchestrator_pipelines.devnet.l1_deploy import deploy_settlement_contracts

    with AnvilProcess() as anvil:
        deployed = deploy_settlement_contracts(anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=1, config_hash=2,
                                               genesis_root=0, genesis_block_number=0, genesis_block_hash=0)
        yield MockVerifier(anvil.url, deployed.fact_registry, DEPLOYER_ACCOUNT.private_key)


def test_direct_path_registers_the_pie_fact_once(verifier: MockVerifier, vectors_dir: Path) -> None:
    client = MockProverClient(verifier)
    assert not verifier.is_valid(FIBONACCI_FACT)
    job = client.submit(vectors_dir / "cairo_pie" / "fibonacci.zip", dedup_id="fib", n_steps=1000, layout="dynamic")
    assert job == "mock-fact-" + FIBONACCI_FACT.hex()
    assert client.registrations[job].startswith("0x")
    assert verifier.is_valid(FIBONACCI_FACT)
    assert client.status(job).state == "done"
    # a retried submission sends nothing: the fact is valid already
    assert client.submit(vectors_dir / "cairo_pie" / "fibonacci.zip", dedup_id="fib", n_steps=1000, layout="dynamic") == job
    assert client.registrations[job] is None
    assert client.fetch_proof(job) is None


def test_aggregation_registers_the_aggregator_fact(verifier: MockVerifier) -> None:
    client = MockProverClient(verifier)
    fact = keccak(b"aggregator output of batch 3")
    aggregation = client.open_aggregation(external_id="agg-3")
    child = client.submit_child(b"pie", aggregation_id=aggregation, index=1, dedup_id="c1", n_steps=10)
    assert client.child_status(child).state == "done"
    assert client.aggregation_status(aggregation, fact=fact).state == "pending"
    key = client.close_aggregation(aggregation, aggregator_fact=fact)
    assert client.aggregation_status(key, fact=fact).state == "done"
    assert client.aggregation_status(key).state == "done"
    assert verifier.is_valid(fact)
    assert client.aggregation_artifacts(key) is None


def test_without_a_verifier_nothing_is_registered_and_the_key_is_refused_when_bad() -> None:
    client = MockProverClient()
    fact = keccak(b"anything")
    assert client.aggregation_status(client.close_aggregation("a", aggregator_fact=fact)).state == "done"
    with pytest.raises(OrchestratorError, match="does not name a fact"):
        client.status("not-a-mock-job")
    with pytest.raises(OrchestratorError, match="needs the aggregator fact"):
        client.close_aggregation("a")
    with pytest.raises(OrchestratorError, match="is not an address"):
        MockVerifier("http://127.0.0.1:1", "0x1234", "0x" + "11" * 32)
