"""The project's own DA segment of an aggregator batch, derived from the node's state updates.

The prover's DA segment is what gets settled (the aggregated output commits
to it, and it may be encrypted); this derivation is the cross-check: the
blocks' state updates squashed against the state before the batch (a write
that returns to its pre-batch value is not published, as the OS does),
DA-encoded and compressed for the batch's Starknet version. Its result is
compared felt by felt with the prover's segment.
"""

from __future__ import annotations

from typing import Sequence

from orchestrator_pipelines.clients.madara import ContractNotFoundError, MadaraClient
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.squash import squash_state_updates


def derive_da_segment(client: MadaraClient, first_block: int, last_block: int, starknet_version: str) -> list[int]:
    """DA felts of blocks ``first_block..last_block`` as the OS publishes them (0.13.3+ layouts)."""
    updates = client.state_updates(first_block, last_block)
    before = first_block - 1

    def pre_state(address: int, key: int) -> int:
        try:
            return client.storage_at(address, key, before)
        except ContractNotFoundError:
            return 0  # deployed in the batch: its storage was unset (0) before

    diff = squash_state_updates(updates, pre_state=pre_state)
    return da_felts(diff, None, starknet_version)


def first_difference(ours: Sequence[int], theirs: Sequence[int]) -> tuple[int, int | None, int | None] | None:
    """(index, our felt, their felt) of the first position where the two differ (None past an end); None if equal."""
    for index in range(max(len(ours), len(theirs))):
        a = ours[index] if index < len(ours) else None
        b = theirs[index] if index < len(theirs) else None
        if a != b:
            return index, a, b
    return None
