"""Starknet 0.14 applicative recursion: the aggregator over SNOS children.

Since Starknet 0.14 an L2 does not settle each SNOS run: several runs (the children,
each ``full_output = 1``, ``use_kzg_da = 0``, ``os_program_hash = 0``) are combined by
the *aggregator* program, and the core contract receives the aggregator's output and
the blobs of its DA segment, under the fact

    keccak(pedersen("AGGREGATOR", aggregator_program_hash) || keccak(aggregated output))

(``aggregatorProgramHash`` on the core contract is that prefixed hash).

The aggregator PIE's output is the bootloader layout of its children followed by the
aggregated output::

    n_children, (size, os_program_hash, child OS output...) x n_children, aggregated output...

where ``size`` counts itself and the program hash. The aggregated output has the 0.13.3+
header of the range (first child's initial root, previous block and hash; last child's
final root, block and hash; the children's OS program hash; the config hash), then
``use_kzg_da = 1``, ``full_output = 0``, the KZG segment and the concatenated messages.

Combining the children follows cairo-lang's ``aggregator/combine_blocks.cairo``: every
child must continue from the previous one (root, block number and hash, config hash),
the state diffs are squashed (first previous value, last new value), then encoded as the
OS does with ``full_output = 0`` (unchanged entries dropped, 0.13.3+ packed header),
stateless-compressed, split into blobs, and one ``x_0`` is taken over all the DA felts
and all commitments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.blob import DEFAULT_MAX_BLOBS, felts_to_blobs
from orchestrator_pipelines.starknet.cairo_pie import CairoPie, pie_zip_bytes
from orchestrator_pipelines.starknet.compression import compress
from orchestrator_pipelines.starknet.da_encoding import encode_da_state_diff
from orchestrator_pipelines.starknet.facts import pie_program_hash, program_hash
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.kzg import (
    LAYOUT_V0_13_3,
    blob_to_commitment,
    compute_point_proof,
    starknet_x0,
)
from orchestrator_pipelines.starknet.os_output import (
    KzgSegment,
    MessageToL1,
    MessageToL2,
    OsOutput,
    encode_os_output,
    parse_os_output,
)
from orchestrator_pipelines.starknet.os_state_diff import (
    ENCODING_PACKED,
    OsStateDiff,
    detect_full_encoding,
    encode_full_state_diff,
    parse_full_state_diff,
    squash_os_state_diffs,
)

# ``pedersen("AGGREGATOR", h)``: the prefix is the ASCII string read as a big-endian integer.
AGGREGATOR_PREFIX = int.from_bytes(b"AGGREGATOR", "big")
# The DA encoding the aggregator writes: the 0.13.3+ packed header, compressed.
AGGREGATOR_DA_VERSION = "0.13.3"
# A child record starts with its size and program hash, both counted in the size.
CHILD_RECORD_HEADER = 2
# The output of the aggregator program runs on the builtins its ``main`` declares.
AGGREGATOR_BUILTINS = ("output", "range_check", "poseidon")


@dataclass
class SnosChild:
    """One SNOS run as an aggregator child: its bootloader program hash, output and full diff."""

    program_hash: int
    output: OsOutput
    state_diff: OsStateDiff
    encoding: str = ENCODING_PACKED

    def words(self) -> list[int]:
        """The child's OS output felts (without the bootloader record header)."""
        return encode_full_output(self.output, self.state_diff, self.encoding)

    @classmethod
    def from_output(cls, words: Sequence[int], program_hash: int, encoding: str = "auto") -> SnosChild:
        """A child from its OS program output and the hash of the OS program that produced it."""
        out, diff, chosen = parse_full_output(words, encoding)
        return cls(program_hash=program_hash, output=out, state_diff=diff, encoding=chosen)

    @classmethod
    def from_pie(cls, pie: CairoPie, program_hash: int | None = None) -> SnosChild:
        """A child from its SNOS PIE (program hash computed from the PIE unless given)."""
        return cls.from_output(pie.output, pie_program_hash(pie) if program_hash is None else program_hash)


