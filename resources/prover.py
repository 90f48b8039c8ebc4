"""The proving service as a Dagster resource: Atlantic, SHARP or the mock prover, through their real APIs.

The resource holds values only (every default lives in the settings); it builds
the client for the direct path (:meth:`ProverResource.client`) and for
aggregations (:meth:`ProverResource.aggregating_client`). Both are the same
object: every client implements both interfaces.
"""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.prover import (
    AggregatingProver,
    AtlanticClient,
    MockProverClient,
    ProverClient,
    SharpClient,
)


class ProverResource(ConfigurableResource):
    kind: Literal["atlantic", "sharp", "mock"]
    service_url: str
    api_key: str = ""
    network: str
    layout: str
    artifacts_base_url: str
    customer_id: str = ""
    timeout_s: float = 60.0

    def client(self) -> ProverClient:
        return self._build()

    def aggregating_client(self) -> AggregatingProver:
        return self._build()

    def _build(self) -> AtlanticClient | SharpClient | MockProverClient:
        if self.kind == "sharp":
            return SharpClient(self.service_url, self.customer_id, timeout_s=self.timeout_s)
        if self.kind == "mock":
            return MockProverClient()
        return AtlanticClient(self.service_url, self.api_key, network=self.network,
                              artifacts_base_url=self.artifacts_base_url, timeout_s=self.timeout_s)
