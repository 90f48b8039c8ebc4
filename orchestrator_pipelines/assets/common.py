"""What every batch asset shares: artifact names, the retry policy, failure classification."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import Any, Iterator

from dagster import AssetExecutionContext, Backoff, Failure, Jitter, RetryPolicy

from orchestrator_pipelines.batching import BatchManifest
from orchestrator_pipelines.clients.artifacts import ArtifactStore, batch_key
from orchestrator_pipelines.errors import OrchestratorError

GROUP = "settlement"

# Artifact names under batches/<key>/ (the key layout is documented in the README).
MANIFEST = "manifest.json"
STATE_DIFF = "state_diff.json"
DA_FELTS = "da_felts.json"
PIE = "pie.zip"
PROGRAM_OUTPUT = "program_output.json"
PROOF_REQUEST = "proof_request.json"
PROOF = "proof.json"
KZG = "kzg.json"
SETTLEMENT_TX = "settlement_tx.json"

# The check both state update assets declare: passed when the settlement is recorded,
# failed by the settlement sensors when L1 no longer holds it (a reorganisation).
ON_L1_CHECK = "settlement_on_l1"
ON_L1_CHECK_DESCRIPTION = (
    "L1 still holds the recorded settlement: stateBlockNumber covers the batch and the recorded transaction is "
    "in the recorded L1 block (re-checked by the settlement sensor until that block is finalized)."
)


def blob_name(index: int) -> str:
    return f"blob_{index}.hex"


# Transient failures (timeouts, 5xx, a node not synced yet) are retried with
# backoff; deterministic ones are raised as Failure(allow_retries=False) below.
TRANSIENT_RETRY = RetryPolicy(max_retries=4, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@contextmanager
def fail_fast_on_bad_data(context: AssetExecutionContext) -> Iterator[None]:
    """Turn a deterministic domain error into a Failure that skips the retry policy.

    Retrying bad data or a revert only delays the alert; the message says what
    and where (asset, batch, then the domain's own one-line reason).
    """
    try:
        yield
    except OrchestratorError as exc:
        where = f"{context.asset_key.to_user_string()} of batch {context.partition_key}"
        raise Failure(description=f"{where}: {exc}", allow_retries=False) from exc


def read_json(store: ArtifactStore, batch: str, name: str) -> Any:
    return json.loads(store.get_bytes(batch_key(batch, name)))


def write_json(store: ArtifactStore, batch: str, name: str, value: Any) -> str:
    return store.put_bytes(batch_key(batch, name), json.dumps(value, indent=1, sort_keys=True).encode())


def write_json_at(store: ArtifactStore, store_key: str, value: Any) -> str:
    """Write ``value`` as JSON at a full store key (``write_json`` is for a batch's own artifacts)."""
    return store.put_bytes(store_key, json.dumps(value, indent=1, sort_keys=True).encode())


def load_program_output(store: ArtifactStore, batch: str) -> list[int]:
    """The OS program output felts that ``snos_output`` stored (hex strings in ``program_output.json``)."""
    return [int(felt, 16) for felt in read_json(store, batch, PROGRAM_OUTPUT)["program_output"]]


def load_manifest(store: ArtifactStore, batch: str) -> BatchManifest:
    return BatchManifest.from_json(store.get_bytes(batch_key(batch, MANIFEST)))


def range_metadata(manifest: BatchManifest) -> dict[str, Any]:
    return {
        "first_block": manifest.first_block,
        "last_block": manifest.last_block,
        "n_blocks": manifest.n_blocks,
        "starknet_version": manifest.starknet_version,
    }


class Stopwatch:
    """Wall time of the stage's own work, for the duration_s metadata."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)


def hex32(value: bytes | int) -> str:
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return "0x" + value.hex()
