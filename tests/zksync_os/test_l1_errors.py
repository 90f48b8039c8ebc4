"""Revert payloads of the ZKsync L1 contracts decode to their names and arguments."""

from __future__ import annotations

from eth_abi import encode
from eth_hash.auto import keccak

from orchestrator_pipelines.zksync_os.l1_errors import describe_revert, error_name, error_table


def _payload(signature: str, types: list[str], values: list) -> bytes:
    return keccak(signature.encode())[:4] + encode(types, values)


def test_custom_errors_of_the_contracts_decode_with_argument_names() -> None:
    data = _payload("BatchHashMismatch(bytes32,bytes32)", ["bytes32", "bytes32"], [b"\x01" * 32, b"\x02" * 32])
    assert error_name(data) == "BatchHashMismatch"
    assert describe_revert("0x" + data.hex()) == f"BatchHashMismatch(expected=0x{'01' * 32}, actual=0x{'02' * 32})"
    role = _payload(
        "RoleAccessDenied(address,bytes32,address)", ["address", "bytes32", "address"],
        ["0x" + "ab" * 20, keccak(b"PROVER_ROLE"), "0x" + "cd" * 20],
    )
    assert describe_revert(role).startswith("RoleAccessDenied(chainAddress=0xABaBaB")


def test_every_rule_of_the_table_has_its_error_in_the_abis() -> None:
    names = {name for name, _, _ in error_table().values()}
    for required in (
        "UnsupportedCommitBatchEncoding", "CanOnlyProcessOneBatch", "BatchHashMismatch", "BatchNumberMismatch",
        "TimeNotReached", "L2TimestampTooBig", "InvalidProof", "EmptyProofLength", "MockVerifierNotSupported",
        "PriorityOperationsRollingHashMismatch", "NotHistoricalRoot", "CantExecuteUnprovenBatches",
        "VerifiedBatchesExceedsCommittedBatches", "RoleAccessDenied", "InvalidL2DAOutputHash", "InvalidPubdataHash",
        "PubdataLengthTooBig", "ValL1DAWrongInputLength", "MismatchNumberOfLayer1Txs",
    ):
        assert required in names, required


def test_string_panic_unknown_and_empty_payloads() -> None:
    assert describe_revert(bytes.fromhex("08c379a0") + encode(["string"], ["no"])) == "Error('no')"
    assert describe_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == "Panic(0x11)"
    assert describe_revert("0xdeadbeef") == "unknown error 0xdeadbeef (0 bytes of arguments)"
    assert describe_revert(None) == "empty revert (no reason given)" and error_name(None) is None
