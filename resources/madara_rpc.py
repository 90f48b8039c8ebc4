"""The Madara node that produces the blocks being settled (Starknet JSON-RPC via starknet-py)."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.config import setting_default as default


class MadaraRpcResource(ConfigurableResource):
    """Read access to the appchain: head, block headers, state updates, nonces."""

    rpc_url: str
    timeout_s: float = default("madara_rpc_timeout_s")
    read_attempts: int = default("madara_read_attempts")
    retry_backoff_s: float = default("madara_retry_backoff_s")

    def client(self) -> MadaraClient:
        return MadaraClient(
            self.rpc_url, timeout_s=self.timeout_s, read_attempts=self.read_attempts, retry_backoff_s=self.retry_backoff_s
        )
