// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IVerifier} from "./ZKsyncOSTypes.sol";

error EmptyProofLength();
error UnknownVerifierType();
error UnknownVerifierVersion();
error MockVerifierNotSupported();

/// @title Devnet ZKsync OS proof verifier
/// @notice Routes a proof by its first word (type in the low byte, verifier version above). Type 3 is the
/// development proof `[3, previousHash, 13, publicInput]`: it proves nothing and is accepted only on development
/// chain ids (31337, 11155111), when its public input equals the fold of the batches' public inputs
/// (`acc = keccak(acc ‖ PI_i) >> 32`). Type 2 (a real PLONK SNARK) has no verifying key on the devnet and fails.
contract DualVerifier is IVerifier {
    uint256 internal constant ZKSYNC_OS_PLONK_VERIFICATION_TYPE = 2;
    uint256 internal constant ZKSYNC_OS_MOCK_VERIFICATION_TYPE = 3;
    uint256 internal constant MOCK_PROOF_MAGIC_VALUE = 13;

    function verify(uint256[] calldata _publicInputs, uint256[] calldata _proof) external view returns (bool) {
        if (_proof.length == 0) {
            revert EmptyProofLength();
        }
        uint256 verifierType = _proof[0] & 255;
        if (_proof[0] >> 8 != 0) {
            revert UnknownVerifierVersion();
        }
        if (verifierType == ZKSYNC_OS_MOCK_VERIFICATION_TYPE) {
            if (block.chainid != 31337 && block.chainid != 11155111) {
                revert MockVerifierNotSupported();
            }
            if (_proof.length != 4 || _publicInputs.length == 0) {
                return false;
            }
            return _proof[2] == MOCK_PROOF_MAGIC_VALUE && _proof[3] == computeZKsyncOSHash(_proof[1], _publicInputs);
        }
        if (verifierType == ZKSYNC_OS_PLONK_VERIFICATION_TYPE) {
            return false;
        }
        revert UnknownVerifierType();
    }

    /// @notice Fold the batches' public inputs into the proof's one input, starting from `_initialHash` (0: the first).
    function computeZKsyncOSHash(uint256 _initialHash, uint256[] calldata _publicInputs) public pure returns (uint256 result) {
        uint256 i = 0;
        result = _initialHash;
        if (result == 0) {
            result = _publicInputs[0];
            i = 1;
        }
        for (; i < _publicInputs.length; ++i) {
            result = uint256(keccak256(abi.encodePacked(result, _publicInputs[i]))) >> 32;
        }
    }
}
