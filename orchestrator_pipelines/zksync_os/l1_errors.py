"""Readable names for what the ZKsync L1 contracts revert with.

A revert payload is a 4-byte selector and ABI-encoded arguments. The custom
errors come from the ABIs of the project's ZKsync OS contracts, whose error
names and argument types are those of era-contracts, so a revert of the real
contracts decodes the same way: ``BatchHashMismatch(expected=0x…, actual=0x…)``.
``Error(string)`` and ``Panic(uint256)`` are decoded too; anything else is
shown as its selector.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi import decode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from orchestrator_pipelines.devnet.contract_build import load_artifact

ZKSYNC_OS_CONTRACTS = (
    "Bridgehub",
    "ChainTypeManager",
    "ZKChain",
    "ValidatorTimelock",
    "DualVerifier",
    "RollupL1DAValidator",
    "ValidiumL1DAValidator",
)
ERROR_STRING = bytes.fromhex("08c379a0")
PANIC = bytes.fromhex("4e487b71")


def _canonical_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


@lru_cache(maxsize=1)
def error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector → (name, argument names, argument types) of every custom error of the contracts."""
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for contract in ZKSYNC_OS_CONTRACTS:
        for entry in load_artifact(contract)["abi"]:
            if entry.get("type") != "error":
                continue
            types = [_canonical_type(p) for p in entry["inputs"]]
            selector = keccak(f"{entry['name']}({','.join(types)})".encode())[:4]
            table[selector] = (entry["name"], [p["name"] for p in entry["inputs"]], types)
    return table


def _format(value: Any, kind: str) -> str:
    if kind == "address":
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v, kind.rstrip("[]")) for v in value) + "]"
    return str(value)


def error_name(data: str | bytes | None) -> str | None:
    """Just the error's name (``"BatchHashMismatch"``), or None when the payload is not a known error."""
    raw = bytes(HexBytes(data)) if data else b""
    known = error_table().get(raw[:4])
    if known:
        return known[0]
    if raw[:4] == ERROR_STRING:
        return "Error"
    if raw[:4] == PANIC:
        return "Panic"
    return None


def describe_revert(data: str | bytes | None) -> str:
    """``Name(arg=value, …)`` for a revert payload; ``empty revert`` when there is none."""
    raw = bytes(HexBytes(data)) if data else b""
    if not raw:
        return "empty revert (no reason given)"
    selector, body = raw[:4], raw[4:]
    if selector == ERROR_STRING:
        try:
            return f"Error({decode(['string'], body)[0]!r})"
        except Exception:
            return "Error(<undecodable string>)"
    if selector == PANIC:
        try:
            return f"Panic(0x{decode(['uint256'], body)[0]:02x})"
        except Exception:
            return "Panic(<undecodable code>)"
    known = error_table().get(selector)
    if known is None:
        return f"unknown error 0x{selector.hex()} ({len(body)} bytes of arguments)"
    name, names, types = known
    try:
        values = decode(types, body)
    except Exception:
        return f"{name}(<undecodable arguments>)"
    return f"{name}(" + ", ".join(f"{n}={_format(v, t)}" for n, v, t in zip(names, values, types)) + ")"
