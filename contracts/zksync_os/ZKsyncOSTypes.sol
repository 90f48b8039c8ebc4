// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Shared records, interfaces and errors of the devnet ZKsync OS settlement contracts
// (protocol v29 layout). Error names and arguments are those the real contracts revert
// with, so a client decodes a revert from these contracts and from the real ones alike.

struct StoredBatchInfo {
    uint64 batchNumber;
    bytes32 batchHash;
    uint64 indexRepeatedStorageChanges;
    uint256 numberOfLayer1Txs;
    bytes32 priorityOperationsHash;
    bytes32 dependencyRootsRollingHash;
    bytes32 l2LogsTreeRoot;
    uint256 timestamp;
    bytes32 commitment;
}

struct CommitBatchInfoZKsyncOS {
    uint64 batchNumber;
    bytes32 newStateCommitment;
    uint256 numberOfLayer1Txs;
    bytes32 priorityOperationsHash;
    bytes32 dependencyRootsRollingHash;
    bytes32 l2LogsTreeRoot;
    address l2DaValidator;
    bytes32 daCommitment;
    uint64 firstBlockTimestamp;
    uint64 lastBlockTimestamp;
    uint256 chainId;
    bytes operatorDAInput;
}

struct PriorityOpsBatchInfo {
    bytes32[] leftPath;
    bytes32[] rightPath;
    bytes32[] itemHashes;
}

struct InteropRoot {
    uint256 chainId;
    uint256 blockOrBatchNumber;
    bytes32[] sides;
}

struct L2CanonicalTransaction {
    uint256 txType;
    uint256 from;
    uint256 to;
    uint256 gasLimit;
    uint256 gasPerPubdataByteLimit;
    uint256 maxFeePerGas;
    uint256 maxPriorityFeePerGas;
    uint256 paymaster;
    uint256 nonce;
    uint256 value;
    uint256[4] reserved;
    bytes data;
    bytes signature;
    uint256[] factoryDeps;
    bytes paymasterInput;
    bytes reservedDynamic;
}

struct L1DAValidatorOutput {
    bytes32 stateDiffHash;
    bytes32[] blobsLinearHashes;
    bytes32[] blobsOpeningCommitments;
}

enum PubdataPricingMode {
    Rollup,
    Validium
}

interface IL1DAValidator {
    function checkDA(
        uint256 _chainId,
        uint256 _batchNumber,
        bytes32 _l2DAValidatorOutputHash,
        bytes calldata _operatorDAInput,
        uint256 _maxBlobsSupported
    ) external returns (L1DAValidatorOutput memory output);
}

interface IVerifier {
    function verify(uint256[] calldata _publicInputs, uint256[] calldata _proof) external view returns (bool);
}

interface IZKChainAdmin {
    function getAdmin() external view returns (address);
}

/// @dev Keccak of the empty string: the rolling hash of no priority operations and the priority tree's zero leaf.
bytes32 constant EMPTY_STRING_KECCAK = 0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470;
/// @dev Blobs the DA validators report on; ZKsync OS requires all of them to be zero.
uint256 constant TOTAL_BLOBS_IN_COMMITMENT = 16;
uint256 constant COMMIT_TIMESTAMP_NOT_OLDER = 3 days;
uint256 constant COMMIT_TIMESTAMP_APPROXIMATION_DELTA = 1 hours;
uint256 constant PUBLIC_INPUT_SHIFT = 32;
uint256 constant PRIORITY_OPERATION_L2_TX_TYPE = 255;

// Access
error Unauthorized(address caller);
error RoleAccessDenied(address chainAddress, bytes32 role, address account);
// Calldata decoding
error EmptyData();
error UnsupportedCommitBatchEncoding(uint8 version);
error UnsupportedProofBatchEncoding(uint8 version);
error UnsupportedExecuteBatchEncoding(uint8 version);
error IncorrectBatchBounds(
    uint256 processFromExpected,
    uint256 processToExpected,
    uint256 processFromProvided,
    uint256 processToProvided
);
// Commit
error CanOnlyProcessOneBatch();
error BatchHashMismatch(bytes32 expected, bytes32 actual);
error BatchNumberMismatch(uint256 expectedBatchNumber, uint256 providedBatchNumber);
error TimeNotReached(uint256 expectedTimestamp, uint256 actualTimestamp);
error L2TimestampTooBig();
error IncorrectBatchChainId(uint256 batchChainId, uint256 chainId);
error MismatchL2DAValidator();
error NonZeroBlobToVerifyZKsyncOS(uint256 index, bytes32 blobLinearHash, bytes32 blobOpeningCommitment);
// Prove
error VerifiedBatchesExceedsCommittedBatches();
error InvalidProof();
// Execute
error InvalidBatchesDataLength(uint256 batchesDataLength, uint256 priorityOpsDataLength);
error MismatchNumberOfLayer1Txs(uint256 numberOfLayer1Txs, uint256 expectedLength);
error NonSequentialBatch();
error PriorityOperationsRollingHashMismatch();
error DependencyRootsRollingHashMismatch(bytes32 expected, bytes32 actual);
error MessageRootIsZero();
error CommitBasedInteropNotSupported();
error CantExecuteUnprovenBatches();
error NotHistoricalRoot(bytes32 root);
// Merkle paths
error MerklePathLengthMismatch(uint256 pathLength, uint256 expectedLength);
error MerklePathOutOfBounds();
error MerklePathEmpty();
error MerkleNothingToProve();
error MerkleIndexOrHeightMismatch();
// Mailbox
error MsgValueTooLow(uint256 required, uint256 provided);
