"""Calldata of the three L1 steps, byte for byte as zksync-os-server sends them (protocol v29).

- ``commitBatchesSharedBridge(address chain, uint256 from, uint256 to, bytes data)``
  (0x0db9eb87): ``data = 0x02 ‖ abi.encode(StoredBatchInfo prev,
  CommitBatchInfoZKsyncOS[] [batch])``, exactly one batch, ``from == to``.
- ``proveBatchesSharedBridge`` (0x9271e450): ``data = 0x01 ‖
  abi.encode(StoredBatchInfo prev, StoredBatchInfo[] batches, uint256[] proof)``
  over a consecutive range.
- ``executeBatchesSharedBridge`` (0xa085344d): ``data = 0x01 ‖
  abi.encode(StoredBatchInfo[] batches, PriorityOpsBatchInfo[] ops,
  InteropRoot[][] roots)`` with one (empty) interop root list per batch.

The calls go to the chain's validator timelock, which forwards them to the
chain. ``decode_*`` read the calldata back (recovery and tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from eth_abi import decode, encode
from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.model import (
    COMMIT_BATCH_INFO_ABI,
    INTEROP_ROOT_ABI,
    PRIORITY_OPS_BATCH_INFO_ABI,
    STORED_BATCH_INFO_ABI,
    CommitBatchInfo,
    DAMode,
    PriorityOpsBatchInfo,
    StoredBatchInfo,
)

COMMIT_SIGNATURE = "commitBatchesSharedBridge(address,uint256,uint256,bytes)"
PROVE_SIGNATURE = "proveBatchesSharedBridge(address,uint256,uint256,bytes)"
EXECUTE_SIGNATURE = "executeBatchesSharedBridge(address,uint256,uint256,bytes)"
COMMIT_SELECTOR = bytes.fromhex("0db9eb87")
PROVE_SELECTOR = bytes.fromhex("9271e450")
EXECUTE_SELECTOR = bytes.fromhex("a085344d")
COMMIT_ENCODING_VERSION = 2  # v29 ZKsync OS commit data
PROVE_ENCODING_VERSION = 1
EXECUTE_ENCODING_VERSION = 1
_OUTER = ["address", "uint256", "uint256", "bytes"]
_COMMIT_DATA = [STORED_BATCH_INFO_ABI, f"{COMMIT_BATCH_INFO_ABI}[]"]
_PROVE_DATA = [STORED_BATCH_INFO_ABI, f"{STORED_BATCH_INFO_ABI}[]", "uint256[]"]
_EXECUTE_DATA = [f"{STORED_BATCH_INFO_ABI}[]", f"{PRIORITY_OPS_BATCH_INFO_ABI}[]", f"{INTEROP_ROOT_ABI}[][]"]


def selector(signature: str) -> bytes:
    return keccak(signature.encode("ascii"))[:4]


def _outer(sel: bytes, chain_address: bytes, first: int, last: int, data: bytes) -> bytes:
    return sel + encode(_OUTER, ["0x" + bytes(chain_address).hex(), first, last, data])


def commit_data(previous: StoredBatchInfo, batch: CommitBatchInfo, mode: DAMode) -> bytes:
    return bytes([COMMIT_ENCODING_VERSION]) + encode(_COMMIT_DATA, [previous.abi_tuple(), [batch.abi_tuple(mode)]])


def commit_calldata(previous: StoredBatchInfo, batch: CommitBatchInfo, mode: DAMode) -> bytes:
    """``commitBatchesSharedBridge`` for one batch on top of ``previous`` in DA ``mode``."""
    if batch.batch_number != previous.batch_number + 1:
        raise InvalidInputError(f"commit: batch {batch.batch_number} does not follow batch {previous.batch_number}")
    return _outer(
        COMMIT_SELECTOR, batch.chain_address, batch.batch_number, batch.batch_number,
        commit_data(previous, batch, mode),
    )


def _check_range(previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo], what: str) -> None:
    if not batches:
        raise InvalidInputError(f"{what}: at least one batch is needed")
    expected = previous.batch_number + 1
    for batch in batches:
        if batch.batch_number != expected:
            raise InvalidInputError(f"{what}: batch {batch.batch_number} where batch {expected} was expected")
        expected += 1


def prove_data(previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo], proof: Sequence[int]) -> bytes:
    return bytes([PROVE_ENCODING_VERSION]) + encode(
        _PROVE_DATA, [previous.abi_tuple(), [b.abi_tuple() for b in batches], list(proof)]
    )


def prove_calldata(
    chain_address: bytes, previous: StoredBatchInfo, batches: Sequence[StoredBatchInfo], proof: Sequence[int]
) -> bytes:
    """``proveBatchesSharedBridge`` for the range ``batches`` (consecutive, right after ``previous``)."""
    _check_range(previous, batches, "prove")
    return _outer(
        PROVE_SELECTOR, chain_address, batches[0].batch_number, batches[-1].batch_number,
        prove_data(previous, batches, proof),
    )


def execute_data(batches: Sequence[StoredBatchInfo], priority_ops: Sequence[PriorityOpsBatchInfo]) -> bytes:
    if len(batches) != len(priority_ops):
        raise InvalidInputError(f"execute: {len(batches)} batches but {len(priority_ops)} priority op lists")
    return bytes([EXECUTE_ENCODING_VERSION]) + encode(
        _EXECUTE_DATA,
        [[b.abi_tuple() for b in batches], [p.abi_tuple() for p in priority_ops], [[] for _ in batches]],
    )


def execute_calldata(
    chain_address: bytes, batches: Sequence[StoredBatchInfo], priority_ops: Sequence[PriorityOpsBatchInfo]
) -> bytes:
    """``executeBatchesSharedBridge`` for consecutive ``batches`` with their priority operations."""
    if not batches:
        raise InvalidInputError("execute: at least one batch is needed")
    for previous, current in zip(batches, batches[1:]):
        if current.batch_number != previous.batch_number + 1:
            raise InvalidInputError(f"execute: batch {current.batch_number} does not follow {previous.batch_number}")
    for batch, ops in zip(batches, priority_ops):
        if len(ops.item_hashes) != batch.number_of_layer1_txs:
            raise InvalidInputError(
                f"execute: batch {batch.batch_number} has {batch.number_of_layer1_txs} L1 txs "
                f"but {len(ops.item_hashes)} priority op hashes"
            )
    return _outer(
        EXECUTE_SELECTOR, chain_address, batches[0].batch_number, batches[-1].batch_number,
        execute_data(batches, priority_ops),
    )


@dataclass(frozen=True)
class DecodedCall:
    selector: bytes
    chain_address: bytes
    process_from: int
    process_to: int
    version: int
    payload: tuple


def decode_call(calldata: bytes) -> DecodedCall:
    """Split one of the three calls into its outer arguments and its decoded ``data`` payload."""
    calldata = bytes(calldata)
    sel = calldata[:4]
    layouts = {COMMIT_SELECTOR: _COMMIT_DATA, PROVE_SELECTOR: _PROVE_DATA, EXECUTE_SELECTOR: _EXECUTE_DATA}
    if sel not in layouts:
        raise InvalidInputError(f"calldata: selector 0x{sel.hex()} is not commit, prove or execute")
    try:
        chain, first, last, data = decode(_OUTER, calldata[4:])
        if not data:
            raise InvalidInputError("calldata: the data argument is empty")
        payload = tuple(decode(layouts[sel], bytes(data[1:])))
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"calldata 0x{sel.hex()}: does not decode: {exc}") from None
    return DecodedCall(
        selector=sel,
        chain_address=bytes.fromhex(chain[2:]),
        process_from=int(first),
        process_to=int(last),
        version=data[0],
        payload=payload,
    )


def decode_commit_calldata(calldata: bytes) -> tuple[StoredBatchInfo, tuple]:
    """``(previous, CommitBatchInfoZKsyncOS tuple)`` of a commit call."""
    call = decode_call(calldata)
    if call.selector != COMMIT_SELECTOR:
        raise InvalidInputError(f"calldata: 0x{call.selector.hex()} is not commitBatchesSharedBridge")
    previous, batches = call.payload
    if len(batches) != 1:
        raise InvalidInputError(f"commit calldata carries {len(batches)} batches, not one")
    return StoredBatchInfo.from_abi_tuple(previous), batches[0]
