"""The Madara node that produces the blocks being settled (Starknet JSON-RPC via starknet-py)."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.madara import MadaraClient


class MadaraRpcResource(ConfigurableResource):
    """Read access to the appchain: head, block headers, state updates, nonces."""

    rpc_url: str
    timeout_s: float = 30.0

    def client(self) -> MadaraClient:
        return MadaraClient(self.rpc_url, timeout_s=self.timeout_s)
