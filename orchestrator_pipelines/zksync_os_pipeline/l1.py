"""L1 for the ZKsync OS assets: discovery from the Bridgehub, the chain's totals, and one sender per step.

Discovery is the server's: with the Bridgehub address and the chain id only,
``getZKChain(chainId)`` gives the chain's diamond, ``chainTypeManager(chainId)``
→ ``validatorTimelockPostV29()`` the timelock the three steps go through,
``getPubdataPricingMode()`` the DA mode and ``getDAValidatorPair()`` the L2 DA
validator a commit must name. A chain that is not registered is refused with
one line.

Sending: the transaction is signed, its hash handed to ``record`` *before* it
is broadcast, then broadcast and awaited; a step that finds a recorded hash
waits for that transaction instead of signing another. Before signing, the
call is simulated (``eth_call``) so a revert is reported by its error name
without spending gas or nonce.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.zksync_os.l1_transaction import NEW_PRIORITY_REQUEST_TOPIC, decode_new_priority_request
from orchestrator_pipelines.zksync_os.model import DAMode
from orchestrator_pipelines.zksync_os.settlement_decisions import L1Totals

GWEI = 10**9
ZERO_ADDRESS = "0x" + "00" * 20

# The custom errors of the Executor, timelock, verifier and DA validator, by selector, to name a revert.
ERROR_SIGNATURES = (
    # as era-contracts v29 (Executor, ValidatorTimelock, verifiers, DA validators, Merkle)
    "Unauthorized(address)", "RoleAccessDenied(address,bytes32,address)", "EmptyData()",
    "UnsupportedCommitBatchEncoding(uint8)", "UnsupportedProofBatchEncoding(uint8)",
    "UnsupportedExecuteBatchEncoding(uint8)", "IncorrectBatchBounds(uint256,uint256,uint256,uint256)",
    "CanOnlyProcessOneBatch()", "BatchHashMismatch(bytes32,bytes32)", "BatchNumberMismatch(uint256,uint256)",
    "TimeNotReached(uint256,uint256)", "L2TimestampTooBig()", "IncorrectBatchChainId(uint256,uint256)",
    "MismatchL2DAValidator()", "NonZeroBlobToVerifyZKsyncOS(uint256,bytes32,bytes32)",
    "VerifiedBatchesExceedsCommittedBatches()", "InvalidProof()", "EmptyProofLength()",
    "InvalidBatchesDataLength(uint256,uint256)", "MismatchNumberOfLayer1Txs(uint256,uint256)", "NonSequentialBatch()",
    "PriorityOperationsRollingHashMismatch()", "DependencyRootsRollingHashMismatch(bytes32,bytes32)",
    "CantExecuteUnprovenBatches()", "NotHistoricalRoot(bytes32)", "MerklePathLengthMismatch(uint256,uint256)",
    "MerklePathOutOfBounds()", "MerklePathEmpty()", "MerkleNothingToProve()", "MerkleIndexOrHeightMismatch()",
    "InvalidPubdataLength()", "InvalidL2DAOutputHash(bytes32)", "PubdataInputTooSmall(uint256,uint256)",
    "OperatorDAInputTooSmall(uint256,uint256)", "InvalidPubdataHash(bytes32,bytes32)", "ValidiumDAInputNotEmpty()",
)
ERROR_NAMES = {keccak(text=sig)[:4]: sig.split("(")[0] for sig in ERROR_SIGNATURES}

_VIEW_ABI = [
    {"name": name, "type": "function", "stateMutability": "view", "inputs": inputs,
     "outputs": [{"name": "", "type": out} for out in outputs]}
    for name, inputs, outputs in (
        ("getZKChain", [{"name": "chainId", "type": "uint256"}], ["address"]),
        ("chainTypeManager", [{"name": "chainId", "type": "uint256"}], ["address"]),
        ("validatorTimelockPostV29", [], ["address"]),
        ("getPubdataPricingMode", [], ["uint8"]),
        ("getDAValidatorPair", [], ["address", "address"]),
        ("getTotalBatchesCommitted", [], ["uint256"]),
        ("getTotalBatchesVerified", [], ["uint256"]),
        ("getTotalBatchesExecuted", [], ["uint256"]),
        ("storedBatchHash", [{"name": "n", "type": "uint256"}], ["bytes32"]),
        ("executionDelay", [], ["uint32"]),
        ("getCommittedBatchTimestamp", [{"name": "chain", "type": "address"}, {"name": "n", "type": "uint256"}], ["uint256"]),
    )
]


@dataclass(frozen=True)
class Discovery:
    diamond: str
    timelock: str
    da_mode: DAMode
    l2_da_validator: str


@dataclass(frozen=True)
class SentTx:
    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    status: int


def revert_name(data: bytes | str | None) -> str:
    """``BatchHashMismatch`` from revert data; the raw selector when unknown."""
    if isinstance(data, str):
        data = bytes.fromhex(data[2:] if data.startswith("0x") else data) if data else b""
    data = data or b""
    if data[:4] == bytes.fromhex("08c379a0"):
        return abi_decode(["string"], data[4:])[0]
    return ERROR_NAMES.get(data[:4], f"unknown error 0x{data[:4].hex()}" if data else "reverted without data")


class ZkOsL1:
    def __init__(
        self, *, rpc_url: str, bridgehub_address: str, chain_id: int, commit_private_key: str,
        prove_private_key: str, execute_private_key: str, confirmations: int = 1,
        max_fee_per_gas_gwei: float | None = None, tx_timeout_s: int = 600,
    ):
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.bridgehub = to_checksum_address(bridgehub_address)
        self.chain_id = chain_id
        self.accounts = {
            "commit": Account.from_key(commit_private_key),
            "prove": Account.from_key(prove_private_key),
            "execute": Account.from_key(execute_private_key),
        }
        if len({a.address for a in self.accounts.values()}) != 3:
            raise OrchestratorError("the commit, prove and execute keys must be three different keys")
        self.confirmations = confirmations
        self.max_fee_cap = None if max_fee_per_gas_gwei is None else int(max_fee_per_gas_gwei * GWEI)
        self.tx_timeout_s = tx_timeout_s
        self._discovery: Discovery | None = None

    def _contract(self, address: str):
        return self.w3.eth.contract(address=to_checksum_address(address), abi=_VIEW_ABI)

    def _view(self, address: str, name: str, *args):
        try:
            return getattr(self._contract(address).functions, name)(*args).call()
        except (ContractLogicError, ValueError) as exc:
            raise OrchestratorError(f"L1 view {name} on {address} failed: {exc}") from None
        except Exception as exc:  # connection problems of the HTTP provider
            raise TransientError(f"L1 view {name}: {type(exc).__name__}: {exc}") from None

    def discover(self) -> Discovery:
        if self._discovery is None:
            diamond = self._view(self.bridgehub, "getZKChain", self.chain_id)
            if int(diamond, 16) == 0:
                raise OrchestratorError(
                    f"chain {self.chain_id} is not registered in the Bridgehub at {self.bridgehub}"
                )
            ctm = self._view(self.bridgehub, "chainTypeManager", self.chain_id)
            timelock = self._view(ctm, "validatorTimelockPostV29")
            mode = DAMode.parse(self._view(diamond, "getPubdataPricingMode"))
            _, l2_validator = self._view(diamond, "getDAValidatorPair")
            self._discovery = Discovery(diamond, timelock, mode, l2_validator)
        return self._discovery

    def totals(self) -> L1Totals:
        diamond = self.discover().diamond
        return L1Totals(
            committed=self._view(diamond, "getTotalBatchesCommitted"),
            verified=self._view(diamond, "getTotalBatchesVerified"),
            executed=self._view(diamond, "getTotalBatchesExecuted"),
        )

    def stored_batch_hash(self, batch_number: int) -> bytes:
        return bytes(self._view(self.discover().diamond, "storedBatchHash", batch_number))

    def executable_up_to(self, first: int, last: int) -> int:
        """The last batch in ``first..last`` whose execution delay has passed at L1's latest block."""
        found = self.discover()
        delay = self._view(found.timelock, "executionDelay")
        # The next block's timestamp: at least the latest one's, and on a live chain about the wall
        # clock (an idle anvil keeps an old latest block until the next transaction mines one).
        now = max(self.w3.eth.get_block("latest")["timestamp"], int(time.time()))
        ready = first - 1
        for batch in range(first, last + 1):
            committed_at = self._view(found.timelock, "getCommittedBatchTimestamp", found.diamond, batch)
            if committed_at == 0 or committed_at + delay > now:
                break
            ready = batch
        return ready

    def priority_tx_hashes(self) -> list[bytes]:
        """Every L1→L2 transaction's canonical hash, in priority-id order (the priority tree's leaves)."""
        logs = self.w3.eth.get_logs(
            {"fromBlock": 0, "toBlock": "latest", "address": to_checksum_address(self.discover().diamond),
             "topics": ["0x" + NEW_PRIORITY_REQUEST_TOPIC.hex()]}
        )
        requests = sorted((decode_new_priority_request(bytes(log["data"])) for log in logs), key=lambda r: r.tx_id)
        for index, request in enumerate(requests):
            if request.tx_id != index:
                raise OrchestratorError(f"priority request {index} is missing on L1 (next seen: {request.tx_id})")
        return [r.tx_hash for r in requests]

    # -- sending ----------------------------------------------------------------------

    def simulate(self, step: str, calldata: bytes) -> None:
        """``eth_call`` the step as its key would send it; a revert raises with its error name."""
        sender = self.accounts[step].address
        try:
            self.w3.eth.call({"from": sender, "to": self.discover().timelock, "data": "0x" + calldata.hex()})
        except ContractLogicError as exc:
            raise OrchestratorError(f"{step} would revert on L1: {revert_name(exc.data)}") from None

    def send(self, step: str, calldata: bytes, record: Callable[[str], None]) -> SentTx:
        """Sign, record the hash, broadcast, wait. ``record`` runs before the transaction leaves."""
        account = self.accounts[step]
        to = to_checksum_address(self.discover().timelock)
        gas = self.w3.eth.estimate_gas({"from": account.address, "to": to, "data": "0x" + calldata.hex()})
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = max(1, self.w3.eth.max_priority_fee)
        max_fee = 2 * base + tip
        if self.max_fee_cap is not None and max_fee > self.max_fee_cap:
            raise TransientError(f"L1 fee {max_fee / GWEI:.2f} gwei is above the cap {self.max_fee_cap / GWEI:.2f} gwei")
        tx = {
            "type": 2, "chainId": self.w3.eth.chain_id, "from": account.address, "to": to,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
            "gas": int(gas * 1.2) + 10_000, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
            "data": "0x" + calldata.hex(), "value": 0,
        }
        signed = account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        record(tx_hash)
        self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.wait(tx_hash)

    def wait(self, tx_hash: str) -> SentTx:
        """The mined receipt of ``tx_hash`` after the configured confirmations."""
        deadline = time.monotonic() + self.tx_timeout_s
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                receipt = None
            if receipt is not None and self.w3.eth.block_number >= receipt["blockNumber"] + self.confirmations - 1:
                return SentTx(tx_hash, receipt["blockNumber"], receipt["gasUsed"], receipt.get("effectiveGasPrice", 0), receipt["status"])
            if time.monotonic() > deadline:
                raise TransientError(f"transaction {tx_hash} not mined within {self.tx_timeout_s} s")
            time.sleep(0.2)

    def known(self, tx_hash: str) -> bool:
        """Whether L1 knows ``tx_hash`` (mined or pending): a recorded hash L1 never saw was not broadcast."""
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False