def encode_full_output(out: OsOutput, state_diff: OsStateDiff, encoding: str = ENCODING_PACKED) -> list[int]:
    """The felts of a ``full_output = 1``, ``use_kzg_da = 0`` OS output (an aggregator child).

    ``out`` gives the header and messages; its ``os_program_hash`` must be 0 (a direct
    OS run), as the aggregator requires of its children.
    """
    if out.use_kzg_da or out.kzg is not None:
        raise InvalidInputError("full output: an aggregator child has use_kzg_da = 0 and no KZG segment")
    if out.os_program_hash not in (0, None):
        raise InvalidInputError(f"full output: an aggregator child has os_program_hash = 0, got {out.os_program_hash:#x}")
    child = OsOutput(
        initial_root=out.initial_root,
        final_root=out.final_root,
        new_block_number=out.new_block_number,
        new_block_hash=out.new_block_hash,
        starknet_os_config_hash=out.starknet_os_config_hash,
        use_kzg_da=False,
        kzg=None,
        messages_to_l1=list(out.messages_to_l1),
        messages_to_l2=list(out.messages_to_l2),
        prev_block_number=out.prev_block_number,
        prev_block_hash=out.prev_block_hash,
        os_program_hash=0,
        full_output=True,
        da_felts=encode_full_state_diff(state_diff, encoding),
        layout=LAYOUT_V0_13_3,
    )
    return encode_os_output(child)


def parse_full_output(felts: Sequence[int], encoding: str = "auto") -> tuple[OsOutput, OsStateDiff, str]:
    """Parse a child's ``full_output = 1`` OS output: ``(output, state diff, encoding)``.

    ``encoding`` is ``packed``, ``unpacked`` or ``auto`` (the one that parses exactly).
    """
    out = parse_os_output(felts, layout=LAYOUT_V0_13_3)
    if out.use_kzg_da or not out.full_output:
        raise InvalidInputError(
            f"aggregator child: expected use_kzg_da = 0 and full_output = 1, got {int(out.use_kzg_da)} and "
            f"{int(out.full_output)}"
        )
    chosen = detect_full_encoding(out.da_felts) if encoding == "auto" else encoding
    return out, parse_full_state_diff(out.da_felts, chosen), chosen


def parse_bootloader_children(felts: Sequence[int]) -> tuple[list[tuple[int, list[int]]], int]:
    """The child records of a bootloader-layout output: ``([(program_hash, words)], end)``.

    ``end`` is the index where the records end (the aggregated output starts there).
    """
    values = list(felts)
    if not values:
        raise InvalidInputError("aggregator output: empty")
    n_children = values[0]
    if not 1 <= n_children <= len(values):
        raise InvalidInputError(
            f"aggregator output: word 0 (n_children) is {n_children:#x}, not a number of children: "
            f"not an aggregator PIE (a SNOS PIE's output starts with a state root)"
        )
    pos = 1
    records = []
    for index in range(n_children):
        if pos + CHILD_RECORD_HEADER > len(values):
            raise InvalidInputError(f"aggregator output: child {index} record at word {pos} is truncated")
        size = values[pos]
        if size < CHILD_RECORD_HEADER or pos + size > len(values):
            raise InvalidInputError(
                f"aggregator output: child {index} at word {pos} has size {size}, "
                f"but {len(values) - pos} words are left"
            )
        records.append((values[pos + 1], values[pos + CHILD_RECORD_HEADER : pos + size]))
        pos += size
    return records, pos


@dataclass
class AggregatorPie:
    """An aggregator Cairo PIE split into its children and its aggregated output."""

    pie: CairoPie
    children: list[SnosChild]
    aggregated_words: list[int]
    aggregated: OsOutput

    @classmethod
    def from_pie(cls, pie: CairoPie, name: str = "aggregator PIE") -> AggregatorPie:
        records, end = parse_bootloader_children(pie.output)
        children = []
        for index, (child_program_hash, words) in enumerate(records):
            try:
                out, diff, encoding = parse_full_output(words)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{name}: child {index}: {exc}") from None
            children.append(SnosChild(program_hash=child_program_hash, output=out, state_diff=diff, encoding=encoding))
        aggregated_words = list(pie.output[end:])
        try:
            aggregated = parse_os_output(aggregated_words, layout=LAYOUT_V0_13_3)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: aggregated output (from word {end}): {exc}") from None
        return cls(pie=pie, children=children, aggregated_words=aggregated_words, aggregated=aggregated)

    @classmethod
    def from_zip(cls, source: str | Path | bytes) -> AggregatorPie:
        name = "aggregator PIE (bytes)" if isinstance(source, (bytes, bytearray)) else str(source)
        return cls.from_pie(CairoPie.from_zip(source), name)

    def program_hash(self) -> int:
        """The aggregator program's bootloader hash (Pedersen over the bytecode: seconds, cached)."""
        return pie_program_hash(self.pie)

    def prefixed_program_hash(self) -> int:
        """What the core contract holds as ``aggregatorProgramHash``."""
        return prefixed_aggregator_program_hash(self.program_hash())

    def fact(self) -> bytes:
        """The fact the core contract checks for this aggregation's state update."""
        return aggregator_fact(self.prefixed_program_hash(), self.aggregated_words)


