"""The Madara node that produces the blocks being settled (Starknet JSON-RPC via starknet-py)."""

from __future__ import annotations

import time

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.config import setting_default as default
from orchestrator_pipelines.peer_identity import ChainIdMismatchError, starknet_chain_id_problem

# How long a chain id that matched is trusted before it is read again (a mismatch is never cached).
CHAIN_ID_RECHECK_S = 60.0


class MadaraRpcResource(ConfigurableResource):
    """Read access to the appchain: head, block headers, state updates, nonces.

    With ``chain_id`` set, :meth:`client` first checks that the node reports
    that chain (``starknet_chainId``) and raises :class:`ChainIdMismatchError`
    otherwise; a match is remembered by this resource instance for
    ``CHAIN_ID_RECHECK_S``, so a sensor tick or a run pays one request.
    """

    rpc_url: str
    timeout_s: float = default("madara_rpc_timeout_s")
    read_attempts: int = default("madara_read_attempts")
    retry_backoff_s: float = default("madara_retry_backoff_s")
    chain_id: str = default("madara_chain_id")
    _chain_id_checked_at: float | None = PrivateAttr(default=None)

    def client(self) -> MadaraClient:
        client = MadaraClient(
            self.rpc_url, timeout_s=self.timeout_s, read_attempts=self.read_attempts, retry_backoff_s=self.retry_backoff_s
        )
        checked = self._chain_id_checked_at
        if self.chain_id and (checked is None or time.monotonic() - checked > CHAIN_ID_RECHECK_S):
            problem = starknet_chain_id_problem(self.rpc_url, self.chain_id, client.chain_id())
            if problem:
                raise ChainIdMismatchError(problem)
            self._chain_id_checked_at = time.monotonic()
        return client
