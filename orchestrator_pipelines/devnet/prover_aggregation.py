"""The devnet prover's aggregator: the seam between the prover stand-in and the aggregation domain code.

On closing a bucket the devnet prover aggregates its children as Atlantic's
aggregator would: it hands the children's program outputs (in
``bucketJobIndex`` order) and the bucket's ``aggregatorParams`` to an
:data:`Aggregator` and gets back the aggregator PIE, its output, the DA segment
(``da_blob.json``) and the aggregator fact it then registers on L1. For a SHARP
applicative job it needs only the fact of the aggregator PIE it was given
(:data:`AggregatorFact`).

Both are plain callables so the devnet prover does not depend on how
aggregation is computed; :func:`default_aggregator` and
:func:`default_aggregator_fact` use the project's aggregation module
(``orchestrator_pipelines.starknet.aggregator``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_pipelines.errors import OrchestratorError


@dataclass(frozen=True)
class DevnetAggregation:
    """What aggregating a bucket's children produced."""

    cairo_pie: bytes
    output: list[int]
    da_segment: list[int]
    fact: bytes


Aggregator = Callable[[list[list[int]], dict[str, Any]], DevnetAggregation]
AggregatorFact = Callable[[Path], bytes]


def _aggregator_module() -> Any:
    try:
        from orchestrator_pipelines.starknet import aggregator  # type: ignore[attr-defined]
    except ImportError as exc:
        raise OrchestratorError(
            "the devnet prover cannot aggregate: orchestrator_pipelines.starknet.aggregator is not available"
        ) from exc
    return aggregator


def default_aggregator(children_outputs: list[list[int]], params: dict[str, Any]) -> DevnetAggregation:
    """Aggregate with the project's aggregation module."""
    module = _aggregator_module()
    run = module.devnet_aggregate(children_outputs, params)
    return DevnetAggregation(cairo_pie=run.cairo_pie, output=list(run.output), da_segment=list(run.da_segment),
                             fact=bytes(run.fact))


def default_aggregator_fact(pie_path: Path) -> bytes:
    """The fact of an aggregator PIE (under the prefixed aggregator program hash)."""
    return bytes(_aggregator_module().aggregator_fact_of_pie(pie_path))
