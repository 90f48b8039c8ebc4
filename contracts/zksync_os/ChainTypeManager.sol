// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IBridgehubView {
    function getZKChain(uint256 _chainId) external view returns (address);
}

/// @title Devnet chain type manager (the views the server's L1 discovery reads)
/// @notice Names the validator timelock of its chains (`validatorTimelockPostV29`) and their protocol version.
contract ChainTypeManager {
    address public immutable BRIDGE_HUB;
    address public immutable validatorTimelockPostV29;
    /// @dev Packed semantic version: major << 64 | minor << 32 | patch.
    uint256 public immutable protocolVersion;

    constructor(address _bridgehub, address _validatorTimelock, uint256 _protocolVersion) {
        BRIDGE_HUB = _bridgehub;
        validatorTimelockPostV29 = _validatorTimelock;
        protocolVersion = _protocolVersion;
    }

    function validatorTimelock() external view returns (address) {
        return validatorTimelockPostV29;
    }

    function getZKChain(uint256 _chainId) external view returns (address) {
        return IBridgehubView(BRIDGE_HUB).getZKChain(_chainId);
    }

    function protocolVersionIsActive(uint256 _protocolVersion) external view returns (bool) {
        return _protocolVersion == protocolVersion;
    }

    function getSemverProtocolVersion() external view returns (uint32, uint32, uint32) {
        return (uint32(protocolVersion >> 64), uint32(protocolVersion >> 32), uint32(protocolVersion));
    }
}
