"""The node's transactions and receipts, and their JSON-RPC 0.10 form.

A block keeps every transaction it executed, with what its receipt reports: the
fee actually paid and the messages it sent to L1. The node serves them the way
the spec does (``starknet_getBlockWithTxs``, ``starknet_getBlockWithReceipts``,
``starknet_getTransactionReceipt``), so starknet-py reads them into its own
dataclasses.

Kinds, as on Starknet:
- ``INVOKE`` (v3): an account's ``__execute__`` with a multicall calldata
  ``[n_calls, to, selector, n_args, args...]``; a withdrawal is an invoke
  whose receipt carries a message to L1;
- ``DECLARE`` (v3 for Cairo 1 classes, v1 for Cairo 0 ones);
- ``DEPLOY_ACCOUNT`` (v3) and, in the genesis block only, the legacy ``DEPLOY``
  that puts the system tokens and the first accounts in place;
- ``L1_HANDLER`` (v0): an L1->L2 message executed on L2, with the message's
  nonce, its selector as entry point and ``from_address`` as first calldata word.

What is a stand-in: the hashes of the generated (non L1-handler) transactions are
seeded random felts, not hashes of their fields, and no signature is kept. An
L1 handler's hash is the real one (``compute_transaction_hash`` with the
``l1_handler`` prefix, version 0, the chain id and the nonce), because a bridge
operator matches it against ``starknet_getMessagesStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.felt import felt_hex, parse_felt

INVOKE = "INVOKE"
DECLARE = "DECLARE"
DEPLOY = "DEPLOY"
DEPLOY_ACCOUNT = "DEPLOY_ACCOUNT"
L1_HANDLER = "L1_HANDLER"
KINDS = (INVOKE, DECLARE, DEPLOY, DEPLOY_ACCOUNT, L1_HANDLER)

# Resource bounds every generated v3 transaction declares (generous, like a wallet's estimate x1.5).
L1_GAS_BOUND = (0x2710, 0x5AF3107A4000)
L2_GAS_BOUND = (0x1000000, 0x2540BE400)
L1_DATA_GAS_BOUND = (0x1000, 0x5AF3107A4000)


@dataclass(frozen=True)
class SentMessage:
    """A message to L1 in a receipt's ``messages_sent``: consumable on L1 once its block settles."""

    from_address: int
    to_address: int
    payload: tuple[int, ...]

    def to_rpc_json(self) -> dict[str, Any]:
        return {
            "from_address": felt_hex(self.from_address),
            "to_address": felt_hex(self.to_address),
            "payload": [felt_hex(word) for word in self.payload],
        }

    @classmethod
    def from_rpc_json(cls, data: dict[str, Any]) -> SentMessage:
        return cls(
            from_address=parse_felt(data["from_address"], "messages_sent.from_address"),
            to_address=parse_felt(data["to_address"], "messages_sent.to_address"),
            payload=tuple(parse_felt(w, "messages_sent.payload") for w in data["payload"]),
        )


