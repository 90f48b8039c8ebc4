"""Starknet JSON-RPC 2.0 methods over the chain state (spec 0.10, the version starknet-py 0.30 speaks).

Only the read methods the orchestrator and its tests use. Block ids follow the
spec: ``{"block_number": n}``, ``{"block_hash": "0x.."}`` or a tag. "latest",
"pending" and "pre_confirmed" read the latest state; for block and state-update
reads the pre-confirmed tags answer in the pre-confirmed shape (the next block,
still empty), as starknet-py expects. "l1_accepted" is BLOCK_NOT_FOUND: nothing
here is accepted on L1 as far as the node knows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from starknet_py.cairo.felt import encode_shortstring

from orchestrator_pipelines.devnet.starknet_node.state import Block, ChainState
from orchestrator_pipelines.starknet.felt import STARK_PRIME, felt_hex

log = logging.getLogger(__name__)

SPEC_VERSION = "0.10.2"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
CONTRACT_NOT_FOUND = 20
BLOCK_NOT_FOUND = 24
TXN_HASH_NOT_FOUND = 29

PRE_CONFIRMED_TAGS = ("pending", "pre_confirmed")
LATEST_TAGS = ("latest",) + PRE_CONFIRMED_TAGS


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, "Invalid params", detail)


def block_not_found() -> RpcError:
    return RpcError(BLOCK_NOT_FOUND, "Block not found")


def contract_not_found() -> RpcError:
    return RpcError(CONTRACT_NOT_FOUND, "Contract not found")


def transaction_not_found() -> RpcError:
    return RpcError(TXN_HASH_NOT_FOUND, "Transaction hash not found")


@dataclass(frozen=True)
class _Method:
    params: tuple[str, ...]
    handler: Callable[..., Any]
    optional: tuple[str, ...] = ()


def _felt_param(value: Any, name: str) -> int:
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            felt = int(value, 16)
        except ValueError:
            felt = -1
        if 0 <= felt < STARK_PRIME:
            return felt
    raise invalid_params(f"{name} must be a 0x-prefixed hex felt, got {value!r}")


def _l1_hash_param(value: Any, name: str) -> int:
    """An L1 transaction hash: 32 bytes as 0x-hex (it may exceed the Starknet prime)."""
    if isinstance(value, str) and value[:2] in ("0x", "0X") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise invalid_params(f"{name} must be a 0x-prefixed hex L1 transaction hash, got {value!r}")


class StarknetRpc:
    """Dispatches JSON-RPC requests (single or batch) to methods over a ChainState."""

    def __init__(self, state: ChainState, chain_id: str):
        self.state = state
        self.chain_id_hex = felt_hex(encode_shortstring(chain_id))
        self.methods: dict[str, _Method] = {
            "starknet_specVersion": _Method((), lambda: SPEC_VERSION),
            "starknet_chainId": _Method((), lambda: self.chain_id_hex),
            "starknet_syncing": _Method((), lambda: False),
            "starknet_blockNumber": _Method((), self._block_number),
            "starknet_blockHashAndNumber": _Method((), self._block_hash_and_number),
            "starknet_getBlockWithTxHashes": _Method(("block_id",), self._get_block_with_tx_hashes),
            "starknet_getStateUpdate": _Method(
                ("block_id",), self._get_state_update, optional=("contract_addresses",)
            ),
            "starknet_getNonce": _Method(("block_id", "contract_address"), self._get_nonce),
            "starknet_getStorageAt": _Method(("contract_address", "key", "block_id"), self._get_storage_at),
            "starknet_getClassHashAt": _Method(("block_id", "contract_address"), self._get_class_hash_at),
            "starknet_getBlockTransactionCount": _Method(("block_id",), self._get_block_transaction_count),
            "starknet_getBlockWithTxs": _Method(("block_id",), self._get_block_with_txs, optional=("response_flags",)),
            "starknet_getBlockWithReceipts": _Method(
                ("block_id",), self._get_block_with_receipts, optional=("response_flags",)
            ),
            "starknet_getTransactionByHash": _Method(
                ("transaction_hash",), self._get_transaction_by_hash, optional=("response_flags",)
            ),
            "starknet_getTransactionReceipt": _Method(("transaction_hash",), self._get_transaction_receipt),
            "starknet_getMessagesStatus": _Method(("transaction_hash",), self._get_messages_status),
        }

    def handle_bytes(self, body: bytes) -> bytes | None:
        """One HTTP body in, one HTTP body out (None: only notifications, nothing to send)."""
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _dump(_error_response(None, RpcError(PARSE_ERROR, "Parse error", str(exc))))
        if isinstance(payload, list):
            if not payload:
                return _dump(_error_response(None, RpcError(INVALID_REQUEST, "Invalid Request", "empty batch")))
            responses = [r for r in (self.handle_one(item) for item in payload) if r is not None]
            return _dump(responses) if responses else None
        response = self.handle_one(payload)
        return None if response is None else _dump(response)

    def handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(
            request.get("method"), str
        ):
            request_id = request.get("id") if isinstance(request, dict) else None
            return _error_response(request_id, RpcError(INVALID_REQUEST, "Invalid Request"))
        is_notification = "id" not in request
        request_id = request.get("id")
        try:
            result = self.call(request["method"], request.get("params", []))
        except RpcError as exc:
            return None if is_notification else _error_response(request_id, exc)
        except Exception as exc:  # an answer with -32603 beats a dropped connection
            log.exception("internal error in %s", request["method"])
            return None if is_notification else _error_response(
                request_id, RpcError(INTERNAL_ERROR, "Internal error", str(exc))
            )
        return None if is_notification else {"jsonrpc": "2.0", "id": request_id, "result": result}

    def call(self, method_name: str, params: Any) -> Any:
        method = self.methods.get(method_name)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found", method_name)
        names = method.params + method.optional
        if isinstance(params, list):
            if not len(method.params) <= len(params) <= len(names):
                raise invalid_params(f"{method_name} takes {len(method.params)} parameter(s), got {len(params)}")
            kwargs = dict(zip(names, params))
        elif isinstance(params, dict):
            missing = [p for p in method.params if p not in params]
            unknown = [p for p in params if p not in names]
            if missing or unknown:
                raise invalid_params(f"{method_name}: missing {missing}, unknown {unknown}")
            kwargs = dict(params)
        else:
            raise invalid_params("params must be an array or an object")
        return method.handler(**kwargs)

    def _resolve(self, block_id: Any) -> Block:
        """The block a block id names; pre-confirmed tags resolve to the latest block."""
        if isinstance(block_id, str):
            if block_id in LATEST_TAGS:
                return self.state.latest()
            if block_id == "l1_accepted":
                raise block_not_found()
            raise invalid_params(f"unknown block tag {block_id!r}")
        if isinstance(block_id, dict) and len(block_id) == 1:
            if "block_number" in block_id:
                number = block_id["block_number"]
                if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                    raise invalid_params(f"block_number must be a non-negative integer, got {number!r}")
                block = self.state.block(number)
            elif "block_hash" in block_id:
                block = self.state.block_by_hash(_felt_param(block_id["block_hash"], "block_hash"))
            else:
                raise invalid_params(f"invalid block id {block_id!r}")
            if block is None:
                raise block_not_found()
            return block
        raise invalid_params(f"invalid block id {block_id!r}")

    def _block_number(self) -> int:
        return self.state.head

    def _block_hash_and_number(self) -> dict[str, Any]:
        block = self.state.latest()
        return {"block_hash": felt_hex(block.block_hash), "block_number": block.number}

    def _get_block_with_tx_hashes(self, block_id: Any) -> dict[str, Any]:
        return self._block_with(block_id, lambda block: [felt_hex(h) for h in block.transaction_hashes])

    def _get_block_with_txs(self, block_id: Any, response_flags: Any = None) -> dict[str, Any]:
        return self._block_with(block_id, lambda block: [tx.to_rpc_json() for tx in block.transactions])

    def _get_block_with_receipts(self, block_id: Any, response_flags: Any = None) -> dict[str, Any]:
        return self._block_with(
            block_id,
            lambda block: [
                {"transaction": tx.to_rpc_json(), "receipt": tx.receipt_rpc_json()} for tx in block.transactions
            ],
        )

    def _block_with(self, block_id: Any, transactions: Callable[[Block], list[Any]]) -> dict[str, Any]:
        """A block's header and its transactions in one of the three forms; pre-confirmed: the next, empty block."""
        block = self._resolve(block_id)
        if block_id in PRE_CONFIRMED_TAGS:
            header = block.header_rpc_json()
            return {
                "block_number": block.number + 1,
                "timestamp": block.timestamp,
                "sequencer_address": header["sequencer_address"],
                "l1_gas_price": header["l1_gas_price"],
                "l1_data_gas_price": header["l1_data_gas_price"],
                "l2_gas_price": header["l2_gas_price"],
                "l1_da_mode": "BLOB",
                "starknet_version": block.starknet_version,
                "transactions": [],
            }
        return {**block.header_rpc_json(), "transactions": transactions(block)}

    def _get_transaction_by_hash(self, transaction_hash: Any, response_flags: Any = None) -> dict[str, Any]:
        found = self.state.transaction(_felt_param(transaction_hash, "transaction_hash"))
        if found is None:
            raise transaction_not_found()
        return found[1].to_rpc_json()

    def _get_transaction_receipt(self, transaction_hash: Any) -> dict[str, Any]:
        found = self.state.transaction(_felt_param(transaction_hash, "transaction_hash"))
        if found is None:
            raise transaction_not_found()
        block, tx = found
        return {**tx.receipt_rpc_json(), "block_hash": felt_hex(block.block_hash), "block_number": block.number}

    def _get_messages_status(self, transaction_hash: Any) -> list[dict[str, Any]]:
        """The L1 handlers of the messages an L1 transaction sent; unknown until one is in a block."""
        handlers = self.state.l1_handlers_of(_l1_hash_param(transaction_hash, "transaction_hash"))
        if not handlers:
            raise transaction_not_found()
        return [
            {
                "transaction_hash": felt_hex(tx.transaction_hash),
                "finality_status": "ACCEPTED_ON_L2",
                "execution_status": "SUCCEEDED",
            }
            for _, tx in handlers
        ]

    def _get_block_transaction_count(self, block_id: Any) -> int:
        block = self._resolve(block_id)
        return 0 if block_id in PRE_CONFIRMED_TAGS else len(block.transactions)

    def _get_state_update(self, block_id: Any, contract_addresses: Any = None) -> dict[str, Any]:
        block = self._resolve(block_id)
        if contract_addresses is not None:
            if not isinstance(contract_addresses, list):
                raise invalid_params("contract_addresses must be an array of felts")
            wanted = {_felt_param(a, "contract_addresses") for a in contract_addresses}
            update = self._get_state_update(block_id)
            return {**update, "state_diff": _only_contracts(update["state_diff"], wanted)}
        if block_id in PRE_CONFIRMED_TAGS:
            empty = {
                "storage_diffs": [],
                "nonces": [],
                "deployed_contracts": [],
                "declared_classes": [],
                "deprecated_declared_classes": [],
                "replaced_classes": [],
            }
            return {"old_root": felt_hex(block.new_root), "state_diff": empty}
        return block.state_update().to_rpc_json()

    def _get_nonce(self, block_id: Any, contract_address: Any) -> str:
        address = _felt_param(contract_address, "contract_address")
        nonce = self.state.nonce_at(address, self._resolve(block_id).number)
        if nonce is None:
            raise contract_not_found()
        return felt_hex(nonce)

    def _get_storage_at(self, contract_address: Any, key: Any, block_id: Any) -> str:
        address = _felt_param(contract_address, "contract_address")
        storage_key = _felt_param(key, "key")
        value = self.state.storage_at(address, storage_key, self._resolve(block_id).number)
        if value is None:
            raise contract_not_found()
        return felt_hex(value)

    def _get_class_hash_at(self, block_id: Any, contract_address: Any) -> str:
        address = _felt_param(contract_address, "contract_address")
        class_hash = self.state.class_hash_at(address, self._resolve(block_id).number)
        if class_hash is None:
            raise contract_not_found()
        return felt_hex(class_hash)


def _only_contracts(state_diff: dict[str, Any], wanted: set[int]) -> dict[str, Any]:
    """The part of a state diff that touches the given contracts (the spec's contract filter)."""

    def keep(address: str) -> bool:
        return int(address, 16) in wanted

    return {
        **state_diff,
        "storage_diffs": [d for d in state_diff["storage_diffs"] if keep(d["address"])],
        "nonces": [n for n in state_diff["nonces"] if keep(n["contract_address"])],
        "deployed_contracts": [d for d in state_diff["deployed_contracts"] if keep(d["address"])],
        "replaced_classes": [r for r in state_diff["replaced_classes"] if keep(r["contract_address"])],
    }


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
