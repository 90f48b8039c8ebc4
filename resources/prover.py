"""The proving service as a Dagster resource: Atlantic, SHARP or the mock prover, through their real APIs.

The resource holds values only (the defaults live in the settings); it builds
the client for the direct path (:meth:`ProverResource.client`) and for
aggregations (:meth:`ProverResource.aggregating_client`). Both are the same
object: every client implements both interfaces. When a fact registry is
given, aggregations count as done only once their fact is valid there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.prover import (
    AggregatingProver,
    AtlanticClient,
    BucketParams,
    MockProverClient,
    MockVerifier,
    ProverClient,
    SharpClient,
)
from orchestrator_pipelines.config import setting_default as default
from orchestrator_pipelines.errors import InvalidInputError


def _fact_checker(rpc_url: str, registry: str):
    """``isValid(fact)`` on the registry, or None when there is none to ask."""
    if not (rpc_url and registry):
        return None
    from orchestrator_pipelines.clients.mock_prover import MOCK_VERIFIER_ABI
    from web3 import Web3

    contract = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})).eth.contract(
        address=Web3.to_checksum_address(registry), abi=MOCK_VERIFIER_ABI
    )
    return lambda fact: bool(contract.functions.isValid(bytes(fact)).call())


class ProverResource(ConfigurableResource):
    kind: Literal["atlantic", "sharp", "mock"]
    service_url: str
    layout: str = default("prover_layout")
    timeout_s: float = default("prover_timeout_s")
    # Atlantic
    api_key: str = ""
    api_key_file: str = ""
    network: str = default("atlantic_network")
    result: str = default("atlantic_result")
    cairo_vm: str = default("atlantic_cairo_vm")
    sharp_prover: str = default("atlantic_sharp_prover")
    mock_fact_hash: bool = default("atlantic_mock_fact_hash")
    settlement_layer: str = default("atlantic_settlement_layer")
    artifacts_base_url: str = default("atlantic_artifacts_base_url")
    aggregator_version: str = default("atlantic_aggregator_version")
    # SHARP
    customer_id: str = ""
    user_crt: str = ""
    user_key: str = ""
    server_crt: str = ""
    offchain_proof: bool = default("sharp_offchain_proof")
    # where facts are checked (SHARP/Atlantic aggregations) or registered (mock)
    l1_rpc_url: str = ""
    fact_registry_address: str = ""
    registrar_private_key: str = ""

    def client(self) -> ProverClient:
        return self._build()

    def aggregating_client(self) -> AggregatingProver:
        return self._build()

    def _atlantic_key(self) -> str:
        if self.api_key or not self.api_key_file:
            return self.api_key
        try:
            return Path(self.api_key_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInputError(
                f"ORCHESTRATOR_ATLANTIC_API_KEY_FILE: cannot read {self.api_key_file}: {exc.strerror or exc}"
            ) from None

    def _build(self) -> AtlanticClient | SharpClient | MockProverClient:
        checker = _fact_checker(self.l1_rpc_url, self.fact_registry_address)
        if self.kind == "sharp":
            return SharpClient(
                self.service_url, self.customer_id, user_crt=self.user_crt or None, user_key=self.user_key or None,
                server_crt=self.server_crt or None, offchain_proof=self.offchain_proof, fact_checker=checker,
                timeout_s=self.timeout_s,
            )
        if self.kind == "mock":
            verifier = None
            if self.fact_registry_address:
                verifier = MockVerifier(self.l1_rpc_url, self.fact_registry_address, self.registrar_private_key)
            return MockProverClient(verifier)
        return AtlanticClient(
            self.service_url, self._atlantic_key(), network=self.network, result=self.result, cairo_vm=self.cairo_vm,
            sharp_prover=self.sharp_prover, mock_fact_hash=self.mock_fact_hash,
            settlement_layer=self.settlement_layer, artifacts_base_url=self.artifacts_base_url,
            bucket=BucketParams(aggregator_version=self.aggregator_version, mock_proof=self.mock_fact_hash),
            fact_checker=checker, timeout_s=self.timeout_s,
        )
