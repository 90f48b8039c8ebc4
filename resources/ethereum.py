"""Ethereum: the core contract's state, the fact registry, and blob transactions (web3.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource

from orchestrator_pipelines.config import setting_default as default
from orchestrator_pipelines.peer_identity import l1_chain_id_problem
from resources.chain_ids import check_chain_id

if TYPE_CHECKING:
    from orchestrator_pipelines.clients.settlement import SettlementClient

GWEI = 10**9


class SettlementResource(ConfigurableResource):
    """Values come from the settings (``build_resources``); defaults are the settings' own.

    With ``chain_id`` set, :meth:`client` first checks the RPC's ``eth_chainId``
    (a match remembered as for the node, :mod:`resources.chain_ids`) and raises
    :class:`ChainIdMismatchError` when it is another chain.
    """

    rpc_url: str
    private_key: str
    core_contract_address: str
    fact_registry_address: str = ""
    operator_address: str = ""
    confirmations: int = default("l1_confirmations")
    max_fee_per_gas_gwei: float | None = None
    max_fee_per_blob_gas_gwei: float | None = None
    tx_timeout_s: int = default("l1_tx_timeout_s")
    replace_after_s: int = default("l1_replace_after_s")
    poll_interval_s: float = default("l1_poll_interval_s")
    max_fee_bumps: int = default("l1_max_fee_bumps")
    state_update_max_fee_wei: int = default("l1_state_update_max_fee_wei")
    base_fee_multiplier: float = default("l1_base_fee_multiplier")
    blob_sidecar: str = default("blob_sidecar")
    chain_id: int | None = default("l1_chain_id")

    def client(self) -> SettlementClient:
        # web3.py and eth-account are imported here, not when the code location loads: only the
        # runs and sensor ticks that talk to L1 pay their ~0.25 s of import in each process.
        from orchestrator_pipelines.clients.settlement import SettlementClient

        def wei(gwei: float | None) -> int | None:
            return None if gwei is None else int(gwei * GWEI)

        client = SettlementClient(
            self.rpc_url,
            self.private_key,
            self.core_contract_address,
            fact_registry_address=self.fact_registry_address or None,
            operator_address=self.operator_address or None,
            confirmations=self.confirmations,
            max_fee_per_gas_cap_wei=wei(self.max_fee_per_gas_gwei),
            max_fee_per_blob_gas_cap_wei=wei(self.max_fee_per_blob_gas_gwei),
            tx_timeout_s=self.tx_timeout_s,
            replace_after_s=self.replace_after_s,
            poll_interval_s=self.poll_interval_s,
            max_fee_bumps=self.max_fee_bumps,
            state_update_max_fee_wei=self.state_update_max_fee_wei,
            base_fee_multiplier=self.base_fee_multiplier,
            blob_sidecar=self.blob_sidecar,
        )
        if self.chain_id is not None:
            check_chain_id(
                self.rpc_url, self.chain_id, lambda: client.w3.eth.chain_id,
                lambda got: l1_chain_id_problem(self.rpc_url, self.chain_id, got),
            )
        return client
