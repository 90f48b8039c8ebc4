"""Resources of the ZKsync OS stack: the node, the prover API, L1, and the batcher's policy.

Configuration only; clients are built on demand. The three L1 keys reach the
L1 resource as ``EnvVar`` references, never as values in config or metadata.
"""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.zksync_os.l1_client import ZkOsL1Client, ZkOsL1Reader
from orchestrator_pipelines.zksync_os.node_client import ZkOsNodeClient
from orchestrator_pipelines.zksync_os.prover_api.client import OrchestratorProverApi
from orchestrator_pipelines.zksync_os.sealing import SealPolicy


class ZkOsNodeResource(ConfigurableResource):
    rpc_url: str
    timeout_s: float = 30.0

    def client(self) -> ZkOsNodeClient:
        return ZkOsNodeClient(self.rpc_url, self.timeout_s)


class ProverApiResource(ConfigurableResource):
    url: str
    timeout_s: float = 30.0

    def client(self) -> OrchestratorProverApi:
        return OrchestratorProverApi(self.url, self.timeout_s)


class ZkOsPolicyResource(ConfigurableResource):
    """The batcher's seal limits and the sensors' bounds per tick."""

    blocks_per_batch_limit: int = 10
    batch_timeout_s: float = 1.0
    pubdata_limit_bytes: int = 110_000
    max_batches_per_tick: int = 10
    max_unexecuted_batches: int = 50
    max_batches_per_execute: int = 10
    max_prepare_attempts: int = 3
    abandoned_run_after_s: float = 600.0

    def seal_policy(self) -> SealPolicy:
        return SealPolicy(
            blocks_per_batch_limit=self.blocks_per_batch_limit,
            batch_timeout_s=self.batch_timeout_s,
            pubdata_limit_bytes=self.pubdata_limit_bytes,
        )


class ZkOsL1Resource(ConfigurableResource):
    """The chain's L1 contracts, found from the Bridgehub and the chain id; one key per step."""

    rpc_url: str
    bridgehub_address: str
    chain_id: int
    commit_private_key: str
    prove_private_key: str
    execute_private_key: str
    confirmations: int = 1
    max_fee_per_gas_gwei: float | None = None
    tx_timeout_s: int = 600

    def reader(self) -> ZkOsL1Reader:
        """Reads only (sensors): discovery, totals, stored hashes, the execution delay."""
        return ZkOsL1Reader(self.rpc_url, self.bridgehub_address, self.chain_id)

    def client(self) -> ZkOsL1Client:
        """The three senders, each with its own key."""
        return ZkOsL1Client(
            self.rpc_url, self.bridgehub_address, self.chain_id,
            commit_key=self.commit_private_key, prove_key=self.prove_private_key, execute_key=self.execute_private_key,
            confirmations=max(1, self.confirmations), tx_timeout_s=self.tx_timeout_s,
            max_fee_per_gas_cap_wei=None if self.max_fee_per_gas_gwei is None else int(self.max_fee_per_gas_gwei * 10**9),
        )
