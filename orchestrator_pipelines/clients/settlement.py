"""Settle a batch on Ethereum: one EIP-4844 blob transaction calling ``updateStateKzgDA``.

The client reads the core contract's state (what is already settled, so that
ordering and idempotency are decided by the chain), and sends the state
update with its blobs. Before sending, the call is simulated with the same
blob versioned hashes, so a contract rejection surfaces as a readable reason
("updateStateKzgDA reverted: INVALID_PREVIOUS_ROOT") and costs no gas.

What the simulation cannot see is handled while waiting:

- a transaction that passed simulation but reverted on chain (another
  transaction changed the state first) is replayed with ``eth_call`` at its
  block, so the error still names the contract's reason;
- a transaction left unmined because fees rose is replaced (same nonce, every
  fee raised by at least the pool's replacement bump, never above the caps),
  and every broadcast hash is reported, so whichever one is mined is found.

Connection problems, timeouts and fee spikes above the configured caps are
:class:`TransientError` (retry later); reverts are :class:`OrchestratorError`.

The blobs travel in the transaction's network wrapper, whose form changed with
Osaka (Fusaka, EIP-7594): before it, ``rlp([tx, blobs, commitments, proofs])``
with one blob proof per blob (version 0); since then pools accept only
``rlp([tx, 1, blobs, commitments, cell_proofs])`` with 128 cell proofs per blob
(version 1). The signed transaction and its hash are the same in both, so the
form can be chosen per broadcast: by default from the node's ``eth_config``
(EIP-7910), Osaka being the fork that activates the P-256 precompile at 0x100.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import requests
import rlp
from eth_abi import decode as abi_decode
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TimeExhausted, TransactionNotFound

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from orchestrator_pipelines.starknet.calldata import (
    UPDATE_STATE_KZG_DA_SELECTOR,
    UPDATE_STATE_SELECTOR,
    encode_update_state,
    encode_update_state_kzg_da,
)
from orchestrator_pipelines.starknet.kzg import (
    BlobSidecar,
    blob_to_commitment,
    compute_blob_proof,
    compute_cell_proofs,
    versioned_hash,
)

log = logging.getLogger(__name__)

BLOB_SIZE = 131072
KZG_PROOF_SIZE = 48
GWEI = 10**9
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
# Send refusals that go away with time or a fee change, not with a different input.
TRANSIENT_SEND_ERRORS = ("underpriced", "fee too low", "less than block", "nonce too low", "txpool is full")
# geth's and reth's blob pools replace a pending blob transaction only when its
# fee cap, tip and blob fee cap are each at least doubled (plain transactions
# need +10%); a smaller bump is refused as "replacement transaction underpriced".
BLOB_REPLACEMENT_BUMP_PERCENT = 100
ONLY_OPERATOR = "ONLY_OPERATOR"

# How the blob sidecar is wrapped: "auto" asks the node which fork it is at.
BLOB_SIDECAR_MODES = ("auto", "v0", "v1")
# EIP-7951's P256VERIFY, added by Osaka together with the version-1 wrapper (EIP-7594);
# named by address because clients spell precompile names differently in eth_config.
OSAKA_PRECOMPILE_ADDRESS = "0x0000000000000000000000000000000000000100"
# eth_sendRawTransaction refusals that mean "this node does not take that wrapper"
# (a pre-Osaka node given version 1): only these make "auto" resend version 0.
WRAPPER_REFUSAL_MARKERS = ("wrapper", "sidecar", "cell proof", "rlp", "decode", "version", "kzg", "proof")

# The read side of the Starknet core contract's ABI (names and types as in the
# contract deployed on Ethereum); the updateStateKzgDA calldata comes from
# ``starknet.calldata``.
CORE_CONTRACT_ABI: list[dict[str, Any]] = [
    *(
        {"type": "function", "name": name, "stateMutability": "view", "inputs": [], "outputs": [{"name": "", "type": kind}]}
        for name, kind in (
            ("stateBlockNumber", "int256"),
            ("stateRoot", "uint256"),
            ("stateBlockHash", "uint256"),
            ("programHash", "uint256"),
            ("configHash", "uint256"),
        )
    ),
    *(
        {
            "type": "function",
            "name": name,
            "stateMutability": "view",
            "inputs": [{"name": "msgHash", "type": "bytes32"}],
            "outputs": [{"name": "", "type": "uint256"}],
        }
        for name in ("l1ToL2Messages", "l2ToL1Messages")
    ),
    {
        "type": "function",
        "name": "isOperator",
        "stateMutability": "view",
        "inputs": [{"name": "user", "type": "address"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "event",
        "name": "LogStateUpdate",
        "anonymous": False,
        "inputs": [
            {"name": "globalRoot", "type": "uint256", "indexed": False},
            {"name": "blockNumber", "type": "int256", "indexed": False},
            {"name": "blockHash", "type": "uint256", "indexed": False},
        ],
    },
]
FACT_REGISTRY_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "isValid",
        "stateMutability": "view",
        "inputs": [{"name": "fact", "type": "bytes32"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]


@dataclass(frozen=True)
class CoreState:
    """What the core contract says is settled."""

    block_number: int
    root: int
    block_hash: int


@dataclass(frozen=True)
class SettlementReceipt:
    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    blob_gas_used: int
    blob_gas_price: int
    fee_wei: int
    # The hash of the block that includes it: a reorganisation that moves or drops the
    # transaction changes (or removes) it, which is how a recorded settlement is re-checked.
    block_hash: str = ""


@dataclass(frozen=True)
class Fees:
    """The three fee fields of a blob transaction, in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    max_fee_per_blob_gas: int


