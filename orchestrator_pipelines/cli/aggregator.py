"""``orchestrator aggregator``: what an aggregator PIE settles, before or after proving it.

``aggregator output`` prints the aggregated output (what ``updateStateKzgDA`` receives as
``programOutput``), ``aggregator fact`` the fact the core contract checks under its
``aggregatorProgramHash``, and ``aggregator da`` rebuilds from the children the DA segment
the output commits to, refusing it unless its blobs give the output's commitments, ``x_0``
and ``y`` values (an encrypted-DA aggregation cannot be rebuilt and says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.aggregator import AggregatorPie, rebuild_da_segment
from orchestrator_pipelines.starknet.da_segment import da_segment_json, open_segment_against_output


def register(subparsers: Any) -> None:
    agg = subparsers.add_parser("aggregator", help="Starknet 0.14 aggregator PIEs: aggregated output, fact, DA segment")
    agg_sub = agg.add_subparsers(dest="aggregator_command", required=True, metavar="SUBCOMMAND")

    output = agg_sub.add_parser("output", help="print the aggregated output, one 0x-hex felt a line")
    output.add_argument("pie", type=Path, metavar="PIE.zip")
    output.set_defaults(func=run_output)

    fact = agg_sub.add_parser("fact", help="print the aggregator fact (0x + 64 hex digits)")
    fact.add_argument("pie", type=Path, metavar="PIE.zip")
    fact.add_argument(
        "--program-hash", type=lambda v: int(v, 0), metavar="HASH",
        help="the aggregator program hash (unprefixed), to skip computing it from the PIE's bytecode",
    )
    fact.set_defaults(func=run_fact)

    da = agg_sub.add_parser("da", help="rebuild the DA segment from the children and check it against the output")
    da.add_argument("pie", type=Path, metavar="PIE.zip")
    da.add_argument("--out", required=True, type=Path, metavar="DA.json", help="where to write the segment (JSON list)")
    da.set_defaults(func=run_da)


def run_output(args: argparse.Namespace) -> int:
    pie = AggregatorPie.from_zip(args.pie)
    print("\n".join(hex(word) for word in pie.aggregated_words))
    return 0


def run_fact(args: argparse.Namespace) -> int:
    from orchestrator_pipelines.starknet.aggregator import aggregator_fact, prefixed_aggregator_program_hash

    pie = AggregatorPie.from_zip(args.pie)
    program_hash = pie.program_hash() if args.program_hash is None else args.program_hash
    print("0x" + aggregator_fact(prefixed_aggregator_program_hash(program_hash), pie.aggregated_words).hex())
    return 0


def run_da(args: argparse.Namespace) -> int:
    pie = AggregatorPie.from_zip(args.pie)
    segment = rebuild_da_segment(pie.children)
    try:
        open_segment_against_output(pie.aggregated, segment)
    except OrchestratorError as exc:
        raise OrchestratorError(
            f"{args.pie}: the DA segment rebuilt from the {len(pie.children)} children does not match the "
            f"aggregated output ({exc}); an aggregation with encrypted DA cannot be rebuilt, use the prover's "
            f"da_blob.json"
        ) from None
    _write_text_atomically(args.out, da_segment_json(segment))
    print(args.out)
    return 0


def _write_text_atomically(path: Path, text: str) -> None:
    if path.is_dir():
        raise OrchestratorError(f"--out {path}: is a directory")
    if not path.parent.is_dir():
        raise OrchestratorError(f"--out {path}: directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
