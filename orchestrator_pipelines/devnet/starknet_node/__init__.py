"""A Starknet JSON-RPC node over a generated chain: the local stand-in for Madara.

Real clients (starknet-py's ``FullNodeClient``, the orchestrator's
``MadaraClient``) talk to it as to any Starknet node; its blocks come from a
seeded generator that produces realistic state diffs, including now and then a
block large enough to need several blobs.
"""

from orchestrator_pipelines.devnet.starknet_node.config import NodeConfig
from orchestrator_pipelines.devnet.starknet_node.server import NodeServer

__all__ = ["NodeConfig", "NodeServer"]