def bumped(value: int, percent: int) -> int:
    """``value`` raised by ``percent`` percent, rounded up (what a pool's replacement rule compares against)."""
    return value + -(-value * percent // 100)


def decode_revert_reason(data: str | bytes | None) -> str | None:
    """The string of a Solidity ``Error(string)`` revert payload, or None for other payloads."""
    if data is None:
        return None
    raw = bytes(HexBytes(data))
    if raw[:4] != ERROR_STRING_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], raw[4:])
    except Exception:
        return None
    return str(reason)


def revert_reason_of_rpc_error(error: Any) -> str | None:
    """The contract's reason in a JSON-RPC error answer to ``eth_call``/``eth_estimateGas``, if it gave one."""
    if not isinstance(error, dict):
        return None
    reason = decode_revert_reason(error.get("data"))
    message = str(error.get("message", ""))
    if reason is None and "revert" in message:
        reason = message.split("reverted", 1)[-1].lstrip(": ").strip() or None
    return reason


@contextmanager
def _transient_on_io(what: str, url: str) -> Iterator[None]:
    try:
        yield
    except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as exc:
        raise TransientError(f"{what}: Ethereum RPC {url} unreachable ({type(exc).__name__})") from exc
    except TimeExhausted as exc:
        raise TransientError(f"{what}: timed out ({exc})") from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and (status >= 500 or status == 429):
            raise TransientError(f"{what}: Ethereum RPC {url} answered HTTP {status}") from exc
        raise OrchestratorError(f"{what}: Ethereum RPC {url} answered HTTP {status}") from exc


