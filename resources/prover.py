"""The proving service: Atlantic (Herodotus) or SHARP, both through their real HTTP APIs."""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.prover import AtlanticClient, ProverClient, SharpClient


class ProverResource(ConfigurableResource):
    kind: Literal["atlantic", "sharp"] = "atlantic"
    service_url: str
    api_key: str = ""
    network: str = "TESTNET"
    layout: str = "dynamic"
    customer_id: str = ""
    timeout_s: float = 60.0

    def client(self) -> ProverClient:
        if self.kind == "sharp":
            return SharpClient(self.service_url, self.customer_id, timeout_s=self.timeout_s)
        return AtlanticClient(self.service_url, self.api_key, network=self.network, timeout_s=self.timeout_s)
