"""Starknet 0.13.3+ stateless compression of the OS state diff.

From Starknet 0.13.3 the OS publishes its state diff compressed, and the
blobs carry the compressed felts. The format must match the OS bit for bit,
or the KZG commitment of our blobs will not match the one the OS commits to.

Format (all packing puts the first element in the least significant bits):

1. Header, one felt: 9 numbers of 20 bits each: version (0), data length,
   the six unique-value bucket lengths, the number of repeated values.
2. The unique-value buckets, in the order 252, 125, 83, 62, 31, 15 bits.
   A value goes to the narrowest bucket that holds its bit length; each
   bucket keeps first-appearance order and is packed ``251 // n_bits``
   values per felt (one per felt for the 252-bit bucket).
3. Pointers of the repeated values into the concatenated unique values,
   packed with bound = number of unique values.
4. For each input value its bucket index (0..5 unique buckets, 6 for
   "repeated"), packed with bound 7, i.e. 83 per felt.
"""

from __future__ import annotations

from typing import Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import STARK_PRIME

COMPRESSION_VERSION = 0
MAX_N_BITS = 251
N_BITS_PER_BUCKET = (252, 125, 83, 62, 31, 15)
N_UNIQUE_BUCKETS = len(N_BITS_PER_BUCKET)
REPEATING_BUCKET = N_UNIQUE_BUCKETS
TOTAL_N_BUCKETS = N_UNIQUE_BUCKETS + 1
HEADER_LEN = 2 + TOTAL_N_BUCKETS
HEADER_ELM_BOUND = 2**20

# Narrowest bucket first, so the first bucket that fits is the right one.
_BUCKETS_BY_WIDTH = sorted(range(N_UNIQUE_BUCKETS), key=lambda index: N_BITS_PER_BUCKET[index])


def elements_per_felt(bound: int) -> int:
    """How many values below ``bound`` are packed into one felt."""
    if bound <= 1:
        return MAX_N_BITS
    if bound > 2**MAX_N_BITS:
        return 1
    return MAX_N_BITS // (bound - 1).bit_length()


def pack(values: Sequence[int], bound: int) -> list[int]:
    """Pack values (each < bound) base ``bound``, first value least significant."""
    per_felt = elements_per_felt(bound)
    packed = []
    for start in range(0, len(values), per_felt):
        word = 0
        for value in reversed(values[start : start + per_felt]):
            word = word * bound + value
        packed.append(word)
    return packed


def unpack(packed: Sequence[int], bound: int, count: int) -> list[int]:
    """Inverse of :func:`pack` for ``count`` values; rejects words that do not decode."""
    per_felt = elements_per_felt(bound)
    values: list[int] = []
    for word in packed:
        if bound <= 1:
            if word != 0:
                raise InvalidInputError(f"compressed data: packed word {hex(word)} is not zero for bound {bound}")
            values.extend([0] * per_felt)
            continue
        for _ in range(per_felt):
            word, value = divmod(word, bound)
            values.append(value)
        if word != 0:
            raise InvalidInputError(f"compressed data: packed word has bits above {per_felt} values of bound {bound}")
    return values[:count]


def _n_packed(count: int, bound: int) -> int:
    per_felt = elements_per_felt(bound)
    return -(-count // per_felt)


def compress(felts: Sequence[int]) -> list[int]:
    """Compress felts with the Starknet 0.13.3 stateless scheme."""
    if len(felts) >= HEADER_ELM_BOUND:
        raise InvalidInputError(f"cannot compress {len(felts)} felts: at most {HEADER_ELM_BOUND - 1}")
    buckets: list[dict[int, int]] = [{} for _ in range(N_UNIQUE_BUCKETS)]
    repeated: list[tuple[int, int]] = []
    bucket_of_each: list[int] = []
    for position, value in enumerate(felts):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < STARK_PRIME:
            raise InvalidInputError(f"felt #{position}: not a felt: {value!r}")
        width = value.bit_length()
        for index in _BUCKETS_BY_WIDTH:
            if width <= N_BITS_PER_BUCKET[index]:
                bucket = buckets[index]
                first = bucket.get(value)
                if first is None:
                    bucket[value] = len(bucket)
                    bucket_of_each.append(index)
                else:
                    repeated.append((index, first))
                    bucket_of_each.append(REPEATING_BUCKET)
                break

    lengths = [len(bucket) for bucket in buckets]
    offsets = [sum(lengths[:index]) for index in range(N_UNIQUE_BUCKETS)]
    n_unique = sum(lengths)
    header = [COMPRESSION_VERSION, len(felts), *lengths, len(repeated)]

    out = pack(header, HEADER_ELM_BOUND)
    for index, bucket in enumerate(buckets):
        out += pack(list(bucket), 2 ** N_BITS_PER_BUCKET[index])
    out += pack([offsets[index] + first for index, first in repeated], n_unique)
    out += pack(bucket_of_each, TOTAL_N_BUCKETS)
    return out


def decompress_prefix(packed: Sequence[int]) -> tuple[list[int], int]:
    """Decompress from the start of ``packed``; return (felts, number of packed felts read)."""
    position = 0

    def take(count: int, bound: int, what: str) -> list[int]:
        nonlocal position
        n_words = _n_packed(count, bound)
        if position + n_words > len(packed):
            raise InvalidInputError(
                f"compressed data truncated: {what} needs {n_words} felts at offset {position}, "
                f"only {len(packed) - position} left"
            )
        words = packed[position : position + n_words]
        position += n_words
        return unpack(words, bound, count)

    header = take(HEADER_LEN, HEADER_ELM_BOUND, "header")
    version, data_len = header[0], header[1]
    if version != COMPRESSION_VERSION:
        raise InvalidInputError(f"compressed data: unsupported compression version {version}")
    lengths = header[2 : 2 + N_UNIQUE_BUCKETS]
    n_repeated = header[2 + N_UNIQUE_BUCKETS]

    unique: list[int] = []
    for index, length in enumerate(lengths):
        unique += take(length, 2 ** N_BITS_PER_BUCKET[index], f"bucket {N_BITS_PER_BUCKET[index]} bits")
    pointers = take(n_repeated, len(unique), "repeated value pointers")
    bucket_of_each = take(data_len, TOTAL_N_BUCKETS, "bucket indices")

    offsets = [sum(lengths[:index]) for index in range(N_UNIQUE_BUCKETS)] + [len(unique)]
    ends = [offsets[index] + lengths[index] for index in range(N_UNIQUE_BUCKETS)] + [len(unique) + n_repeated]
    all_values = unique + [unique[pointer] for pointer in pointers]
    cursor = list(offsets)
    out: list[int] = []
    for bucket_index in bucket_of_each:
        if bucket_index >= TOTAL_N_BUCKETS or cursor[bucket_index] >= ends[bucket_index]:
            raise InvalidInputError(
                f"compressed data: bucket index {bucket_index} used more often than the header allows"
            )
        out.append(all_values[cursor[bucket_index]])
        cursor[bucket_index] += 1
    return out, position


def decompress(packed: Sequence[int]) -> list[int]:
    """Decompress felts produced by :func:`compress`.

    Felts after the compressed data must be zero (blob padding); anything else
    means the input is not one compressed payload.
    """
    felts, used = decompress_prefix(packed)
    for offset in range(used, len(packed)):
        if packed[offset] != 0:
            raise InvalidInputError(
                f"compressed data: non-zero felt at offset {offset} after the end of the payload ({used} felts)"
            )
    return felts
