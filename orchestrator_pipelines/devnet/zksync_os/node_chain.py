"""The ZKsync OS node stand-in's chain: accounts, blocks, transactions, and what the batcher reads.

What is real and what stands in (the README repeats this):

- real formats: L2→L1 logs (88-byte leaves: shard id, is-service, tx number
  in block, sender, key, value), withdrawal messages
  (``finalizeEthWithdrawal`` selector ‖ L1 receiver ‖ amount, logged by the
  L1 messenger ``0x…8008`` with key = the base token ``0x…800a``), a log per
  L1 transaction (key = its canonical hash, value = success, from the
  bootloader ``0x…8001``), pubdata opening with the block hash, the chain
  state commitment (:mod:`orchestrator_pipelines.zksync_os.state_commitment`)
  over root, leaf count, block number, last 256 block hashes and timestamp;
- stand-ins: the state root (keccak over the sorted accounts instead of the
  Blake2s Merkle tree), the leaf count (2 guard leaves + one per account),
  block hashes (keccak of the header fields, not the RLP header), the rest of
  the pubdata (balance diffs as key ‖ value pairs), the execution version
  number, and the prover input (a few u32 words derived from the block, where
  the real one is the RISC-V witness).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from eth_utils import keccak, to_checksum_address

from orchestrator_pipelines.zksync_os.state_commitment import block_hashes_blake, state_commitment

BOOTLOADER_ADDRESS = "0x0000000000000000000000000000000000008001"
L1_MESSENGER_ADDRESS = "0x0000000000000000000000000000000000008008"
BASE_TOKEN_ADDRESS = "0x000000000000000000000000000000000000800a"
FINALIZE_ETH_WITHDRAWAL_SELECTOR = bytes.fromhex("6c0960f9")
GENESIS_BALANCE_WEI = 1_000_000 * 10**18
STAND_IN_PROVER_INPUT_MAGIC = 0x534F4B5A  # "ZKOS" as a little-endian u32


@dataclass(frozen=True)
class L2ToL1Log:
    l2_shard_id: int
    is_service: bool
    tx_number_in_block: int
    sender: str
    key: bytes
    value: bytes

    def encode(self) -> bytes:
        """The 88-byte leaf encoding: u8 ‖ bool ‖ u16 ‖ address ‖ bytes32 ‖ bytes32."""
        return (
            bytes([self.l2_shard_id, int(self.is_service)])
            + self.tx_number_in_block.to_bytes(2, "big")
            + bytes.fromhex(self.sender[2:])
            + self.key
            + self.value
        )


@dataclass(frozen=True)
class Deposit:
    """An L1→L2 priority transaction seen in a ``NewPriorityRequest`` event."""

    priority_id: int
    tx_hash: bytes
    to: str
    value: int
    l1_block: int = 0


@dataclass
class Tx:
    hash: bytes
    kind: str  # "transfer", "withdrawal", "deposit"
    sender: str
    to: str
    value: int
    nonce: int
    index: int
    logs: list[L2ToL1Log] = field(default_factory=list)
    message: bytes | None = None
    priority_id: int | None = None


@dataclass
class Block:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    txs: list[Tx]
    state_root: bytes
    leaf_count: int
    pubdata: bytes
    execution_version: int
    state_commitment: bytes
    previous_hashes: list[bytes]

    @property
    def l2_to_l1_logs(self) -> list[L2ToL1Log]:
        return [log for tx in self.txs for log in tx.logs]

    @property
    def l1_txs(self) -> list[Tx]:
        return [tx for tx in self.txs if tx.kind == "deposit"]

    def prover_input_words(self) -> list[int]:
        """The stand-in per-block prover input: magic, number, version, hash, root, pubdata length."""
        words = [STAND_IN_PROVER_INPUT_MAGIC, self.number & 0xFFFFFFFF, self.execution_version]
        for digest in (self.hash, self.state_root, keccak(self.pubdata)):
            words += [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
        words.append(len(self.pubdata))
        return words


@dataclass(frozen=True)
class ChainConfig:
    chain_id: int = 270
    seed: int = 0
    execution_version: int = 4
    upgrade_at_block: int | None = None  # from this block on, execution_version + 1
    withdrawal_every: int = 3  # a withdrawal in every n-th block (0: never)
    heavy_pubdata_every: int = 0  # a block with heavy_pubdata_bytes of extra state diffs every n blocks
    heavy_pubdata_bytes: int = 60_000
    max_deposits_per_block: int = 16


class Chain:
    """The whole chain in memory; every method is called under the node's lock."""

    def __init__(self, config: ChainConfig, accounts: list[str]):
        self.config = config
        self.accounts = [to_checksum_address(a) for a in accounts]
        self.balances: dict[str, int] = {a: GENESIS_BALANCE_WEI for a in self.accounts}
        self.nonces: dict[str, int] = {a: 0 for a in self.accounts}
        self.blocks: list[Block] = []
        self.tx_index: dict[bytes, tuple[int, int]] = {}
        self.pending_deposits: list[Deposit] = []
        self.next_priority_id = 0
        self.withdrawals: list[dict] = []
        self._append(self._build(0, 0, []))

    @property
    def head(self) -> Block:
        return self.blocks[-1]

    def add_deposit(self, deposit: Deposit) -> bool:
        """Queue an L1 deposit; priority ids are taken strictly in order, each once."""
        known = {d.priority_id for d in self.pending_deposits}
        if deposit.priority_id < self.next_priority_id or deposit.priority_id in known:
            return False
        self.pending_deposits.append(deposit)
        self.pending_deposits.sort(key=lambda d: d.priority_id)
        return True

    def execution_version_at(self, number: int) -> int:
        upgrade = self.config.upgrade_at_block
        return self.config.execution_version + (1 if upgrade is not None and number >= upgrade else 0)

    def produce(self, timestamp: int) -> Block:
        number = self.head.number + 1
        rng = random.Random(f"{self.config.seed}:{number}")
        txs: list[Tx] = []
        # L1 transactions first, consecutive priority ids only.
        while self.pending_deposits and len(txs) < self.config.max_deposits_per_block:
            if self.pending_deposits[0].priority_id != self.next_priority_id:
                break
            deposit = self.pending_deposits.pop(0)
            self.next_priority_id += 1
            to = to_checksum_address(deposit.to)
            self.balances[to] = self.balances.get(to, 0) + deposit.value
            self.nonces.setdefault(to, 0)
            log = L2ToL1Log(0, True, len(txs), BOOTLOADER_ADDRESS, deposit.tx_hash, (1).to_bytes(32, "big"))
            txs.append(Tx(deposit.tx_hash, "deposit", BOOTLOADER_ADDRESS, to, deposit.value, 0, len(txs), [log], None, deposit.priority_id))
        for _ in range(rng.randint(1, 3)):
            sender, to = rng.sample(self.accounts, 2)
            txs.append(self._transfer(number, sender, to, rng.randint(1, 10**15), len(txs)))
        if self.config.withdrawal_every and number % self.config.withdrawal_every == 0:
            sender = rng.choice(self.accounts)
            txs.append(self._withdrawal(number, sender, sender, rng.randint(10**12, 10**16), len(txs)))
        extra = b""
        if self.config.heavy_pubdata_every and number % self.config.heavy_pubdata_every == 0:
            extra = bytes(rng.getrandbits(8) for _ in range(self.config.heavy_pubdata_bytes))
        block = self._build(number, timestamp, txs, extra)
        self._append(block)
        return block

    def _transfer(self, number: int, sender: str, to: str, value: int, index: int, credit: bool = True) -> Tx:
        nonce = self.nonces[sender]
        self.nonces[sender] = nonce + 1
        self.balances[sender] -= value
        if credit:
            self.balances[to] = self.balances.get(to, 0) + value
        digest = keccak(b"transfer" + self.config.chain_id.to_bytes(8, "big") + bytes.fromhex(sender[2:]) + nonce.to_bytes(8, "big"))
        return Tx(digest, "transfer", sender, to, value, nonce, index)

    def _withdrawal(self, number: int, sender: str, l1_receiver: str, amount: int, index: int) -> Tx:
        # Burnt on L2 (sent to the base token contract), released on L1 once the batch is executed.
        tx = self._transfer(number, sender, BASE_TOKEN_ADDRESS, amount, index, credit=False)
        message = FINALIZE_ETH_WITHDRAWAL_SELECTOR + bytes.fromhex(l1_receiver[2:]) + amount.to_bytes(32, "big")
        key = b"\x00" * 12 + bytes.fromhex(BASE_TOKEN_ADDRESS[2:])
        tx.kind, tx.message = "withdrawal", message
        tx.logs = [L2ToL1Log(0, True, index, L1_MESSENGER_ADDRESS, key, keccak(message))]
        self.withdrawals.append({"block": number, "tx_hash": tx.hash, "l1_receiver": l1_receiver, "amount": amount})
        return tx

    def _build(self, number: int, timestamp: int, txs: list[Tx], extra_pubdata: bytes = b"") -> Block:
        parent = self.blocks[-1] if self.blocks else None
        parent_hash = parent.hash if parent else b"\x00" * 32
        items = sorted((a, b) for a, b in self.balances.items())
        state_root = keccak(b"".join(bytes.fromhex(a[2:]) + b.to_bytes(32, "big") + self.nonces.get(a, 0).to_bytes(8, "big") for a, b in items))
        leaf_count = 2 + len(items)
        version = self.execution_version_at(number)
        header = (
            number.to_bytes(8, "big") + parent_hash + timestamp.to_bytes(8, "big") + state_root
            + version.to_bytes(4, "big") + b"".join(tx.hash for tx in txs) + keccak(extra_pubdata)
        )
        block_hash = keccak(header)
        touched = sorted({addr for tx in txs for addr in (tx.sender, tx.to) if addr in self.balances})
        logs = [log for tx in txs for log in tx.logs]
        messages = [tx.message for tx in txs if tx.message is not None]
        pubdata = block_hash + len(touched).to_bytes(4, "big")
        for addr in touched:
            pubdata += keccak(bytes.fromhex(addr[2:]) + b"balance") + self.balances[addr].to_bytes(32, "big")
        pubdata += len(logs).to_bytes(4, "big") + b"".join(log.encode() for log in logs)
        pubdata += len(messages).to_bytes(4, "big") + b"".join(len(m).to_bytes(4, "big") + m for m in messages)
        pubdata += len(extra_pubdata).to_bytes(4, "big") + extra_pubdata
        previous = [b.hash for b in self.blocks[-255:]]
        commitment = state_commitment(state_root, leaf_count, number, block_hashes_blake(previous, block_hash), timestamp)
        return Block(number, block_hash, parent_hash, timestamp, txs, state_root, leaf_count, pubdata, version, commitment, previous)

    def _append(self, block: Block) -> None:
        self.blocks.append(block)
        for tx in block.txs:
            self.tx_index[tx.hash] = (block.number, tx.index)

    def block_with_commitment(self, commitment: bytes) -> Block | None:
        for block in reversed(self.blocks):
            if block.state_commitment == commitment:
                return block
        return None
