// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface IFactRegistry {
    function isValid(bytes32 fact) external view returns (bool);
}

/// @title StarknetCoreContract (devnet)
/// @notice The part of the Starknet core contract that settlement touches:
/// `updateStateKzgDA` with the Starknet 0.13.3+ OS output layout, the state
/// getters, `LogStateUpdate` and the operator role, with the same names,
/// argument types, event signatures and revert reasons as the contract on
/// Ethereum. Only registered operators may update the state, and only the
/// governor (the deployer) registers them, so a settlement key that was never
/// registered fails here exactly as it would on mainnet. Governor nomination,
/// upgradeability and L1<->L2 messaging are left out: message segments are
/// only bounds-checked so that a malformed output is still rejected.
contract StarknetCoreContract {
    // Starknet OS output layout (0.13.3+). The header is followed by the KZG
    // segment (x_0, n_blobs, commitments, y values) and the message segments.
    uint256 internal constant PREV_STATE_ROOT_OFFSET = 0;
    uint256 internal constant NEW_STATE_ROOT_OFFSET = 1;
    uint256 internal constant PREV_BLOCK_NUMBER_OFFSET = 2;
    uint256 internal constant NEW_BLOCK_NUMBER_OFFSET = 3;
    uint256 internal constant PREV_BLOCK_HASH_OFFSET = 4;
    uint256 internal constant NEW_BLOCK_HASH_OFFSET = 5;
    uint256 internal constant OS_PROGRAM_HASH_OFFSET = 6;
    uint256 internal constant CONFIG_HASH_OFFSET = 7;
    uint256 internal constant USE_KZG_DA_OFFSET = 8;
    uint256 internal constant FULL_OUTPUT_OFFSET = 9;
    uint256 internal constant HEADER_SIZE = 10;
    uint256 internal constant KZG_Z_OFFSET = 10;
    uint256 internal constant KZG_N_BLOBS_OFFSET = 11;
    uint256 internal constant KZG_COMMITMENTS_OFFSET = 12;

    address internal constant POINT_EVALUATION_PRECOMPILE_ADDRESS = address(0x0A);
    uint256 internal constant PROOF_BYTES_LENGTH = 48;
    bytes1 internal constant VERSIONED_HASH_VERSION_KZG = bytes1(0x01);
    // FIELD_ELEMENTS_PER_BLOB and the BLS12-381 scalar modulus, as the
    // precompile returns them on success (EIP-4844).
    bytes internal constant POINT_EVALUATION_PRECOMPILE_OUTPUT =
        hex"000000000000000000000000000000000000000000000000000000000000100073eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

    uint256 public immutable programHash;
    uint256 public immutable configHash;
    address public immutable factRegistry;

    uint256 public stateRoot;
    int256 public stateBlockNumber;
    uint256 public stateBlockHash;

    address internal governor;
    mapping(address => bool) internal operators;

    event LogStateUpdate(uint256 globalRoot, int256 blockNumber, uint256 blockHash);
    event LogStateTransitionFact(bytes32 stateTransitionFact);
    event LogOperatorAdded(address operator);
    event LogOperatorRemoved(address operator);

    modifier onlyGovernance() {
        require(starknetIsGovernor(msg.sender), "ONLY_GOVERNANCE");
        _;
    }

    modifier onlyOperator() {
        require(isOperator(msg.sender), "ONLY_OPERATOR");
        _;
    }

    constructor(
        uint256 programHash_,
        uint256 configHash_,
        address factRegistry_,
        uint256 initialRoot,
        int256 initialBlockNumber,
        uint256 initialBlockHash
    ) {
        programHash = programHash_;
        configHash = configHash_;
        factRegistry = factRegistry_;
        stateRoot = initialRoot;
        stateBlockNumber = initialBlockNumber;
        stateBlockHash = initialBlockHash;
        governor = msg.sender;
    }

    function starknetIsGovernor(address user) public view returns (bool) {
        return user == governor;
    }

    function isOperator(address user) public view returns (bool) {
        return operators[user];
    }

    /// @notice Allow `newOperator` to update the state. Registering an operator
    /// twice changes nothing and emits nothing, so a redeploy script can rerun.
    function registerOperator(address newOperator) external onlyGovernance {
        if (!operators[newOperator]) {
            operators[newOperator] = true;
            emit LogOperatorAdded(newOperator);
        }
    }

    function unregisterOperator(address removedOperator) external onlyGovernance {
        if (operators[removedOperator]) {
            operators[removedOperator] = false;
            emit LogOperatorRemoved(removedOperator);
        }
    }

    function updateStateKzgDA(uint256[] calldata programOutput, bytes[] calldata kzgProofs) external onlyOperator {
        require(programOutput.length > KZG_N_BLOBS_OFFSET, "STARKNET_OUTPUT_TOO_SHORT");
        require(programOutput[USE_KZG_DA_OFFSET] == 1, "UNEXPECTED_KZG_DA_FLAG");
        uint256 nBlobs = programOutput[KZG_N_BLOBS_OFFSET];
        require(kzgProofs.length == nBlobs, "INVALID_NUMBER_OF_KZG_PROOFS");

        bytes32 stateTransitionFact = keccak256(abi.encodePacked(programOutput));
        bytes32 sharpFact = keccak256(abi.encodePacked(programHash, stateTransitionFact));
        require(IFactRegistry(factRegistry).isValid(sharpFact), "NO_STATE_TRANSITION_PROOF");
        emit LogStateTransitionFact(stateTransitionFact);

        require(programOutput[CONFIG_HASH_OFFSET] == configHash, "INVALID_CONFIG_HASH");

        uint256 messagesOffset = verifyKzgProofs(programOutput, kzgProofs, nBlobs);
        checkMessageSegments(programOutput, messagesOffset);
        moveState(programOutput);
    }

    /// @dev One point-evaluation precompile call per blob: the blob committed to
    /// by the transaction's i-th versioned hash evaluates to y_i at x_0.
    function verifyKzgProofs(uint256[] calldata programOutput, bytes[] calldata kzgProofs, uint256 nBlobs)
        internal
        view
        returns (uint256 messagesOffset)
    {
        uint256 evaluationsOffset = KZG_COMMITMENTS_OFFSET + 2 * nBlobs;
        messagesOffset = evaluationsOffset + 2 * nBlobs;
        require(programOutput.length >= messagesOffset, "KZG_SEGMENT_TOO_SHORT");
        bytes32 z = bytes32(programOutput[KZG_Z_OFFSET]);

        for (uint256 blobIndex = 0; blobIndex < nBlobs; blobIndex++) {
            verifyBlob(
                blobIndex,
                z,
                commitmentOf(programOutput, KZG_COMMITMENTS_OFFSET + 2 * blobIndex),
                evaluationOf(programOutput, evaluationsOffset + 2 * blobIndex),
                kzgProofs[blobIndex]
            );
        }
    }

    /// @dev A 48-byte BLS12-381 G1 commitment split by the OS into two 192-bit
    /// limbs (low, high); the precompile takes high || low.
    function commitmentOf(uint256[] calldata programOutput, uint256 offset) internal pure returns (bytes memory) {
        uint256 low = programOutput[offset];
        uint256 high = programOutput[offset + 1];
        require(low <= type(uint192).max, "INVALID_KZG_COMMITMENT");
        require(high <= type(uint192).max, "INVALID_KZG_COMMITMENT");
        return abi.encodePacked(uint192(high), uint192(low));
    }

    /// @dev y = p(x_0), a BLS12-381 scalar split into two 128-bit limbs (low, high).
    function evaluationOf(uint256[] calldata programOutput, uint256 offset) internal pure returns (bytes32) {
        uint256 low = programOutput[offset];
        uint256 high = programOutput[offset + 1];
        require(low <= type(uint128).max, "INVALID_Y_VALUE");
        require(high <= type(uint128).max, "INVALID_Y_VALUE");
        return bytes32((high << 128) + low);
    }

    function verifyBlob(uint256 blobIndex, bytes32 z, bytes memory commitment, bytes32 y, bytes calldata kzgProof)
        internal
        view
    {
        bytes32 blobHash = blobhash(blobIndex);
        require(blobHash != bytes32(0), "MISSING_BLOB");
        require(blobHash[0] == VERSIONED_HASH_VERSION_KZG, "UNEXPECTED_BLOB_HASH_VERSION");
        require(kzgProof.length == PROOF_BYTES_LENGTH, "INVALID_KZG_PROOF_SIZE");
        (bool ok, bytes memory result) =
            POINT_EVALUATION_PRECOMPILE_ADDRESS.staticcall(abi.encodePacked(blobHash, z, y, commitment, kzgProof));
        require(ok, "POINT_EVALUATION_PRECOMPILE_CALL_FAILED");
        require(
            keccak256(result) == keccak256(POINT_EVALUATION_PRECOMPILE_OUTPUT),
            "UNEXPECTED_POINT_EVALUATION_PRECOMPILE_OUTPUT"
        );
    }

    /// @dev The L2->L1 and L1->L2 message segments are length-prefixed. The
    /// devnet does not relay messages, so they are only checked to lie within
    /// the output and to end exactly where it ends.
    function checkMessageSegments(uint256[] calldata programOutput, uint256 offset) internal pure {
        for (uint256 segment = 0; segment < 2; segment++) {
            require(programOutput.length > offset, "MESSAGE_SEGMENT_MISSING");
            uint256 segmentLength = programOutput[offset];
            require(segmentLength < programOutput.length - offset, "MESSAGE_SEGMENT_OUT_OF_BOUNDS");
            offset += 1 + segmentLength;
        }
        require(offset == programOutput.length, "STARKNET_OUTPUT_TOO_LONG");
    }

    /// @dev Starknet 0.13.3+ rule: the output's previous block is exactly the
    /// settled one, so batches settle in order without gaps or overlap.
    function moveState(uint256[] calldata programOutput) internal {
        require(programOutput[PREV_STATE_ROOT_OFFSET] == stateRoot, "INVALID_PREVIOUS_ROOT");
        require(stateBlockNumber >= 0, "INVALID_PREVIOUS_BLOCK_NUMBER");
        require(
            programOutput[PREV_BLOCK_NUMBER_OFFSET] == uint256(stateBlockNumber), "INVALID_PREVIOUS_BLOCK_NUMBER"
        );
        uint256 newBlockNumber = programOutput[NEW_BLOCK_NUMBER_OFFSET];
        require(
            newBlockNumber > programOutput[PREV_BLOCK_NUMBER_OFFSET] && newBlockNumber <= uint256(type(int256).max),
            "INVALID_NEW_BLOCK_NUMBER"
        );

        stateRoot = programOutput[NEW_STATE_ROOT_OFFSET];
        stateBlockNumber = int256(newBlockNumber);
        stateBlockHash = programOutput[NEW_BLOCK_HASH_OFFSET];
        emit LogStateUpdate(stateRoot, stateBlockNumber, stateBlockHash);
    }
}
