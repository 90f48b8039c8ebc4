// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface IFactRegistry {
    function isValid(bytes32 fact) external view returns (bool);
}

/// @title StarknetCoreContract (devnet)
/// @notice The Starknet core contract's settlement and messaging rules, applied in
/// the same order and refused with the same reasons as the contract on Ethereum
/// (`identify()` = "StarkWare_Starknet_2024_9"), with the same function names,
/// argument names, event signatures and return types:
/// - state updates from a Starknet 0.13.3+ OS output, with blob DA
///   (`updateStateKzgDA`) or on-chain DA (`updateState`), operator only;
/// - the fact rule: a direct OS run (`os_program_hash` word 0) is proven under
///   `programHash()`, an aggregator run (the word equal to `programHash()`) under
///   `aggregatorProgramHash()`;
/// - L1->L2 messages (`sendMessageToL2`, consumed by the output, cancellable after
///   a delay) and L2->L1 messages (recorded from the output, taken by
///   `consumeMessageFromL2`), hashed exactly as on Ethereum;
/// - governance: one-time `initializeContractState` (whose caller becomes the
///   governor), program/aggregator/config hash and cancellation delay setters,
///   operators, finalization.
/// It is deployed directly, without the proxy of the Ethereum deployment: the
/// initialization data the proxy would pass to `initialize` goes to
/// `initializeContractState`, and governor nomination is left out.
contract StarknetCoreContract {
    // ---- the OS output layout (0.13.3+) -------------------------------------------
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
    // Within the KZG segment, which follows the header.
    uint256 internal constant KZG_Z_OFFSET = 0;
    uint256 internal constant KZG_N_BLOBS_OFFSET = 1;
    uint256 internal constant KZG_COMMITMENTS_OFFSET = 2;
    // Within a message: (from, to, payload_size, payload) to L1,
    // (from, to, nonce, selector, payload_size, payload) to L2.
    uint256 internal constant MESSAGE_TO_L1_PAYLOAD_SIZE_OFFSET = 2;
    uint256 internal constant MESSAGE_TO_L1_PREFIX_SIZE = 3;
    uint256 internal constant MESSAGE_TO_L2_NONCE_OFFSET = 2;
    uint256 internal constant MESSAGE_TO_L2_SELECTOR_OFFSET = 3;
    uint256 internal constant MESSAGE_TO_L2_PAYLOAD_SIZE_OFFSET = 4;
    uint256 internal constant MESSAGE_TO_L2_PREFIX_SIZE = 5;
    uint256 internal constant MAX_SEGMENT_OR_PAYLOAD_SIZE = 2 ** 30;

    uint256 internal constant FIELD_PRIME = 0x800000000000011000000000000000000000000000000000000000000000001;
    // The previous block number of the first state update after genesis (-1 as a felt).
    uint256 internal constant GENESIS_PREV_BLOCK_NUMBER = FIELD_PRIME - 1;
    uint256 internal constant INIT_DATA_SIZE = 7 * 32;
    uint256 internal constant MAX_L1_MSG_FEE = 1 ether;
    uint256 internal constant INITIAL_MESSAGE_CANCELLATION_DELAY = 5 days;

    // ---- EIP-4844 ----------------------------------------------------------------
    address internal constant POINT_EVALUATION_PRECOMPILE_ADDRESS = address(0x0A);
    uint256 internal constant PROOF_BYTES_LENGTH = 48;
    bytes1 internal constant VERSIONED_HASH_VERSION_KZG = bytes1(0x01);
    // keccak256(FIELD_ELEMENTS_PER_BLOB || BLS12-381 scalar modulus), both 32-byte
    // big-endian: what the precompile returns on success.
    bytes32 internal constant POINT_EVALUATION_PRECOMPILE_OUTPUT =
        keccak256(
            hex"000000000000000000000000000000000000000000000000000000000000100073eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001"
        );

    // ---- storage -------------------------------------------------------------------
    address internal immutable deployer;

    uint256 internal programHash_;
    uint256 internal aggregatorProgramHash_;
    uint256 internal configHash_;
    address internal verifier;
    uint256 internal messageCancellationDelay_;
    bool internal finalized;

    uint256 internal globalRoot;
    int256 internal blockNumber;
    uint256 internal blockHash;

    mapping(address => bool) internal governors;
    mapping(address => bool) internal operators;

    // fee + 1 while pending, 0 once consumed or cancelled.
    mapping(bytes32 => uint256) internal l1ToL2Messages_;
    // Copies recorded by state updates and not yet consumed.
    mapping(bytes32 => uint256) internal l2ToL1Messages_;
    mapping(bytes32 => uint256) internal l1ToL2MessageCancellations_;
    uint256 internal l1ToL2MessageNonce_;

    // ---- events ----------------------------------------------------------------------
    event LogStateUpdate(uint256 globalRoot, int256 blockNumber, uint256 blockHash);
    event LogStateTransitionFact(bytes32 stateTransitionFact);
    event ProgramHashChanged(address indexed changedBy, uint256 oldProgramHash, uint256 newProgramHash);
    event AggregatorProgramHashChanged(
        address indexed changedBy, uint256 oldAggregatorProgramHash, uint256 newAggregatorProgramHash
    );
    event ConfigHashChanged(address indexed changedBy, uint256 oldConfigHash, uint256 newConfigHash);
    event Finalized();
    event LogNewGovernorAccepted(address acceptedGovernor);
    event LogOperatorAdded(address operator);
    event LogOperatorRemoved(address operator);

    event LogMessageToL1(uint256 indexed fromAddress, address indexed toAddress, uint256[] payload);
    event LogMessageToL2(
        address indexed fromAddress,
        uint256 indexed toAddress,
        uint256 indexed selector,
        uint256[] payload,
        uint256 nonce,
        uint256 fee
    );
    event ConsumedMessageToL1(uint256 indexed fromAddress, address indexed toAddress, uint256[] payload);
    event ConsumedMessageToL2(
        address indexed fromAddress,
        uint256 indexed toAddress,
        uint256 indexed selector,
        uint256[] payload,
        uint256 nonce
    );
    event MessageToL2CancellationStarted(
        address indexed fromAddress, uint256 indexed toAddress, uint256 indexed selector, uint256[] payload, uint256 nonce
    );
    event MessageToL2Canceled(
        address indexed fromAddress, uint256 indexed toAddress, uint256 indexed selector, uint256[] payload, uint256 nonce
    );

    modifier onlyGovernance() {
        require(governors[msg.sender], "ONLY_GOVERNANCE");
        _;
    }

    modifier onlyOperator() {
        require(operators[msg.sender], "ONLY_OPERATOR");
        _;
    }

    modifier notFinalized() {
        require(!finalized, "FINALIZED");
        _;
    }

    constructor() {
        deployer = msg.sender;
    }

    // ---- initialization and governance ---------------------------------------------

    /// @notice Set the contract up once, from the 7 words the proxy passes on Ethereum:
    /// abi.encode(programHash, aggregatorProgramHash, verifier, configHash,
    /// globalRoot, blockNumber, blockHash). Only the deployer may, so that nobody
    /// takes the governor role between the deployment and this call.
    function initializeContractState(bytes calldata data) external {
        require(msg.sender == deployer, "ONLY_DEPLOYER");
        require(programHash_ == 0, "ALREADY_INITIALIZED");
        require(data.length == INIT_DATA_SIZE, "ILLEGAL_INIT_DATA_SIZE");
        (
            uint256 programHashValue,
            uint256 aggregatorProgramHashValue,
            address verifierValue,
            uint256 configHashValue,
            uint256 initialRoot,
            int256 initialBlockNumber,
            uint256 initialBlockHash
        ) = abi.decode(data, (uint256, uint256, address, uint256, uint256, int256, uint256));
        require(programHashValue != 0, "BAD_INITIALIZATION");

        programHash_ = programHashValue;
        aggregatorProgramHash_ = aggregatorProgramHashValue;
        verifier = verifierValue;
        configHash_ = configHashValue;
        globalRoot = initialRoot;
        blockNumber = initialBlockNumber;
        blockHash = initialBlockHash;
        messageCancellationDelay_ = INITIAL_MESSAGE_CANCELLATION_DELAY;
        governors[msg.sender] = true;
        emit LogNewGovernorAccepted(msg.sender);
    }

    function identify() external pure returns (string memory) {
        return "StarkWare_Starknet_2024_9";
    }

    function starknetIsGovernor(address user) external view returns (bool) {
        return governors[user];
    }

    function isFinalized() external view returns (bool) {
        return finalized;
    }

    /// @notice Freeze the program, aggregator and config hashes and the cancellation delay for good.
    function finalize() external onlyGovernance notFinalized {
        finalized = true;
        emit Finalized();
    }

    function setProgramHash(uint256 newProgramHash) external notFinalized onlyGovernance {
        emit ProgramHashChanged(msg.sender, programHash_, newProgramHash);
        programHash_ = newProgramHash;
    }

    function setAggregatorProgramHash(uint256 newAggregatorProgramHash) external notFinalized onlyGovernance {
        emit AggregatorProgramHashChanged(msg.sender, aggregatorProgramHash_, newAggregatorProgramHash);
        aggregatorProgramHash_ = newAggregatorProgramHash;
    }

    function setConfigHash(uint256 newConfigHash) external notFinalized onlyGovernance {
        emit ConfigHashChanged(msg.sender, configHash_, newConfigHash);
        configHash_ = newConfigHash;
    }

    /// @dev As on Ethereum, a delay change emits no event.
    function setMessageCancellationDelay(uint256 delayInSeconds) external notFinalized onlyGovernance {
        messageCancellationDelay_ = delayInSeconds;
    }

    function isOperator(address user) external view returns (bool) {
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

    // ---- reads -----------------------------------------------------------------------

    function programHash() external view returns (uint256) {
        return programHash_;
    }

    function aggregatorProgramHash() external view returns (uint256) {
        return aggregatorProgramHash_;
    }

    function configHash() external view returns (uint256) {
        return configHash_;
    }

    function stateRoot() external view returns (uint256) {
        return globalRoot;
    }

    function stateBlockNumber() external view returns (int256) {
        return blockNumber;
    }

    function stateBlockHash() external view returns (uint256) {
        return blockHash;
    }

    // ---- state updates -----------------------------------------------------------------

    /// @notice Settle an OS output whose DA is in the transaction's blobs: one KZG
    /// proof per blob shows that blob i evaluates to y_i at the output's point z.
    function updateStateKzgDA(uint256[] calldata programOutput, bytes[] calldata kzgProofs) external onlyOperator {
        require(programOutput.length > HEADER_SIZE, "STARKNET_OUTPUT_TOO_SHORT");
        checkPrevBlockNumber(programOutput);
        require(programOutput[USE_KZG_DA_OFFSET] == 1, "UNEXPECTED_KZG_DA_FLAG");
        verifyKzgProofs(programOutput[HEADER_SIZE:], kzgProofs);

        updateStateInternal(programOutput, keccak256(abi.encodePacked(programOutput)));
        // The re-entrancy guard: nothing else may have moved the state during the call.
        checkNewBlockNumber(programOutput);
    }

    /// @notice Settle an OS output whose DA is on-chain (calldata): the proven fact
    /// is the root of a two-leaf fact tree over the output and the on-chain data,
    /// of which only the hash and the size are given.
    function updateState(uint256[] calldata programOutput, uint256 onchainDataHash, uint256 onchainDataSize)
        external
        onlyOperator
    {
        require(programOutput.length > HEADER_SIZE, "STARKNET_OUTPUT_TOO_SHORT");
        checkPrevBlockNumber(programOutput);
        require(programOutput[USE_KZG_DA_OFFSET] == 0, "UNEXPECTED_KZG_DA_FLAG");

        updateStateInternal(programOutput, onchainDataFact(programOutput, onchainDataHash, onchainDataSize));
        checkNewBlockNumber(programOutput);
    }

    /// @dev Inner node of the GPS fact tree: 1 + keccak(left child, its end,
    /// right child, its end), with the output as the left leaf.
    function onchainDataFact(uint256[] calldata programOutput, uint256 onchainDataHash, uint256 onchainDataSize)
        internal
        pure
        returns (bytes32)
    {
        uint256 outputLength = programOutput.length;
        bytes32 node = keccak256(
            abi.encodePacked(
                keccak256(abi.encodePacked(programOutput)),
                outputLength,
                onchainDataHash,
                outputLength + onchainDataSize
            )
        );
        return bytes32(uint256(node) + 1);
    }

    function updateStateInternal(uint256[] calldata programOutput, bytes32 stateTransitionFact) internal {
        requireFelts(programOutput);
        require(programOutput[CONFIG_HASH_OFFSET] == configHash_, "INVALID_CONFIG_HASH");
        require(programOutput[FULL_OUTPUT_OFFSET] == 0, "FULL_OUTPUT_NOT_SUPPORTED");

        uint256 factProgramHash = programHash_;
        uint256 osProgramHash = programOutput[OS_PROGRAM_HASH_OFFSET];
        if (osProgramHash != 0) {
            // An aggregator run: it proves runs of this OS, under the aggregator's program hash.
            require(osProgramHash == programHash_, "AGGREGATOR_MODE_INVALID_OS_PROGRAM_HASH");
            factProgramHash = aggregatorProgramHash_;
        }
        bytes32 sharpFact = keccak256(abi.encode(factProgramHash, stateTransitionFact));
        require(IFactRegistry(verifier).isValid(sharpFact), "NO_STATE_TRANSITION_PROOF");
        emit LogStateTransitionFact(stateTransitionFact);

        moveState(programOutput);

        // Messages after the state: consuming L1->L2 messages pays their fees to
        // the caller, an external call that must come after every state change.
        uint256 offset = messageSegmentOffset(programOutput);
        offset += recordMessagesToL1(programOutput[offset:]);
        offset += consumeMessagesToL2(programOutput[offset:]);
        require(offset == programOutput.length, "STARKNET_OUTPUT_TOO_LONG");

        emit LogStateUpdate(globalRoot, blockNumber, blockHash);
    }

    /// @dev Every word of the output must be a felt: below the Stark prime.
    function requireFelts(uint256[] calldata programOutput) internal pure {
        for (uint256 i = 0; i < programOutput.length; i++) {
            if (programOutput[i] >= FIELD_PRIME) {
                revert("PROGRAM_OUTPUT_VALUE_OUT_OF_RANGE");
            }
        }
    }

    /// @dev The output starts from the settled block; at genesis (-1) the OS writes -1 as a felt.
    function checkPrevBlockNumber(uint256[] calldata programOutput) internal view {
        uint256 expected = blockNumber == -1 ? GENESIS_PREV_BLOCK_NUMBER : uint256(blockNumber);
        require(programOutput[PREV_BLOCK_NUMBER_OFFSET] == expected, "INVALID_PREV_BLOCK_NUMBER");
    }

    function checkNewBlockNumber(uint256[] calldata programOutput) internal view {
        require(uint256(blockNumber) == programOutput[NEW_BLOCK_NUMBER_OFFSET], "REENTRANCY_FAILURE");
    }

    function moveState(uint256[] calldata programOutput) internal {
        checkPrevBlockNumber(programOutput);
        int256 newBlockNumber = int256(programOutput[NEW_BLOCK_NUMBER_OFFSET]);
        require(newBlockNumber > blockNumber, "INVALID_NEW_BLOCK_NUMBER");
        blockNumber = newBlockNumber;

        require(programOutput[PREV_BLOCK_HASH_OFFSET] == blockHash, "INVALID_PREV_BLOCK_HASH");
        blockHash = programOutput[NEW_BLOCK_HASH_OFFSET];

        require(programOutput[PREV_STATE_ROOT_OFFSET] == globalRoot, "INVALID_PREVIOUS_ROOT");
        globalRoot = programOutput[NEW_STATE_ROOT_OFFSET];
    }

    // ---- KZG (EIP-4844) ------------------------------------------------------------------

    /// @dev One point-evaluation precompile call per blob: the blob committed to by
    /// the transaction's i-th versioned hash evaluates to y_i at z.
    function verifyKzgProofs(uint256[] calldata kzgSegment, bytes[] calldata kzgProofs) internal view {
        require(kzgSegment.length >= 2, "KZG_SEGMENT_TOO_SHORT");
        bytes32 z = bytes32(kzgSegment[KZG_Z_OFFSET]);
        uint256 nBlobs = kzgSegment[KZG_N_BLOBS_OFFSET];
        uint256 evaluationsOffset = KZG_COMMITMENTS_OFFSET + 2 * nBlobs;
        require(kzgProofs.length == nBlobs, "INVALID_NUMBER_OF_KZG_PROOFS");
        require(kzgSegment.length >= evaluationsOffset + 2 * nBlobs, "KZG_SEGMENT_TOO_SHORT");

        for (uint256 blobIndex = 0; blobIndex < nBlobs; blobIndex++) {
            bytes32 blobHash = blobhash(blobIndex);
            require(blobHash != 0, "INVALID_BLOB_INDEX");
            require(blobHash[0] == VERSIONED_HASH_VERSION_KZG, "UNEXPECTED_BLOB_HASH_VERSION");
            bytes memory commitment = commitmentOf(kzgSegment, KZG_COMMITMENTS_OFFSET + 2 * blobIndex);
            bytes32 y = evaluationOf(kzgSegment, evaluationsOffset + 2 * blobIndex);
            require(kzgProofs[blobIndex].length == PROOF_BYTES_LENGTH, "INVALID_KZG_PROOF_SIZE");
            (bool ok, bytes memory result) = POINT_EVALUATION_PRECOMPILE_ADDRESS.staticcall(
                abi.encodePacked(blobHash, z, y, commitment, kzgProofs[blobIndex])
            );
            require(ok, "POINT_EVALUATION_PRECOMPILE_CALL_FAILED");
            require(
                keccak256(result) == POINT_EVALUATION_PRECOMPILE_OUTPUT,
                "UNEXPECTED_POINT_EVALUATION_PRECOMPILE_OUTPUT"
            );
        }
    }

    /// @dev A 48-byte BLS12-381 G1 commitment split by the OS into two 192-bit
    /// limbs (low, high); the precompile takes high || low.
    function commitmentOf(uint256[] calldata kzgSegment, uint256 offset) internal pure returns (bytes memory) {
        uint256 low = kzgSegment[offset];
        uint256 high = kzgSegment[offset + 1];
        require(low <= type(uint192).max, "INVALID_KZG_COMMITMENT");
        require(high <= type(uint192).max, "INVALID_KZG_COMMITMENT");
        return abi.encodePacked(uint192(high), uint192(low));
    }

    /// @dev y = p(z), a BLS12-381 scalar split into two 128-bit limbs (low, high).
    function evaluationOf(uint256[] calldata kzgSegment, uint256 offset) internal pure returns (bytes32) {
        uint256 low = kzgSegment[offset];
        uint256 high = kzgSegment[offset + 1];
        require(low <= type(uint128).max, "INVALID_Y_VALUE");
        require(high <= type(uint128).max, "INVALID_Y_VALUE");
        return bytes32((high << 128) + low);
    }

    // ---- messages in the output ------------------------------------------------------------

    /// @dev The messages-to-L1 segment follows the header, and the KZG segment when there is one.
    function messageSegmentOffset(uint256[] calldata programOutput) internal pure returns (uint256) {
        if (programOutput[USE_KZG_DA_OFFSET] == 0) {
            return HEADER_SIZE;
        }
        uint256 nBlobs = programOutput[HEADER_SIZE + KZG_N_BLOBS_OFFSET];
        return HEADER_SIZE + 2 + 4 * nBlobs;
    }

    /// @dev Where a length-prefixed message segment ends (exclusive), counted from its length word.
    function segmentEnd(uint256[] calldata segment) internal pure returns (uint256) {
        uint256 size = segment[0];
        require(size < MAX_SEGMENT_OR_PAYLOAD_SIZE, "INVALID_MESSAGE_SEGMENT_SIZE");
        return 1 + size;
    }

    /// @dev The end (exclusive) of the message starting at `offset`, whose payload
    /// size is `payloadSizeOffset` words in.
    function messageEnd(uint256[] calldata segment, uint256 offset, uint256 payloadSizeOffset)
        internal
        pure
        returns (uint256)
    {
        uint256 payloadSizeIndex = offset + payloadSizeOffset;
        require(payloadSizeIndex < segment.length, "MESSAGE_TOO_SHORT");
        uint256 payloadSize = segment[payloadSizeIndex];
        require(payloadSize < MAX_SEGMENT_OR_PAYLOAD_SIZE, "INVALID_PAYLOAD_LENGTH");
        uint256 end = payloadSizeIndex + 1 + payloadSize;
        require(end <= segment.length, "TRUNCATED_MESSAGE_PAYLOAD");
        return end;
    }

    /// @dev Each L2->L1 message becomes one more consumable copy of its hash.
    function recordMessagesToL1(uint256[] calldata segment) internal returns (uint256) {
        uint256 end = segmentEnd(segment);
        uint256 offset = 1;
        while (offset < end) {
            uint256 messageEnd_ = messageEnd(segment, offset, MESSAGE_TO_L1_PAYLOAD_SIZE_OFFSET);
            l2ToL1Messages_[keccak256(abi.encodePacked(segment[offset:messageEnd_]))] += 1;
            emit LogMessageToL1(
                segment[offset], address(uint160(segment[offset + 1])), segment[offset + MESSAGE_TO_L1_PREFIX_SIZE:messageEnd_]
            );
            offset = messageEnd_;
        }
        require(offset == end, "INVALID_MESSAGE_SEGMENT_SIZE");
        return offset;
    }

    /// @dev Each L1->L2 message the OS executed must be pending; it is consumed and
    /// its fee goes to the caller.
    function consumeMessagesToL2(uint256[] calldata segment) internal returns (uint256) {
        uint256 end = segmentEnd(segment);
        uint256 offset = 1;
        uint256 totalFees = 0;
        while (offset < end) {
            uint256 messageEnd_ = messageEnd(segment, offset, MESSAGE_TO_L2_PAYLOAD_SIZE_OFFSET);
            bytes32 msgHash = keccak256(abi.encodePacked(segment[offset:messageEnd_]));
            uint256 feePlusOne = l1ToL2Messages_[msgHash];
            require(feePlusOne > 0, "INVALID_MESSAGE_TO_CONSUME");
            totalFees += feePlusOne - 1;
            l1ToL2Messages_[msgHash] = 0;
            emit ConsumedMessageToL2(
                address(uint160(segment[offset])),
                segment[offset + 1],
                segment[offset + MESSAGE_TO_L2_SELECTOR_OFFSET],
                segment[offset + MESSAGE_TO_L2_PREFIX_SIZE:messageEnd_],
                segment[offset + MESSAGE_TO_L2_NONCE_OFFSET]
            );
            offset = messageEnd_;
        }
        require(offset == end, "INVALID_MESSAGE_SEGMENT_SIZE");
        if (totalFees > 0) {
            (bool sent,) = msg.sender.call{value: totalFees}("");
            require(sent, "ETH_TRANSFER_FAILED");
        }
        return offset;
    }

    // ---- messaging -------------------------------------------------------------------------

    function getMaxL1MsgFee() external pure returns (uint256) {
        return MAX_L1_MSG_FEE;
    }

    /// @notice The fee + 1 of the pending L1->L2 message `msgHash`, 0 when none is pending.
    function l1ToL2Messages(bytes32 msgHash) external view returns (uint256) {
        return l1ToL2Messages_[msgHash];
    }

    /// @notice How many copies of the L2->L1 message `msgHash` may still be consumed.
    function l2ToL1Messages(bytes32 msgHash) external view returns (uint256) {
        return l2ToL1Messages_[msgHash];
    }

    function l1ToL2MessageNonce() external view returns (uint256) {
        return l1ToL2MessageNonce_;
    }

    function messageCancellationDelay() external view returns (uint256) {
        return messageCancellationDelay_;
    }

    /// @notice When the cancellation of `msgHash` was started, 0 if it never was.
    function l1ToL2MessageCancellations(bytes32 msgHash) external view returns (uint256) {
        return l1ToL2MessageCancellations_[msgHash];
    }

    /// @dev keccak(sender, to, nonce, selector, payload length, payload): the words
    /// the message takes in the output's messages-to-L2 segment.
    function l1ToL2MsgHash(uint256 toAddress, uint256 selector, uint256[] calldata payload, uint256 nonce)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(uint256(uint160(msg.sender)), toAddress, nonce, selector, payload.length, payload)
        );
    }

    /// @notice Send a message to the L2 contract `toAddress`, handled by its L1 handler
    /// `selector`; the value sent is the message fee. Returns its hash and nonce.
    function sendMessageToL2(uint256 toAddress, uint256 selector, uint256[] calldata payload)
        external
        payable
        returns (bytes32, uint256)
    {
        require(msg.value > 0, "L1_MSG_FEE_MUST_BE_GREATER_THAN_0");
        require(msg.value <= MAX_L1_MSG_FEE, "MAX_L1_MSG_FEE_EXCEEDED");
        uint256 nonce = l1ToL2MessageNonce_;
        l1ToL2MessageNonce_ = nonce + 1;
        emit LogMessageToL2(msg.sender, toAddress, selector, payload, nonce, msg.value);
        bytes32 msgHash = l1ToL2MsgHash(toAddress, selector, payload, nonce);
        // The nonce makes the hash new: nothing was stored under it before.
        l1ToL2Messages_[msgHash] = msg.value + 1;
        return (msgHash, nonce);
    }

    /// @notice Take one copy of a message the L2 contract `fromAddress` sent to the caller.
    function consumeMessageFromL2(uint256 fromAddress, uint256[] calldata payload) external returns (bytes32) {
        bytes32 msgHash =
            keccak256(abi.encodePacked(fromAddress, uint256(uint160(msg.sender)), payload.length, payload));
        require(l2ToL1Messages_[msgHash] > 0, "INVALID_MESSAGE_TO_CONSUME");
        emit ConsumedMessageToL1(fromAddress, msg.sender, payload);
        l2ToL1Messages_[msgHash] -= 1;
        return msgHash;
    }

    /// @notice Start cancelling a pending message the caller sent; it can be
    /// cancelled `messageCancellationDelay()` seconds from now.
    function startL1ToL2MessageCancellation(
        uint256 toAddress,
        uint256 selector,
        uint256[] calldata payload,
        uint256 nonce
    ) external returns (bytes32) {
        emit MessageToL2CancellationStarted(msg.sender, toAddress, selector, payload, nonce);
        bytes32 msgHash = l1ToL2MsgHash(toAddress, selector, payload, nonce);
        require(l1ToL2Messages_[msgHash] > 0, "NO_MESSAGE_TO_CANCEL");
        l1ToL2MessageCancellations_[msgHash] = block.timestamp;
        return msgHash;
    }

    /// @notice Cancel a message whose cancellation delay has passed; the fee is not refunded.
    function cancelL1ToL2Message(uint256 toAddress, uint256 selector, uint256[] calldata payload, uint256 nonce)
        external
        returns (bytes32)
    {
        emit MessageToL2Canceled(msg.sender, toAddress, selector, payload, nonce);
        // The hash includes the caller: only the sender can cancel its message.
        bytes32 msgHash = l1ToL2MsgHash(toAddress, selector, payload, nonce);
        require(l1ToL2Messages_[msgHash] != 0, "NO_MESSAGE_TO_CANCEL");
        uint256 requestTime = l1ToL2MessageCancellations_[msgHash];
        require(requestTime != 0, "MESSAGE_CANCELLATION_NOT_REQUESTED");
        uint256 cancelAllowedTime = requestTime + messageCancellationDelay_;
        require(block.timestamp >= cancelAllowedTime, "MESSAGE_CANCELLATION_NOT_ALLOWED_YET");
        l1ToL2Messages_[msgHash] = 0;
        return msgHash;
    }
}
