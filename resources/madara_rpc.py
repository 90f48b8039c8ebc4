"""The Madara node that produces the blocks being settled (Starknet JSON-RPC via starknet-py)."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.config import setting_default as default
from orchestrator_pipelines.peer_identity import starknet_chain_id_problem
from resources.chain_ids import check_chain_id


class MadaraRpcResource(ConfigurableResource):
    """Read access to the appchain: head, block headers, state updates, nonces.

    With ``chain_id`` set, :meth:`client` first checks that the node reports
    that chain (``starknet_chainId``) and raises :class:`ChainIdMismatchError`
    otherwise; a match is remembered for a while (:mod:`resources.chain_ids`),
    so a sensor tick or a run pays at most one request.
    """

    rpc_url: str
    timeout_s: float = default("madara_rpc_timeout_s")
    read_attempts: int = default("madara_read_attempts")
    retry_backoff_s: float = default("madara_retry_backoff_s")
    chain_id: str = default("madara_chain_id")

    def client(self) -> MadaraClient:
        client = MadaraClient(
            self.rpc_url, timeout_s=self.timeout_s, read_attempts=self.read_attempts, retry_backoff_s=self.retry_backoff_s
        )
        if self.chain_id:
            check_chain_id(
                self.rpc_url, self.chain_id, client.chain_id,
                lambda got: starknet_chain_id_problem(self.rpc_url, self.chain_id, got),
            )
        return client
