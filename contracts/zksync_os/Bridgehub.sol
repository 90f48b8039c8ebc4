// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Unauthorized} from "./ZKsyncOSTypes.sol";

/// @title Devnet Bridgehub: the registry an operator starts from
/// @notice Maps a chain id to its chain contract and its chain type manager, the two views zksync-os-server's L1
/// discovery reads (`getZKChain`, `chainTypeManager`); an unregistered chain id answers the zero address.
contract Bridgehub {
    address public owner;
    mapping(uint256 chainId => address) internal zkChains;
    mapping(uint256 chainId => address) public chainTypeManager;
    uint256[] internal chainIds;

    event NewChain(uint256 indexed chainId, address chainTypeManager, address zkChain);

    constructor(address _owner) {
        owner = _owner;
    }

    function registerChain(uint256 _chainId, address _chainTypeManager, address _zkChain) external {
        if (msg.sender != owner) {
            revert Unauthorized(msg.sender);
        }
        if (zkChains[_chainId] == address(0)) {
            chainIds.push(_chainId);
        }
        zkChains[_chainId] = _zkChain;
        chainTypeManager[_chainId] = _chainTypeManager;
        emit NewChain(_chainId, _chainTypeManager, _zkChain);
    }

    function getZKChain(uint256 _chainId) external view returns (address) {
        return zkChains[_chainId];
    }

    function getAllZKChainChainIDs() external view returns (uint256[] memory) {
        return chainIds;
    }
}
