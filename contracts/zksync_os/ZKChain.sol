// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./ZKsyncOSTypes.sol";
import {PriorityTree} from "./PriorityTree.sol";

/// @title Devnet ZKsync OS chain contract (the diamond's executor, getters and mailbox in one contract)
/// @notice Keeps one chain's settlement state as the v29 diamond does and applies the same rules:
/// commit one batch at a time on top of the stored previous batch with its DA checked by the chain's L1 DA
/// validator, prove a range with one proof over the folded public inputs, execute proven batches with their
/// priority operations proven against the priority tree. Only validators (the validator timelock) may call
/// the three steps. Deposits enter through `requestL2Transaction` as priority transactions.
contract ZKChain {
    using PriorityTree for PriorityTree.Tree;

    uint8 internal constant COMMIT_ENCODING_VERSION = 2;
    uint8 internal constant PROOF_ENCODING_VERSION = 1;
    uint8 internal constant EXECUTE_ENCODING_VERSION = 1;
    uint160 internal constant L1_TO_L2_ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    uint256 public immutable L1_CHAIN_ID;
    uint256 internal immutable chainId;
    address internal immutable bridgehub;
    address internal immutable chainTypeManager;
    uint256 internal immutable protocolVersion;

    address internal admin;
    mapping(address => bool) internal validators;
    IVerifier internal verifier;
    address internal l1DAValidator;
    address internal l2DAValidator;
    PubdataPricingMode internal pubdataPricingMode;

    uint256 internal totalBatchesCommitted;
    uint256 internal totalBatchesVerified;
    uint256 internal totalBatchesExecuted;
    mapping(uint256 => bytes32) internal storedBatchHashes;
    mapping(uint256 => bytes32) internal l2LogsRootHashes;
    PriorityTree.Tree internal priorityTree;

    event BlockCommit(uint256 indexed batchNumber, bytes32 indexed batchHash, bytes32 indexed commitment);
    event BlocksVerification(uint256 indexed previousLastVerifiedBatch, uint256 indexed currentLastVerifiedBatch);
    event BlockExecution(uint256 indexed batchNumber, bytes32 indexed batchHash, bytes32 indexed commitment);
    event NewPriorityRequest(
        uint256 txId,
        bytes32 txHash,
        uint64 expirationTimestamp,
        L2CanonicalTransaction transaction,
        bytes[] factoryDeps
    );
    event ValidatorStatusUpdate(address indexed validatorAddress, bool isActive);

    struct InitParams {
        uint256 chainId;
        address bridgehub;
        address chainTypeManager;
        uint256 protocolVersion;
        address admin;
        address verifier;
        address l1DAValidator;
        address l2DAValidator;
        PubdataPricingMode pubdataPricingMode;
        bytes32 storedBatchZero;
    }

    constructor(InitParams memory _params) {
        L1_CHAIN_ID = block.chainid;
        chainId = _params.chainId;
        bridgehub = _params.bridgehub;
        chainTypeManager = _params.chainTypeManager;
        protocolVersion = _params.protocolVersion;
        admin = _params.admin;
        verifier = IVerifier(_params.verifier);
        l1DAValidator = _params.l1DAValidator;
        l2DAValidator = _params.l2DAValidator;
        pubdataPricingMode = _params.pubdataPricingMode;
        storedBatchHashes[0] = _params.storedBatchZero;
        priorityTree.setup();
    }

    modifier onlyValidator() {
        if (!validators[msg.sender]) {
            revert Unauthorized(msg.sender);
        }
        _;
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) {
            revert Unauthorized(msg.sender);
        }
        _;
    }

    // ---------------------------------------------------------------- admin

    function setValidator(address _validator, bool _active) external onlyAdmin {
        validators[_validator] = _active;
        emit ValidatorStatusUpdate(_validator, _active);
    }

    function setDAValidatorPair(address _l1DAValidator, address _l2DAValidator) external onlyAdmin {
        l1DAValidator = _l1DAValidator;
        l2DAValidator = _l2DAValidator;
    }

    function setPubdataPricingMode(PubdataPricingMode _mode) external onlyAdmin {
        pubdataPricingMode = _mode;
    }

    // ---------------------------------------------------------------- getters

    function getAdmin() external view returns (address) { return admin; }
    function getBridgehub() external view returns (address) { return bridgehub; }
    function getChainTypeManager() external view returns (address) { return chainTypeManager; }
    function getChainId() external view returns (uint256) { return chainId; }
    function getVerifier() external view returns (address) { return address(verifier); }
    function isValidator(address _address) external view returns (bool) { return validators[_address]; }
    function getPubdataPricingMode() external view returns (PubdataPricingMode) { return pubdataPricingMode; }
    function getDAValidatorPair() external view returns (address, address) { return (l1DAValidator, l2DAValidator); }
    function getProtocolVersion() external view returns (uint256) { return protocolVersion; }

    function getSemverProtocolVersion() external view returns (uint32, uint32, uint32) {
        return (uint32(protocolVersion >> 64), uint32(protocolVersion >> 32), uint32(protocolVersion));
    }

    function getTotalBatchesCommitted() external view returns (uint256) { return totalBatchesCommitted; }
    function getTotalBatchesVerified() external view returns (uint256) { return totalBatchesVerified; }
    function getTotalBatchesExecuted() external view returns (uint256) { return totalBatchesExecuted; }
    function storedBatchHash(uint256 _batchNumber) external view returns (bytes32) { return storedBatchHashes[_batchNumber]; }
    function l2LogsRootHash(uint256 _batchNumber) external view returns (bytes32) { return l2LogsRootHashes[_batchNumber]; }
    function getPriorityTreeRoot() external view returns (bytes32) { return priorityTree.root(); }
    function getTotalPriorityTxs() external view returns (uint256) { return priorityTree.nextLeafIndex; }
    function getFirstUnprocessedPriorityTx() external view returns (uint256) { return priorityTree.unprocessedIndex; }
    function getPriorityTreeStartIndex() external pure returns (uint256) { return 0; }
    function isPriorityTreeHistoricalRoot(bytes32 _root) external view returns (bool) {
        return priorityTree.historicalRoots[_root];
    }

    // ---------------------------------------------------------------- mailbox

    /// @notice Request an L1→L2 transaction; `msg.value` is minted on L2 (to cover `_l2Value` and gas).
    function requestL2Transaction(
        address _contractL2,
        uint256 _l2Value,
        bytes calldata _calldata,
        uint256 _l2GasLimit,
        uint256 _l2GasPerPubdataByteLimit,
        bytes[] calldata _factoryDeps,
        address _refundRecipient
    ) external payable returns (bytes32 canonicalTxHash) {
        if (msg.value < _l2Value) {
            revert MsgValueTooLow(_l2Value, msg.value);
        }
        L2CanonicalTransaction memory transaction = _newPriorityTransaction(_contractL2, _l2Value, _refundRecipient);
        transaction.gasLimit = _l2GasLimit;
        transaction.gasPerPubdataByteLimit = _l2GasPerPubdataByteLimit;
        transaction.data = _calldata;
        transaction.factoryDeps = _hashFactoryDeps(_factoryDeps);
        canonicalTxHash = keccak256(abi.encode(transaction));
        priorityTree.push(canonicalTxHash);
        emit NewPriorityRequest(transaction.nonce, canonicalTxHash, uint64(block.timestamp), transaction, _factoryDeps);
    }

    /// @dev The transaction's sender is the caller, aliased when it is a contract (as on the real Mailbox).
    function _newPriorityTransaction(
        address _contractL2,
        uint256 _l2Value,
        address _refundRecipient
    ) internal view returns (L2CanonicalTransaction memory transaction) {
        address sender = msg.sender;
        if (sender != tx.origin) {
            unchecked {
                sender = address(uint160(sender) + L1_TO_L2_ALIAS_OFFSET);
            }
        }
        transaction.txType = PRIORITY_OPERATION_L2_TX_TYPE;
        transaction.from = uint256(uint160(sender));
        transaction.to = uint256(uint160(_contractL2));
        transaction.maxFeePerGas = tx.gasprice;
        transaction.nonce = priorityTree.nextLeafIndex;
        transaction.value = _l2Value;
        transaction.reserved[0] = msg.value;
        transaction.reserved[1] = uint256(uint160(_refundRecipient == address(0) ? sender : _refundRecipient));
    }

    function _hashFactoryDeps(bytes[] calldata _factoryDeps) internal pure returns (uint256[] memory hashes) {
        hashes = new uint256[](_factoryDeps.length);
        for (uint256 i = 0; i < _factoryDeps.length; ++i) {
            hashes[i] = uint256(keccak256(_factoryDeps[i]));
        }
    }

    // ---------------------------------------------------------------- commit

    function commitBatchesSharedBridge(
        address, // _chainAddress
        uint256 _processFrom,
        uint256 _processTo,
        bytes calldata _commitData
    ) external onlyValidator {
        if (_commitData.length == 0) {
            revert EmptyData();
        }
        if (uint8(_commitData[0]) != COMMIT_ENCODING_VERSION) {
            revert UnsupportedCommitBatchEncoding(uint8(_commitData[0]));
        }
        (StoredBatchInfo memory previous, CommitBatchInfoZKsyncOS[] memory batches) = abi.decode(
            _commitData[1:],
            (StoredBatchInfo, CommitBatchInfoZKsyncOS[])
        );
        if (batches.length == 0) {
            revert EmptyData();
        }
        _checkBounds(batches[0].batchNumber, batches[batches.length - 1].batchNumber, _processFrom, _processTo);
        if (batches.length != 1) {
            revert CanOnlyProcessOneBatch();
        }
        _checkStoredHash(previous, totalBatchesCommitted);

        StoredBatchInfo memory stored = _commitOneBatch(previous, batches[0]);
        storedBatchHashes[stored.batchNumber] = keccak256(abi.encode(stored));
        totalBatchesCommitted += 1;
        emit BlockCommit(stored.batchNumber, stored.batchHash, stored.commitment);
    }

    function _commitOneBatch(
        StoredBatchInfo memory _previous,
        CommitBatchInfoZKsyncOS memory _batch
    ) internal returns (StoredBatchInfo memory) {
        if (_batch.batchNumber != _previous.batchNumber + 1) {
            revert BatchNumberMismatch(_previous.batchNumber + 1, _batch.batchNumber);
        }
        if (_batch.l2DaValidator != l2DAValidator) {
            revert MismatchL2DAValidator();
        }
        L1DAValidatorOutput memory da = IL1DAValidator(l1DAValidator).checkDA(
            chainId,
            _batch.batchNumber,
            _batch.daCommitment,
            _batch.operatorDAInput,
            TOTAL_BLOBS_IN_COMMITMENT
        );
        for (uint256 i = 0; i < da.blobsLinearHashes.length; ++i) {
            if (da.blobsLinearHashes[i] != bytes32(0) || da.blobsOpeningCommitments[i] != bytes32(0)) {
                revert NonZeroBlobToVerifyZKsyncOS(i, da.blobsLinearHashes[i], da.blobsOpeningCommitments[i]);
            }
        }
        if (block.timestamp - COMMIT_TIMESTAMP_NOT_OLDER > _batch.firstBlockTimestamp) {
            revert TimeNotReached(_batch.firstBlockTimestamp, block.timestamp - COMMIT_TIMESTAMP_NOT_OLDER);
        }
        if (_batch.lastBlockTimestamp > block.timestamp + COMMIT_TIMESTAMP_APPROXIMATION_DELTA) {
            revert L2TimestampTooBig();
        }
        if (_batch.chainId != chainId) {
            revert IncorrectBatchChainId(_batch.chainId, chainId);
        }
        // No protocol upgrade transaction is pending on this devnet chain: its hash is zero.
        bytes32 batchOutputHash = keccak256(
            abi.encodePacked(
                _batch.chainId,
                _batch.firstBlockTimestamp,
                _batch.lastBlockTimestamp,
                _batch.l2DaValidator,
                _batch.daCommitment,
                _batch.numberOfLayer1Txs,
                _batch.priorityOperationsHash,
                _batch.l2LogsTreeRoot,
                bytes32(0),
                _batch.dependencyRootsRollingHash
            )
        );
        return
            StoredBatchInfo({
                batchNumber: _batch.batchNumber,
                batchHash: _batch.newStateCommitment,
                indexRepeatedStorageChanges: 0,
                numberOfLayer1Txs: _batch.numberOfLayer1Txs,
                priorityOperationsHash: _batch.priorityOperationsHash,
                dependencyRootsRollingHash: _batch.dependencyRootsRollingHash,
                l2LogsTreeRoot: _batch.l2LogsTreeRoot,
                timestamp: 0,
                commitment: batchOutputHash
            });
    }

    // ---------------------------------------------------------------- prove

    function proveBatchesSharedBridge(
        address, // _chainAddress
        uint256 _processFrom,
        uint256 _processTo,
        bytes calldata _proofData
    ) external onlyValidator {
        if (_proofData.length == 0) {
            revert EmptyData();
        }
        if (uint8(_proofData[0]) != PROOF_ENCODING_VERSION) {
            revert UnsupportedProofBatchEncoding(uint8(_proofData[0]));
        }
        (StoredBatchInfo memory previous, StoredBatchInfo[] memory batches, uint256[] memory proof) = abi.decode(
            _proofData[1:],
            (StoredBatchInfo, StoredBatchInfo[], uint256[])
        );
        if (batches.length == 0) {
            revert EmptyData();
        }
        _checkBounds(batches[0].batchNumber, batches[batches.length - 1].batchNumber, _processFrom, _processTo);

        uint256 verified = totalBatchesVerified;
        _checkStoredHash(previous, verified);
        uint256[] memory publicInputs = new uint256[](batches.length);
        bytes32 previousStateCommitment = previous.batchHash;
        for (uint256 i = 0; i < batches.length; ++i) {
            verified += 1;
            _checkStoredHash(batches[i], verified);
            publicInputs[i] =
                uint256(keccak256(abi.encodePacked(previousStateCommitment, batches[i].batchHash, batches[i].commitment))) >>
                PUBLIC_INPUT_SHIFT;
            previousStateCommitment = batches[i].batchHash;
        }
        if (verified > totalBatchesCommitted) {
            revert VerifiedBatchesExceedsCommittedBatches();
        }
        if (!verifier.verify(publicInputs, proof)) {
            revert InvalidProof();
        }
        emit BlocksVerification(totalBatchesVerified, verified);
        totalBatchesVerified = verified;
    }

    // ---------------------------------------------------------------- execute

    function executeBatchesSharedBridge(
        address, // _chainAddress
        uint256 _processFrom,
        uint256 _processTo,
        bytes calldata _executeData
    ) external onlyValidator {
        if (_executeData.length == 0) {
            revert EmptyData();
        }
        if (uint8(_executeData[0]) != EXECUTE_ENCODING_VERSION) {
            revert UnsupportedExecuteBatchEncoding(uint8(_executeData[0]));
        }
        (StoredBatchInfo[] memory batches, PriorityOpsBatchInfo[] memory ops, InteropRoot[][] memory roots) = abi
            .decode(_executeData[1:], (StoredBatchInfo[], PriorityOpsBatchInfo[], InteropRoot[][]));
        if (batches.length == 0) {
            revert EmptyData();
        }
        _checkBounds(batches[0].batchNumber, batches[batches.length - 1].batchNumber, _processFrom, _processTo);
        if (batches.length != ops.length) {
            revert InvalidBatchesDataLength(batches.length, ops.length);
        }
        if (batches.length != roots.length) {
            revert InvalidBatchesDataLength(batches.length, roots.length);
        }
        for (uint256 i = 0; i < batches.length; ++i) {
            _executeOneBatch(batches[i], ops[i], roots[i], i);
            emit BlockExecution(batches[i].batchNumber, batches[i].batchHash, batches[i].commitment);
        }
        uint256 executed = totalBatchesExecuted + batches.length;
        totalBatchesExecuted = executed;
        if (executed > totalBatchesVerified) {
            revert CantExecuteUnprovenBatches();
        }
    }

    function _executeOneBatch(
        StoredBatchInfo memory _batch,
        PriorityOpsBatchInfo memory _ops,
        InteropRoot[] memory _roots,
        uint256 _index
    ) internal {
        if (_ops.itemHashes.length != _batch.numberOfLayer1Txs) {
            revert MismatchNumberOfLayer1Txs(_batch.numberOfLayer1Txs, _ops.itemHashes.length);
        }
        bytes32 rolling = EMPTY_STRING_KECCAK;
        for (uint256 i = 0; i < _ops.itemHashes.length; ++i) {
            rolling = keccak256(abi.encode(rolling, _ops.itemHashes[i]));
        }
        bytes32 dependencyRootsRollingHash = _dependencyRootsRollingHash(_roots);
        if (_batch.batchNumber != totalBatchesExecuted + _index + 1) {
            revert NonSequentialBatch();
        }
        _checkStoredHash(_batch, _batch.batchNumber);
        if (rolling != _batch.priorityOperationsHash) {
            revert PriorityOperationsRollingHashMismatch();
        }
        if (dependencyRootsRollingHash != _batch.dependencyRootsRollingHash) {
            revert DependencyRootsRollingHashMismatch(_batch.dependencyRootsRollingHash, dependencyRootsRollingHash);
        }
        priorityTree.processBatch(_ops);
        l2LogsRootHashes[_batch.batchNumber] = _batch.l2LogsTreeRoot;
    }

    /// @dev The devnet L1 has no message root registry (interop runs on a gateway), so no dependency root can be
    /// verified: a batch that claims one cannot be executed here.
    function _dependencyRootsRollingHash(InteropRoot[] memory _roots) internal view returns (bytes32) {
        if (_roots.length == 0) {
            return bytes32(0);
        }
        if (_roots[0].chainId == block.chainid) {
            revert MessageRootIsZero();
        }
        revert CommitBasedInteropNotSupported();
    }

    // ---------------------------------------------------------------- shared checks

    function _checkBounds(uint256 _first, uint256 _last, uint256 _processFrom, uint256 _processTo) internal pure {
        if (_first != _processFrom || _last != _processTo) {
            revert IncorrectBatchBounds(_processFrom, _processTo, _first, _last);
        }
    }

    function _checkStoredHash(StoredBatchInfo memory _info, uint256 _batchNumber) internal view {
        bytes32 stored = storedBatchHashes[_batchNumber];
        bytes32 given = keccak256(abi.encode(_info));
        if (stored != given) {
            revert BatchHashMismatch(stored, given);
        }
    }
}
