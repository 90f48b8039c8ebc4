// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title FactRegistry
/// @notice Devnet stand-in for the SHARP / Atlantic verifier's fact registry.
/// On mainnet a fact becomes valid when a STARK proof of it is verified; on the
/// devnet the prover stand-in registers the fact once its simulated job
/// finishes. The core contract only ever asks `isValid`, so the settlement path
/// is exercised exactly as against the real registry.
contract FactRegistry {
    address public owner;
    mapping(bytes32 => bool) private verifiedFacts;

    event FactRegistered(bytes32 indexed fact);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "ONLY_OWNER");
        _;
    }

    function isValid(bytes32 fact) external view returns (bool) {
        return verifiedFacts[fact];
    }

    /// @notice Mark `fact` as proven. Registering an already valid fact is a no-op
    /// apart from the event, so a retried registration never fails.
    function registerFact(bytes32 fact) external onlyOwner {
        verifiedFacts[fact] = true;
        emit FactRegistered(fact);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "ZERO_ADDRESS");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