class SettlementClient:
    """Reads and updates the Starknet core contract on an Ethereum JSON-RPC endpoint."""

    def __init__(
        self,
        rpc_url: str,
        private_key: str,
        core_contract_address: str,
        fact_registry_address: str | None = None,
        confirmations: int = 0,
        max_fee_per_gas_cap_wei: int | None = None,
        max_fee_per_blob_gas_cap_wei: int | None = None,
        tx_timeout_s: float = 120,
        min_priority_fee_wei: int = GWEI,
        poll_interval_s: float = 0.2,
        replace_after_s: float | None = 180,
        replacement_bump_percent: int = BLOB_REPLACEMENT_BUMP_PERCENT,
        blob_sidecar: str = "auto",
        max_fee_bumps: int | None = None,
        state_update_max_fee_wei: int | None = None,
        operator_address: str | None = None,
        base_fee_multiplier: float = 2.0,
    ) -> None:
        """``confirmations`` is the number of blocks required on top of the block that includes
        the state update (0: inclusion is enough), as the Madara orchestrator counts them.
        ``tx_timeout_s`` bounds the whole wait for a state update, replacements included;
        a broadcast not mined within ``replace_after_s`` is replaced with every fee raised by
        ``replacement_bump_percent`` (None: never replace). ``blob_sidecar`` is the network
        wrapper of the blobs: "v0" (blob proofs, before Osaka), "v1" (cell proofs, Osaka and
        later) or "auto" (decided before every broadcast, see :meth:`sidecar_version`).

        ``max_fee_bumps`` bounds the replacements of one state update (None: as many as the
        timeout allows). ``state_update_max_fee_wei`` caps what one state update can cost:
        no broadcast, first or replacement, is signed whose ``gas × maxFeePerGas +
        blob gas × maxFeePerBlobGas`` exceeds it (only one of them can be mined, so this
        bounds the fee paid). ``operator_address``, when given, must be the key's address.
        ``maxFeePerGas`` is ``base_fee_multiplier`` × the latest base fee plus the tip."""
        if blob_sidecar not in BLOB_SIDECAR_MODES:
            raise InvalidInputError(f"blob_sidecar must be one of {', '.join(BLOB_SIDECAR_MODES)}, got {blob_sidecar!r}")
        if confirmations < 0:
            raise InvalidInputError(f"confirmations must be 0 or more, got {confirmations}")
        if replace_after_s is not None and replace_after_s <= 0:
            raise InvalidInputError(f"replace_after_s must be positive, got {replace_after_s}")
        if replacement_bump_percent < 10:
            raise InvalidInputError(
                f"replacement_bump_percent must be at least 10 (no pool accepts less), got {replacement_bump_percent}"
            )
        if base_fee_multiplier < 1:
            raise InvalidInputError(f"base_fee_multiplier must be at least 1, got {base_fee_multiplier}")
        if max_fee_bumps is not None and max_fee_bumps < 0:
            raise InvalidInputError(f"max_fee_bumps must be 0 or more, got {max_fee_bumps}")
        if state_update_max_fee_wei is not None and state_update_max_fee_wei <= 0:
            raise InvalidInputError(f"state_update_max_fee_wei must be positive, got {state_update_max_fee_wei}")
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        try:
            self.account = Account.from_key(private_key)
        except Exception:
            raise InvalidInputError("settlement private key is not a valid secp256k1 key") from None
        if operator_address and _checksum(operator_address, "operator_address") != self.account.address:
            raise InvalidInputError(
                f"the settlement key's address {self.account.address} is not the configured operator {operator_address}"
            )
        self.core_contract = self.w3.eth.contract(
            address=_checksum(core_contract_address, "core_contract_address"), abi=CORE_CONTRACT_ABI
        )
        self.fact_registry = (
            self.w3.eth.contract(
                address=_checksum(fact_registry_address, "fact_registry_address"), abi=FACT_REGISTRY_ABI
            )
            if fact_registry_address
            else None
        )
        self.confirmations = confirmations
        self.max_fee_per_gas_cap_wei = max_fee_per_gas_cap_wei
        self.max_fee_per_blob_gas_cap_wei = max_fee_per_blob_gas_cap_wei
        self.tx_timeout_s = tx_timeout_s
        self.min_priority_fee_wei = min_priority_fee_wei
        self.poll_interval_s = poll_interval_s
        self.replace_after_s = replace_after_s
        self.replacement_bump_percent = replacement_bump_percent
        self.blob_sidecar = blob_sidecar
        self.max_fee_bumps = max_fee_bumps
        self.base_fee_multiplier = base_fee_multiplier
        self.state_update_max_fee_wei = state_update_max_fee_wei

    @property
    def address(self) -> str:
        return str(self.account.address)

    # ---- reads -------------------------------------------------------------

    def state(self) -> CoreState:
        functions = self.core_contract.functions
        with _transient_on_io("reading core contract state", self.rpc_url):
            block = self.w3.eth.block_number  # read all three at one block
            return CoreState(
                block_number=int(functions.stateBlockNumber().call(block_identifier=block)),
                root=int(functions.stateRoot().call(block_identifier=block)),
                block_hash=int(functions.stateBlockHash().call(block_identifier=block)),
            )

    def head(self) -> int:
        """The latest L1 block number."""
        with _transient_on_io("reading the L1 head", self.rpc_url):
            return int(self.w3.eth.block_number)

    def finalized_block_number(self) -> int:
        """L1's ``finalized`` block: settlements at or below it can no longer be reorganised away."""
        with _transient_on_io("reading the finalized L1 block", self.rpc_url):
            return int(self.w3.eth.get_block("finalized")["number"])

    def mined_receipt(self, tx_hash: str) -> SettlementReceipt | None:
        """The receipt of ``tx_hash`` on the canonical chain now if it succeeded; None if not mined or reverted.

        No waiting: this is what L1 says at this moment (a reorganisation may have
        dropped the transaction or moved it to another block).
        """
        with _transient_on_io(f"reading the receipt of {tx_hash}", self.rpc_url):
            receipt = self._receipt_or_none(tx_hash)
        if receipt is None or receipt["status"] != 1:
            return None
        return _settlement_receipt(receipt)

    def is_known(self, tx_hash: str) -> bool:
        """Whether the node has ``tx_hash`` at all, pending in its pool or mined."""
        with _transient_on_io(f"looking up {tx_hash}", self.rpc_url):
            try:
                return self.w3.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
            except TransactionNotFound:
                return False

    def program_hash(self) -> int:
        with _transient_on_io("reading programHash", self.rpc_url):
            return int(self.core_contract.functions.programHash().call())

    def config_hash(self) -> int:
        with _transient_on_io("reading configHash", self.rpc_url):
            return int(self.core_contract.functions.configHash().call())

    def is_operator(self, address: str | None = None) -> bool:
        """Whether ``address`` (default: this client's account) may call ``updateStateKzgDA``."""
        who = _checksum(address, "address") if address is not None else self.address
        with _transient_on_io("reading isOperator", self.rpc_url):
            return bool(self.core_contract.functions.isOperator(who).call())

    def l1_to_l2_messages(self, message_hash: bytes, block: int | str = "latest") -> int:
        """``l1ToL2Messages(hash)`` at ``block``: the message's fee + 1 while it waits for L2, 0 once consumed."""
        return self._message_counter("l1ToL2Messages", message_hash, block)

    def l2_to_l1_messages(self, message_hash: bytes, block: int | str = "latest") -> int:
        """``l2ToL1Messages(hash)`` at ``block``: how many copies of the message ``consumeMessageFromL2`` may take."""
        return self._message_counter("l2ToL1Messages", message_hash, block)

    def _message_counter(self, name: str, message_hash: bytes, block: int | str) -> int:
        if len(message_hash) != 32:
            raise InvalidInputError(f"{name}: a message hash is 32 bytes, got {len(message_hash)}")
        with _transient_on_io(f"reading {name}", self.rpc_url):
            function = getattr(self.core_contract.functions, name)
            try:
                return int(function(bytes(message_hash)).call(block_identifier=block))
            except (ContractLogicError, BadFunctionCallOutput) as exc:
                raise OrchestratorError(
                    f"{name}(0x{bytes(message_hash).hex()}) at block {block} failed on the core contract "
                    f"{self.core_contract.address}: {exc} (a build without L1<->L2 messaging?)"
                ) from None

    def is_fact_valid(self, fact: bytes) -> bool:
        if self.fact_registry is None:
            raise InvalidInputError("is_fact_valid needs fact_registry_address")
        if len(fact) != 32:
            raise InvalidInputError(f"fact must be 32 bytes, got {len(fact)}")
        with _transient_on_io("reading the fact registry", self.rpc_url):
            return bool(self.fact_registry.functions.isValid(bytes(fact)).call())

    def sidecar_version(self) -> int | None:
        """The blob wrapper version to send now: 0 or 1, or None when the node does not say.

        With ``blob_sidecar="auto"`` this asks ``eth_config`` for the fork in force
        (version 1 when it has Osaka's P-256 precompile). A node without ``eth_config``
        (an older client or an RPC provider that filters methods) gives None, and the
        broadcast tries version 1 and resends version 0 only if the node refuses the wrapper.
        """
        if self.blob_sidecar != "auto":
            return 1 if self.blob_sidecar == "v1" else 0
        response = self.w3.provider.make_request("eth_config", [])  # type: ignore[arg-type]
        result = response.get("result")
        if response.get("error") or not isinstance(result, dict) or not isinstance(result.get("current"), dict):
            return None
        precompiles = result["current"].get("precompiles") or {}
        addresses = {str(a).lower() for a in (precompiles.values() if isinstance(precompiles, dict) else precompiles)}
        return 1 if OSAKA_PRECOMPILE_ADDRESS in addresses else 0

    # ---- the state update -------------------------------------------------------------

    def update_state_kzg_da(
        self,
        program_output: Sequence[int],
        kzg_proofs: Sequence[bytes],
        blobs: Sequence[bytes],
        on_sent: Callable[[str], None] | None = None,
        sidecar: BlobSidecar | None = None,
    ) -> SettlementReceipt:
        """Send ``updateStateKzgDA(programOutput, kzgProofs)`` with ``blobs`` attached and wait for it.

        ``on_sent(tx_hash)`` is called as soon as a transaction is broadcast,
        before waiting, and again for every replacement, so a caller can record
        all the hashes durably and a retry can wait for them instead of sending
        a transaction with a new nonce.

        ``sidecar`` holds the blobs' commitments and proofs when they were computed
        earlier (by the step that built the blobs); whatever it lacks is computed here,
        which loads the KZG trusted setup. The caller vouches that it belongs to
        ``blobs``: a sidecar of other blobs is refused by the node, at no gas cost.
        """
        _check_inputs(program_output, kzg_proofs, blobs)
        what = "updateStateKzgDA"
        data = "0x" + encode_update_state_kzg_da([int(w) for w in program_output], [bytes(p) for p in kzg_proofs]).hex()
        if sidecar is None:
            sidecar = BlobSidecar(commitments=[blob_to_commitment(bytes(blob)) for blob in blobs])
        elif len(sidecar.commitments) != len(blobs):
            raise InvalidInputError(f"sidecar has {len(sidecar.commitments)} commitments for {len(blobs)} blobs")
        versioned_hashes = [versioned_hash(c) for c in sidecar.commitments]
        with _transient_on_io(what, self.rpc_url):
            max_fee, priority_fee = self._gas_fees()
            max_blob_fee = self._blob_gas_fee()
            call = {
                "from": self.address,
                "to": self.core_contract.address,
                "data": data,
                "type": "0x3",
                "maxFeePerGas": hex(max_fee),
                "maxPriorityFeePerGas": hex(priority_fee),
                "maxFeePerBlobGas": hex(max_blob_fee),
                "blobVersionedHashes": ["0x" + h.hex() for h in versioned_hashes],
            }
            self._simulate(call, what)
            # At the simulated state: nodes differ in their default (geth "latest", anvil "pending").
            gas_estimate = int(self._rpc("eth_estimateGas", [call, "latest"], what), 16)
            tx = {
                "type": 3,
                "chainId": self.w3.eth.chain_id,
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                "to": self.core_contract.address,
                "value": 0,
                "data": data,
                "gas": gas_estimate * 6 // 5 + 20_000,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority_fee,
                "maxFeePerBlobGas": max_blob_fee,
            }
            liability = fee_liability_wei(tx, len(blobs))
            if self.state_update_max_fee_wei is not None and liability > self.state_update_max_fee_wei:
                raise TransientError(
                    f"{what}: the state update could cost {liability} wei (gas {tx['gas']} × {max_fee} + "
                    f"{len(blobs)} blob(s) × {BLOB_GAS_PER_BLOB} × {max_blob_fee}), above "
                    f"state_update_max_fee_wei={self.state_update_max_fee_wei}; waiting for lower fees"
                )
            tx_hash = self._broadcast(tx, blobs, sidecar, what)
        if on_sent is not None:
            on_sent(tx_hash)
        pending = _PendingBlobTransaction(tx, list(blobs), sidecar, [tx_hash], time.monotonic(), on_sent)
        return self._wait_for_any(pending.hashes, pending)

    def update_state(
        self,
        program_output: Sequence[int],
        onchain_data_hash: int,
        onchain_data_size: int,
        on_sent: Callable[[str], None] | None = None,
    ) -> SettlementReceipt:
        """Send ``updateState(programOutput, onchainDataHash, onchainDataSize)`` (calldata DA) and wait for it.

        For an output with ``use_kzg_da = 0``: no blobs; the proven fact covers the output
        and the on-chain data. Simulated first, so a refused update costs no gas and
        raises with the contract's reason; ``on_sent`` gets the hash as soon as it is sent.
        A stuck transaction is not replaced: a retry waits for the recorded hash.
        """
        what = "updateState"
        data = "0x" + encode_update_state([int(w) for w in program_output], onchain_data_hash, onchain_data_size).hex()
        with _transient_on_io(what, self.rpc_url):
            max_fee, priority_fee = self._gas_fees()
            call = {
                "from": self.address,
                "to": self.core_contract.address,
                "data": data,
                "maxFeePerGas": hex(max_fee),
                "maxPriorityFeePerGas": hex(priority_fee),
            }
            self._simulate(call, what)
            gas_estimate = int(self._rpc("eth_estimateGas", [call, "latest"], what), 16)
            tx = {
                "type": 2,
                "chainId": self.w3.eth.chain_id,
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                "to": self.core_contract.address,
                "value": 0,
                "data": data,
                "gas": gas_estimate * 6 // 5 + 20_000,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority_fee,
            }
            signed = self.account.sign_transaction(tx)
            tx_hash = HexBytes(signed.hash).to_0x_hex()
            self._send_raw(bytes(signed.raw_transaction), tx_hash, what)
        if on_sent is not None:
            on_sent(tx_hash)
        return self._wait_for_any([tx_hash], None)

    def wait_for_transaction(self, tx_hashes: str | bytes | Sequence[str | bytes]) -> SettlementReceipt:
        """Wait until one of ``tx_hashes`` is mined with ``confirmations`` blocks on top; raise if it reverted.

        Several hashes are the broadcasts of one nonce (a transaction and its
        replacements): at most one of them can be mined, and it is that one's
        receipt that is returned.
        """
        if isinstance(tx_hashes, (str, bytes, bytearray)):
            tx_hashes = [tx_hashes]
        hashes = [HexBytes(h).to_0x_hex() for h in tx_hashes]
        if not hashes:
            raise InvalidInputError("wait_for_transaction needs at least one transaction hash")
        return self._wait_for_any(hashes, None)

    def _wait_for_any(self, hashes: list[str], pending: "_PendingBlobTransaction | None") -> SettlementReceipt:
        deadline = time.monotonic() + self.tx_timeout_s
        with _transient_on_io(f"waiting for {', '.join(hashes)}", self.rpc_url):
            while True:
                # Fetched afresh each round: a reorganisation can drop or move the transaction.
                found = self._first_receipt(hashes)
                if found is not None:
                    tx_hash, receipt = found
                    if receipt["status"] != 1:
                        raise self._on_chain_failure(tx_hash, receipt)
                    if self.w3.eth.block_number >= receipt["blockNumber"] + self.confirmations:
                        return _settlement_receipt(receipt)
                elif pending is not None and self._replacement_due(pending):
                    self._replace(pending)
                if time.monotonic() >= deadline:
                    raise TransientError(self._timeout_message(hashes, found, pending))
                time.sleep(self.poll_interval_s)

    def _first_receipt(self, hashes: Sequence[str]) -> tuple[str, Any] | None:
        for tx_hash in hashes:
            receipt = self._receipt_or_none(tx_hash)
            if receipt is not None:
                return tx_hash, receipt
        return None

    def _receipt_or_none(self, tx_hash_hex: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash_hex)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _timeout_message(
        self, hashes: Sequence[str], found: tuple[str, Any] | None, pending: "_PendingBlobTransaction | None"
    ) -> str:
        if found is not None:
            tx_hash, receipt = found
            return (
                f"transaction {tx_hash} mined in block {receipt['blockNumber']} but not confirmed after "
                f"{self.tx_timeout_s} s ({self.confirmations} block(s) on top required)"
            )
        message = f"transaction(s) {', '.join(hashes)} not mined after {self.tx_timeout_s} s"
        if pending is not None and pending.held_back:
            message += f"; last replacement not sent: {pending.held_back}"
        return message

    # ---- stuck transactions -------------------------------------------------------------

    def _replacement_due(self, pending: "_PendingBlobTransaction") -> bool:
        if self.replace_after_s is None or pending.cannot_replace:
            return False
        if self.max_fee_bumps is not None and len(pending.hashes) - 1 >= self.max_fee_bumps:
            if not pending.held_back:
                pending.held_back = f"{self.max_fee_bumps} fee bump(s) already sent (max_fee_bumps)"
            return False
        if time.monotonic() - pending.last_broadcast_at < self.replace_after_s:
            return False
        # Our nonce already used: one of the broadcasts is mined (its receipt shows up
        # on the next round) or another transaction took the nonce; a replacement
        # would be refused either way.
        return int(self.w3.eth.get_transaction_count(self.account.address, "latest")) <= pending.tx["nonce"]

    def _replace(self, pending: "_PendingBlobTransaction") -> None:
        """Broadcast the same call with the same nonce and higher fees; report the new hash."""
        pending.last_broadcast_at = time.monotonic()
        try:
            fees = self._replacement_fees(pending.fees)
        except TransientError as exc:
            pending.held_back = str(exc)
            pending.cannot_replace = True
            log.warning("not replacing %s: %s", pending.hashes[-1], exc)
            return
        tx = {
            **pending.tx,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "maxFeePerBlobGas": fees.max_fee_per_blob_gas,
        }
        liability = fee_liability_wei(tx, len(pending.blobs))
        if self.state_update_max_fee_wei is not None and liability > self.state_update_max_fee_wei:
            pending.held_back = (
                f"the replacement could cost {liability} wei, above state_update_max_fee_wei="
                f"{self.state_update_max_fee_wei}"
            )
            pending.cannot_replace = True
            log.warning("not replacing %s: %s", pending.hashes[-1], pending.held_back)
            return
        try:
            tx_hash = self._broadcast(tx, pending.blobs, pending.sidecar, "replacing updateStateKzgDA")
        except (OrchestratorError, TransientError) as exc:
            # The broadcasts already out may still be mined; keep waiting for them.
            pending.held_back = str(exc)
            log.warning("replacement of %s refused: %s", pending.hashes[-1], exc)
            return
        log.info("replaced %s by %s (nonce %d, fees %s)", pending.hashes[-1], tx_hash, tx["nonce"], fees)
        pending.tx = tx
        pending.hashes.append(tx_hash)
        pending.held_back = ""
        if pending.on_sent is not None:
            pending.on_sent(tx_hash)

    def _replacement_fees(self, previous: Fees) -> Fees:
        """At least ``replacement_bump_percent`` above ``previous`` on every field, and at least the market's.

        Raises :class:`TransientError` when the smallest acceptable bump exceeds a cap.
        """
        pct = self.replacement_bump_percent
        base_fee, market_tip = self._market_gas_fees()
        blob_base_fee = int(self.w3.eth.blob_base_fee)
        floor_max_fee = bumped(previous.max_fee_per_gas, pct)
        floor_tip = bumped(previous.max_priority_fee_per_gas, pct)
        floor_blob_fee = bumped(previous.max_fee_per_blob_gas, pct)
        max_fee = max(floor_max_fee, int(self.base_fee_multiplier * base_fee) + max(floor_tip, market_tip))
        blob_fee = max(floor_blob_fee, 2 * blob_base_fee)
        gas_cap, blob_cap = self.max_fee_per_gas_cap_wei, self.max_fee_per_blob_gas_cap_wei
        if gas_cap is not None:
            if floor_max_fee > gas_cap:
                raise TransientError(
                    f"replacing needs maxFeePerGas >= {floor_max_fee} wei (+{pct}%), "
                    f"above max_fee_per_gas_cap_wei={gas_cap}"
                )
            max_fee = min(max_fee, gas_cap)
        if blob_cap is not None:
            if floor_blob_fee > blob_cap:
                raise TransientError(
                    f"replacing needs maxFeePerBlobGas >= {floor_blob_fee} wei (+{pct}%), "
                    f"above max_fee_per_blob_gas_cap_wei={blob_cap}"
                )
            blob_fee = min(blob_fee, blob_cap)
        tip = min(max(floor_tip, market_tip), max_fee)
        if tip < floor_tip:
            raise TransientError(
                f"replacing needs maxPriorityFeePerGas >= {floor_tip} wei (+{pct}%), above maxFeePerGas {max_fee}"
            )
        return Fees(max_fee, tip, blob_fee)

    # ---- reverted on chain -------------------------------------------------------------

    def _on_chain_failure(self, tx_hash: str, receipt: Any) -> OrchestratorError:
        """The error for a mined transaction with status 0, naming the contract's reason when a replay recovers it."""
        block = int(receipt["blockNumber"])
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            tx = None
        what = "transaction"
        reason = "reason not recovered (the transaction is not available from the node)"
        if tx is not None:
            selector = bytes(HexBytes(tx["input"]))[:4]
            if selector == UPDATE_STATE_KZG_DA_SELECTOR:
                what = "updateStateKzgDA"
            elif selector == UPDATE_STATE_SELECTOR:
                what = "updateState"
            reason = self._replayed_revert_reason(tx, receipt)
        return OrchestratorError(f"{what} reverted on chain in block {block}: {reason} (transaction {tx_hash})")

    def _replayed_revert_reason(self, tx: Any, receipt: Any) -> str:
        """Replay the call with ``eth_call`` at the state before its block, then after it.

        Before the block reproduces a revert that did not depend on the block's
        other transactions; after it reproduces the common case of a transaction
        earlier in the same block having changed the state (two updates racing).
        """
        gas_limit = int(tx["gas"])
        if int(receipt["gasUsed"]) >= gas_limit:
            return f"out of gas (all {gas_limit} gas used)"
        call: dict[str, Any] = {
            "from": tx["from"],
            "to": tx["to"],
            "data": HexBytes(tx["input"]).to_0x_hex(),
            "value": hex(int(tx.get("value", 0))),
            "gas": hex(gas_limit),
        }
        if tx.get("blobVersionedHashes"):
            call["type"] = "0x3"
            call["blobVersionedHashes"] = [HexBytes(h).to_0x_hex() for h in tx["blobVersionedHashes"]]
            call["maxFeePerBlobGas"] = hex(int(tx["maxFeePerBlobGas"]))
        block = int(receipt["blockNumber"])
        for at in (block - 1, block):
            response = self.w3.provider.make_request("eth_call", [call, hex(at)])  # type: ignore[arg-type]
            reason = revert_reason_of_rpc_error(response.get("error"))
            if reason is not None:
                return reason
        return f"reason not recovered (replays at blocks {block - 1} and {block} do not revert)"

    # ---- internals -------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any], what: str) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        error = response.get("error")
        if error:
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise OrchestratorError(f"{what}: {method} failed: {message}")
        return response["result"]

    def _simulate(self, call: dict[str, Any], what: str) -> None:
        response = self.w3.provider.make_request("eth_call", [call, "latest"])  # type: ignore[arg-type]
        error = response.get("error")
        if not error:
            return
        if not isinstance(error, dict):
            raise OrchestratorError(f"{what} simulation failed: {error}")
        reason = revert_reason_of_rpc_error(error)
        if reason == ONLY_OPERATOR:
            raise OrchestratorError(
                f"{what} reverted: {ONLY_OPERATOR} ({self.address} is not an operator of the core contract "
                f"{self.core_contract.address}; its governor must call registerOperator({self.address}))"
            )
        if reason is not None:
            raise OrchestratorError(f"{what} reverted: {reason}")
        raise OrchestratorError(f"{what} simulation failed: {error.get('message', '')}")

    def _sign_blob_transaction(
        self, tx: dict[str, Any], blobs: Sequence[bytes], commitments: list[bytes]
    ) -> tuple[bytes, str]:
        """The network form of ``tx`` with its blobs, in the wrapper the node takes now, and the tx hash."""
        body, tx_hash = self._signed_body(tx, commitments)
        version = self.sidecar_version()
        sidecar = BlobSidecar(commitments=list(commitments))
        return blob_network_form(body, blobs, sidecar, 1 if version is None else version), tx_hash

    def _signed_body(self, tx: dict[str, Any], commitments: list[bytes]) -> tuple[list[Any], str]:
        """The signed type-3 transaction's RLP fields and its hash (the same whatever the wrapper)."""
        versioned_hashes = [versioned_hash(c) for c in commitments]
        signed = self.account.sign_transaction({**tx, "blobVersionedHashes": versioned_hashes})
        raw = bytes(signed.raw_transaction)
        if raw[0] != 3:
            raise OrchestratorError(f"expected a type-3 transaction after signing, got type {raw[0]}")
        return rlp.decode(raw[1:]), HexBytes(signed.hash).to_0x_hex()

    def _broadcast(self, tx: dict[str, Any], blobs: Sequence[bytes], sidecar: BlobSidecar, what: str) -> str:
        """Sign ``tx``, wrap it with its blobs in the form the node takes, send it; return its hash."""
        body, tx_hash = self._signed_body(tx, sidecar.commitments)
        version = self.sidecar_version()
        if version is not None:
            self._send_raw(blob_network_form(body, blobs, sidecar, version), tx_hash, what)
            return tx_hash
        refusal = self._send_raw_error(blob_network_form(body, blobs, sidecar, 1))
        if refusal is None:
            return tx_hash
        if not any(marker in refusal.lower() for marker in WRAPPER_REFUSAL_MARKERS):
            self._raise_send_error(refusal, tx_hash, what)
        log.info("node refused the version-1 blob wrapper of %s (%s); sending version 0", tx_hash, refusal)
        self._send_raw(blob_network_form(body, blobs, sidecar, 0), tx_hash, what)
        return tx_hash

    def _send_raw_error(self, raw: bytes) -> str | None:
        """Broadcast; the node's refusal message, or None when it took (or already had) the transaction."""
        response = self.w3.provider.make_request("eth_sendRawTransaction", ["0x" + raw.hex()])  # type: ignore[arg-type]
        error = response.get("error")
        if not error:
            return None
        message = str(error.get("message", error) if isinstance(error, dict) else error)
        lowered = message.lower()
        if "already known" in lowered or "alreadyknown" in lowered:
            return None
        return message

    def _send_raw(self, raw: bytes, tx_hash: str, what: str) -> None:
        """Broadcast; a node that already has the transaction is success, a fee refusal is transient."""
        message = self._send_raw_error(raw)
        if message is not None:
            self._raise_send_error(message, tx_hash, what)

    @staticmethod
    def _raise_send_error(message: str, tx_hash: str, what: str) -> None:
        if any(marker in message.lower() for marker in TRANSIENT_SEND_ERRORS):
            raise TransientError(f"{what}: {tx_hash} refused by the node for now: {message}")
        raise OrchestratorError(f"{what}: sending {tx_hash} failed: {message}")

    def _market_gas_fees(self) -> tuple[int, int]:
        """(latest base fee, tip): the tip is the recent median, at least ``min_priority_fee_wei``."""
        base_fee = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        history = self.w3.eth.fee_history(5, "latest", [50])
        tips = sorted(int(r[0]) for r in history.get("reward", []) if r)
        priority_fee = max(tips[len(tips) // 2] if tips else 0, self.min_priority_fee_wei)
        return base_fee, priority_fee

    def _gas_fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas): ``base_fee_multiplier`` × the base fee plus the recent median tip."""
        base_fee, priority_fee = self._market_gas_fees()
        max_fee = int(self.base_fee_multiplier * base_fee) + priority_fee
        cap = self.max_fee_per_gas_cap_wei
        if cap is not None:
            if base_fee + priority_fee > cap:
                raise TransientError(
                    f"gas too expensive: base fee {base_fee} + tip {priority_fee} wei exceeds "
                    f"max_fee_per_gas_cap_wei={cap}"
                )
            max_fee = min(max_fee, cap)
        return max_fee, priority_fee

    def _blob_gas_fee(self) -> int:
        """maxFeePerBlobGas: twice the current blob base fee, so two full blocks of growth still fit."""
        blob_base_fee = int(self.w3.eth.blob_base_fee)
        max_blob_fee = max(2 * blob_base_fee, 1)
        cap = self.max_fee_per_blob_gas_cap_wei
        if cap is not None:
            if blob_base_fee > cap:
                raise TransientError(
                    f"blob gas too expensive: blob base fee {blob_base_fee} wei exceeds "
                    f"max_fee_per_blob_gas_cap_wei={cap}"
                )
            max_blob_fee = min(max_blob_fee, cap)
        return max_blob_fee


BLOB_GAS_PER_BLOB = 131072


def fee_liability_wei(tx: dict[str, Any], n_blobs: int) -> int:
    """The most a signed blob transaction can cost: its gas limit at its max fee plus its blob gas at the max blob fee."""
    return int(tx["gas"]) * int(tx["maxFeePerGas"]) + n_blobs * BLOB_GAS_PER_BLOB * int(tx["maxFeePerBlobGas"])


@dataclass
class _PendingBlobTransaction:
    """A sent state update and its replacements so far: what is needed to sign the next one."""

    tx: dict[str, Any]
    blobs: list[bytes]
    sidecar: BlobSidecar
    hashes: list[str]
    last_broadcast_at: float
    on_sent: Callable[[str], None] | None
    held_back: str = ""
    cannot_replace: bool = False

    @property
    def fees(self) -> Fees:
        return Fees(self.tx["maxFeePerGas"], self.tx["maxPriorityFeePerGas"], self.tx["maxFeePerBlobGas"])


def blob_network_form(body: list[Any], blobs: Sequence[bytes], sidecar: BlobSidecar, version: int) -> bytes:
    """``0x03 || rlp(wrapper)``: a signed blob transaction with its sidecar, as pools take it.

    Version 0 (EIP-4844): ``[body, blobs, commitments, blob_proofs]``; version 1
    (EIP-7594, Osaka): ``[body, 1, blobs, commitments, cell_proofs]`` with the 128 cell
    proofs of each blob, in blob order, in one flat list. Proofs the sidecar already
    holds are used as they are; missing ones are computed with the KZG setup of this
    process (eth-account's own sidecar code would reload it per signature).
    """
    blob_list = [bytes(b) for b in blobs]
    commitments = [bytes(c) for c in sidecar.commitments]
    if version == 0:
        proofs = sidecar.blob_proofs
        if proofs is None:
            proofs = [compute_blob_proof(b, c) for b, c in zip(blob_list, commitments)]
        return b"\x03" + rlp.encode([body, blob_list, commitments, list(proofs)])
    if version == 1:
        per_blob = sidecar.cell_proofs
        if per_blob is None:
            per_blob = [compute_cell_proofs(b) for b in blob_list]
        cell_proofs = [proof for proofs in per_blob for proof in proofs]
        return b"\x03" + rlp.encode([body, 1, blob_list, commitments, cell_proofs])
    raise InvalidInputError(f"blob wrapper version must be 0 or 1, got {version}")


def _checksum(address: str, field: str) -> str:
    try:
        return str(Web3.to_checksum_address(address))
    except ValueError:
        raise InvalidInputError(f"{field} is not an Ethereum address: {address!r}") from None


def _check_inputs(program_output: Sequence[int], kzg_proofs: Sequence[bytes], blobs: Sequence[bytes]) -> None:
    if not blobs:
        raise InvalidInputError("updateStateKzgDA needs at least one blob")
    if len(kzg_proofs) != len(blobs):
        raise InvalidInputError(f"{len(kzg_proofs)} KZG proofs for {len(blobs)} blobs")
    for i, blob in enumerate(blobs):
        if len(blob) != BLOB_SIZE:
            raise InvalidInputError(f"blob {i} is {len(blob)} bytes, expected {BLOB_SIZE}")
    for i, proof in enumerate(kzg_proofs):
        if len(proof) != KZG_PROOF_SIZE:
            raise InvalidInputError(f"KZG proof {i} is {len(proof)} bytes, expected {KZG_PROOF_SIZE}")
    for i, word in enumerate(program_output):
        if not 0 <= int(word) < 2**256:
            raise InvalidInputError(f"program output word {i} does not fit in uint256: {word}")


def _settlement_receipt(receipt: Any) -> SettlementReceipt:
    gas_used = int(receipt["gasUsed"])
    effective_gas_price = int(receipt["effectiveGasPrice"])
    blob_gas_used = int(receipt.get("blobGasUsed", 0) or 0)
    blob_gas_price = int(receipt.get("blobGasPrice", 0) or 0)
    return SettlementReceipt(
        tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
        gas_used=gas_used,
        effective_gas_price=effective_gas_price,
        blob_gas_used=blob_gas_used,
        blob_gas_price=blob_gas_price,
        fee_wei=gas_used * effective_gas_price + blob_gas_used * blob_gas_price,
        block_hash=HexBytes(receipt["blockHash"]).to_0x_hex() if receipt.get("blockHash") else "",
    )
