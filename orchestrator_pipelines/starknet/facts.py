"""SHARP facts: what the fact registry on L1 records once a proof is verified.

``fact = keccak256(program_hash (32-byte BE) || output_root)``. The core contract
recomputes it from ``programOutput`` and the configured program hash and refuses the
state update unless the fact is registered, so the orchestrator computes it up front:
as the proof job's dedup id and to poll ``isValid(fact)``.

- ``program_hash`` is the bootloader's hash of the program (cairo-lang
  ``compute_program_hash_chain``, bootloader version 0): a Pedersen hash chain over
  ``[len, bootloader_version, main, n_builtins, *builtin names, *bytecode]``.
- ``output_root`` is the root of the GPS fact tree over the output pages: a leaf is
  the keccak of its page's felts as 32-byte words; an inner node is
  ``1 + keccak(child_0, end_0, child_1, end_1, ...)`` where ``end_i`` is the output
  offset where child ``i`` ends (the +1 keeps leaf and node preimages apart).
"""

from __future__ import annotations

import functools
from typing import Sequence

from eth_hash.auto import keccak

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.cairo_pie import CairoPie, FactTopology

BOOTLOADER_VERSION = 0
_WORD = 2**256


def _words(values: Sequence[int]) -> bytes:
    return b"".join(int(v).to_bytes(32, "big") for v in values)


def _keccak_int(values: Sequence[int]) -> int:
    return int.from_bytes(keccak(_words(values)), "big")


def hash_chain(values: Sequence[int]) -> int:
    """``h(v0, h(v1, ... h(v_{n-2}, v_{n-1})))`` with Pedersen: cairo-lang's compute_hash_chain."""
    # Imported here: starknet-py costs most of a CPU-second to import (sympy), and only
    # the runs that compute a program hash need it, not every process importing this module.
    from starknet_py.hash.utils import pedersen_hash

    if not values:
        raise InvalidInputError("hash chain of an empty list")
    acc = int(values[-1])
    for value in reversed(values[:-1]):
        acc = pedersen_hash(int(value), acc)
    return acc


def program_hash(
    program_data: Sequence[int],
    builtins: Sequence[str] = ("output",),
    main: int = 0,
    bootloader_version: int = BOOTLOADER_VERSION,
) -> int:
    """The program hash the bootloader (and so the fact) uses for a program.

    The builtins and entry point are part of the hash, not only the bytecode: a PIE's
    ``program.builtins`` and ``program.main`` must be passed (see :func:`pie_program_hash`).
    Costs one Pedersen hash per word, about 3 s for the ~15k words of SNOS; since every
    batch runs the same OS program, recent results are cached by content.
    """
    return _program_hash_cached(
        tuple(int(v) for v in program_data), tuple(builtins), int(main), int(bootloader_version)
    )


@functools.lru_cache(maxsize=8)
def _program_hash_cached(program_data: tuple[int, ...], builtins: tuple[str, ...], main: int, version: int) -> int:
    try:
        builtin_words = [int.from_bytes(name.encode("ascii"), "big") for name in builtins]
    except UnicodeEncodeError:
        raise InvalidInputError(f"program builtins {list(builtins)} must be ASCII names") from None
    chain = [version, main, len(builtins), *builtin_words, *program_data]
    return hash_chain([len(chain), *chain])


def pie_program_hash(pie: CairoPie) -> int:
    """:func:`program_hash` of a PIE's program."""
    return program_hash(pie.program_data, pie.builtins, pie.main)


def output_root(output: Sequence[int], fact_topology: FactTopology | None = None) -> bytes:
    """The 32-byte root of the output's GPS fact tree (single page: keccak of the output)."""
    values = [int(v) for v in output]
    topology = fact_topology or FactTopology.single_page(len(values))
    tree = list(topology.tree_structure)
    if not tree or len(tree) % 2:
        raise InvalidInputError(f"fact topology: tree structure {tree} must be (n_pages, n_nodes) pairs")
    if sum(topology.page_sizes) != len(values):
        raise InvalidInputError(
            f"fact topology: pages cover {sum(topology.page_sizes)} words, the output has {len(values)}"
        )
    pages = iter(topology.page_sizes)
    # Each stack entry: (node hash, end offset in the output).
    stack: list[tuple[int, int]] = []
    offset = 0
    n_pages_used = 0
    for n_pages, n_nodes in zip(tree[::2], tree[1::2]):
        for _ in range(n_pages):
            size = next(pages, None)
            if size is None:
                raise InvalidInputError(
                    f"fact topology: tree structure {tree} uses more pages than the {len(topology.page_sizes)} given"
                )
            stack.append((_keccak_int(values[offset : offset + size]), offset + size))
            offset += size
            n_pages_used += 1
        if n_nodes:
            if n_nodes > len(stack):
                raise InvalidInputError(f"fact topology: tree structure {tree} merges more nodes than exist")
            children = stack[-n_nodes:]
            del stack[-n_nodes:]
            node_hash = (_keccak_int([word for child in children for word in child]) + 1) % _WORD
            stack.append((node_hash, children[-1][1]))
    if n_pages_used != len(topology.page_sizes) or len(stack) != 1:
        raise InvalidInputError(
            f"fact topology: tree structure {tree} over {len(topology.page_sizes)} pages does not end in one root"
        )
    return stack[0][0].to_bytes(32, "big")


def fact(program_hash_value: int, output_root_value: bytes) -> bytes:
    """``keccak256(program_hash (32-byte BE) || output_root)``."""
    if len(output_root_value) != 32:
        raise InvalidInputError(f"output root: expected 32 bytes, got {len(output_root_value)}")
    return keccak(int(program_hash_value).to_bytes(32, "big") + bytes(output_root_value))


def pie_fact(pie: CairoPie, program_hash_value: int | None = None) -> bytes:
    """The fact a prover registers for this PIE (program hash computed unless given)."""
    ph = pie_program_hash(pie) if program_hash_value is None else program_hash_value
    return fact(ph, output_root(pie.output, pie.fact_topology))


def onchain_data_output_root(main_output: Sequence[int], onchain_data_hash: int, onchain_data_size: int) -> bytes:
    """The output root ``updateState`` (calldata DA) proves: the output followed by the on-chain data.

    A two-child fact tree: the main output as the left leaf, the on-chain data (known to
    the contract only by its hash and size) as the right child. Equals :func:`output_root`
    over ``[*main_output, *data]`` with pages ``[len(main_output), len(data)]`` merged in one
    node, when ``onchain_data_hash`` is the keccak of ``data``.
    """
    values = [int(v) for v in main_output]
    if not 0 <= int(onchain_data_hash) < _WORD or not 0 <= int(onchain_data_size) < _WORD - len(values):
        raise InvalidInputError("on-chain data hash and size must be 32-byte words")
    node = _keccak_int([_keccak_int(values), len(values), int(onchain_data_hash), len(values) + int(onchain_data_size)])
    return ((node + 1) % _WORD).to_bytes(32, "big")
