"""``orchestrator pie``: what a Cairo PIE will prove, before sending it to a prover.

``pie fact`` prints the SHARP fact the fact registry will hold once the PIE is proven
(the proof job's dedup id, and what the core contract checks); ``pie info`` prints the
program hash, step count, output length and the Atlantic job size it needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator_pipelines.starknet.cairo_pie import CairoPie
from orchestrator_pipelines.starknet.calldata import atlantic_job_size
from orchestrator_pipelines.starknet.facts import fact, output_root, pie_program_hash


def register(subparsers: Any) -> None:
    pie = subparsers.add_parser("pie", help="Cairo PIE zips: SHARP fact, program hash, job size")
    pie_sub = pie.add_subparsers(dest="pie_command", required=True, metavar="SUBCOMMAND")

    fact_cmd = pie_sub.add_parser("fact", help="print the SHARP fact of a PIE (0x + 64 hex digits)")
    fact_cmd.add_argument("pie", type=Path, metavar="PIE.zip")
    fact_cmd.set_defaults(func=run_fact)

    info = pie_sub.add_parser("info", help="print program hash, steps, output length and Atlantic job size")
    info.add_argument("pie", type=Path, metavar="PIE.zip")
    info.set_defaults(func=run_info)


def run_fact(args: argparse.Namespace) -> int:
    pie = CairoPie.from_zip(args.pie)
    print("0x" + fact(pie_program_hash(pie), output_root(pie.output, pie.fact_topology)).hex())
    return 0


def run_info(args: argparse.Namespace) -> int:
    pie = CairoPie.from_zip(args.pie)
    print(f"program_hash: {pie_program_hash(pie):#066x}")
    print(f"n_steps: {pie.n_steps}")
    print(f"output_length: {len(pie.output)}")
    print(f"output_pages: {list(pie.fact_topology.page_sizes)}")
    print(f"builtins: {','.join(pie.builtins)}")
    print(f"job_size: {atlantic_job_size(pie.n_steps)}")
    return 0