@functools.lru_cache(maxsize=16)
def prefixed_aggregator_program_hash(aggregator_program_hash: int) -> int:
    """``pedersen("AGGREGATOR", aggregator_program_hash)``: the core contract's ``aggregatorProgramHash``."""
    from starknet_py.hash.utils import pedersen_hash

    if not 0 <= aggregator_program_hash < STARK_PRIME:
        raise InvalidInputError(f"aggregator program hash {aggregator_program_hash:#x} is not a felt")
    return pedersen_hash(AGGREGATOR_PREFIX, aggregator_program_hash)


def aggregator_fact(prefixed_program_hash: int, aggregated_output: Sequence[int]) -> bytes:
    """``keccak(prefixed program hash (32 bytes BE) || keccak(aggregated output as 32-byte words))``."""
    words = b"".join(int(v).to_bytes(32, "big") for v in aggregated_output)
    return keccak(int(prefixed_program_hash).to_bytes(32, "big") + keccak(words))


@dataclass
class Aggregation:
    """What combining the children gives: the aggregated output, its DA segment and blobs."""

    output: OsOutput
    squashed: OsStateDiff
    da_segment: list[int]
    blobs: list[bytes] = field(repr=False)

    def words(self) -> list[int]:
        return encode_os_output(self.output)


def squash_children(children: Sequence[SnosChild]) -> OsStateDiff:
    """The children's full state diffs squashed into the range's diff."""
    return squash_os_state_diffs(child.state_diff for child in children)


def da_segment(squashed: OsStateDiff) -> list[int]:
    """The aggregator's DA segment: the ``full_output = 0`` encoding of the diff, compressed."""
    return compress(encode_da_state_diff(squashed.da_state_diff(), AGGREGATOR_DA_VERSION))


def rebuild_da_segment(children: Sequence[SnosChild]) -> list[int]:
    """The DA segment an aggregator commits to for these children (plain, not encrypted, DA)."""
    check_children_chain(children)
    return da_segment(squash_children(children))


def check_children_chain(children: Sequence[SnosChild]) -> None:
    """Refuse children that do not continue each other, as the aggregator does."""
    if not children:
        raise InvalidInputError("aggregation: at least one child is needed")
    for index, child in enumerate(children):
        out = child.output
        if out.use_kzg_da or not out.full_output or out.os_program_hash:
            raise InvalidInputError(
                f"aggregation: child {index} must be a direct OS run with full_output = 1 and use_kzg_da = 0 "
                f"(got full_output={int(out.full_output)}, use_kzg_da={int(out.use_kzg_da)}, "
                f"os_program_hash={out.os_program_hash or 0:#x})"
            )
        if child.program_hash != children[0].program_hash:
            raise InvalidInputError(
                f"aggregation: child {index} ran OS program {child.program_hash:#x}, child 0 ran "
                f"{children[0].program_hash:#x}"
            )
        if index == 0:
            continue
        previous = children[index - 1].output
        for what, mine, theirs in (
            ("initial root", out.initial_root, previous.final_root),
            ("previous block number", out.prev_block_number, previous.new_block_number),
            ("previous block hash", out.prev_block_hash, previous.new_block_hash),
            ("config hash", out.starknet_os_config_hash, previous.starknet_os_config_hash),
        ):
            if mine != theirs:
                raise InvalidInputError(
                    f"aggregation: child {index} {what} {mine:#x} does not continue child {index - 1} ({theirs:#x})"
                )


