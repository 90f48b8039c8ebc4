// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IL1DAValidator, L1DAValidatorOutput} from "./ZKsyncOSTypes.sol";

error OperatorDAInputTooSmall(uint256 operatorDAInputLength, uint256 minAllowedLength);
error InvalidNumberOfBlobs(uint256 blobsProvided, uint256 maxBlobsSupported);
error InvalidL2DAOutputHash(bytes32 l2DAValidatorOutputHash);
error OnlyOneBlobWithCalldataAllowed();
error PubdataInputTooSmall(uint256 pubdataInputLength, uint256 blobCommitmentSize);
error PubdataLengthTooBig(uint256 pubdataLength, uint256 blobSizeBytes);
error InvalidPubdataHash(bytes32 fullPubdataHash, bytes32 pubdataHash);
error InvalidPubdataSource(uint8 pubdataSource);

/// @title Devnet rollup DA validator (pubdata in calldata)
/// @notice The operator's DA input is `stateDiffHash ‖ keccak(pubdata) ‖ blobCount ‖ blobLinearHashes ‖ source ‖
/// pubdata ‖ blobCommitment`; its header must hash to what the L2 committed (`daCommitment`), calldata carries
/// exactly one blob's worth (at most 126,976 bytes) whose keccak the header names. Blob pubdata (source 1) needs the
/// blob DA validator and is refused here.
contract RollupL1DAValidator is IL1DAValidator {
    uint256 internal constant BLOB_SIZE_BYTES = 126_976;
    uint256 internal constant BLOB_DATA_OFFSET = 65;
    uint256 internal constant BLOB_COMMITMENT_SIZE = 32;
    uint8 internal constant PUBDATA_SOURCE_CALLDATA = 0;

    function checkDA(
        uint256, // _chainId
        uint256, // _batchNumber
        bytes32 _l2DAValidatorOutputHash,
        bytes calldata _operatorDAInput,
        uint256 _maxBlobsSupported
    ) external pure returns (L1DAValidatorOutput memory output) {
        if (_operatorDAInput.length < BLOB_DATA_OFFSET) {
            revert OperatorDAInputTooSmall(_operatorDAInput.length, BLOB_DATA_OFFSET);
        }
        output.stateDiffHash = bytes32(_operatorDAInput[:32]);
        bytes32 fullPubdataHash = bytes32(_operatorDAInput[32:64]);
        uint256 blobsProvided = uint256(uint8(_operatorDAInput[64]));
        if (blobsProvided > _maxBlobsSupported) {
            revert InvalidNumberOfBlobs(blobsProvided, _maxBlobsSupported);
        }
        uint256 headerEnd = BLOB_DATA_OFFSET + 32 * blobsProvided;
        if (_operatorDAInput.length < headerEnd + 1) {
            revert OperatorDAInputTooSmall(_operatorDAInput.length, headerEnd + 1);
        }
        output.blobsLinearHashes = new bytes32[](_maxBlobsSupported);
        for (uint256 i = 0; i < blobsProvided; ++i) {
            output.blobsLinearHashes[i] = bytes32(_operatorDAInput[BLOB_DATA_OFFSET + 32 * i:BLOB_DATA_OFFSET + 32 * (i + 1)]);
        }
        if (keccak256(_operatorDAInput[:headerEnd]) != _l2DAValidatorOutputHash) {
            revert InvalidL2DAOutputHash(_l2DAValidatorOutputHash);
        }
        uint8 source = uint8(_operatorDAInput[headerEnd]);
        if (source != PUBDATA_SOURCE_CALLDATA) {
            revert InvalidPubdataSource(source);
        }
        bytes calldata pubdataInput = _operatorDAInput[headerEnd + 1:];
        if (blobsProvided != 1) {
            revert OnlyOneBlobWithCalldataAllowed();
        }
        if (pubdataInput.length < BLOB_COMMITMENT_SIZE) {
            revert PubdataInputTooSmall(pubdataInput.length, BLOB_COMMITMENT_SIZE);
        }
        bytes calldata pubdata = pubdataInput[:pubdataInput.length - BLOB_COMMITMENT_SIZE];
        if (pubdata.length > BLOB_SIZE_BYTES) {
            revert PubdataLengthTooBig(pubdata.length, BLOB_SIZE_BYTES);
        }
        if (fullPubdataHash != keccak256(pubdata)) {
            revert InvalidPubdataHash(fullPubdataHash, keccak256(pubdata));
        }
        output.blobsOpeningCommitments = new bytes32[](_maxBlobsSupported);
        output.blobsOpeningCommitments[0] = bytes32(pubdataInput[pubdataInput.length - BLOB_COMMITMENT_SIZE:]);
    }
}
