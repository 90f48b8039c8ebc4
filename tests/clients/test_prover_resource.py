"""The prover resource built from an operator's Madara variables: each value reaches the client."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator_pipelines.clients.prover import AtlanticClient, MockProverClient, SharpClient
from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_prover_resource


def built(environ: dict[str, str]):
    """The resource and its client; EnvVar secrets resolve from the process environment, as in a run."""
    resource = build_prover_resource(load_settings(environ), environ)
    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        return resource, resource.process_config_and_initialize().aggregating_client()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_atlantic_from_madara_names_with_the_key_in_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "atlantic.key"
    key_file.write_text("key-from-file\n")
    resource, client = built({
        "MADARA_ORCHESTRATOR_PROVER": "atlantic",
        "MADARA_ORCHESTRATOR_ATLANTIC_SERVICE_URL": "https://atlantic.api.herodotus.cloud",
        "MADARA_ORCHESTRATOR_ATLANTIC_API_KEY_FILE": str(key_file),
        "MADARA_ORCHESTRATOR_ATLANTIC_NETWORK": "MAINNET",
        "MADARA_ORCHESTRATOR_ATLANTIC_RESULT": "PROOF_VERIFICATION",
        "MADARA_ORCHESTRATOR_ATLANTIC_CAIRO_VM": "python",
        "MADARA_ORCHESTRATOR_ATLANTIC_SHARP_PROVER": "stwo",
        "MADARA_ORCHESTRATOR_ATLANTIC_MOCK_FACT_HASH": "true",
        "MADARA_ORCHESTRATOR_ATLANTIC_ARTIFACTS_BASE_URL": "https://store.example/atlantic",
    })
    assert isinstance(client, AtlanticClient)
    assert client.api_key == "key-from-file"
    assert (client.network, client.result, client.cairo_vm, client.sharp_prover, client.mock_fact_hash) == (
        "MAINNET", "PROOF_VERIFICATION", "python", "stwo", True)
    assert client.proof_url_template == "https://store.example/atlantic/queries/{id}/proof.json"
    assert client.bucket.aggregator_version == "snos_aggregator_0.14.1" and client.bucket.mock_proof is True


def test_sharp_gets_its_tls_material_and_mock_its_verifier() -> None:
    _, sharp = built({
        "MADARA_ORCHESTRATOR_PROVER": "sharp",
        "MADARA_ORCHESTRATOR_SHARP_URL": "https://sharp.example/v1/gateway",
        "MADARA_ORCHESTRATOR_SHARP_CUSTOMER_ID": "customer-7",
        "MADARA_ORCHESTRATOR_SHARP_SERVER_CRT": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    })
    assert isinstance(sharp, SharpClient) and sharp.customer_id == "customer-7"
    assert Path(sharp._http.verify).read_text().startswith("-----BEGIN CERTIFICATE-----")
    resource, mock = built({"MADARA_ORCHESTRATOR_PROVER": "mock"})
    assert isinstance(mock, MockProverClient) and mock.verifier is None
    resource, mock = built({
        "MADARA_ORCHESTRATOR_PROVER": "mock",
        "MADARA_ORCHESTRATOR_MOCK_VERIFIER_ADDRESS": "0x" + "ab" * 20,
        "MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY": "0x" + "22" * 32,
    })
    assert mock.verifier is not None and mock.verifier.contract.address.lower() == "0x" + "ab" * 20
