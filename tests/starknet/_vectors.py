"""Loading the reference vectors shared by the format tests."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator_pipelines.starknet.state_update import StateUpdate

# Blocks of da_legacy that come with a state update and a nonce file.
ENCODED_BLOCKS = (631861, 638353, 640641)
# Every block of da_legacy that has a blob.
BLOB_BLOCKS = (631861, 638353, 639404, 640641, 640644, 640646, 640647)


def load_state_update(vectors: Path, block: int) -> StateUpdate:
    return StateUpdate.parse(json.loads((vectors / "da_legacy" / "state_update" / f"{block}.json").read_text()))


def load_nonces(vectors: Path, block: int) -> dict[int, int]:
    """The vectors' nonce file: decimal addresses, nonces as hex digits without 0x."""
    items = json.loads((vectors / "da_legacy" / "nonces" / f"{block}.json").read_text())
    return {int(item["address"], 10): int(item["nonce"], 16) for item in items}


def legacy_blob_hex(vectors: Path, block: int) -> str:
    return (vectors / "da_legacy" / "blob" / f"{block}.hex").read_text().strip()


def all_blob_files(vectors: Path) -> list[Path]:
    """Every real blob among the vectors (da_legacy, l1_blobs, kzg_state_update)."""
    files = [vectors / "da_legacy" / "blob" / f"{block}.hex" for block in BLOB_BLOCKS]
    files += sorted((vectors / "l1_blobs").glob("*/blob_data.txt"))
    files += sorted((vectors / "kzg_state_update").glob("*/blob_data.txt"))
    return files
