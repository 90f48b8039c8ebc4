"""The L1 priority tree: every L1→L2 transaction's canonical hash, in order, in a keccak Merkle tree.

As on L1 (``PriorityTree`` over ``DynamicIncrementalMerkle``): leaves are the
canonical tx hashes, the padding leaf is ``keccak("")``, the tree grows to the
next power of two (one leaf: the root is the leaf), and every root it has had
after a push is a *historical root*. Executing a batch proves its consecutive
range of priority operations ``[first_unprocessed, +n)`` with a left path and a
right path against one historical root (``Merkle.calculateRootPaths``);
:meth:`PriorityTree.batch_info` builds them from the tree as it stood after
any later push, :func:`root_from_paths` recomputes the root as L1 does.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.model import EMPTY_KECCAK, PriorityOpsBatchInfo

ZERO_LEAF_HASH = EMPTY_KECCAK


def _height(leaf_count: int) -> int:
    height = 0
    while (1 << height) < leaf_count:
        height += 1
    return height


class PriorityTree:
    """The priority tree of one chain, rebuilt from its leaves (cheap: one hash per node)."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._leaves: list[bytes] = []
        for leaf in leaves:
            self.push(leaf)

    def push(self, tx_hash: bytes) -> None:
        if len(tx_hash) != 32:
            raise InvalidInputError(f"priority tx hash: expected 32 bytes, got {len(tx_hash)}")
        self._leaves.append(bytes(tx_hash))

    @property
    def leaves(self) -> tuple[bytes, ...]:
        return tuple(self._leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def _levels(self, leaf_count: int) -> list[list[bytes]]:
        height = _height(leaf_count)
        level = list(self._leaves[:leaf_count])
        zero = ZERO_LEAF_HASH
        levels = [level]
        for _ in range(height):
            if len(level) % 2:
                level = level + [zero]
            level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
            levels.append(level)
            zero = keccak(zero + zero)
        return levels

    def root(self, leaf_count: int | None = None) -> bytes:
        """The root after the first ``leaf_count`` pushes (default: all); 0 before any push."""
        count = len(self._leaves) if leaf_count is None else leaf_count
        if not 0 <= count <= len(self._leaves):
            raise InvalidInputError(f"the priority tree has {len(self._leaves)} leaves, not {count}")
        if count == 0:
            return bytes(32)
        return self._levels(count)[-1][0]

    def batch_info(self, start: int, count: int, leaf_count: int | None = None) -> PriorityOpsBatchInfo:
        """``PriorityOpsBatchInfo`` for leaves ``[start, start+count)`` against the root at ``leaf_count``."""
        total = len(self._leaves) if leaf_count is None else leaf_count
        if count == 0:
            return PriorityOpsBatchInfo()
        if start < 0 or start + count > total or total > len(self._leaves):
            raise InvalidInputError(
                f"priority ops [{start}, {start + count}) are not in a tree of {total} leaves"
            )
        levels = self._levels(total)
        height = len(levels) - 1
        left, right = [], []
        zero = ZERO_LEAF_HASH
        first, last = start, start + count - 1
        for depth in range(height):
            nodes = levels[depth]
            # A sibling outside the nodes is padding: the zero hash of this level.
            left.append(nodes[first - 1] if first % 2 == 1 else zero)
            right.append((nodes[last + 1] if last + 1 < len(nodes) else zero) if last % 2 == 0 else zero)
            first //= 2
            last //= 2
            zero = keccak(zero + zero)
        return PriorityOpsBatchInfo(
            left_path=tuple(left), right_path=tuple(right), item_hashes=tuple(self._leaves[start : start + count])
        )


def root_from_paths(
    left_path: Sequence[bytes], right_path: Sequence[bytes], start_index: int, item_hashes: Sequence[bytes]
) -> bytes:
    """The root a range and its two paths lead to (L1's ``Merkle.calculateRootPaths``)."""
    height = len(left_path)
    if height != len(right_path):
        raise InvalidInputError(f"left path has {height} nodes, right path {len(right_path)}")
    items = list(item_hashes)
    if not items:
        raise InvalidInputError("nothing to prove: no item hashes")
    if height == 0 and (start_index != 0 or len(items) != 1):
        raise InvalidInputError("an empty path proves only a single-leaf tree")
    if start_index + len(items) > (1 << height):
        raise InvalidInputError(f"{len(items)} items from index {start_index} do not fit a tree of height {height}")
    index = start_index
    for depth in range(height):
        parity = index % 2
        next_len = len(items) // 2 + (parity | (len(items) % 2))
        nxt = []
        for i in range(next_len):
            lhs = left_path[depth] if (i == 0 and parity == 1) else items[2 * i - parity]
            rhs = (
                right_path[depth]
                if (i == next_len - 1 and (len(items) - parity) % 2 == 1)
                else items[2 * i + 1 - parity]
            )
            nxt.append(keccak(bytes(lhs) + bytes(rhs)))
        items = nxt
        index //= 2
    return items[0]