@dataclass(frozen=True)
class Transaction:
    """One executed transaction; fields a kind does not have stay at their defaults.

    ``sender_address`` is the invoking/declaring account, the deployed account, the
    deployed contract (``DEPLOY``) or the L1 handler's ``contract_address``.
    ``actual_fee`` is in FRI for v3 transactions and in WEI for L1 handlers (paid on L1).
    ``l1_transaction_hash`` and ``message_hash`` tie an L1 handler to the L1
    transaction and the ``LogMessageToL2`` message it executes.
    """

    kind: str
    transaction_hash: int
    sender_address: int
    nonce: int = 0
    calldata: tuple[int, ...] = ()
    entry_point_selector: int = 0
    class_hash: int = 0
    compiled_class_hash: int | None = None
    contract_address_salt: int = 0
    actual_fee: int = 0
    messages_sent: tuple[SentMessage, ...] = ()
    l1_transaction_hash: int | None = None
    l1_block_number: int | None = None
    message_hash: int | None = None
    execution_resources: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OrchestratorError(f"unknown transaction kind {self.kind!r}")

    # ---- JSON-RPC ------------------------------------------------------------------

    def to_rpc_json(self) -> dict[str, Any]:
        """The transaction as ``starknet_getBlockWithTxs`` serves it (with ``transaction_hash``)."""
        body: dict[str, Any] = {"transaction_hash": felt_hex(self.transaction_hash), "type": self.kind}
        if self.kind == L1_HANDLER:
            body.update(
                version="0x0",
                nonce=felt_hex(self.nonce),
                contract_address=felt_hex(self.sender_address),
                entry_point_selector=felt_hex(self.entry_point_selector),
                calldata=[felt_hex(w) for w in self.calldata],
            )
        elif self.kind == DEPLOY:
            body.update(
                version="0x0",
                contract_address_salt=felt_hex(self.contract_address_salt),
                constructor_calldata=[felt_hex(w) for w in self.calldata],
                class_hash=felt_hex(self.class_hash),
            )
        elif self.kind == DECLARE and self.compiled_class_hash is None:
            body.update(
                version="0x1",
                signature=[],
                max_fee=felt_hex(self.actual_fee * 2),
                nonce=felt_hex(self.nonce),
                sender_address=felt_hex(self.sender_address),
                class_hash=felt_hex(self.class_hash),
            )
        else:
            body.update(_v3_common(self.nonce))
            if self.kind == INVOKE:
                body.update(
                    sender_address=felt_hex(self.sender_address),
                    calldata=[felt_hex(w) for w in self.calldata],
                    account_deployment_data=[],
                )
            elif self.kind == DECLARE:
                body.update(
                    sender_address=felt_hex(self.sender_address),
                    class_hash=felt_hex(self.class_hash),
                    compiled_class_hash=felt_hex(self.compiled_class_hash or 0),
                    account_deployment_data=[],
                )
            else:  # DEPLOY_ACCOUNT
                body.update(
                    contract_address_salt=felt_hex(self.contract_address_salt),
                    constructor_calldata=[felt_hex(w) for w in self.calldata],
                    class_hash=felt_hex(self.class_hash),
                )
        return body

    def receipt_rpc_json(self) -> dict[str, Any]:
        """The receipt as ``starknet_getBlockWithReceipts`` serves it (no block fields)."""
        l1_gas, l1_data_gas, l2_gas = self.execution_resources
        receipt: dict[str, Any] = {
            "type": self.kind,
            "transaction_hash": felt_hex(self.transaction_hash),
            "actual_fee": {"amount": felt_hex(self.actual_fee), "unit": "WEI" if self.kind == L1_HANDLER else "FRI"},
            "execution_status": "SUCCEEDED",
            "finality_status": "ACCEPTED_ON_L2",
            "messages_sent": [m.to_rpc_json() for m in self.messages_sent],
            "events": [],
            "execution_resources": {"l1_gas": l1_gas, "l1_data_gas": l1_data_gas, "l2_gas": l2_gas},
        }
        if self.kind in (DEPLOY, DEPLOY_ACCOUNT):
            receipt["contract_address"] = felt_hex(self.sender_address)
        if self.kind == L1_HANDLER:
            receipt["message_hash"] = "0x" + (self.message_hash or 0).to_bytes(32, "big").hex()
        return receipt

    # ---- the block log ------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": self.kind,
            "hash": felt_hex(self.transaction_hash),
            "sender": felt_hex(self.sender_address),
        }
        if self.nonce:
            record["nonce"] = self.nonce
        if self.calldata:
            record["calldata"] = [felt_hex(w) for w in self.calldata]
        for name in ("entry_point_selector", "class_hash", "contract_address_salt"):
            if getattr(self, name):
                record[name] = felt_hex(getattr(self, name))
        if self.compiled_class_hash is not None:
            record["compiled_class_hash"] = felt_hex(self.compiled_class_hash)
        if self.actual_fee:
            record["fee"] = felt_hex(self.actual_fee)
        if self.messages_sent:
            record["messages_sent"] = [m.to_rpc_json() for m in self.messages_sent]
        if self.l1_transaction_hash is not None:
            record["l1_transaction_hash"] = "0x" + self.l1_transaction_hash.to_bytes(32, "big").hex()
            record["l1_block_number"] = self.l1_block_number
            record["message_hash"] = "0x" + (self.message_hash or 0).to_bytes(32, "big").hex()
        if any(self.execution_resources):
            record["resources"] = list(self.execution_resources)
        return record

    @classmethod
    def from_record(cls, record: Any) -> Transaction:
        if not isinstance(record, dict):
            raise OrchestratorError(
                "the block log was written by an older node that kept only transaction hashes; "
                "remove the node's data directory (make clean) to start a new chain"
            )

        def felt(name: str, default: int = 0) -> int:
            return parse_felt(record[name], name) if name in record else default

        return cls(
            kind=str(record["kind"]),
            transaction_hash=parse_felt(record["hash"], "hash"),
            sender_address=parse_felt(record["sender"], "sender"),
            nonce=int(record.get("nonce", 0)),
            calldata=tuple(parse_felt(w, "calldata") for w in record.get("calldata", [])),
            entry_point_selector=felt("entry_point_selector"),
            class_hash=felt("class_hash"),
            compiled_class_hash=felt("compiled_class_hash") if "compiled_class_hash" in record else None,
            contract_address_salt=felt("contract_address_salt"),
            actual_fee=felt("fee"),
            messages_sent=tuple(SentMessage.from_rpc_json(m) for m in record.get("messages_sent", [])),
            l1_transaction_hash=int(record["l1_transaction_hash"], 16) if "l1_transaction_hash" in record else None,
            l1_block_number=record.get("l1_block_number"),
            message_hash=int(record["message_hash"], 16) if "message_hash" in record else None,
            execution_resources=tuple(record.get("resources", (0, 0, 0))),  # type: ignore[arg-type]
        )


def _v3_common(nonce: int) -> dict[str, Any]:
    def bound(pair: tuple[int, int]) -> dict[str, str]:
        return {"max_amount": hex(pair[0]), "max_price_per_unit": hex(pair[1])}

    return {
        "version": "0x3",
        "signature": [],
        "nonce": felt_hex(nonce),
        "tip": "0x0",
        "paymaster_data": [],
        "nonce_data_availability_mode": "L1",
        "fee_data_availability_mode": "L1",
        "resource_bounds": {
            "l1_gas": bound(L1_GAS_BOUND),
            "l2_gas": bound(L2_GAS_BOUND),
            "l1_data_gas": bound(L1_DATA_GAS_BOUND),
        },
    }
