"""L2→L1 logs of a ZKsync OS batch: 88-byte leaves in a keccak tree of 16,384 leaves.

A log is ``l2_shard_id u8 ‖ is_service u8 ‖ tx_number_in_block u16 ‖ sender
(20) ‖ key (32) ‖ value (32)``. The batch's logs are the leaves (in order) of
a binary keccak Merkle tree of fixed size 16,384 whose leaf hash is keccak of
the 88 bytes and whose padding leaves are 88 zero bytes. The batch root L1
stores (``l2LogsTreeRoot``) is ``keccak(localRoot ‖ aggregationRoot)`` with an
aggregation root of 32 zero bytes; with no logs it is
``0x692f35c9…`` (:data:`EMPTY_BATCH_LOGS_ROOT`). :func:`log_proof` gives the
path a withdrawal finalization proves a leaf with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.zksync_os.hexbytes import hex0x, to_address, to_uint, to_word

L2_TO_L1_LOG_SERIALIZE_SIZE = 88
L2_TO_L1_TREE_SIZE = 16_384
TREE_DEPTH = 14  # 2**14 leaves
AGGREGATION_ROOT = bytes(32)
# ZKsync OS system addresses that send logs.
L1_MESSENGER_ADDRESS = bytes.fromhex("0000000000000000000000000000000000008008")
BOOTLOADER_FORMAL_ADDRESS = bytes.fromhex("0000000000000000000000000000000000008001")


@dataclass(frozen=True)
class L2ToL1Log:
    l2_shard_id: int
    is_service: bool
    tx_number_in_block: int
    sender: bytes
    key: bytes
    value: bytes

    def encode(self) -> bytes:
        return (
            bytes([self.l2_shard_id, 1 if self.is_service else 0])
            + self.tx_number_in_block.to_bytes(2, "big")
            + bytes(self.sender)
            + bytes(self.key)
            + bytes(self.value)
        )

    @classmethod
    def decode(cls, data: bytes) -> "L2ToL1Log":
        if len(data) != L2_TO_L1_LOG_SERIALIZE_SIZE:
            raise InvalidInputError(f"L2→L1 log: expected {L2_TO_L1_LOG_SERIALIZE_SIZE} bytes, got {len(data)}")
        return cls(
            l2_shard_id=data[0],
            is_service=bool(data[1]),
            tx_number_in_block=int.from_bytes(data[2:4], "big"),
            sender=bytes(data[4:24]),
            key=bytes(data[24:56]),
            value=bytes(data[56:88]),
        )

    def to_dict(self) -> dict:
        """The JSON-RPC shape of a receipt's ``l2ToL1Logs`` entry (the fields that make the leaf)."""
        return {
            "l2ShardId": self.l2_shard_id,
            "isService": self.is_service,
            "txNumberInBlock": self.tx_number_in_block,
            "sender": hex0x(self.sender),
            "key": hex0x(self.key),
            "value": hex0x(self.value),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "l2ToL1Log") -> "L2ToL1Log":
        try:
            return cls(
                l2_shard_id=to_uint(data["l2ShardId"], f"{where}.l2ShardId", 8),
                is_service=bool(data["isService"]),
                tx_number_in_block=to_uint(data["txNumberInBlock"], f"{where}.txNumberInBlock", 16),
                sender=to_address(data["sender"], f"{where}.sender"),
                key=to_word(data["key"], f"{where}.key"),
                value=to_word(data["value"], f"{where}.value"),
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}: field {exc.args[0]!r} is missing") from None


def user_message_log(tx_number_in_block: int, sender: bytes, message: bytes) -> L2ToL1Log:
    """The log of ``L1Messenger.sendToL1(message)`` by ``sender``: key = sender, value = keccak(message)."""
    return L2ToL1Log(
        l2_shard_id=0,
        is_service=True,
        tx_number_in_block=tx_number_in_block,
        sender=L1_MESSENGER_ADDRESS,
        key=bytes(12) + bytes(sender),
        value=keccak(bytes(message)),
    )


EMPTY_LEAF_HASH = keccak(bytes(L2_TO_L1_LOG_SERIALIZE_SIZE))


def _zero_hashes() -> list[bytes]:
    zeros = [EMPTY_LEAF_HASH]
    for _ in range(TREE_DEPTH):
        zeros.append(keccak(zeros[-1] + zeros[-1]))
    return zeros


_ZEROS = _zero_hashes()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The non-padding nodes of each level, leaves' hashes first; the last level is ``[root]``."""
    if len(leaves) > L2_TO_L1_TREE_SIZE:
        raise InvalidInputError(f"a batch holds at most {L2_TO_L1_TREE_SIZE} L2→L1 logs, got {len(leaves)}")
    for index, leaf in enumerate(leaves):
        if len(leaf) != L2_TO_L1_LOG_SERIALIZE_SIZE:
            raise InvalidInputError(f"L2→L1 log {index}: expected 88 bytes, got {len(leaf)}")
    level = [keccak(bytes(leaf)) for leaf in leaves]
    levels = [level]
    for depth in range(TREE_DEPTH):
        if len(level) % 2:
            level = level + [_ZEROS[depth]]
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    if not levels[-1]:
        levels[-1] = [_ZEROS[TREE_DEPTH]]
    return levels


def local_logs_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the 16,384-leaf keccak tree over the encoded logs."""
    return _levels(leaves)[-1][0]


def batch_logs_root(leaves: Sequence[bytes]) -> bytes:
    """``l2LogsTreeRoot`` of a batch: ``keccak(localRoot ‖ 0)``."""
    return keccak(local_logs_root(leaves) + AGGREGATION_ROOT)


EMPTY_BATCH_LOGS_ROOT = batch_logs_root([])


def log_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the local root (14 of them), then the aggregation root.

    This is the proof a withdrawal's finalization checks against ``l2LogsRootHash(batch)``.
    """
    if not 0 <= index < len(leaves):
        raise InvalidInputError(f"log index {index} is outside the batch's {len(leaves)} logs")
    levels = _levels(leaves)
    path = []
    position = index
    for depth in range(TREE_DEPTH):
        sibling = position ^ 1
        nodes = levels[depth]
        path.append(nodes[sibling] if sibling < len(nodes) else _ZEROS[depth])
        position //= 2
    return path + [AGGREGATION_ROOT]


def root_from_proof(leaf: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    """The batch root a leaf and its :func:`log_proof` lead to."""
    node = keccak(bytes(leaf))
    for depth, sibling in enumerate(proof[:TREE_DEPTH]):
        node = keccak(node + sibling) if (index >> depth) & 1 == 0 else keccak(sibling + node)
    return keccak(node + bytes(proof[TREE_DEPTH]))
