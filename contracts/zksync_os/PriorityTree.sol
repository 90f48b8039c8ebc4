// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {
    EMPTY_STRING_KECCAK,
    PriorityOpsBatchInfo,
    NotHistoricalRoot,
    MerklePathLengthMismatch,
    MerklePathOutOfBounds,
    MerklePathEmpty,
    MerkleNothingToProve,
    MerkleIndexOrHeightMismatch
} from "./ZKsyncOSTypes.sol";

/// @notice The chain's L1→L2 priority operations in an append-only keccak Merkle tree that grows to the next
/// power of two (padding leaf keccak("")). Every root after a push is remembered as historical: a batch's
/// execution proves its consecutive range of operations against any of them with a left and a right path.
library PriorityTree {
    struct Tree {
        uint256 nextLeafIndex;
        uint256 unprocessedIndex;
        bytes32[] sides;
        bytes32[] zeros;
        mapping(bytes32 => bool) historicalRoots;
    }

    function setup(Tree storage _tree) internal {
        _tree.zeros.push(EMPTY_STRING_KECCAK);
        _tree.sides.push(bytes32(0));
    }

    function hashPair(bytes32 _lhs, bytes32 _rhs) internal pure returns (bytes32 result) {
        assembly {
            mstore(0x00, _lhs)
            mstore(0x20, _rhs)
            result := keccak256(0x00, 0x40)
        }
    }

    /// @return newRoot The tree's root after appending `_leaf`.
    function push(Tree storage _tree, bytes32 _leaf) internal returns (bytes32 newRoot) {
        uint256 levels = _tree.zeros.length - 1;
        uint256 index = _tree.nextLeafIndex++;
        if (index == (1 << levels)) {
            bytes32 top = _tree.zeros[levels];
            _tree.zeros.push(hashPair(top, top));
            _tree.sides.push(bytes32(0));
            ++levels;
        }
        bytes32 node = _leaf;
        bool sideSet = false;
        for (uint256 level = 0; level < levels; ++level) {
            bool isLeft = index % 2 == 0;
            if (isLeft && !sideSet) {
                _tree.sides[level] = node;
                sideSet = true;
            }
            node = isLeft ? hashPair(node, _tree.zeros[level]) : hashPair(_tree.sides[level], node);
            index >>= 1;
        }
        _tree.sides[levels] = node;
        _tree.historicalRoots[node] = true;
        return node;
    }

    function root(Tree storage _tree) internal view returns (bytes32) {
        return _tree.sides[_tree.sides.length - 1];
    }

    /// @notice Consume the batch's priority operations: they must be the next unprocessed leaves.
    function processBatch(Tree storage _tree, PriorityOpsBatchInfo memory _ops) internal {
        if (_ops.itemHashes.length == 0) {
            return;
        }
        bytes32 expectedRoot = rootFromPaths(_ops.leftPath, _ops.rightPath, _tree.unprocessedIndex, _ops.itemHashes);
        if (!_tree.historicalRoots[expectedRoot]) {
            revert NotHistoricalRoot(expectedRoot);
        }
        _tree.unprocessedIndex += _ops.itemHashes.length;
    }

    /// @notice The root a range of leaves starting at `_startIndex` leads to, given the two boundary paths.
    function rootFromPaths(
        bytes32[] memory _leftPath,
        bytes32[] memory _rightPath,
        uint256 _startIndex,
        bytes32[] memory _items
    ) internal pure returns (bytes32) {
        uint256 height = _leftPath.length;
        if (height != _rightPath.length) {
            revert MerklePathLengthMismatch(height, _rightPath.length);
        }
        if (height >= 256) {
            revert MerklePathOutOfBounds();
        }
        uint256 count = _items.length;
        if (height == 0 && (_startIndex != 0 || count != 1)) {
            revert MerklePathEmpty();
        }
        if (count == 0) {
            revert MerkleNothingToProve();
        }
        if (_startIndex + count > (1 << height)) {
            revert MerkleIndexOrHeightMismatch();
        }
        bytes32[] memory level = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            level[i] = _items[i];
        }
        for (uint256 depth = 0; depth < height; ++depth) {
            uint256 odd = _startIndex % 2;
            uint256 nextCount = count / 2 + (odd | (count % 2));
            for (uint256 i = 0; i < nextCount; ++i) {
                bytes32 lhs = (i == 0 && odd == 1) ? _leftPath[depth] : level[2 * i - odd];
                bytes32 rhs = (i == nextCount - 1 && (count - odd) % 2 == 1)
                    ? _rightPath[depth]
                    : level[2 * i + 1 - odd];
                level[i] = hashPair(lhs, rhs);
            }
            count = nextCount;
            _startIndex /= 2;
        }
        return level[0];
    }
}
