"""Ethereum: the core contract's state, the fact registry, and blob transactions (web3.py)."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.settlement import SettlementClient

GWEI = 10**9


class SettlementResource(ConfigurableResource):
    rpc_url: str
    private_key: str
    core_contract_address: str
    fact_registry_address: str = ""
    confirmations: int = 1
    max_fee_per_gas_gwei: float | None = None
    max_fee_per_blob_gas_gwei: float | None = None
    tx_timeout_s: int = 600
    replace_after_s: int = 180
    blob_sidecar: str = "auto"

    def client(self) -> SettlementClient:
        def wei(gwei: float | None) -> int | None:
            return None if gwei is None else int(gwei * GWEI)

        return SettlementClient(
            self.rpc_url,
            self.private_key,
            self.core_contract_address,
            fact_registry_address=self.fact_registry_address or None,
            confirmations=self.confirmations,
            max_fee_per_gas_cap_wei=wei(self.max_fee_per_gas_gwei),
            max_fee_per_blob_gas_cap_wei=wei(self.max_fee_per_blob_gas_gwei),
            tx_timeout_s=self.tx_timeout_s,
            replace_after_s=self.replace_after_s,
            blob_sidecar=self.blob_sidecar,
        )
