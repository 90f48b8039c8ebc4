"""How a block range is run through the Starknet OS.

``devnet`` runs the project's devnet SNOS runner against the devnet node;
``external`` runs an operator-supplied command (a real SNOS / prover-runner
binary) that writes a Cairo PIE zip — the seam for real chains.
"""

from __future__ import annotations

from typing import Literal

from dagster import ConfigurableResource

from orchestrator_pipelines.clients.snos import SnosRunner


class SnosRunnerResource(ConfigurableResource):
    kind: Literal["devnet", "external"] = "devnet"
    madara_rpc_url: str = ""
    command: str = ""
    timeout_s: int = 3600
    max_blobs: int = 6

    def runner(self) -> SnosRunner:
        if self.kind == "external":
            from orchestrator_pipelines.clients.snos import ExternalSnosRunner

            return ExternalSnosRunner(self.command, timeout_s=self.timeout_s, rpc_url=self.madara_rpc_url)
        from orchestrator_pipelines.devnet.snos_runner import DevnetSnosRunner

        return DevnetSnosRunner(self.madara_rpc_url, max_blobs=self.max_blobs)
