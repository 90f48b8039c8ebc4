"""L1<->L2 messages as the Starknet core contract hashes and reads them.

A message is identified on L1 by a keccak256 hash of 32-byte words, and the
core contract keeps a counter per hash:

- an **L1->L2** message (a deposit) is sent with ``sendMessageToL2``; its hash is
  ``keccak256(from_address, to_address, nonce, selector, len(payload), *payload)``
  where ``from_address`` is the L1 sender, and ``l1ToL2Messages(hash)`` holds the
  message fee + 1 until a state update whose output carries the message consumes
  it (back to 0);
- an **L2->L1** message (a withdrawal) is written by the OS into the output; its
  hash is ``keccak256(from_address, to_address, len(payload), *payload)`` where
  ``to_address`` is the L1 recipient, and ``l2ToL1Messages(hash)`` counts the copies
  a state update recorded and ``consumeMessageFromL2`` has not yet taken.

Both hashes are the keccak of exactly the words the message occupies in the OS
output, so the contract hashes the output slice directly. The output carries the
messages in two length-prefixed segments, messages to L1 first:
``[n, (from, to, payload_size, *payload)..., m, (from, to, nonce, selector, payload_size, *payload)...]``
(cairo-lang ``starknet/solidity/Output.sol``, ``StarknetMessaging.sol``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.os_output import MessageToL1, MessageToL2

Address = int | str | bytes

_WORD = 2**256


def _word(value: Address, field: str) -> int:
    """A 32-byte word from an int, a ``0x`` hex string (an L1 or L2 address) or big-endian bytes."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{field}: not a 32-byte word: {value!r}")
    if isinstance(value, (bytes, bytearray)):
        if len(value) > 32:
            raise InvalidInputError(f"{field}: {len(value)} bytes do not fit in a 32-byte word")
        return int.from_bytes(value, "big")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            raise InvalidInputError(f"{field}: not a number or 0x-hex address: {value[:80]!r}") from None
    elif isinstance(value, int):
        number = value
    else:
        raise InvalidInputError(f"{field}: not a 32-byte word: {value!r}")
    if not 0 <= number < _WORD:
        raise InvalidInputError(f"{field}: {number} does not fit in a 32-byte word")
    return number


def _keccak_words(words: Iterable[int]) -> bytes:
    return keccak(b"".join(w.to_bytes(32, "big") for w in words))


def _payload(payload: Sequence[Address] | None, what: str) -> list[int]:
    return [_word(v, f"{what} payload[{i}]") for i, v in enumerate(payload or ())]


def l1_to_l2_message_words(message: MessageToL2) -> list[int]:
    """The words of an L1->L2 message as they appear in the output's messages-to-L2 segment."""
    payload = _payload(message.payload, "message to L2")
    return [
        _word(message.from_address, "message to L2 from_address"),
        _word(message.to_address, "message to L2 to_address"),
        _word(message.nonce, "message to L2 nonce"),
        _word(message.selector, "message to L2 selector"),
        len(payload),
        *payload,
    ]


def l2_to_l1_message_words(message: MessageToL1) -> list[int]:
    """The words of an L2->L1 message as they appear in the output's messages-to-L1 segment."""
    payload = _payload(message.payload, "message to L1")
    return [
        _word(message.from_address, "message to L1 from_address"),
        _word(message.to_address, "message to L1 to_address"),
        len(payload),
        *payload,
    ]


def l1_to_l2_message_hash(
    from_address: Address | MessageToL2,
    to_address: Address | None = None,
    nonce: int | None = None,
    selector: Address | None = None,
    payload: Sequence[Address] | None = None,
) -> bytes:
    """The 32-byte hash ``sendMessageToL2`` stores under ``l1ToL2Messages`` (and the output consumes).

    Takes the message's fields, or one :class:`MessageToL2`. ``from_address`` is the L1
    account or contract that called ``sendMessageToL2``.
    """
    if isinstance(from_address, MessageToL2):
        message = from_address
    else:
        if to_address is None or nonce is None or selector is None:
            raise InvalidInputError("l1_to_l2_message_hash needs from_address, to_address, nonce and selector")
        message = MessageToL2(from_address, to_address, nonce, selector, list(payload or ()))  # type: ignore[arg-type]
    return _keccak_words(l1_to_l2_message_words(message))


def l2_to_l1_message_hash(
    from_address: Address | MessageToL1,
    to_address: Address | None = None,
    payload: Sequence[Address] | None = None,
) -> bytes:
    """The 32-byte hash a state update counts under ``l2ToL1Messages`` (and ``consumeMessageFromL2`` takes).

    Takes the message's fields, or one :class:`MessageToL1`. ``from_address`` is the L2
    contract that sent it, ``to_address`` the L1 contract that will consume it.
    """
    if isinstance(from_address, MessageToL1):
        message = from_address
    else:
        if to_address is None:
            raise InvalidInputError("l2_to_l1_message_hash needs from_address and to_address")
        message = MessageToL1(from_address, to_address, list(payload or ()))  # type: ignore[arg-type]
    return _keccak_words(l2_to_l1_message_words(message))


def _check_felts(words: list[int], segment: str) -> list[int]:
    for index, word in enumerate(words):
        if word >= STARK_PRIME:
            raise InvalidInputError(
                f"{segment} segment word {index} ({word:#x}) is not below the Starknet prime; "
                "an OS output holds only felts"
            )
    return words


def encode_message_segments(
    messages_to_l1: Sequence[MessageToL1], messages_to_l2: Sequence[MessageToL2]
) -> list[int]:
    """The two message segments of an OS output, messages to L1 first, each prefixed by its length."""
    to_l1 = [w for m in messages_to_l1 for w in l2_to_l1_message_words(m)]
    to_l2 = [w for m in messages_to_l2 for w in l1_to_l2_message_words(m)]
    return [
        *_check_felts([len(to_l1), *to_l1], "messages to L1"),
        *_check_felts([len(to_l2), *to_l2], "messages to L2"),
    ]
