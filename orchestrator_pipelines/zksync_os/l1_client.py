"""The ZKsync OS chain on L1: discovery, reads, and the three senders (commit, prove, execute).

API
---
- :func:`discover_chain` ``(w3, bridgehub, chain_id) -> ChainOnL1``: as
  zksync-os-server's L1 discovery, from the Bridgehub address and the chain id
  only: ``getZKChain(chainId)`` → the chain contract, ``chainTypeManager(chainId)``
  → ``validatorTimelockPostV29()``, ``getPubdataPricingMode()``,
  ``getDAValidatorPair()``. An unregistered chain is :class:`ChainNotRegisteredError`
  with one readable line.
- :class:`ZkOsL1Reader` ``(rpc_url, bridgehub, chain_id)``: ``totals()``
  (committed / verified / executed), ``stored_batch_hash(n)``,
  ``l2_logs_root_hash(n)``, ``committed_at(n)`` and ``execution_ready_at(n)``
  (the timelock's delay), ``priority_requests(from_block)`` (deposits),
  ``priority_tree_root()``, ``first_unprocessed_priority_tx()``,
  ``executable_up_to(totals)`` (the sensor's execution-delay view) and
  ``priority_ops_for(batches)`` (execute's Merkle paths). Reads only, no key.
- :class:`ZkOsL1Client` ``(rpc_url, bridgehub, chain_id, commit_key=…, prove_key=…,
  execute_key=…)``: the reader plus ``commit(previous, batch, on_sent=…)``,
  ``prove(previous, batches, proof, on_sent=…)``, ``execute(batches, priority_ops,
  on_sent=…)``, each from its own key (the three must differ) through the
  validator timelock, returning :class:`L1StepResult`.

Every step is judged by L1 first: if L1 already has the batches (same stored
hash) nothing is sent and the result says so; if L1 is not right before them
it is :class:`L1OrderError`; if L1 holds other batches under those numbers it
is :class:`L1DivergedError`. Then the call is simulated: a revert is
:class:`L1RevertError` naming the contract's custom error
(``BatchHashMismatch(expected=…, actual=…)``) and nothing is sent. A
transaction is signed, its hash handed to ``on_sent`` *before* it is broadcast,
and waited for; ``sent_tx_hashes`` (the hashes recorded by an earlier attempt)
are waited for instead of sending again. A transaction that stays unmined is
replaced with the same nonce and higher fees (each replacement's hash also goes
to ``on_sent``), so at most one of them is ever mined. The execution delay of
the timelock is :class:`ExecutionDelayNotPassedError`, a transient error:
retry after ``ready_at``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import requests
from eth_account import Account
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from orchestrator_pipelines.zksync_os.encoding import commit_calldata, execute_calldata, prove_calldata
from orchestrator_pipelines.zksync_os.l1_errors import describe_revert, error_name
from orchestrator_pipelines.zksync_os.l1_transaction import (
    NEW_PRIORITY_REQUEST_TOPIC,
    PriorityRequest,
    decode_new_priority_request,
)
from orchestrator_pipelines.zksync_os.commitment import priority_operations_rolling_hash
from orchestrator_pipelines.zksync_os.model import (
    CommitBatchInfo,
    DAMode,
    PriorityOpsBatchInfo,
    StoredBatchInfo,
)
from orchestrator_pipelines.zksync_os.priority_tree import PriorityTree
from orchestrator_pipelines.zksync_os.settlement_decisions import L1Totals

log = logging.getLogger(__name__)

GWEI = 10**9
ZERO_ADDRESS = "0x" + "00" * 20
COMMITTER_ROLE = keccak(b"COMMITTER_ROLE")
PROVER_ROLE = keccak(b"PROVER_ROLE")
EXECUTOR_ROLE = keccak(b"EXECUTOR_ROLE")
STEP_ROLES = {"commit": COMMITTER_ROLE, "prove": PROVER_ROLE, "execute": EXECUTOR_ROLE}
# Pools accept a same-nonce replacement of a plain transaction when every fee is raised by at least 10 %.
REPLACEMENT_BUMP_PERCENT = 25
TRANSIENT_SEND_ERRORS = ("underpriced", "fee too low", "txpool is full", "already known")


def _selector(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()[:8]


_VIEWS = {
    "getZKChain": (_selector("getZKChain(uint256)"), "address"),
    "chainTypeManager": (_selector("chainTypeManager(uint256)"), "address"),
    "validatorTimelockPostV29": (_selector("validatorTimelockPostV29()"), "address"),
    "getPubdataPricingMode": (_selector("getPubdataPricingMode()"), "uint"),
    "getDAValidatorPair": (_selector("getDAValidatorPair()"), "address2"),
    "getSemverProtocolVersion": (_selector("getSemverProtocolVersion()"), "uint3"),
    "getTotalBatchesCommitted": (_selector("getTotalBatchesCommitted()"), "uint"),
    "getTotalBatchesVerified": (_selector("getTotalBatchesVerified()"), "uint"),
    "getTotalBatchesExecuted": (_selector("getTotalBatchesExecuted()"), "uint"),
    "storedBatchHash": (_selector("storedBatchHash(uint256)"), "bytes32"),
    "l2LogsRootHash": (_selector("l2LogsRootHash(uint256)"), "bytes32"),
    "getPriorityTreeRoot": (_selector("getPriorityTreeRoot()"), "bytes32"),
    "getTotalPriorityTxs": (_selector("getTotalPriorityTxs()"), "uint"),
    "getFirstUnprocessedPriorityTx": (_selector("getFirstUnprocessedPriorityTx()"), "uint"),
    "executionDelay": (_selector("executionDelay()"), "uint"),
    "getCommittedBatchTimestamp": (_selector("getCommittedBatchTimestamp(address,uint256)"), "uint"),
    "hasRole": (_selector("hasRole(address,bytes32,address)"), "bool"),
}


class ChainNotRegisteredError(OrchestratorError):
    """The Bridgehub knows no chain contract for the configured chain id."""


class L1OrderError(OrchestratorError):
    """L1 is not right before the batches of this step: an earlier step must land first."""


class L1DivergedError(OrchestratorError):
    """L1 holds a different batch under the same number: this chain's history and L1's differ."""


class L1RevertError(OrchestratorError):
    """The chain contracts refuse the step; ``error`` is the custom error's name."""

    def __init__(self, message: str, error: str | None, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.tx_hash = tx_hash


class ExecutionDelayNotPassedError(TransientError):
    """The validator timelock's execution delay since commit has not passed yet."""

    def __init__(self, message: str, ready_at: int) -> None:
        super().__init__(message)
        self.ready_at = ready_at


@dataclass(frozen=True)
class ChainOnL1:
    """What L1 says about the chain, found from the Bridgehub and the chain id alone."""

    bridgehub: str
    chain_id: int
    diamond: str
    chain_type_manager: str
    validator_timelock: str
    da_mode: DAMode
    l1_da_validator: str
    l2_da_validator: str
    protocol_version: tuple[int, int, int]
    l1_chain_id: int


@dataclass(frozen=True)
class L1StepResult:
    """Outcome of one step: the mined transaction, or ``already_on_l1`` when L1 had it and nothing was sent."""

    step: str
    first_batch: int
    last_batch: int
    already_on_l1: bool
    tx_hash: str | None = None
    block_number: int | None = None
    gas_used: int | None = None
    effective_gas_price: int | None = None
    fee_wei: int | None = None
    sent_tx_hashes: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, ())}


