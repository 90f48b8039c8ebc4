// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IL1DAValidator, L1DAValidatorOutput} from "./ZKsyncOSTypes.sol";

error ValL1DAWrongInputLength(uint256 inputLength, uint256 expectedLength);

/// @title Devnet validium DA validator
/// @notice Pubdata stays off L1: the operator's DA input is exactly one 32-byte word (ZKsync OS sends zero).
contract ValidiumL1DAValidator is IL1DAValidator {
    function checkDA(
        uint256, // _chainId
        uint256, // _batchNumber
        bytes32, // _l2DAValidatorOutputHash
        bytes calldata _operatorDAInput,
        uint256 _maxBlobsSupported
    ) external pure returns (L1DAValidatorOutput memory output) {
        if (_operatorDAInput.length != 32) {
            revert ValL1DAWrongInputLength(_operatorDAInput.length, 32);
        }
        output.stateDiffHash = bytes32(_operatorDAInput);
        output.blobsLinearHashes = new bytes32[](_maxBlobsSupported);
        output.blobsOpeningCommitments = new bytes32[](_maxBlobsSupported);
    }
}
