"""The Starknet OS program output: what ``updateStateKzgDA`` receives as ``programOutput``.

The core contract reads the state transition (roots, block number and hash), the KZG
data (``x_0``, commitments, ``y`` values) and the L1<->L2 messages straight out of this
list of felts, by fixed offsets. Two layouts exist in the wild:

``v0_13_1`` (Starknet 0.13.1-0.13.2, one blob)::

    0 initial_root  1 final_root  2 block_number  3 block_hash  4 starknet_os_config_hash
    5 use_kzg_da    [6-7 commitment (low, high)  8 x_0  9-10 y (low, high)]   if use_kzg_da
    messages to L1 segment, messages to L2 segment, [state diff if not use_kzg_da]

``v0_13_3`` (Starknet 0.13.3+)::

    0 initial_root  1 final_root  2 prev_block_number  3 new_block_number
    4 prev_block_hash  5 new_block_hash  6 os_program_hash  7 starknet_os_config_hash
    8 use_kzg_da  9 full_output
    [10 x_0  11 n_blobs  commitments (2 limbs each)  y values (2 limbs each)]   if use_kzg_da
    messages to L1 segment, messages to L2 segment, [state diff if not use_kzg_da]

With ``use_kzg_da = 0`` the state diff follows the messages (``da_felts``); with
``full_output = 1`` (an aggregator child) it carries previous values: see
:mod:`os_state_diff` and :func:`aggregator.parse_full_output`.

A message segment is its length in felts followed by the messages; a message to L1 is
``(from_address, to_address, payload_size, payload...)`` and a message to L2 is
``(from_address, to_address, nonce, selector, payload_size, payload...)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.kzg import (
    LAYOUT_V0_13_1,
    LAYOUT_V0_13_3,
    blob_to_commitment,
    commitment_from_limbs,
    commitment_to_limbs,
    compute_point_proof,
    y_from_limbs,
    y_to_limbs,
)

LAYOUTS = (LAYOUT_V0_13_1, LAYOUT_V0_13_3)

Joined = TypeVar("Joined")

# Where the KZG segment starts (x_0 for 0.13.3+, the commitment for 0.13.1) in each layout.
KZG_SEGMENT_OFFSET = {LAYOUT_V0_13_1: 6, LAYOUT_V0_13_3: 10}
# Offset of n_blobs in the 0.13.3+ layout (the KZG segment is x_0, n_blobs, ...).
N_BLOBS_OFFSET = 11


@dataclass
class MessageToL1:
    """An L2->L1 message: consumed on L1 with ``consumeMessageFromL2``."""

    from_address: int
    to_address: int
    payload: list[int] = field(default_factory=list)


@dataclass
class MessageToL2:
    """An L1->L2 message the OS executed (an L1 handler); the contract marks it consumed."""

    from_address: int
    to_address: int
    nonce: int
    selector: int
    payload: list[int] = field(default_factory=list)


@dataclass
class KzgSegment:
    """The DA commitment part of the output: one commitment and one ``y = p_i(x0)`` per blob."""

    x0: int
    commitments: list[bytes]
    y_values: list[int]

    @property
    def n_blobs(self) -> int:
        return len(self.commitments)


@dataclass
class OsOutput:
    """A parsed OS output. Fields absent from the ``v0_13_1`` layout are ``None`` there."""

    initial_root: int
    final_root: int
    new_block_number: int
    new_block_hash: int
    starknet_os_config_hash: int
    use_kzg_da: bool
    kzg: KzgSegment | None
    messages_to_l1: list[MessageToL1] = field(default_factory=list)
    messages_to_l2: list[MessageToL2] = field(default_factory=list)
    prev_block_number: int | None = None
    prev_block_hash: int | None = None
    os_program_hash: int | None = None
    full_output: bool = False
    # The state diff written into the output itself when the DA is not in blobs.
    da_felts: list[int] = field(default_factory=list)
    layout: str = LAYOUT_V0_13_3

    @property
    def block_number(self) -> int:
        """The last block the output settles (what ``stateBlockNumber`` becomes)."""
        return self.new_block_number

    @property
    def kzg_segment_offset(self) -> int | None:
        """Index of the KZG segment in the encoded output, or None without KZG DA."""
        return KZG_SEGMENT_OFFSET[self.layout] if self.use_kzg_da else None

    @property
    def messages_offset(self) -> int:
        """Index of the messages-to-L1 segment length in the encoded output."""
        if self.layout == LAYOUT_V0_13_1:
            return 6 + (5 if self.use_kzg_da else 0)
        n_blobs = self.kzg.n_blobs if self.kzg is not None else 0
        return 10 + ((2 + 4 * n_blobs) if self.use_kzg_da else 0)


class _Reader:
    """Sequential reader over the felts that names the index and field on any failure."""

    def __init__(self, felts: Sequence[int], layout: str):
        self.felts = felts
        self.layout = layout
        self.pos = 0

    def fail(self, message: str) -> InvalidInputError:
        return InvalidInputError(f"OS output ({self.layout}): {message}")

    def take(self, what: str) -> int:
        if self.pos >= len(self.felts):
            raise self.fail(f"truncated: word {self.pos} ({what}) missing, output has {len(self.felts)} words")
        value = self.felts[self.pos]
        self.pos += 1
        return value

    def take_bool(self, what: str) -> bool:
        index = self.pos
        value = self.take(what)
        if value not in (0, 1):
            raise self.fail(f"word {index} ({what}) must be 0 or 1, got {value}")
        return value == 1

    def take_count(self, what: str, reserve: int) -> int:
        """A segment length that must fit, leaving ``reserve`` words after the segment."""
        index = self.pos
        value = self.take(what)
        limit = len(self.felts) - self.pos - reserve
        if value > limit:
            raise self.fail(f"word {index} ({what}) is {value}, but only {max(limit, 0)} words are left for it")
        return value


def _check_felts(felts: Sequence[int]) -> list[int]:
    values = list(felts)
    for index, value in enumerate(values):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < STARK_PRIME:
            raise InvalidInputError(f"OS output: word {index} ({value!r}) is not a Starknet felt")
    return values


def _read_kzg_v0_13_1(r: _Reader) -> KzgSegment:
    start = r.pos
    low, high = r.take("kzg commitment low"), r.take("kzg commitment high")
    x0 = r.take("x_0")
    y_low, y_high = r.take("y low"), r.take("y high")
    try:
        commitment = commitment_from_limbs(low, high)
        y = y_from_limbs(y_low, y_high)
    except InvalidInputError as exc:
        raise r.fail(f"KZG segment at word {start}: {exc}") from None
    return KzgSegment(x0=x0, commitments=[commitment], y_values=[y])


def _read_kzg_v0_13_3(r: _Reader) -> KzgSegment:
    x0 = r.take("x_0")
    n_index = r.pos
    n_blobs = r.take("n_blobs")
    if n_blobs == 0 or 4 * n_blobs > len(r.felts) - r.pos:
        raise r.fail(
            f"word {n_index} (n_blobs) is {n_blobs}: needs 1 or more blobs and "
            f"{4 * n_blobs} words of commitments and y values, {len(r.felts) - r.pos} words follow"
        )
    commitments = _read_limb_pairs(r, n_blobs, "commitment", commitment_from_limbs)
    y_values = _read_limb_pairs(r, n_blobs, "y", y_from_limbs)
    return KzgSegment(x0=x0, commitments=commitments, y_values=y_values)


def _read_limb_pairs(r: _Reader, count: int, what: str, join: Callable[[int, int], Joined]) -> list[Joined]:
    """``count`` values the OS wrote as ``(low, high)`` limb pairs, one per blob, joined by ``join``."""
    values = []
    for blob in range(count):
        start = r.pos
        low, high = r.take(f"{what} {blob} low"), r.take(f"{what} {blob} high")
        try:
            values.append(join(low, high))
        except InvalidInputError as exc:
            raise r.fail(f"word {start} ({what} of blob {blob}): {exc}") from None
    return values


def _read_messages(r: _Reader) -> tuple[list[MessageToL1], list[MessageToL2]]:
    to_l1 = [
        MessageToL1(*header, payload)
        for header, payload in _read_message_segment(r, "L1", ("from_address", "to_address"), reserve=1)
    ]
    to_l2 = [
        MessageToL2(*header, payload)
        for header, payload in _read_message_segment(
            r, "L2", ("from_address", "to_address", "nonce", "selector"), reserve=0
        )
    ]
    return to_l1, to_l2


def _read_message_segment(
    r: _Reader, direction: str, header_fields: tuple[str, ...], reserve: int
) -> list[tuple[list[int], list[int]]]:
    """Each message of a segment as ``(header values, payload)``.

    A segment is its length, then messages of ``header_fields``, a payload size and
    the payload; ``reserve`` words must remain after it (the next segment's length).
    """
    messages = []
    length = r.take_count(f"messages to {direction} segment length", reserve=reserve)
    end = r.pos + length
    while r.pos < end:
        start = r.pos
        if end - r.pos < len(header_fields) + 1:
            raise r.fail(f"message to {direction} at word {start}: segment ends (word {end}) inside the message header")
        header = [r.take(f"message to {direction} {name}") for name in header_fields]
        size = r.take(f"message to {direction} payload_size")
        if r.pos + size > end:
            raise r.fail(
                f"message to {direction} at word {start}: payload_size {size} runs past the segment end (word {end})"
            )
        messages.append((header, list(r.felts[r.pos : r.pos + size])))
        r.pos += size
    return messages


def _parse(felts: list[int], layout: str) -> OsOutput:
    r = _Reader(felts, layout)
    if layout == LAYOUT_V0_13_1:
        initial_root, final_root = r.take("initial_root"), r.take("final_root")
        block_number, block_hash = r.take("block_number"), r.take("block_hash")
        config_hash = r.take("starknet_os_config_hash")
        use_kzg_da = r.take_bool("use_kzg_da")
        kzg = _read_kzg_v0_13_1(r) if use_kzg_da else None
        header = dict(
            initial_root=initial_root,
            final_root=final_root,
            new_block_number=block_number,
            new_block_hash=block_hash,
            starknet_os_config_hash=config_hash,
        )
        full_output = False
    else:
        names = (
            "initial_root",
            "final_root",
            "prev_block_number",
            "new_block_number",
            "prev_block_hash",
            "new_block_hash",
            "os_program_hash",
            "starknet_os_config_hash",
        )
        header = {name: r.take(name) for name in names}
        use_kzg_da = r.take_bool("use_kzg_da")
        full_output = r.take_bool("full_output")
        kzg = _read_kzg_v0_13_3(r) if use_kzg_da else None
    to_l1, to_l2 = _read_messages(r)
    tail = felts[r.pos :]
    if use_kzg_da and tail:
        raise r.fail(
            f"{len(tail)} unexpected words after the message segments (from word {r.pos}); "
            f"with use_kzg_da=1 the output ends there"
        )
    return OsOutput(
        **header,
        use_kzg_da=use_kzg_da,
        full_output=full_output,
        kzg=kzg,
        messages_to_l1=to_l1,
        messages_to_l2=to_l2,
        da_felts=list(tail),
        layout=layout,
    )


def parse_os_output(felts: Sequence[int], layout: str = "auto") -> OsOutput:
    """Parse OS output felts in the given layout, or detect it (``layout="auto"``).

    Detection parses with both layouts and keeps the one that fits exactly. If both fit
    (possible only for odd outputs without KZG DA), it refuses to guess: pass ``layout``.
    """
    values = _check_felts(felts)
    if layout in LAYOUTS:
        return _parse(values, layout)
    if layout != "auto":
        raise InvalidInputError(f"OS output: unknown layout {layout!r} (expected 'auto', {', '.join(LAYOUTS)})")
    results: dict[str, OsOutput] = {}
    errors: dict[str, InvalidInputError] = {}
    for candidate in LAYOUTS:
        try:
            results[candidate] = _parse(values, candidate)
        except InvalidInputError as exc:
            errors[candidate] = exc
    if len(results) == 1:
        return next(iter(results.values()))
    if results:
        raise InvalidInputError(
            "OS output: fits both the v0_13_1 and v0_13_3 layouts; pass the layout explicitly"
        )
    # Report the failure of the layout whose flag words look right.
    looks_new = len(values) > 9 and values[8] in (0, 1) and values[9] in (0, 1)
    raise errors[LAYOUT_V0_13_3 if looks_new else LAYOUT_V0_13_1]


def _encode_messages(out: OsOutput) -> list[int]:
    # Imported here: ``messages`` builds on this module's message dataclasses.
    from orchestrator_pipelines.starknet.messages import encode_message_segments

    return encode_message_segments(out.messages_to_l1, out.messages_to_l2)


def encode_os_output(out: OsOutput) -> list[int]:
    """Serialize an :class:`OsOutput` in its ``layout`` (0.13.3+ unless said otherwise).

    The inverse of :func:`parse_os_output`; the devnet SNOS runner uses it to produce
    the output the core contract will read.
    """
    if out.use_kzg_da != (out.kzg is not None):
        raise InvalidInputError("OS output: use_kzg_da must be set exactly when a KZG segment is given")
    if out.use_kzg_da and out.da_felts:
        raise InvalidInputError("OS output: da_felts must be empty when the DA goes to blobs (use_kzg_da)")
    kzg_words: list[int] = []
    if out.kzg is not None:
        if not out.kzg.commitments or len(out.kzg.commitments) != len(out.kzg.y_values):
            raise InvalidInputError(
                f"OS output: KZG segment needs one y per commitment and at least one blob, got "
                f"{len(out.kzg.commitments)} commitments and {len(out.kzg.y_values)} y values"
            )
        commitment_words = [limb for c in out.kzg.commitments for limb in commitment_to_limbs(c)]
        y_words = [limb for y in out.kzg.y_values for limb in y_to_limbs(y)]
        if out.layout == LAYOUT_V0_13_1:
            if out.kzg.n_blobs != 1:
                raise InvalidInputError(f"OS output: layout {LAYOUT_V0_13_1} carries one blob, got {out.kzg.n_blobs}")
            kzg_words = [*commitment_words, out.kzg.x0, *y_words]
        else:
            kzg_words = [out.kzg.x0, out.kzg.n_blobs, *commitment_words, *y_words]
    if out.layout == LAYOUT_V0_13_1:
        header = [
            out.initial_root,
            out.final_root,
            out.new_block_number,
            out.new_block_hash,
            out.starknet_os_config_hash,
            int(out.use_kzg_da),
        ]
    elif out.layout == LAYOUT_V0_13_3:
        missing = [
            name
            for name in ("prev_block_number", "prev_block_hash", "os_program_hash")
            if getattr(out, name) is None
        ]
        if missing:
            raise InvalidInputError(f"OS output: layout {LAYOUT_V0_13_3} needs {', '.join(missing)}")
        header = [
            out.initial_root,
            out.final_root,
            out.prev_block_number,
            out.new_block_number,
            out.prev_block_hash,
            out.new_block_hash,
            out.os_program_hash,
            out.starknet_os_config_hash,
            int(out.use_kzg_da),
            int(out.full_output),
        ]
    else:
        raise InvalidInputError(f"OS output: unknown layout {out.layout!r}")
    words = [*header, *kzg_words, *_encode_messages(out), *out.da_felts]
    return _check_felts(words)


def read_program_output(path: str | Path) -> list[int]:
    """Read an OS output file: one decimal felt per line (blank lines ignored)."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a text file of decimal felts") from None
    felts = []
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word:
            continue
        if not word.isdigit():
            raise InvalidInputError(f"{path}:{number}: expected a decimal felt, got {word[:40]!r}")
        value = int(word)
        if value >= STARK_PRIME:
            raise InvalidInputError(f"{path}:{number}: {word[:40]} is not below the Starknet prime")
        felts.append(value)
    return felts


