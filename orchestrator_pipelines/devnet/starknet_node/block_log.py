"""The node's on-disk chain: one JSON line per block, appended as blocks are made.

JSON lines because a block is written once and never changed: appending is
cheap, a crash can only leave the last line incomplete, and a person can read
the file with ``jq``. On start the node replays the file and continues the chain.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from orchestrator_pipelines.devnet.starknet_node.state import Block, block_from_record
from orchestrator_pipelines.errors import OrchestratorError

log = logging.getLogger(__name__)

BLOCK_LOG_NAME = "blocks.jsonl"


class BlockLog:
    """Append-only file of blocks under ``data_dir``."""

    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / BLOCK_LOG_NAME

    def load(self) -> list[Block]:
        """Every complete block in the file, in order.

        An incomplete last line (the process died while writing it) is cut off
        so the next append starts on a clean line; anything else malformed is an
        error naming the line, because silently dropping blocks would fork the chain.
        """
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        blocks: list[Block] = []
        good_length = 0
        for index, line in enumerate(lines):
            if not line.strip():
                good_length += len(line) + 1
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if index == len(lines) - 1:
                    log.warning("cutting off an incomplete last line of %s", self.path)
                    with self.path.open("r+b") as f:
                        f.truncate(good_length)
                    break
                raise OrchestratorError(f"{self.path}: line {index + 1} is not JSON: {exc}") from exc
            block = block_from_record(record)
            if block.number != len(blocks):
                raise OrchestratorError(
                    f"{self.path}: line {index + 1} holds block {block.number}, expected {len(blocks)}"
                )
            blocks.append(block)
            good_length += len(line) + 1
        return blocks

    def append(self, block: Block) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(block.to_record(), separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="ascii") as f:
            f.write(line)
            f.flush()
