"""The batch assets, one module per asset family; each is thin: domain calls, artifacts, metadata."""

import warnings

from dagster import PreviewWarning

# The checks that gate settlement are partitioned (a result per batch is what the settlement sensors
# read); Dagster marks partitioned check specs as a preview and would warn at every code-location load.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning
)

from orchestrator_pipelines.assets.batch import batch
from orchestrator_pipelines.assets.da_blob import da_blob
from orchestrator_pipelines.assets.proof import proof, proof_request
from orchestrator_pipelines.assets.snos_output import snos_output
from orchestrator_pipelines.assets.state_update import state_update

BATCH_ASSETS = [batch, snos_output, da_blob, proof_request, proof, state_update]

__all__ = ["BATCH_ASSETS", "batch", "da_blob", "proof", "proof_request", "snos_output", "state_update"]
