"""Field elements of Starknet and of the EIP-4844 blob field.

Starknet data arrives as JSON with felts written as "0x..." hex (JSON-RPC),
as decimal strings (nonce files, OS outputs) or as plain integers. Every
format module parses them through :func:`parse_felt` so that a bad value is
reported once, with the name of the field it came from, instead of surfacing
later as a wrong blob or a failed proof.
"""

from __future__ import annotations

from orchestrator_pipelines.errors import InvalidInputError

# The Starknet field: every felt is in [0, STARK_PRIME).
STARK_PRIME = 2**251 + 17 * 2**192 + 1

# The BLS12-381 scalar field: the 32-byte words of an EIP-4844 blob live here.
BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_felt(value: int | str, field: str) -> int:
    """Parse a felt given as int, "0x..." hex or decimal string.

    Raises InvalidInputError naming ``field`` when the value is not an
    integer in [0, STARK_PRIME). Booleans are rejected: ``True`` in a JSON
    document is never a felt.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{field}: not a felt: {_describe(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text[:2] in ("0x", "0X"):
            digits = text[2:]
            if not digits or not set(digits) <= _HEX_DIGITS:
                raise InvalidInputError(f"{field}: not a felt: {_describe(value)}")
            number = int(digits, 16)
        elif text.isascii() and text.isdigit():
            number = int(text, 10)
        else:
            raise InvalidInputError(f"{field}: not a felt: {_describe(value)}")
    else:
        raise InvalidInputError(f"{field}: not a felt: {_describe(value)}")
    if number < 0:
        raise InvalidInputError(f"{field}: felt must not be negative: {number}")
    if number >= STARK_PRIME:
        raise InvalidInputError(f"{field}: felt out of range (>= STARK_PRIME): {hex(number)}")
    return number


def felt_hex(x: int) -> str:
    """The JSON-RPC spelling of a felt: "0x" and lowercase hex, no padding."""
    if x < 0:
        raise InvalidInputError(f"felt must not be negative: {x}")
    return hex(x)