def check_blobs_against_output(out: OsOutput, blobs: Sequence[bytes]) -> None:
    """Check that the blobs are the ones the OS committed to, before paying to send them.

    For each blob: its KZG commitment must equal the output's, and ``p(x_0)`` must equal
    the output's ``y``; otherwise the core contract would revert the state update.
    """
    if out.kzg is None:
        raise OrchestratorError("OS output has no KZG segment (use_kzg_da=0): its DA is not in blobs")
    if len(blobs) != out.kzg.n_blobs:
        raise OrchestratorError(f"OS output commits to {out.kzg.n_blobs} blobs, got {len(blobs)}")
    for index, blob in enumerate(blobs):
        try:
            commitment = blob_to_commitment(blob)
        except InvalidInputError as exc:
            raise InvalidInputError(f"blob {index}: {exc}") from None
        expected = out.kzg.commitments[index]
        if commitment != expected:
            raise OrchestratorError(
                f"blob {index}: KZG commitment 0x{commitment.hex()} differs from the OS output's 0x{expected.hex()}"
            )
        _, y = compute_point_proof(blob, out.kzg.x0)
        if y != out.kzg.y_values[index]:
            raise OrchestratorError(
                f"blob {index}: p(x_0) = {y:#x} differs from the OS output's y = {out.kzg.y_values[index]:#x}"
            )