def _checksum(address: str, what: str) -> str:
    try:
        return Web3.to_checksum_address(address)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{what}: {address!r} is not an address") from None


class _Rpc:
    """Raw JSON-RPC calls: revert payloads come back as data, connection trouble as TransientError."""

    def __init__(self, url: str, timeout_s: float = 30) -> None:
        self.url = url
        self.session = requests.Session()
        self.timeout_s = timeout_s
        self._id = 0

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._id += 1
        try:
            answer = self.session.post(
                self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params},
                timeout=self.timeout_s,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{method}: Ethereum RPC {self.url} unreachable ({type(exc).__name__})") from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientError(f"{method}: Ethereum RPC {self.url} answered HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise TransientError(f"{method}: Ethereum RPC {self.url} answered no JSON (HTTP {answer.status_code})") from None

    def call(self, method: str, params: list[Any]) -> Any:
        answer = self.request(method, params)
        if "error" in answer:
            raise OrchestratorError(f"{method} failed on {self.url}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]


def _revert_data(error: dict[str, Any]) -> str | None:
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


def discover_chain(rpc: _Rpc | str, bridgehub: str, chain_id: int) -> ChainOnL1:
    """Find the chain's contracts and DA mode from the Bridgehub, as the server's L1 discovery does."""
    rpc = _Rpc(rpc) if isinstance(rpc, str) else rpc
    bridgehub = _checksum(bridgehub, "Bridgehub address")
    l1_chain_id = int(rpc.call("eth_chainId", []), 16)
    if rpc.call("eth_getCode", [bridgehub, "latest"]) in ("0x", "0x0", None):
        raise ChainNotRegisteredError(
            f"no contract at the Bridgehub address {bridgehub} on L1 (chain id {l1_chain_id}, {rpc.url})"
        )
    diamond = _view(rpc, bridgehub, "getZKChain", chain_id)
    if diamond == ZERO_ADDRESS:
        raise ChainNotRegisteredError(
            f"chain {chain_id} is not registered in the Bridgehub at {bridgehub}: getZKChain({chain_id}) is the zero address"
        )
    ctm = _view(rpc, bridgehub, "chainTypeManager", chain_id)
    if ctm == ZERO_ADDRESS:
        raise ChainNotRegisteredError(f"chain {chain_id} has no chain type manager in the Bridgehub at {bridgehub}")
    timelock = _view(rpc, ctm, "validatorTimelockPostV29")
    mode = DAMode.parse(_view(rpc, diamond, "getPubdataPricingMode"))
    l1_da, l2_da = _view(rpc, diamond, "getDAValidatorPair")
    version = _view(rpc, diamond, "getSemverProtocolVersion")
    return ChainOnL1(
        bridgehub=bridgehub,
        chain_id=chain_id,
        diamond=diamond,
        chain_type_manager=ctm,
        validator_timelock=timelock,
        da_mode=mode,
        l1_da_validator=l1_da,
        l2_da_validator=l2_da,
        protocol_version=tuple(version),
        l1_chain_id=l1_chain_id,
    )


def _encode_args(args: Sequence[Any]) -> str:
    out = ""
    for arg in args:
        if isinstance(arg, int):
            out += arg.to_bytes(32, "big").hex()
        elif isinstance(arg, (bytes, bytearray)):
            out += bytes(arg).rjust(32, b"\0").hex()
        else:  # an address
            out += bytes.fromhex(str(arg)[2:]).rjust(32, b"\0").hex()
    return out


def _view(rpc: _Rpc, to: str, name: str, *args: Any) -> Any:
    selector, kind = _VIEWS[name]
    answer = rpc.request("eth_call", [{"to": to, "data": selector + _encode_args(args)}, "latest"])
    if "error" in answer:
        reason = describe_revert(_revert_data(answer["error"]))
        raise OrchestratorError(f"{name} on {to} failed: {answer['error'].get('message')} ({reason})")
    raw = bytes(HexBytes(answer["result"]))
    if len(raw) < 32:
        raise OrchestratorError(f"{name} on {to} returned {len(raw)} bytes: not the contract expected")
    words = [raw[i : i + 32] for i in range(0, len(raw), 32)]
    if kind == "address":
        return Web3.to_checksum_address(words[0][12:])
    if kind == "address2":
        return Web3.to_checksum_address(words[0][12:]), Web3.to_checksum_address(words[1][12:])
    if kind == "uint":
        return int.from_bytes(words[0], "big")
    if kind == "uint3":
        return tuple(int.from_bytes(w, "big") for w in words[:3])
    if kind == "bool":
        return int.from_bytes(words[0], "big") != 0
    return words[0]


class ZkOsL1Reader:
    """Read-only view of the chain on L1 (sensors and checks use it; it holds no key)."""

    def __init__(self, rpc_url: str, bridgehub: str, chain_id: int) -> None:
        self.rpc = _Rpc(rpc_url)
        self.chain = discover_chain(self.rpc, bridgehub, chain_id)

    def totals(self) -> L1Totals:
        d = self.chain.diamond
        return L1Totals(
            committed=_view(self.rpc, d, "getTotalBatchesCommitted"),
            verified=_view(self.rpc, d, "getTotalBatchesVerified"),
            executed=_view(self.rpc, d, "getTotalBatchesExecuted"),
        )

    def stored_batch_hash(self, batch_number: int) -> bytes:
        return _view(self.rpc, self.chain.diamond, "storedBatchHash", batch_number)

    def l2_logs_root_hash(self, batch_number: int) -> bytes:
        return _view(self.rpc, self.chain.diamond, "l2LogsRootHash", batch_number)

    def priority_tree_root(self) -> bytes:
        return _view(self.rpc, self.chain.diamond, "getPriorityTreeRoot")

    def total_priority_txs(self) -> int:
        return _view(self.rpc, self.chain.diamond, "getTotalPriorityTxs")

    def first_unprocessed_priority_tx(self) -> int:
        return _view(self.rpc, self.chain.diamond, "getFirstUnprocessedPriorityTx")

    def execution_delay_s(self) -> int:
        return _view(self.rpc, self.chain.validator_timelock, "executionDelay")

    def committed_at(self, batch_number: int) -> int:
        """L1 timestamp at which the timelock saw the batch committed (0: not through it)."""
        return _view(self.rpc, self.chain.validator_timelock, "getCommittedBatchTimestamp", self.chain.diamond, batch_number)

    def execution_ready_at(self, last_batch: int) -> int:
        """Earliest L1 timestamp at which batches up to ``last_batch`` may be executed."""
        return self.committed_at(last_batch) + self.execution_delay_s()

    def l1_timestamp(self) -> int:
        return int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def has_role(self, step: str, account: str) -> bool:
        return _view(self.rpc, self.chain.validator_timelock, "hasRole", self.chain.diamond, STEP_ROLES[step], account)

    def priority_requests(self, from_block: int = 0, to_block: int | str = "latest") -> list[PriorityRequest]:
        """The chain's ``NewPriorityRequest`` events (deposits) in L1 order."""
        logs = self.rpc.call(
            "eth_getLogs",
            [{
                "address": self.chain.diamond,
                "topics": ["0x" + NEW_PRIORITY_REQUEST_TOPIC.hex()],
                "fromBlock": hex(from_block),
                "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
            }],
        )
        return [decode_new_priority_request(bytes(HexBytes(entry["data"]))) for entry in logs]

    def executable_up_to(self, totals: L1Totals) -> int:
        """The last verified batch whose execution delay has passed at the latest L1 block's time."""
        now, delay = self.l1_timestamp(), self.execution_delay_s()
        last = totals.executed
        while last < totals.verified and self.committed_at(last + 1) + delay <= now:
            last += 1
        return last

    def priority_ops_for(self, batches: Sequence[StoredBatchInfo], from_block: int = 0) -> list[PriorityOpsBatchInfo]:
        """Each batch's priority operations with their Merkle paths in L1's priority tree.

        The batches are the next ones to execute: their operations are the next unprocessed
        leaves, in order. The tree is rebuilt from the ``NewPriorityRequest`` events (from
        ``from_block``, the deployment block on a devnet) and checked against L1's root; each
        batch's operations are checked against its ``priorityOperationsHash``.
        """
        requests = self.priority_requests(from_block)
        if [r.tx_id for r in requests] != list(range(len(requests))):
            raise OrchestratorError(
                f"NewPriorityRequest events from L1 block {from_block} do not start at priority tx 0: "
                "scan from the chain's deployment block"
            )
        tree = PriorityTree(r.tx_hash for r in requests)
        if len(tree) and tree.root() != self.priority_tree_root():
            raise OrchestratorError(f"the priority tree rebuilt from {len(tree)} L1 events does not match L1's root")
        start = self.first_unprocessed_priority_tx()
        result = []
        for batch in batches:
            if start + batch.number_of_layer1_txs > len(tree):
                raise OrchestratorError(
                    f"batch {batch.batch_number} consumes {batch.number_of_layer1_txs} priority txs from {start} "
                    f"but L1 has {len(tree)}"
                )
            ops = tree.batch_info(start, batch.number_of_layer1_txs)
            if priority_operations_rolling_hash(ops.item_hashes) != batch.priority_operations_hash:
                raise OrchestratorError(
                    f"batch {batch.batch_number}: L1 priority txs {start}..{start + batch.number_of_layer1_txs - 1} "
                    f"do not hash to its priorityOperationsHash 0x{batch.priority_operations_hash.hex()}"
                )
            result.append(ops)
            start += batch.number_of_layer1_txs
        return result


SentRecorder = Callable[[str], None]


class ZkOsL1Client(ZkOsL1Reader):
    """The three L1 senders of a ZKsync OS chain, each with its own key, judged by L1 before anything is sent."""

    def __init__(
        self,
        rpc_url: str,
        bridgehub: str,
        chain_id: int,
        *,
        commit_key: str,
        prove_key: str,
        execute_key: str,
        confirmations: int = 1,
        tx_timeout_s: float = 120,
        poll_interval_s: float = 0.1,
        replace_after_s: float | None = 60,
        max_fee_per_gas_cap_wei: int | None = None,
        min_priority_fee_wei: int = GWEI,
    ) -> None:
        accounts = {}
        for step, key in (("commit", commit_key), ("prove", prove_key), ("execute", execute_key)):
            try:
                accounts[step] = Account.from_key(key)
            except Exception:
                raise InvalidInputError(f"the {step} key is not a valid secp256k1 private key") from None
        addresses = {step: a.address for step, a in accounts.items()}
        if len(set(addresses.values())) != 3:
            raise InvalidInputError(
                "the commit, prove and execute keys must be three different keys (one L1 role each), got "
                + ", ".join(f"{step} {address}" for step, address in addresses.items())
            )
        if confirmations < 1:
            raise InvalidInputError(f"confirmations must be at least 1, got {confirmations}")
        super().__init__(rpc_url, bridgehub, chain_id)
        self.accounts = accounts
        self.confirmations = confirmations
        self.tx_timeout_s = tx_timeout_s
        self.poll_interval_s = poll_interval_s
        self.replace_after_s = replace_after_s
        self.max_fee_per_gas_cap_wei = max_fee_per_gas_cap_wei
        self.min_priority_fee_wei = min_priority_fee_wei

    def address(self, step: str) -> str:
        return str(self.accounts[step].address)

    def missing_roles(self) -> list[str]:
        """Readable lines for each step whose key lacks its timelock role (empty when all is granted)."""
        return [
            f"{step} key {self.address(step)} lacks {role_name} on the validator timelock {self.chain.validator_timelock}"
            for step, role_name in (("commit", "COMMITTER_ROLE"), ("prove", "PROVER_ROLE"), ("execute", "EXECUTOR_ROLE"))
            if not self.has_role(step, self.address(step))
        ]

    # ---- the three steps ----------------------------------------------------

    def commit(
        self,
        previous: StoredBatchInfo,
        batch: CommitBatchInfo,
        *,
        on_sent: SentRecorder,
        sent_tx_hashes: Sequence[str] = (),
    ) -> L1StepResult:
        """Commit ``batch`` on top of ``previous`` in the chain's DA mode (rollup: pubdata in calldata)."""
        n = batch.batch_number
        calldata = commit_calldata(previous, batch, self.chain.da_mode)
        stored = batch.to_stored()
        return self._step(
            "commit", n, n, calldata, lambda t: t.committed, [stored], on_sent, sent_tx_hashes,
        )

    def prove(
        self,
        previous: StoredBatchInfo,
        batches: Sequence[StoredBatchInfo],
        proof: Sequence[int],
        *,
        on_sent: SentRecorder,
        sent_tx_hashes: Sequence[str] = (),
    ) -> L1StepResult:
        """Prove the consecutive ``batches`` after ``previous`` with one proof."""
        calldata = prove_calldata(bytes.fromhex(self.chain.diamond[2:]), previous, batches, proof)
        first, last = batches[0].batch_number, batches[-1].batch_number
        return self._step("prove", first, last, calldata, lambda t: t.verified, batches, on_sent, sent_tx_hashes)

    def execute(
        self,
        batches: Sequence[StoredBatchInfo],
        priority_ops: Sequence[PriorityOpsBatchInfo],
        *,
        on_sent: SentRecorder,
        sent_tx_hashes: Sequence[str] = (),
    ) -> L1StepResult:
        """Execute the consecutive ``batches`` with their priority operations' Merkle paths."""
        calldata = execute_calldata(bytes.fromhex(self.chain.diamond[2:]), batches, priority_ops)
        first, last = batches[0].batch_number, batches[-1].batch_number
        return self._step("execute", first, last, calldata, lambda t: t.executed, batches, on_sent, sent_tx_hashes)

    def revert_batches(self, new_last_batch: int, *, on_sent: SentRecorder) -> L1StepResult | None:
        """Forget L1's committed batches after ``new_last_batch`` (commit key, the timelock's reverter role).

        What a restart does when L1 holds commits the orchestrator cannot build on (the server's
        revert on startup). None when L1 has committed nothing after ``new_last_batch``.
        """
        totals = self.totals()
        if totals.committed <= new_last_batch:
            return None
        what = f"revert batches {new_last_batch + 1}-{totals.committed}"
        account = self.accounts["commit"]
        calldata = (
            bytes.fromhex(_selector("revertBatchesSharedBridge(address,uint256)")[2:])
            + bytes(12) + bytes.fromhex(self.chain.diamond[2:])
            + new_last_batch.to_bytes(32, "big")
        )
        call = {"from": account.address, "to": self.chain.validator_timelock, "data": "0x" + calldata.hex()}
        self._simulate("revert", call, what, new_last_batch + 1, totals.committed)
        gas = int(self.rpc.call("eth_estimateGas", [call, "latest"]), 16)
        max_fee, priority_fee = self._fees(what)
        tx = {
            "type": 2,
            "chainId": self.chain.l1_chain_id,
            "nonce": int(self.rpc.call("eth_getTransactionCount", [account.address, "latest"]), 16),
            "to": self.chain.validator_timelock,
            "value": 0,
            "data": call["data"],
            "gas": gas * 6 // 5 + 30_000,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority_fee,
        }
        hashes: list[str] = []
        self._broadcast(account, tx, on_sent, hashes, what)
        receipt = self._wait_sent(account, tx, on_sent, hashes, what)
        if receipt["status"] != 1:
            raise self._on_chain_revert("revert", receipt, what, new_last_batch + 1, totals.committed)
        return self._result("revert", new_last_batch + 1, totals.committed, receipt, tuple(hashes))

    def submit_calldata(
        self,
        step: str,
        first: int,
        last: int,
        calldata: bytes,
        *,
        on_sent: SentRecorder,
        sent_tx_hashes: Sequence[str] = (),
    ) -> L1StepResult:
        """Send prepared calldata for ``step`` over batches ``first..last`` (judged by L1's totals, then simulated)."""
        if step not in STEP_ROLES:
            raise InvalidInputError(f"step must be commit, prove or execute, got {step!r}")
        total = {"commit": lambda t: t.committed, "prove": lambda t: t.verified, "execute": lambda t: t.executed}[step]
        return self._step(step, first, last, calldata, total, None, on_sent, sent_tx_hashes)

    # ---- the shared path ----------------------------------------------------

    def _what(self, step: str, first: int, last: int) -> str:
        return f"{step} batch {first}" if first == last else f"{step} batches {first}-{last}"

    def _step(
        self,
        step: str,
        first: int,
        last: int,
        calldata: bytes,
        total_of: Callable[[L1Totals], int],
        stored: Sequence[StoredBatchInfo] | None,
        on_sent: SentRecorder,
        sent_tx_hashes: Sequence[str],
    ) -> L1StepResult:
        what = self._what(step, first, last)
        # 1. An earlier attempt's broadcasts: wait for them rather than send another transaction.
        known = [HexBytes(h).to_0x_hex() for h in sent_tx_hashes]
        account = self.accounts[step]
        if known:
            mined = self._wait_known(account, known, on_sent, what)
            if mined is not None and mined["status"] == 1:
                return self._result(step, first, last, mined, tuple(known))
        # 2. Judged by L1: already done, next in line, or out of order.
        done = self._judge(step, first, last, total_of, stored, what)
        if done:
            return L1StepResult(step, first, last, already_on_l1=True, sent_tx_hashes=tuple(known))
        # 3. Simulated: the contracts' refusal, decoded, before anything is signed.
        call = {"from": account.address, "to": self.chain.validator_timelock, "data": "0x" + calldata.hex()}
        self._simulate(step, call, what, first, last)
        gas = int(self.rpc.call("eth_estimateGas", [call, "latest"]), 16)
        # 4. Signed, recorded, broadcast, waited for (replaced with the same nonce when stuck).
        max_fee, priority_fee = self._fees(what)
        tx = {
            "type": 2,
            "chainId": self.chain.l1_chain_id,
            # The mined nonce, not the pending one: a lost broadcast of this step can only be replaced, never doubled.
            "nonce": int(self.rpc.call("eth_getTransactionCount", [account.address, "latest"]), 16),
            "to": self.chain.validator_timelock,
            "value": 0,
            "data": "0x" + calldata.hex(),
            "gas": gas * 6 // 5 + 30_000,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority_fee,
        }
        hashes = list(known)
        self._broadcast(account, tx, on_sent, hashes, what)
        receipt = self._wait_sent(account, tx, on_sent, hashes, what)
        if receipt["status"] != 1:
            raise self._on_chain_revert(step, receipt, what, first, last)
        return self._result(step, first, last, receipt, tuple(hashes))

    def _judge(
        self,
        step: str,
        first: int,
        last: int,
        total_of: Callable[[L1Totals], int],
        stored: Sequence[StoredBatchInfo] | None,
        what: str,
    ) -> bool:
        totals = self.totals()
        total = total_of(totals)
        if total >= last:
            if stored is not None:
                for info in stored:
                    on_l1 = self.stored_batch_hash(info.batch_number)
                    if on_l1 != info.hash():
                        raise L1DivergedError(
                            f"{what}: L1 holds batch {info.batch_number} with stored hash 0x{on_l1.hex()}, "
                            f"ours is 0x{info.hash().hex()}"
                        )
            log.info("%s: already on L1 (%s total %d), nothing sent", what, step, total)
            return True
        if total != first - 1:
            raise L1OrderError(
                f"{what}: L1 is at batch {total} for {step} (committed {totals.committed}, verified "
                f"{totals.verified}, executed {totals.executed}); batch {total + 1} must come first"
            )
        return False

    def _simulate(self, step: str, call: dict[str, Any], what: str, first: int, last: int) -> None:
        answer = self.rpc.request("eth_call", [call, "latest"])
        if "error" not in answer:
            return
        data = _revert_data(answer["error"])
        if data is None and "revert" not in str(answer["error"].get("message", "")):
            raise OrchestratorError(f"{what}: eth_call failed: {answer['error'].get('message')}")
        raise self._revert_error(step, data, f"{what} would revert on L1", first, last, None)

    def _revert_error(
        self, step: str, data: str | None, prefix: str, first: int, last: int, tx_hash: str | None
    ) -> OrchestratorError:
        name = error_name(data)
        message = f"{prefix}: {describe_revert(data)}"
        if step == "execute" and name == "TimeNotReached":
            ready_at = self.execution_ready_at(last)
            return ExecutionDelayNotPassedError(
                f"{message}; the validator timelock's execution delay ends at L1 time {ready_at}", ready_at
            )
        return L1RevertError(message, name, tx_hash)

    def _on_chain_revert(self, step: str, receipt: Any, what: str, first: int, last: int) -> OrchestratorError:
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        tx = self.rpc.call("eth_getTransactionByHash", [tx_hash])
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
        answer = self.rpc.request("eth_call", [replay, hex(int(receipt["blockNumber"]) - 1)])
        data = _revert_data(answer.get("error", {})) if "error" in answer else None
        return self._revert_error(step, data, f"{what} reverted on L1 in {tx_hash}", first, last, tx_hash)

    def _fees(self, what: str) -> tuple[int, int]:
        base_fee = int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        try:
            tip = max(int(self.rpc.call("eth_maxPriorityFeePerGas", []), 16), self.min_priority_fee_wei)
        except OrchestratorError:
            tip = self.min_priority_fee_wei
        max_fee = 2 * base_fee + tip
        if self.max_fee_per_gas_cap_wei is not None:
            if base_fee + tip > self.max_fee_per_gas_cap_wei:
                raise TransientError(
                    f"{what}: L1 fees ({(base_fee + tip) / GWEI:.2f} gwei) are above the cap of "
                    f"{self.max_fee_per_gas_cap_wei / GWEI:.2f} gwei; waiting"
                )
            max_fee = min(max_fee, self.max_fee_per_gas_cap_wei)
        return max_fee, tip

    def _broadcast(
        self,
        account: Any,
        tx: dict[str, Any],
        on_sent: SentRecorder,
        hashes: list[str],
        what: str,
        replacement: bool = False,
    ) -> str:
        signed = account.sign_transaction(tx)
        tx_hash = HexBytes(signed.hash).to_0x_hex()
        # Recorded before it leaves: a crash right after the broadcast still leaves its hash behind.
        on_sent(tx_hash)
        hashes.append(tx_hash)
        answer = self.rpc.request("eth_sendRawTransaction", [HexBytes(signed.raw_transaction).to_0x_hex()])
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))
            if "already known" in message.lower():
                return tx_hash
            if replacement and any(m in message.lower() for m in ("nonce too low", "underpriced")):
                # An earlier broadcast of this nonce was mined meanwhile (or still wins): keep waiting for it.
                log.info("%s: replacement %s not taken (%s); waiting for the earlier broadcasts", what, tx_hash, message)
                return tx_hash
            if any(marker in message.lower() for marker in TRANSIENT_SEND_ERRORS) or "nonce too low" in message.lower():
                raise TransientError(f"{what}: the L1 node refused {tx_hash}: {message}")
            raise OrchestratorError(f"{what}: the L1 node refused {tx_hash}: {message}")
        log.info("%s: sent %s from %s (nonce %d)", what, tx_hash, account.address, tx["nonce"])
        return tx_hash

    def _receipt(self, tx_hash: str) -> Any:
        receipt = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is None:
            return None
        return {
            "status": int(receipt["status"], 16),
            "blockNumber": int(receipt["blockNumber"], 16),
            "gasUsed": int(receipt["gasUsed"], 16),
            "effectiveGasPrice": int(receipt.get("effectiveGasPrice", "0x0"), 16),
            "transactionHash": receipt["transactionHash"],
        }

    def _confirmed(self, receipt: Any) -> bool:
        head = int(self.rpc.call("eth_blockNumber", []), 16)
        return head >= receipt["blockNumber"] + self.confirmations - 1

    def _wait_known(self, account: Any, hashes: list[str], on_sent: SentRecorder, what: str) -> Any:
        """Wait for recorded broadcasts: the mined one's receipt, or None when the node knows none of them.

        A recorded transaction still pending is rebuilt from the node and replaced (same nonce, higher
        fees) once it has waited ``replace_after_s`` here, as one sent in this attempt would be.
        """
        deadline = time.monotonic() + self.tx_timeout_s
        started = time.monotonic()
        while True:
            pending_tx = None
            for tx_hash in hashes:
                receipt = self._receipt(tx_hash)
                if receipt is not None:
                    if self._confirmed(receipt):
                        return receipt
                    pending_tx = pending_tx or {}
                    continue
                found = self.rpc.call("eth_getTransactionByHash", [tx_hash])
                if found is not None:
                    pending_tx = found
            if pending_tx is None:
                log.info("%s: none of the recorded transactions %s is known to L1", what, ", ".join(hashes))
                return None
            now = time.monotonic()
            if now >= deadline:
                raise TransientError(f"{what}: recorded transactions {', '.join(hashes)} are still not mined")
            if (
                pending_tx
                and self.replace_after_s is not None
                and now - started >= self.replace_after_s
                and Web3.to_checksum_address(pending_tx["from"]) == account.address
            ):
                tx = {
                    "type": 2,
                    "chainId": self.chain.l1_chain_id,
                    "nonce": int(pending_tx["nonce"], 16),
                    "to": Web3.to_checksum_address(pending_tx["to"]),
                    "value": int(pending_tx["value"], 16),
                    "data": pending_tx["input"],
                    "gas": int(pending_tx["gas"], 16),
                    "maxFeePerGas": int(pending_tx["maxFeePerGas"], 16),
                    "maxPriorityFeePerGas": int(pending_tx["maxPriorityFeePerGas"], 16),
                }
                log.warning("%s: recorded %s still pending, replacing it (same nonce)", what, pending_tx["hash"])
                self._broadcast(account, self._bumped(tx, what), on_sent, hashes, what, replacement=True)
                started = now
            time.sleep(self.poll_interval_s)

    def _bumped(self, tx: dict[str, Any], what: str) -> dict[str, Any]:
        tx = dict(tx)
        tx["maxPriorityFeePerGas"] = tx["maxPriorityFeePerGas"] * (100 + REPLACEMENT_BUMP_PERCENT) // 100 + 1
        tx["maxFeePerGas"] = tx["maxFeePerGas"] * (100 + REPLACEMENT_BUMP_PERCENT) // 100 + 1
        if self.max_fee_per_gas_cap_wei is not None and tx["maxFeePerGas"] > self.max_fee_per_gas_cap_wei:
            raise TransientError(f"{what}: a stuck transaction's replacement would exceed the fee cap; waiting")
        return tx

    def _wait_sent(self, account: Any, tx: dict[str, Any], on_sent: SentRecorder, hashes: list[str], what: str) -> Any:
        deadline = time.monotonic() + self.tx_timeout_s
        sent_at = time.monotonic()
        while True:
            mined = False
            for tx_hash in hashes:
                receipt = self._receipt(tx_hash)
                if receipt is not None:
                    if self._confirmed(receipt):
                        return receipt
                    mined = True
            now = time.monotonic()
            if now >= deadline:
                raise TransientError(
                    f"{what}: {hashes[-1]} not mined within {self.tx_timeout_s:.0f} s; a retry waits for "
                    f"{', '.join(hashes)}"
                )
            # A mined transaction waits for its confirmations; only one still pending is replaced.
            if not mined and self.replace_after_s is not None and now - sent_at >= self.replace_after_s:
                tx = self._bumped(tx, what)
                log.warning("%s: %s not mined after %.0f s, replacing it (same nonce)", what, hashes[-1], now - sent_at)
                self._broadcast(account, tx, on_sent, hashes, what, replacement=True)
                sent_at = now
            time.sleep(self.poll_interval_s)

    def _result(self, step: str, first: int, last: int, receipt: Any, hashes: tuple[str, ...]) -> L1StepResult:
        return L1StepResult(
            step=step,
            first_batch=first,
            last_batch=last,
            already_on_l1=False,
            tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            effective_gas_price=receipt["effectiveGasPrice"],
            fee_wei=receipt["gasUsed"] * receipt["effectiveGasPrice"],
            sent_tx_hashes=hashes,
        )