def aggregated_header(children: Sequence[SnosChild], kzg: KzgSegment) -> OsOutput:
    """The aggregated output of the children with this KZG segment, messages concatenated."""
    first, last = children[0].output, children[-1].output
    to_l1: list[MessageToL1] = [m for child in children for m in child.output.messages_to_l1]
    to_l2: list[MessageToL2] = [m for child in children for m in child.output.messages_to_l2]
    return OsOutput(
        initial_root=first.initial_root,
        final_root=last.final_root,
        prev_block_number=first.prev_block_number,
        new_block_number=last.new_block_number,
        prev_block_hash=first.prev_block_hash,
        new_block_hash=last.new_block_hash,
        os_program_hash=children[0].program_hash,
        starknet_os_config_hash=first.starknet_os_config_hash,
        use_kzg_da=True,
        full_output=False,
        kzg=kzg,
        messages_to_l1=to_l1,
        messages_to_l2=to_l2,
        layout=LAYOUT_V0_13_3,
    )


def kzg_segment_for(da_felts: Sequence[int], max_blobs: int = DEFAULT_MAX_BLOBS) -> tuple[KzgSegment, list[bytes]]:
    """Blobs of the DA felts, their commitments, the OS's ``x_0`` over all of them, and ``y`` per blob."""
    felts = list(da_felts)
    if not felts:
        raise InvalidInputError("aggregation: the DA segment is empty (a compressed diff is never empty)")
    blobs = felts_to_blobs(felts, max_blobs=max_blobs)
    commitments = [blob_to_commitment(blob) for blob in blobs]
    x0 = starknet_x0(felts, commitments, LAYOUT_V0_13_3)
    y_values = [compute_point_proof(blob, x0)[1] for blob in blobs]
    return KzgSegment(x0=x0, commitments=commitments, y_values=y_values), blobs


def aggregate(children: Sequence[SnosChild], max_blobs: int = DEFAULT_MAX_BLOBS) -> Aggregation:
    """Combine the children exactly as the aggregator program does (plain DA).

    The result's output words are what the aggregator PIE ends with and what
    ``updateStateKzgDA`` receives; its DA segment is what the blobs carry.
    """
    check_children_chain(children)
    squashed = squash_children(children)
    segment = da_segment(squashed)
    kzg, blobs = kzg_segment_for(segment, max_blobs)
    return Aggregation(output=aggregated_header(children, kzg), squashed=squashed, da_segment=segment, blobs=blobs)


def bootloader_output(children: Sequence[SnosChild], aggregated_words: Sequence[int]) -> list[int]:
    """The aggregator PIE's output: the child records, then the aggregated output."""
    out = [len(children)]
    for child in children:
        words = child.words()
        out += [len(words) + CHILD_RECORD_HEADER, child.program_hash, *words]
    return out + [int(v) for v in aggregated_words]


def aggregator_pie_zip_bytes(
    children: Sequence[SnosChild],
    aggregated_words: Sequence[int],
    program_data: Sequence[int],
    n_steps: int,
    builtins: Sequence[str] = AGGREGATOR_BUILTINS,
) -> bytes:
    """A PIE-shaped aggregator zip (no trace) that :meth:`AggregatorPie.from_zip` reads back.

    ``program_data`` is the aggregator program whose hash, prefixed, the devnet core
    contract holds as ``aggregatorProgramHash``.
    """
    return pie_zip_bytes(program_data, bootloader_output(children, aggregated_words), n_steps, builtins=builtins)


def _short_string(text: str) -> int:
    return int.from_bytes(text.encode("ascii"), "big")


# The devnet aggregator "program": instruction words standing for the aggregator's
# bytecode. Only its hash matters: prefixed, it is the devnet core contract's
# ``aggregatorProgramHash``, and the devnet prover writes it into every aggregator PIE.
DEVNET_AGGREGATOR_PROGRAM: tuple[int, ...] = (
    0x40780017FFF7FFF,  # ap += 1
    0x1,
    0x480680017FFF8000,  # [ap] = 'DEVNET_AGGREGATOR'; ap++
    _short_string("DEVNET_AGGREGATOR"),
    0x480680017FFF8000,  # [ap] = 14_1 (the aggregator version it stands for); ap++
    0x141,
    0x208B7FFF7FFF7FFE,  # ret
)
# program_hash(DEVNET_AGGREGATOR_PROGRAM, AGGREGATOR_BUILTINS) and its prefixed form, checked by the tests.
DEVNET_AGGREGATOR_PROGRAM_HASH = 0x67A0682B25750F62A664500528A3EEC71E4FD196B8C5765E1EBDB49EFC37C2D
DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH = 0x1C06267229E50BE68C0603CB8BC2D72D1FA8FC91FF33BD6B9459D1EA3BB04E2


