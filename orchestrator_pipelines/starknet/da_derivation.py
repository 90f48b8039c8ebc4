"""The DA felts of a range of blocks, derived from RPC state updates as a real OS publishes them.

With aggregation the prover hands back the DA segment it committed to; the
orchestrator's own derivation is then a cross-check: it must give the same felts,
or something (the node, the prover, or our understanding of the rules) is wrong.
A 0.13.4+/0.14 OS publishes:

1. the range squashed against the state *before* the range (a write that returns a
   slot to its pre-range value is not published: :func:`~squash.squash_state_updates`
   with ``pre_state``);
2. from 0.13.4, stateful-compressed (aliases, :mod:`stateful_compression`);
3. 0.14.1's migrated compiled classes listed with the declared classes;
4. in the 0.13.3+ packed encoding, stateless-compressed.

Encrypted DA (the prover encrypts the diff with keys derived from ``DA_PUBLIC_KEYS``)
cannot be rebuilt from the state: :func:`cross_check_segment` says so instead of
reporting a difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.compression import compress
from orchestrator_pipelines.starknet.da_encoding import (
    NonceSource,
    encode_state_diff,
    parse_starknet_version,
    uses_compression,
)
from orchestrator_pipelines.starknet.squash import PreState, squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateDiff, StateUpdate
from orchestrator_pipelines.starknet.stateful_compression import AliasReader, stateful_compress

STATEFUL_COMPRESSION_SINCE = (0, 13, 4)


def uses_stateful_compression(starknet_version: str) -> bool:
    """True when the OS of this version replaces addresses and keys by aliases (0.13.4+)."""
    return parse_starknet_version(starknet_version) >= STATEFUL_COMPRESSION_SINCE


def published_state_diff(
    updates: Sequence[StateUpdate],
    starknet_version: str,
    pre_state: PreState | None = None,
    read_alias: AliasReader | None = None,
) -> StateDiff:
    """The diff the OS publishes for the range: squashed, and aliased from 0.13.4.

    ``read_alias`` (the alias contract's storage before the range) is required from
    0.13.4; ``pre_state`` (storage before the range) drops writes that end where they
    started, as the OS does; without it such writes stay in, and the result can only
    be longer than the OS's.
    """
    squashed = squash_state_updates(updates, pre_state=pre_state)
    if not uses_stateful_compression(starknet_version):
        return squashed
    if read_alias is None:
        raise InvalidInputError(
            f"Starknet {starknet_version} publishes aliases: the alias contract's storage before the range is needed"
        )
    return stateful_compress(squashed, [u.state_diff for u in updates], read_alias)


def derive_da_felts(
    updates: Sequence[StateUpdate],
    starknet_version: str,
    pre_state: PreState | None = None,
    read_alias: AliasReader | None = None,
    nonces: NonceSource = None,
) -> list[int]:
    """The DA felts (what the blobs carry) of the range, as the OS of ``starknet_version`` writes them."""
    diff = published_state_diff(updates, starknet_version, pre_state, read_alias)
    felts = encode_state_diff(diff, nonces, starknet_version)
    return compress(felts) if uses_compression(starknet_version) else felts


@dataclass(frozen=True)
class CrossCheck:
    """The outcome of comparing the prover's DA segment with our derivation."""

    status: str  # "match", "mismatch" or "not_rebuildable"
    message: str
    first_difference: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"


def first_differing_felt(expected: Sequence[int], actual: Sequence[int]) -> int | None:
    """Index of the first felt where the two lists differ (a missing felt counts), or None."""
    for index in range(max(len(expected), len(actual))):
        if index >= len(expected) or index >= len(actual) or expected[index] != actual[index]:
            return index
    return None


def cross_check_segment(segment: Sequence[int], derived: Sequence[int], encrypted_da: bool = False) -> CrossCheck:
    """Compare the prover's DA segment with the derived felts, naming the first differing felt.

    With encrypted DA the derivation cannot match by construction: the result says so
    (``not_rebuildable``), and the segment is to be settled as the prover returned it.
    """
    if encrypted_da:
        return CrossCheck(
            status="not_rebuildable",
            message=(
                f"encrypted DA: the prover's {len(segment)}-felt segment is encrypted with the DA public keys and "
                f"cannot be rebuilt from the state diff; settled as received"
            ),
        )
    index = first_differing_felt(segment, derived)
    if index is None:
        return CrossCheck(status="match", message=f"the prover's DA segment equals the derived one ({len(segment)} felts)")

    def show(values: Sequence[int]) -> str:
        return f"{values[index]:#x}" if index < len(values) else "nothing (ends there)"

    return CrossCheck(
        status="mismatch",
        message=(
            f"DA felt {index} differs: the prover's segment has {show(segment)}, the derivation {show(derived)} "
            f"(lengths {len(segment)} and {len(derived)})"
        ),
        first_difference=index,
    )
