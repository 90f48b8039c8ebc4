// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IZKChainAdmin, RoleAccessDenied, TimeNotReached, Unauthorized} from "./ZKsyncOSTypes.sol";

/// @title Devnet validator timelock (v29 shape)
/// @notice The validator of every chain it serves: it forwards commit, prove and execute to the chain contract
/// with the same calldata, each only from an account holding that step's role for that chain, records when
/// each batch was committed and refuses to execute a batch before the execution delay has passed since.
contract ValidatorTimelock {
    bytes32 public constant COMMITTER_ROLE = keccak256("COMMITTER_ROLE");
    bytes32 public constant PROVER_ROLE = keccak256("PROVER_ROLE");
    bytes32 public constant EXECUTOR_ROLE = keccak256("EXECUTOR_ROLE");

    address public owner;
    uint32 public executionDelay;
    mapping(address chain => mapping(bytes32 role => mapping(address account => bool))) internal roles;
    mapping(address chain => mapping(uint256 batchNumber => uint256 timestamp)) internal committedBatchTimestamp;

    event NewExecutionDelay(uint256 _newExecutionDelay);
    event RoleGranted(address indexed chainAddress, bytes32 indexed role, address indexed account);
    event RoleRevoked(address indexed chainAddress, bytes32 indexed role, address indexed account);

    constructor(address _owner, uint32 _executionDelay) {
        owner = _owner;
        executionDelay = _executionDelay;
    }

    modifier onlyRole(address _chainAddress, bytes32 _role) {
        if (!roles[_chainAddress][_role][msg.sender]) {
            revert RoleAccessDenied(_chainAddress, _role, msg.sender);
        }
        _;
    }

    /// @dev Roles of a chain are managed by the timelock's owner or the chain's admin.
    modifier onlyRoleAdmin(address _chainAddress) {
        if (msg.sender != owner && msg.sender != IZKChainAdmin(_chainAddress).getAdmin()) {
            revert Unauthorized(msg.sender);
        }
        _;
    }

    function setExecutionDelay(uint32 _executionDelay) external {
        if (msg.sender != owner) {
            revert Unauthorized(msg.sender);
        }
        executionDelay = _executionDelay;
        emit NewExecutionDelay(_executionDelay);
    }

    function hasRole(address _chainAddress, bytes32 _role, address _account) external view returns (bool) {
        return roles[_chainAddress][_role][_account];
    }

    function grantRole(address _chainAddress, bytes32 _role, address _account) external onlyRoleAdmin(_chainAddress) {
        if (!roles[_chainAddress][_role][_account]) {
            roles[_chainAddress][_role][_account] = true;
            emit RoleGranted(_chainAddress, _role, _account);
        }
    }

    function revokeRole(address _chainAddress, bytes32 _role, address _account) external onlyRoleAdmin(_chainAddress) {
        if (roles[_chainAddress][_role][_account]) {
            roles[_chainAddress][_role][_account] = false;
            emit RoleRevoked(_chainAddress, _role, _account);
        }
    }

    function getCommittedBatchTimestamp(address _chainAddress, uint256 _batchNumber) external view returns (uint256) {
        return committedBatchTimestamp[_chainAddress][_batchNumber];
    }

    function commitBatchesSharedBridge(
        address _chainAddress,
        uint256 _processFrom,
        uint256 _processTo,
        bytes calldata // _commitData, checked by the chain
    ) external onlyRole(_chainAddress, COMMITTER_ROLE) {
        for (uint256 i = _processFrom; i <= _processTo; ++i) {
            committedBatchTimestamp[_chainAddress][i] = block.timestamp;
        }
        _forward(_chainAddress);
    }

    function proveBatchesSharedBridge(
        address _chainAddress,
        uint256, // _processFrom
        uint256, // _processTo
        bytes calldata // _proofData
    ) external onlyRole(_chainAddress, PROVER_ROLE) {
        _forward(_chainAddress);
    }

    function executeBatchesSharedBridge(
        address _chainAddress,
        uint256 _processFrom,
        uint256 _processTo,
        bytes calldata // _executeData
    ) external onlyRole(_chainAddress, EXECUTOR_ROLE) {
        uint256 delay = executionDelay;
        for (uint256 i = _processFrom; i <= _processTo; ++i) {
            uint256 committedAt = committedBatchTimestamp[_chainAddress][i];
            // Zero: not committed through this timelock (or not at all); the chain itself judges the batch.
            if (block.timestamp < committedAt + delay) {
                revert TimeNotReached(committedAt + delay, block.timestamp);
            }
        }
        _forward(_chainAddress);
    }

    /// @dev Call the chain with this call's calldata; bubble its revert data up unchanged.
    function _forward(address _chainAddress) internal {
        (bool success, bytes memory result) = _chainAddress.call(msg.data);
        if (!success) {
            assembly {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}
