"""Models of the Starknet JSON-RPC ``starknet_getStateUpdate`` result.

The node speaks hex strings; the DA encoding and the squashing work on
integers. These models turn one into the other at the edge and name the exact
field path when the node (or a file on disk) sends something malformed, e.g.
``state_diff.storage_diffs[3].storage_entries[0].value: not a felt: 'xyz'``.
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import felt_hex, parse_felt


def _felt_validator(value: Any) -> int:
    # The message travels up through pydantic; parse() prefixes the field path.
    try:
        return parse_felt(value, "value")
    except InvalidInputError as exc:
        raise ValueError(str(exc).removeprefix("value: ")) from None


Felt = Annotated[int, BeforeValidator(_felt_validator)]


class _RpcModel(BaseModel):
    # Newer node versions add fields; they are not part of the DA data, so ignore them.
    model_config = ConfigDict(extra="ignore", frozen=True)


class StorageEntry(_RpcModel):
    key: Felt
    value: Felt


class ContractStorageDiff(_RpcModel):
    address: Felt
    storage_entries: list[StorageEntry] = Field(default_factory=list)


class NonceUpdate(_RpcModel):
    contract_address: Felt
    nonce: Felt


class DeployedContract(_RpcModel):
    address: Felt
    class_hash: Felt


class DeclaredClass(_RpcModel):
    class_hash: Felt
    compiled_class_hash: Felt


class ReplacedClass(_RpcModel):
    contract_address: Felt
    class_hash: Felt


class StateDiff(_RpcModel):
    storage_diffs: list[ContractStorageDiff] = Field(default_factory=list)
    nonces: list[NonceUpdate] = Field(default_factory=list)
    deployed_contracts: list[DeployedContract] = Field(default_factory=list)
    declared_classes: list[DeclaredClass] = Field(default_factory=list)
    deprecated_declared_classes: list[Felt] = Field(default_factory=list)
    replaced_classes: list[ReplacedClass] = Field(default_factory=list)
    # Starknet 0.14.1 (SNIP-34): classes whose compiled class hash was migrated to the new
    # hash; the DA publishes them alongside the declared classes.
    migrated_compiled_classes: list[DeclaredClass] = Field(default_factory=list)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> "StateDiff":
        """Validate a JSON-RPC ``state_diff`` object; errors name the field path."""
        return _validate(cls, obj, prefix="state_diff")

    def to_rpc_json(self) -> dict[str, Any]:
        """The JSON-RPC shape with 0x-hex felts, as a node would serve it.

        ``migrated_compiled_classes`` appears only when there are some (nodes before
        0.14.1 do not serve the field).
        """
        shape = {
            "storage_diffs": [
                {
                    "address": felt_hex(d.address),
                    "storage_entries": [
                        {"key": felt_hex(e.key), "value": felt_hex(e.value)} for e in d.storage_entries
                    ],
                }
                for d in self.storage_diffs
            ],
            "nonces": [
                {"contract_address": felt_hex(n.contract_address), "nonce": felt_hex(n.nonce)}
                for n in self.nonces
            ],
            "deployed_contracts": [
                {"address": felt_hex(d.address), "class_hash": felt_hex(d.class_hash)}
                for d in self.deployed_contracts
            ],
            "declared_classes": [
                {"class_hash": felt_hex(d.class_hash), "compiled_class_hash": felt_hex(d.compiled_class_hash)}
                for d in self.declared_classes
            ],
            "deprecated_declared_classes": [felt_hex(h) for h in self.deprecated_declared_classes],
            "replaced_classes": [
                {"contract_address": felt_hex(r.contract_address), "class_hash": felt_hex(r.class_hash)}
                for r in self.replaced_classes
            ],
        }
        if self.migrated_compiled_classes:
            shape["migrated_compiled_classes"] = [
                {"class_hash": felt_hex(d.class_hash), "compiled_class_hash": felt_hex(d.compiled_class_hash)}
                for d in self.migrated_compiled_classes
            ]
        return shape


class StateUpdate(_RpcModel):
    block_hash: Felt
    old_root: Felt
    new_root: Felt
    state_diff: StateDiff

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> "StateUpdate":
        """Validate a ``starknet_getStateUpdate`` result of a confirmed block.

        A pending update (no ``block_hash``) is rejected: its content can still
        change, so it must never be settled.
        """
        if not isinstance(obj, Mapping):
            raise InvalidInputError(f"state update: expected a JSON object, got {type(obj).__name__}")
        if obj.get("block_hash") is None:
            raise InvalidInputError(
                "block_hash: missing: this is a pending state update; only confirmed blocks can be settled"
            )
        return _validate(cls, obj, prefix="")

    def to_rpc_json(self) -> dict[str, Any]:
        """The JSON-RPC shape with 0x-hex felts, as a node would serve it."""
        return {
            "block_hash": felt_hex(self.block_hash),
            "old_root": felt_hex(self.old_root),
            "new_root": felt_hex(self.new_root),
            "state_diff": self.state_diff.to_rpc_json(),
        }


def _validate(model: type[_RpcModel], obj: Any, prefix: str) -> Any:
    if not isinstance(obj, Mapping):
        name = prefix or "state update"
        raise InvalidInputError(f"{name}: expected a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(dict(obj))
    except ValidationError as exc:
        raise InvalidInputError(_first_error(exc, prefix)) from None


def _first_error(exc: ValidationError, prefix: str) -> str:
    error = exc.errors(include_url=False)[0]
    path = prefix
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    ctx_error = (error.get("ctx") or {}).get("error")
    if error["type"] == "missing":
        message = "missing"
    elif ctx_error is not None:
        message = str(ctx_error)
    elif error["type"] == "list_type":
        message = f"expected a list, got {type(error.get('input')).__name__}"
    elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a JSON object, got {type(error.get('input')).__name__}"
    else:
        message = error["msg"]
    return f"{path or 'state update'}: {message}"