def check_recorded_blobs_against_output(
    out: OsOutput, blobs: Sequence[bytes], blob_sha256: Sequence[bytes], commitments: Sequence[bytes]
) -> None:
    """:func:`check_blobs_against_output` for blobs already checked when they were built, without the KZG setup.

    ``commitments`` were computed from blobs whose sha256 digests are ``blob_sha256``
    (both recorded by the step that built and fully checked them). The blobs about to
    be sent must hash to those digests, and the commitments must be the OS output's:
    then the blobs are the ones the OS committed to, and so are their values at ``x_0``.
    """
    if out.kzg is None:
        raise OrchestratorError("OS output has no KZG segment (use_kzg_da=0): its DA is not in blobs")
    if not len(blobs) == len(blob_sha256) == len(commitments) == out.kzg.n_blobs:
        raise OrchestratorError(
            f"OS output commits to {out.kzg.n_blobs} blobs; got {len(blobs)} blobs, {len(blob_sha256)} recorded "
            f"digests and {len(commitments)} recorded commitments"
        )
    for index, (blob, digest, commitment) in enumerate(zip(blobs, blob_sha256, commitments)):
        actual = hashlib.sha256(bytes(blob)).digest()
        if actual != bytes(digest):
            raise OrchestratorError(
                f"blob {index}: sha256 {actual.hex()} differs from the {bytes(digest).hex()} recorded with its commitment"
            )
        expected = out.kzg.commitments[index]
        if bytes(commitment) != expected:
            raise OrchestratorError(
                f"blob {index}: recorded KZG commitment 0x{bytes(commitment).hex()} differs from the OS output's "
                f"0x{expected.hex()}"
            )
