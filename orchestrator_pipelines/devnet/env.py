"""The orchestrator's environment for a running devnet stack.

``orchestrator dev`` and the end-to-end tests start the stack, then hand its
URLs, addresses and (public, anvil development) keys to the Dagster code
location through the same environment variables a real deployment sets.

The devnet L1 mines a block per transaction, so no block would ever come on
top of a settlement transaction: the devnet waits for inclusion only
(``ORCHESTRATOR_L1_CONFIRMATIONS=0``) where a real chain keeps the default of 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator_pipelines.starknet.da_encoding import parse_starknet_version

# Aggregation (two-level batching) is what a Starknet 0.14 chain is settled with.
AGGREGATED_FROM = (0, 14)


def aggregation_for(starknet_version: str | None) -> str:
    """``on`` for a devnet chain of Starknet 0.14 or later, ``off`` (the direct path) before."""
    if not starknet_version:
        return "off"
    return "on" if parse_starknet_version(starknet_version)[:2] >= AGGREGATED_FROM else "off"


def orchestrator_env(info: dict[str, Any], artifacts_dir: str | Path) -> dict[str, str]:
    return {
        "ORCHESTRATOR_PROFILE": "devnet",
        "ORCHESTRATOR_MADARA_RPC_URL": info["starknet"]["rpc_url"],
        "ORCHESTRATOR_MADARA_CHAIN_ID": info["starknet"]["chain_id"] or "",
        "ORCHESTRATOR_ETHEREUM_RPC_URL": info["l1"]["rpc_url"],
        "ORCHESTRATOR_L1_CHAIN_ID": str(info["l1"]["chain_id"]),
        "ORCHESTRATOR_CORE_CONTRACT_ADDRESS": info["l1"]["core_contract"],
        "ORCHESTRATOR_FACT_REGISTRY_ADDRESS": info["l1"]["fact_registry"],
        "ORCHESTRATOR_L1_CONFIRMATIONS": "0",
        "ORCHESTRATOR_ETHEREUM_PRIVATE_KEY": info["l1"]["settlement_account"]["private_key"],
        "ORCHESTRATOR_PROVER": "atlantic",
        "ORCHESTRATOR_ATLANTIC_SERVICE_URL": info["prover"]["url"],
        "ORCHESTRATOR_ATLANTIC_ARTIFACTS_BASE_URL": info["prover"]["url"],
        "ORCHESTRATOR_ATLANTIC_API_KEY": info["prover"]["api_key"],
        "ORCHESTRATOR_SNOS_RUNNER": "devnet",
        "ORCHESTRATOR_ARTIFACT_STORE": "local",
        "ORCHESTRATOR_ARTIFACTS_DIR": str(Path(artifacts_dir).resolve()),
        "ORCHESTRATOR_AGGREGATION": aggregation_for(info["starknet"].get("starknet_version")),
    }
