"""How a block range is run through the Starknet OS.

``devnet`` runs the project's devnet SNOS runner against the devnet node;
``external`` runs an operator-supplied command (a real SNOS / prover-runner
binary) that writes a Cairo PIE zip — the seam for real chains.
"""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.snos import SnosRunner
from orchestrator_pipelines.config import setting_default as default


class SnosRunnerResource(ConfigurableResource):
    """Values come from the settings (``build_resources``); defaults are the settings' own.

    ``rpc_url`` is the node SNOS reads; ``backup_rpc_url`` (Madara's
    ``RPC_FOR_SNOS_BACKUP``) replaces it when the step is retried.
    """

    kind: Literal["devnet", "external"] = default("snos_runner")
    rpc_url: str = ""
    backup_rpc_url: str = ""
    command: str = default("snos_command")
    timeout_s: int = default("snos_timeout_s")
    layout: str = default("snos_layout")
    max_blobs: int = default("max_blobs")
    max_pie_bytes: int = default("max_pie_bytes")

    def rpc_for(self, retrying: bool) -> str:
        return (self.backup_rpc_url or self.rpc_url) if retrying else self.rpc_url

    def runner(self, retrying: bool = False) -> SnosRunner:
        rpc_url = self.rpc_for(retrying)
        if self.kind == "external":
            from orchestrator_pipelines.clients.snos import ExternalSnosRunner

            return ExternalSnosRunner(
                self.command, timeout_s=self.timeout_s, rpc_url=rpc_url, layout=self.layout,
                max_pie_bytes=self.max_pie_bytes,
            )
        from orchestrator_pipelines.devnet.snos_runner import DevnetSnosRunner

        return DevnetSnosRunner(rpc_url, max_blobs=self.max_blobs)
