"""Strict conversions between the JSON forms of the batch fields and Python values.

Artifacts and server envelopes carry 32-byte words and addresses as ``0x`` hex
and byte strings either as hex or (in zksync-os-server's serde output) as a
list of integers; every malformed value is one readable error naming the field.
"""

from __future__ import annotations

from typing import Any

from orchestrator_pipelines.errors import InvalidInputError


def to_bytes(value: Any, field: str, *, length: int | None = None) -> bytes:
    """``0x`` hex, a list of byte values or bytes → bytes (of exactly ``length`` when given)."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise InvalidInputError(f"{field}: {value[:80]!r} is not hex") from None
    elif isinstance(value, list):
        if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
            raise InvalidInputError(f"{field}: a byte list must hold integers 0..255")
        data = bytes(value)
    else:
        raise InvalidInputError(f"{field}: expected hex or a byte list, got {type(value).__name__}")
    if length is not None and len(data) != length:
        raise InvalidInputError(f"{field}: expected {length} bytes, got {len(data)}")
    return data


def to_word(value: Any, field: str) -> bytes:
    """A 32-byte word (``bytes32``)."""
    return to_bytes(value, field, length=32)


def to_address(value: Any, field: str) -> bytes:
    """A 20-byte address."""
    return to_bytes(value, field, length=20)


def to_uint(value: Any, field: str, bits: int = 256) -> int:
    """A non-negative integer below ``2**bits`` from an int or a decimal / ``0x`` string."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{field}: expected an integer, got a boolean")
    if isinstance(value, str):
        try:
            value = int(value, 16) if value.startswith(("0x", "0X")) else int(value)
        except ValueError:
            raise InvalidInputError(f"{field}: {value!r} is not an integer") from None
    if not isinstance(value, int):
        raise InvalidInputError(f"{field}: expected an integer, got {type(value).__name__}")
    if not 0 <= value < 2**bits:
        raise InvalidInputError(f"{field}: {value} does not fit in uint{bits}")
    return value


def hex0x(data: bytes) -> str:
    return "0x" + bytes(data).hex()