@dataclass(frozen=True)
class AggregatorRun:
    """What the devnet aggregator hands back for a bucket: Atlantic's artifacts and the fact."""

    cairo_pie: bytes
    output: list[int]
    da_segment: list[int]
    fact: bytes
    prefixed_program_hash: int


def devnet_aggregate(
    children_outputs: Sequence[Sequence[int]],
    params: dict | None = None,
    child_program_hash: int | None = None,
    program_data: Sequence[int] = DEVNET_AGGREGATOR_PROGRAM,
    max_blobs: int = DEFAULT_MAX_BLOBS,
) -> AggregatorRun:
    """Aggregate SNOS children's program outputs as Atlantic's aggregator does (plain DA).

    ``params`` are the bucket's ``aggregatorParams``: the L1 settlement aggregation
    (``use_kzg_da`` true, ``full_output`` false) is the one supported, and encrypted DA
    (non-empty ``public_keys``) is refused, since it is not reproduced here.
    ``child_program_hash`` is the children's OS program hash (default: the devnet OS).
    """
    params = dict(params or {})
    if not params.get("use_kzg_da", True) or params.get("full_output", False):
        raise InvalidInputError(
            f"devnet aggregator: only use_kzg_da = true, full_output = false is supported, got "
            f"use_kzg_da={params.get('use_kzg_da')!r}, full_output={params.get('full_output')!r}"
        )
    if params.get("public_keys"):
        raise InvalidInputError("devnet aggregator: encrypted DA (aggregatorParams.public_keys) is not supported")
    if child_program_hash is None:
        from orchestrator_pipelines.devnet.snos_runner import DEVNET_OS_PROGRAM_HASH

        child_program_hash = DEVNET_OS_PROGRAM_HASH
    children = []
    for index, words in enumerate(children_outputs):
        try:
            children.append(SnosChild.from_output(words, child_program_hash))
        except InvalidInputError as exc:
            raise InvalidInputError(f"devnet aggregator: child {index + 1}: {exc}") from None
    result = aggregate(children, max_blobs=max_blobs)
    words = result.words()
    record = bootloader_output(children, words)
    n_steps = 10_000 + 40 * len(record)
    pie = pie_zip_bytes(program_data, record, n_steps, builtins=AGGREGATOR_BUILTINS)
    prefixed = prefixed_aggregator_program_hash(program_hash(program_data, AGGREGATOR_BUILTINS))
    return AggregatorRun(
        cairo_pie=pie,
        output=words,
        da_segment=result.da_segment,
        fact=aggregator_fact(prefixed, words),
        prefixed_program_hash=prefixed,
    )


def aggregator_fact_of_pie(path: str | Path | bytes) -> bytes:
    """The fact of an aggregator PIE zip (path or bytes), under its prefixed program hash."""
    return AggregatorPie.from_zip(path).fact()


def check_aggregated_output(expected: Sequence[int], actual: Sequence[int]) -> None:
    """Raise naming the first differing word when two aggregated outputs differ."""
    first = first_difference(expected, actual)
    if first is not None:
        index, want, got = first
        raise OrchestratorError(
            f"aggregated output differs at word {index}: expected {_describe(want)}, got {_describe(got)}"
        )


def first_difference(expected: Sequence[int], actual: Sequence[int]) -> tuple[int, int | None, int | None] | None:
    """``(index, expected word, actual word)`` of the first difference, ``None`` if equal.

    A word missing from the shorter list is ``None``.
    """
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else None
        got = actual[index] if index < len(actual) else None
        if want != got:
            return index, want, got
    return None


def _describe(value: int | None) -> str:
    return "nothing (list ended)" if value is None else f"{value:#x}"
