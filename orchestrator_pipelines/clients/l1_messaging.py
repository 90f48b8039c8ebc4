"""The L1 side of L1<->L2 messaging: send a message to L2, consume a message from L2.

What a bridge's L1 contract or a user does on the Starknet core contract:

- ``sendMessageToL2(toAddress, selector, payload)`` with the message fee as
  ``msg.value``: the contract gives the message the next nonce, stores
  ``l1ToL2Messages(hash) = fee + 1`` and logs ``LogMessageToL2``; the sequencer
  executes it as an L1 handler on L2 and the state update that carries it
  consumes it;
- ``consumeMessageFromL2(fromAddress, payload)``, called by the message's L1
  recipient (``msg.sender`` is the message's ``to_address``), once a state update
  recorded the message: it takes one copy and fails with
  ``INVALID_MESSAGE_TO_CONSUME`` when there is none (not settled yet, or taken).

Each call is simulated first, so a refusal is one readable line with the
contract's reason and no transaction is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from orchestrator_pipelines.clients.settlement import _transient_on_io
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.messages import l1_to_l2_message_hash, l2_to_l1_message_hash

TX_TIMEOUT_S = 120

MESSAGING_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "sendMessageToL2",
        "stateMutability": "payable",
        "inputs": [
            {"name": "toAddress", "type": "uint256"},
            {"name": "selector", "type": "uint256"},
            {"name": "payload", "type": "uint256[]"},
        ],
        "outputs": [{"name": "", "type": "bytes32"}, {"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "consumeMessageFromL2",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "fromAddress", "type": "uint256"}, {"name": "payload", "type": "uint256[]"}],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "event",
        "name": "LogMessageToL2",
        "anonymous": False,
        "inputs": [
            {"name": "fromAddress", "type": "address", "indexed": True},
            {"name": "toAddress", "type": "uint256", "indexed": True},
            {"name": "selector", "type": "uint256", "indexed": True},
            {"name": "payload", "type": "uint256[]", "indexed": False},
            {"name": "nonce", "type": "uint256", "indexed": False},
            {"name": "fee", "type": "uint256", "indexed": False},
        ],
    },
]


@dataclass(frozen=True)
class SentMessageToL2:
    """A message ``sendMessageToL2`` accepted: where to find it on L1 and under which hash."""

    tx_hash: str
    l1_block: int
    from_address: int
    to_address: int
    selector: int
    payload: tuple[int, ...]
    nonce: int
    fee_wei: int
    message_hash: bytes


class L1MessagingClient:
    """Sends ``sendMessageToL2`` and ``consumeMessageFromL2`` from one L1 account."""

    def __init__(self, rpc_url: str, private_key: str, core_contract_address: str):
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        try:
            self.account = Account.from_key(private_key)
        except Exception:
            raise InvalidInputError("L1 messaging private key is not a valid secp256k1 key") from None
        try:
            address = Web3.to_checksum_address(core_contract_address)
        except ValueError:
            raise InvalidInputError(f"core contract address {core_contract_address!r} is not an address") from None
        self.contract = self.w3.eth.contract(address=address, abi=MESSAGING_ABI)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def send_message_to_l2(
        self, to_address: int, selector: int, payload: Sequence[int], fee_wei: int
    ) -> SentMessageToL2:
        """Send a message to the L2 contract ``to_address`` with ``fee_wei`` attached; wait until it is mined."""
        words = [int(w) for w in payload]
        function = self.contract.functions.sendMessageToL2(int(to_address), int(selector), words)
        receipt = self._transact(function, "sendMessageToL2", value=int(fee_wei))
        logs = self.contract.events.LogMessageToL2().process_receipt(receipt, errors=DISCARD)
        if len(logs) != 1:
            raise OrchestratorError(
                f"sendMessageToL2 {receipt['transactionHash'].to_0x_hex()}: expected one LogMessageToL2, got {len(logs)}"
            )
        args = logs[0]["args"]
        nonce = int(args["nonce"])
        sender = int(self.address, 16)
        return SentMessageToL2(
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            l1_block=int(receipt["blockNumber"]),
            from_address=sender,
            to_address=int(to_address),
            selector=int(selector),
            payload=tuple(words),
            nonce=nonce,
            fee_wei=int(args["fee"]),
            message_hash=l1_to_l2_message_hash(sender, int(to_address), nonce, int(selector), words),
        )

    def consume_message_from_l2(self, from_address: int, payload: Sequence[int]) -> tuple[str, bytes]:
        """Take one copy of the message ``from_address`` (an L2 contract) sent to this account; (tx hash, message hash)."""
        words = [int(w) for w in payload]
        function = self.contract.functions.consumeMessageFromL2(int(from_address), words)
        receipt = self._transact(function, "consumeMessageFromL2")
        message_hash = l2_to_l1_message_hash(int(from_address), int(self.address, 16), words)
        return receipt["transactionHash"].to_0x_hex(), message_hash

    def _transact(self, function: Any, what: str, value: int = 0) -> Any:
        with _transient_on_io(what, self.rpc_url):
            call = {"from": self.address, "value": value}
            try:
                gas = function.estimate_gas(call)
            except ContractLogicError as exc:
                reason = (exc.message or str(exc)).removeprefix("execution reverted: ")
                raise OrchestratorError(f"{what} reverted: {reason}") from None
            tx = function.build_transaction(
                {
                    **call,
                    "gas": gas * 6 // 5 + 10_000,
                    "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                    "chainId": self.w3.eth.chain_id,
                }
            )
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_TIMEOUT_S, poll_latency=0.1)
        if receipt["status"] != 1:
            raise OrchestratorError(f"{what} {tx_hash.to_0x_hex()} reverted on chain")
        return receipt
