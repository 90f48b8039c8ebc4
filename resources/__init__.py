"""Dagster resources: thin ConfigurableResource wrappers around the domain clients.

Each resource holds configuration only (URLs, addresses, names of secret
environment variables) and builds its client on demand, so the same code runs
against the devnet and a real chain and tests can construct clients directly.
"""

from resources.alerts import AlertsResource
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource
from resources.madara_rpc import MadaraRpcResource
from resources.policy import PipelinePolicyResource
from resources.prover import ProverResource
from resources.snos import SnosRunnerResource

__all__ = [
    "AlertsResource",
    "ArtifactStoreResource",
    "MadaraRpcResource",
    "PipelinePolicyResource",
    "ProverResource",
    "SettlementResource",
    "SnosRunnerResource",
]
