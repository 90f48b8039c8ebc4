"""One core-contract deployment for the tests that settle on it: the program hashes and genesis they settle against.

The hashes are real-looking felts (an OS program hash, an aggregator program
hash, a config hash) so that the contract's output rules see the values they
would on a real chain; ``deploy_core`` deploys the fact registry and the core
contract at that genesis with the settlement account as operator.
"""

from __future__ import annotations

from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import DeployedContracts, deploy_settlement_contracts

PROGRAM_HASH = 0x5AB580B04E3532B6B18F81CFA654A05E29DD8E2352D88DF1E765A84072DB07
AGGREGATOR_PROGRAM_HASH = 0x2A5085D7DB3C2DE0032B05C84D9E05CE23591EEC250F174C6A8B36052775AA7
CONFIG_HASH = 0x1E2D3C4B5A69788796A5B4C3D2E1F0
GENESIS = {"genesis_root": 0xAB01, "genesis_block_number": 0, "genesis_block_hash": 0xCD02}


def deploy_core(anvil: AnvilProcess, **overrides) -> DeployedContracts:
    """Deploy at ``GENESIS`` with ``PROGRAM_HASH``/``CONFIG_HASH``; ``overrides`` replace any of those arguments."""
    arguments = {
        "program_hash": PROGRAM_HASH,
        "config_hash": CONFIG_HASH,
        "operators": [SETTLEMENT_ACCOUNT.address],
        **GENESIS,
        **overrides,
    }
    return deploy_settlement_contracts(anvil.url, DEPLOYER_ACCOUNT.private_key, **arguments)
