"""L1→L2 priority transactions as the Mailbox records them (``NewPriorityRequest``).

A deposit on L1 becomes an ``L2CanonicalTransaction`` (type 255, ``from`` the
L1 sender, ``nonce`` the priority tx id, ``reserved[0]`` the value minted on
L2, ``reserved[1]`` the refund recipient). Its canonical hash
``keccak(abi.encode(tx))`` is the leaf of the priority tree, the item of the
batch's priority rolling hash and the L2 transaction hash of the deposit.
:func:`decode_new_priority_request` reads the event's data so a node (or a
test) picks deposits up from L1 logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError

PRIORITY_OPERATION_L2_TX_TYPE = 255
L2_CANONICAL_TRANSACTION_ABI = (
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,"
    "uint256[4],bytes,bytes,uint256[],bytes,bytes)"
)
NEW_PRIORITY_REQUEST_SIGNATURE = (
    "NewPriorityRequest(uint256,bytes32,uint64,"
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,"
    "uint256[4],bytes,bytes,uint256[],bytes,bytes),bytes[])"
)
NEW_PRIORITY_REQUEST_TOPIC = keccak(NEW_PRIORITY_REQUEST_SIGNATURE.encode("ascii"))


@dataclass(frozen=True)
class L2CanonicalTransaction:
    tx_type: int
    sender: int
    to: int
    gas_limit: int
    gas_per_pubdata_byte_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    paymaster: int
    nonce: int
    value: int
    reserved: tuple[int, int, int, int]
    data: bytes
    signature: bytes
    factory_deps: tuple[int, ...]
    paymaster_input: bytes
    reserved_dynamic: bytes

    @property
    def mint_value(self) -> int:
        return self.reserved[0]

    @property
    def refund_recipient(self) -> bytes:
        return self.reserved[1].to_bytes(20, "big")

    @property
    def from_address(self) -> bytes:
        return self.sender.to_bytes(20, "big")

    @property
    def to_address(self) -> bytes:
        return self.to.to_bytes(20, "big")

    def abi_tuple(self) -> tuple:
        return (
            self.tx_type, self.sender, self.to, self.gas_limit, self.gas_per_pubdata_byte_limit,
            self.max_fee_per_gas, self.max_priority_fee_per_gas, self.paymaster, self.nonce, self.value,
            list(self.reserved), self.data, self.signature, list(self.factory_deps), self.paymaster_input,
            self.reserved_dynamic,
        )

    def canonical_hash(self) -> bytes:
        return keccak(encode([L2_CANONICAL_TRANSACTION_ABI], [self.abi_tuple()]))

    @classmethod
    def from_abi_tuple(cls, value: tuple) -> "L2CanonicalTransaction":
        return cls(
            tx_type=value[0], sender=value[1], to=value[2], gas_limit=value[3],
            gas_per_pubdata_byte_limit=value[4], max_fee_per_gas=value[5], max_priority_fee_per_gas=value[6],
            paymaster=value[7], nonce=value[8], value=value[9], reserved=tuple(value[10]),
            data=bytes(value[11]), signature=bytes(value[12]), factory_deps=tuple(value[13]),
            paymaster_input=bytes(value[14]), reserved_dynamic=bytes(value[15]),
        )


@dataclass(frozen=True)
class PriorityRequest:
    """One ``NewPriorityRequest``: the tx id (index in the priority tree), its hash and the transaction."""

    tx_id: int
    tx_hash: bytes
    expiration_timestamp: int
    transaction: L2CanonicalTransaction
    factory_deps: tuple[bytes, ...]


def decode_new_priority_request(data: bytes) -> PriorityRequest:
    """Decode a ``NewPriorityRequest`` log's data (the event has no indexed fields)."""
    try:
        tx_id, tx_hash, expiration, tx, deps = decode(
            ["uint256", "bytes32", "uint64", L2_CANONICAL_TRANSACTION_ABI, "bytes[]"], bytes(data)
        )
    except Exception as exc:  # eth_abi raises several decoding error types
        raise InvalidInputError(f"NewPriorityRequest data does not decode: {exc}") from None
    transaction = L2CanonicalTransaction.from_abi_tuple(tx)
    if transaction.canonical_hash() != bytes(tx_hash):
        raise InvalidInputError(
            f"NewPriorityRequest {tx_id}: txHash 0x{bytes(tx_hash).hex()} is not the canonical hash of the transaction"
        )
    return PriorityRequest(
        tx_id=int(tx_id),
        tx_hash=bytes(tx_hash),
        expiration_timestamp=int(expiration),
        transaction=transaction,
        factory_deps=tuple(bytes(d) for d in deps),
    )
