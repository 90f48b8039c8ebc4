"""The devnet prover, driven through the real Atlantic client over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import pytest
import requests

from orchestrator_pipelines.clients.prover import AtlanticClient, ProofStatus
from orchestrator_pipelines.devnet.prover import DEDUP_EXISTS_MESSAGE, ProverConfig, ProverServer
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.cairo_pie import pie_zip_bytes

API_KEY = "test-key"
FIBONACCI_FACT = "0xca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782"


@pytest.fixture(scope="module")
def fibonacci_pie(vectors_dir: Path) -> Path:
    return vectors_dir / "cairo_pie" / "fibonacci.zip"


@pytest.fixture
def prover():
    with ProverServer(ProverConfig(api_key=API_KEY, proving_delay_s=1.0)) as server:
        yield server


@pytest.fixture
def client(prover: ProverServer) -> AtlanticClient:
    return devnet_client(prover.url)


def devnet_client(url: str, api_key: str = API_KEY, **kwargs) -> AtlanticClient:
    """The Atlantic client pointed at the devnet prover for the API and for the artifacts."""
    return AtlanticClient(url, api_key, artifacts_base_url=url, timeout_s=10, attempts=1, **kwargs)


def wait_for(client: AtlanticClient, query_id: str, until: Callable[[ProofStatus], bool],
             deadline_s: float = 20.0) -> tuple[ProofStatus, list[str]]:
    """Poll until ``until(status)``; returns the last status and the sequence of raw states seen."""
    seen: list[str] = []
    end = time.monotonic() + deadline_s
    while True:
        status = client.status(query_id)
        raw = status.raw["atlanticQuery"]["status"]
        if not seen or seen[-1] != raw:
            seen.append(raw)
        if until(status):
            return status, seen
        if time.monotonic() > end:
            raise AssertionError(f"query {query_id} still {seen} after {deadline_s}s")
        time.sleep(0.05)


def finished(status: ProofStatus) -> bool:
    return status.state != "pending"


def test_query_walks_received_in_progress_done(fibonacci_pie: Path) -> None:
    # Wide windows (1 s RECEIVED, 1 s IN_PROGRESS) so a loaded machine still sees every state.
    config = ProverConfig(api_key=API_KEY, proving_delay_s=2.0, received_fraction=0.5)
    with ProverServer(config) as server:
        client = devnet_client(server.url)
        query_id = client.submit(fibonacci_pie, dedup_id="fib-1", n_steps=1000, layout="dynamic")
        assert client.fetch_proof(query_id) is None
        status, seen = wait_for(client, query_id, finished)
        proof = client.fetch_proof(query_id)
    assert seen == ["RECEIVED", "IN_PROGRESS", "DONE"]
    assert status.state == "done"
    query = status.raw["atlanticQuery"]
    assert query["sharpFactHash"] == FIBONACCI_FACT
    assert query["id"] == query_id
    assert query["layout"] is None and query["declaredJobSize"] in ("S", "M", "L")
    assert query["cairoVm"] == "rust" and query["result"] == "PROOF_GENERATION"
    assert query["sharpProver"] == "stone" and query["isFactMocked"] is False
    assert query["completedAt"] >= query["createdAt"]
    assert proof is not None
    assert json.loads(proof)["fact_hash"] == FIBONACCI_FACT


def test_same_dedup_id_returns_same_query(prover: ProverServer, client: AtlanticClient, fibonacci_pie: Path) -> None:
    pie = fibonacci_pie.read_bytes()
    first = client.submit(pie, dedup_id="fact-abc", n_steps=1000, layout="dynamic")
    second = client.submit(pie, dedup_id="fact-abc", n_steps=1000, layout="dynamic")
    other = client.submit(pie, dedup_id="fact-def", n_steps=1000, layout="dynamic")
    assert first == second != other
    assert client.find_by_dedup_id("fact-abc") == first
    assert client.find_by_dedup_id("never-submitted") is None
    # The raw API answers a duplicate like the real service: 409 with the known message.
    answer = requests.post(
        f"{prover.url}/atlantic-query",
        headers={"api-key": API_KEY},
        data={"declaredJobSize": "S", "result": "PROOF_VERIFICATION", "network": "TESTNET",
              "cairoVersion": "cairo0", "dedupId": "fact-abc"},
        files={"pieFile": ("pie.zip", pie, "application/zip")},
        timeout=10,
    )
    assert answer.status_code == 409
    assert answer.json()["message"] == DEDUP_EXISTS_MESSAGE
    assert answer.json()["atlanticQueryId"] == first


def test_missing_or_wrong_api_key_is_a_clear_401(prover: ProverServer, fibonacci_pie: Path) -> None:
    wrong = devnet_client(prover.url, "not-the-key")
    with pytest.raises(OrchestratorError, match=r"Atlantic submit: HTTP 401: invalid api key"):
        wrong.submit(fibonacci_pie, dedup_id="x", n_steps=10, layout="dynamic")
    with pytest.raises(OrchestratorError, match="HTTP 401"):
        wrong.find_by_dedup_id("x")
    bare = requests.post(f"{prover.url}/_devnet/fail-next?count=1", timeout=10)
    assert bare.status_code == 401 and bare.json()["message"] == "missing api key"
    # the query-parameter form of the key is accepted, as by the real API
    ok = requests.post(f"{prover.url}/_devnet/fail-next?count=0&apiKey={API_KEY}", timeout=10)
    assert ok.status_code == 200


def test_fail_next_fails_exactly_one_query_then_retry_succeeds(
    prover: ProverServer, client: AtlanticClient, fibonacci_pie: Path
) -> None:
    answer = requests.post(f"{prover.url}/_devnet/fail-next", params={"count": 1},
                           headers={"api-key": API_KEY}, timeout=10)
    assert answer.json() == {"failNext": 1}
    doomed = client.submit(fibonacci_pie, dedup_id="batch-7", n_steps=1000, layout="dynamic")
    healthy = client.submit(fibonacci_pie, dedup_id="batch-8", n_steps=1000, layout="dynamic")
    failed, seen = wait_for(client, doomed, finished)
    assert failed.state == "failed" and seen[-1] == "FAILED"
    assert "fail-next" in failed.detail
    assert wait_for(client, healthy, finished)[0].state == "done"
    # A FAILED query frees its dedup id: the retry is a new query that succeeds.
    retry = client.submit(fibonacci_pie, dedup_id="batch-7", n_steps=1000, layout="dynamic")
    assert retry != doomed
    assert client.find_by_dedup_id("batch-7") == retry
    assert wait_for(client, retry, finished)[0].state == "done"


def test_unreadable_pie_fails_the_query_with_a_reason(client: AtlanticClient) -> None:
    query_id = client.submit(b"this is not a zip", dedup_id="junk", n_steps=10, layout="dynamic")
    status, _ = wait_for(client, query_id, finished)
    assert status.state == "failed"
    assert "trace generation failed" in status.detail


def test_failure_rate_is_seeded(fibonacci_pie: Path) -> None:
    def outcomes(seed: int) -> list[str]:
        config = ProverConfig(api_key=API_KEY, proving_delay_s=0.2, failure_rate=0.5, seed=seed)
        with ProverServer(config) as server:
            client = devnet_client(server.url)
            ids = [client.submit(fibonacci_pie, dedup_id=f"q{i}", n_steps=10, layout="dynamic") for i in range(8)]
            return [wait_for(client, qid, finished)[0].state for qid in ids]

    first = outcomes(seed=3)
    assert first == outcomes(seed=3)
    assert set(first) == {"done", "failed"}


def test_status_of_unknown_query_is_a_404_error(client: AtlanticClient) -> None:
    with pytest.raises(OrchestratorError, match=r"HTTP 404: atlantic query nope not found"):
        client.status("nope")


def test_is_alive(prover: ProverServer) -> None:
    assert requests.get(f"{prover.url}/is-alive", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def l1():
    """A real anvil with the devnet FactRegistry; the registrar account owns the registry."""
    from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, FACT_REGISTRAR_ACCOUNT, AnvilProcess
    from orchestrator_pipelines.devnet.l1_deploy import (
        deploy_settlement_contracts,
        transfer_fact_registry_ownership,
    )

    with AnvilProcess() as anvil:
        deployed = deploy_settlement_contracts(
            anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=1, config_hash=2,
            genesis_root=0, genesis_block_number=0, genesis_block_hash=0,
        )
        transfer_fact_registry_ownership(
            anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, FACT_REGISTRAR_ACCOUNT.address
        )
        yield anvil.url, deployed.fact_registry


def fact_is_valid(rpc_url: str, registry: str, fact: bytes) -> bool:
    from web3 import Web3

    from orchestrator_pipelines.devnet.l1_deploy import fact_registry_contract

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    return bool(fact_registry_contract(w3, registry).functions.isValid(fact).call())


def test_done_registers_the_pie_fact_on_l1(l1: tuple[str, str], fibonacci_pie: Path) -> None:
    from orchestrator_pipelines.devnet.anvil import FACT_REGISTRAR_ACCOUNT

    rpc_url, registry = l1
    fact = bytes.fromhex(FIBONACCI_FACT[2:])
    assert not fact_is_valid(rpc_url, registry, fact)
    config = ProverConfig(api_key=API_KEY, proving_delay_s=1.5, l1_rpc_url=rpc_url,
                          fact_registry_address=registry, registrar_private_key=FACT_REGISTRAR_ACCOUNT.private_key)
    with ProverServer(config) as server:
        client = devnet_client(server.url)
        query_id = client.submit(fibonacci_pie, dedup_id="l1", n_steps=1000, layout="dynamic")
        assert client.status(query_id).state == "pending"
        assert not fact_is_valid(rpc_url, registry, fact)
        status, _ = wait_for(client, query_id, finished)
    assert status.state == "done", status.detail
    assert status.raw["atlanticQuery"]["transactionId"].startswith("0x")
    assert fact_is_valid(rpc_url, registry, fact)


def test_registration_failure_fails_the_query(l1: tuple[str, str]) -> None:
    from orchestrator_pipelines.devnet.anvil import DEV_ACCOUNTS

    rpc_url, registry = l1
    not_owner = DEV_ACCOUNTS[4].private_key
    config = ProverConfig(api_key=API_KEY, proving_delay_s=0.3, l1_rpc_url=rpc_url,
                          fact_registry_address=registry, registrar_private_key=not_owner)
    with ProverServer(config) as server:
        client = devnet_client(server.url)
        # a PIE whose fact nobody registered yet
        pie = pie_zip_bytes([0x208B7FFF7FFF7FFE], [7, 8, 9], n_steps=100)
        query_id = client.submit(pie, dedup_id="not-owner", n_steps=100, layout="dynamic")
        status, _ = wait_for(client, query_id, finished)
    assert status.state == "failed"
    assert "fact registration on L1 failed" in status.detail


def test_runs_as_a_standalone_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from orchestrator_pipelines.devnet.ports import free_port

    port = free_port()
    env = {**os.environ, "DEVNET_PROVER_REGISTRAR_KEY": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_pipelines.devnet.prover", "--port", str(port),
         "--api-key", API_KEY, "--data-dir", str(tmp_path / "prover")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/is-alive", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "devnet prover process did not come up"
            time.sleep(0.1)
        answer = requests.post(f"http://127.0.0.1:{port}/_devnet/fail-next?count=2",
                               headers={"api-key": API_KEY}, timeout=5)
        assert answer.json() == {"failNext": 2}
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
    assert (tmp_path / "prover").is_dir()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"failure_rate": 1.5}, "failure_rate must be in 0..1"),
        ({"proving_delay_s": -1}, "proving_delay_s must be >= 0"),
        ({"api_key": ""}, "api_key must not be empty"),
        ({"l1_rpc_url": "http://127.0.0.1:8545"}, "needs l1_rpc_url, fact_registry_address and registrar_private_key"),
    ],
)
def test_config_is_checked(kwargs: dict, message: str) -> None:
    from orchestrator_pipelines.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=message):
        ProverConfig(**kwargs)


# ---- what the devnet prover refuses, field by field, as the hosted API does ----------------------

GOOD_FORM = {"declaredJobSize": "S", "result": "PROOF_GENERATION", "network": "TESTNET", "cairoVersion": "cairo0",
             "cairoVm": "rust", "sharpProver": "stone", "mockFactHash": "false", "dedupId": "checked"}


def refusal(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert body["statusCode"] == response.status_code and body["error"] and body["message"]
    return response.status_code, body["message"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"declaredJobSize": None}, 400, "declaredJobSize is required"),
        ({"declaredJobSize": "XL"}, 400, "declaredJobSize must be one of the following values: S, M, L"),
        ({"result": None}, 400, "result is required"),
        ({"result": "PROOF_VERIFICATON"}, 400, "result must be one of the following values: TRACE_GENERATION, "),
        ({"network": None}, 400, "network is required"),
        ({"network": "SEPOLIA"}, 400, "network must be one of the following values: MAINNET, TESTNET"),
        ({"cairoVersion": None}, 400, "cairoVersion is required"),
        ({"cairoVersion": "cairo2"}, 400, "cairoVersion must be one of the following values: cairo0, cairo1"),
        ({"cairoVm": "java"}, 400, "cairoVm must be one of the following values: rust, python"),
        ({"sharpProver": "plonky3"}, 400, "sharpProver must be one of the following values: stone, stwo"),
        ({"mockFactHash": "yes"}, 400, "mockFactHash must be one of the following values: true, false"),
        ({"layout": "huge"}, 400, "layout must be one of the following values: plain, "),
        ({"bucketJobIndex": "1"}, 400, "bucketJobIndex is only allowed together with bucketId"),
        ({"bucketId": "b", "bucketJobIndex": "0"}, 400, "bucketJobIndex must not be less than 1"),
        ({"bucketId": "b", "bucketJobIndex": "first"}, 400, "bucketJobIndex must be an integer number"),
        ({"bucketId": "b"}, 400, "bucketJobIndex is required when bucketId is given"),
    ],
)
def test_a_query_form_is_checked_field_by_field(prover: ProverServer, fibonacci_pie: Path, change: dict,
                                                status: int, message: str) -> None:
    form = {k: v for k, v in {**GOOD_FORM, **change}.items() if v is not None}
    answer = requests.post(f"{prover.url}/atlantic-query", headers={"api-key": API_KEY}, data=form,
                           files={"pieFile": ("pie.zip", fibonacci_pie.read_bytes(), "application/zip")}, timeout=10)
    got_status, got_message = refusal(answer)
    assert got_status == status and got_message.startswith(message)


def test_the_query_form_must_be_multipart_with_a_pie(prover: ProverServer) -> None:
    as_json = requests.post(f"{prover.url}/atlantic-query", headers={"api-key": API_KEY}, json=GOOD_FORM, timeout=10)
    assert refusal(as_json) == (415, "Content-Type must be multipart/form-data")
    no_pie = requests.post(f"{prover.url}/atlantic-query", headers={"api-key": API_KEY}, data=GOOD_FORM,
                           files={"other": ("x", b"x")}, timeout=10)
    assert refusal(no_pie) == (400, "pieFile is required")
    keyless = requests.post(f"{prover.url}/atlantic-query", data=GOOD_FORM, files={"pieFile": ("p", b"x")}, timeout=10)
    assert refusal(keyless) == (401, "missing api key")


GOOD_BUCKET = {"externalId": "agg-1", "nodeWidth": None, "aggregatorVersion": "snos_aggregator_0.14.1",
               "aggregatorParams": {"use_kzg_da": True, "full_output": False, "chain_id_hex": "0x534e"},
               "mockProof": False}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aggregatorVersion": None}, "aggregatorVersion is required"),
        ({"aggregatorVersion": "snos_aggregator_0.15"}, "aggregatorVersion must be one of the following values: "),
        ({"mockProof": "false"}, "mockProof must be a boolean value"),
        ({"aggregatorParams": None}, "aggregatorParams is required"),
        ({"aggregatorParams": {"full_output": False}}, "aggregatorParams.use_kzg_da must be a boolean value"),
        ({"aggregatorParams": {"use_kzg_da": True, "full_output": False, "chain_id_hex": "SN_SEPOLIA"}},
         "aggregatorParams.chain_id_hex must be a 0x-prefixed hex string"),
        ({"aggregatorVersion": "snos_aggregator_0.13.3",
          "aggregatorParams": {"use_kzg_da": True, "full_output": False, "public_keys": ["0x1"]}},
         "aggregatorParams.public_keys needs aggregatorVersion snos_aggregator_0.14.1"),
        ({"nodeWidth": "wide"}, "nodeWidth must be a positive integer string"),
    ],
)
def test_a_bucket_request_is_checked_field_by_field(prover: ProverServer, change: dict, message: str) -> None:
    body = {k: v for k, v in {**GOOD_BUCKET, **change}.items() if v is not None or k == "nodeWidth"}
    answer = requests.post(f"{prover.url}/buckets", headers={"api-key": API_KEY}, json=body, timeout=10)
    status, got = refusal(answer)
    assert status == 400 and got.startswith(message)


def test_a_bucket_request_needs_json_and_the_key(prover: ProverServer) -> None:
    as_form = requests.post(f"{prover.url}/buckets", headers={"api-key": API_KEY}, data={"mockProof": "false"}, timeout=10)
    assert refusal(as_form) == (415, "Content-Type must be application/json")
    keyless = requests.post(f"{prover.url}/buckets", json=GOOD_BUCKET, timeout=10)
    assert refusal(keyless) == (401, "missing api key")
    created = requests.post(f"{prover.url}/buckets", headers={"api-key": API_KEY}, json=GOOD_BUCKET, timeout=10)
    assert created.status_code == 201 and created.json()["atlanticBucket"]["status"] == "OPEN"


def test_the_client_sends_madaras_fields(prover: ProverServer, fibonacci_pie: Path) -> None:
    """What arrives is what Madara sends; layout only for Starknet verification."""
    ethereum = devnet_client(prover.url, result="PROOF_VERIFICATION", sharp_prover="stwo", mock_fact_hash=True,
                             network="MAINNET", cairo_vm="python")
    query = ethereum.status(ethereum.submit(fibonacci_pie, dedup_id="eth", n_steps=1000, layout="dynamic")).raw["atlanticQuery"]
    assert (query["result"], query["network"], query["cairoVm"], query["cairoVersion"], query["sharpProver"]) == (
        "PROOF_VERIFICATION", "MAINNET", "python", "cairo0", "stwo")
    assert query["isFactMocked"] is True and query["layout"] is None
    assert query["dedupId"] == query["externalId"] == "eth" and query["declaredJobSize"] == "S"
    starknet = devnet_client(prover.url, settlement_layer="starknet")
    query = starknet.status(starknet.submit(fibonacci_pie, dedup_id="sn", n_steps=1000, layout="recursive")).raw["atlanticQuery"]
    assert query["layout"] == "recursive" and query["isFactMocked"] is False
