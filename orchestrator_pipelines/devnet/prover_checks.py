"""What the devnet prover refuses, field by field, as the hosted Atlantic API and the SHARP gateway do.

The checks are pure functions over the parsed request, so a test can prove
each refusal without a server. Every refusal is an :class:`ApiError` with the
HTTP status and the one-line message the real service would give; the server
wraps it in the service's error body (``{"message", "error", "statusCode"}``).

The allowed values are the enums of Atlantic's API as the Madara orchestrator's
``atlantic-service/src/types.rs`` declares them (``AtlanticQueryStep``,
``AtlanticCairoVm``, ``AtlanticCairoVersion``, ``AtlanticSharpProver``,
``AtlanticAggregatorVersion``, ``AtlanticJobSize``), and the layouts cairo-lang knows.
"""

from __future__ import annotations

from typing import Any

from orchestrator_pipelines.clients.atlantic import (
    AGGREGATOR_VERSIONS,
    CAIRO_VERSIONS,
    CAIRO_VMS,
    NETWORKS,
    RESULTS,
    SHARP_PROVERS,
)
from orchestrator_pipelines.devnet.prover_errors import ApiError

JOB_SIZES = ("S", "M", "L")
LAYOUTS = (
    "plain", "small", "dex", "recursive", "starknet", "starknet_with_keccak", "recursive_large_output",
    "recursive_with_poseidon", "all_solidity", "all_cairo", "dynamic", "all_cairo_stwo", "perpetual",
    "dex_with_bitwise",
)
BOOLEAN_TEXTS = ("true", "false")


def _enum(fields: dict[str, str], name: str, allowed: tuple[str, ...], *, required: bool) -> None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name} is required")
        return
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of the following values: {', '.join(allowed)}")


def check_query_form(fields: dict[str, str], files: dict[str, bytes]) -> int | None:
    """``POST /atlantic-query``: the form a real Atlantic accepts; returns ``bucketJobIndex`` (or None)."""
    if "pieFile" not in files and "programFile" not in files:
        raise ApiError(400, "pieFile is required")
    if "pieFile" in files and not files["pieFile"]:
        raise ApiError(400, "pieFile is empty")
    _enum(fields, "declaredJobSize", JOB_SIZES, required=True)
    _enum(fields, "result", RESULTS, required=True)
    _enum(fields, "network", NETWORKS, required=True)
    _enum(fields, "cairoVersion", CAIRO_VERSIONS, required=True)
    _enum(fields, "cairoVm", CAIRO_VMS, required=False)
    _enum(fields, "sharpProver", SHARP_PROVERS, required=False)
    _enum(fields, "mockFactHash", BOOLEAN_TEXTS, required=False)
    _enum(fields, "layout", LAYOUTS, required=False)
    if fields.get("result") == "PROOF_VERIFICATION_ON_L2" and not fields.get("layout"):
        raise ApiError(400, "layout is required when result is PROOF_VERIFICATION_ON_L2")
    bucket_id = fields.get("bucketId") or None
    raw_index = fields.get("bucketJobIndex") or None
    if bucket_id is None and raw_index is None:
        return None
    if bucket_id is None:
        raise ApiError(400, "bucketJobIndex is only allowed together with bucketId")
    if raw_index is None:
        raise ApiError(400, "bucketJobIndex is required when bucketId is given")
    try:
        index = int(raw_index)
    except ValueError:
        raise ApiError(400, "bucketJobIndex must be an integer number") from None
    if index < 1:
        raise ApiError(400, "bucketJobIndex must not be less than 1")
    return index


def _is_hex(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def check_bucket_body(content_type: str, body: Any) -> dict[str, Any]:
    """``POST /buckets``: a JSON body with the aggregator program and its parameters; returns it normalised."""
    if "application/json" not in content_type.lower():
        raise ApiError(415, "Content-Type must be application/json")
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    version = body.get("aggregatorVersion")
    if version is None:
        raise ApiError(400, "aggregatorVersion is required")
    if version not in AGGREGATOR_VERSIONS:
        raise ApiError(400, f"aggregatorVersion must be one of the following values: {', '.join(AGGREGATOR_VERSIONS)}")
    if not isinstance(body.get("mockProof"), bool):
        raise ApiError(400, "mockProof must be a boolean value")
    external_id = body.get("externalId")
    if external_id is not None and not isinstance(external_id, str):
        raise ApiError(400, "externalId must be a string")
    node_width = body.get("nodeWidth")
    if node_width is not None and not (isinstance(node_width, str) and node_width.isdigit() and int(node_width) >= 1):
        raise ApiError(400, "nodeWidth must be a positive integer string")
    params = body.get("aggregatorParams")
    if not isinstance(params, dict):
        raise ApiError(400, "aggregatorParams is required")
    for name in ("use_kzg_da", "full_output"):
        if not isinstance(params.get(name), bool):
            raise ApiError(400, f"aggregatorParams.{name} must be a boolean value")
    for name in ("chain_id_hex", "fee_token_address"):
        if name in params and not _is_hex(params[name]):
            raise ApiError(400, f"aggregatorParams.{name} must be a 0x-prefixed hex string")
    keys = params.get("public_keys")
    if keys is not None and not (isinstance(keys, list) and all(_is_hex(k) for k in keys)):
        raise ApiError(400, "aggregatorParams.public_keys must be a list of 0x-prefixed hex strings")
    if keys is not None and version != "snos_aggregator_0.14.1":
        raise ApiError(400, f"aggregatorParams.public_keys needs aggregatorVersion snos_aggregator_0.14.1, got {version}")
    return {
        "externalId": external_id,
        "nodeWidth": int(node_width) if node_width is not None else None,
        "aggregatorVersion": version,
        "aggregatorParams": dict(params),
        "mockProof": body["mockProof"],
    }


def check_sharp_params(query: dict[str, str], *, needs_key: bool = True) -> tuple[str, str]:
    """``customer_id`` and ``cairo_job_key`` of a SHARP gateway call."""
    customer = query.get("customer_id", "")
    if not customer:
        raise ApiError(400, "customer_id is required")
    key = query.get("cairo_job_key", "")
    if needs_key and not key:
        raise ApiError(400, "cairo_job_key is required")
    return customer, key


def check_sharp_add(query: dict[str, str], content_type: str, body: Any, *, applicative: bool) -> tuple[str, list[str]]:
    """``add_job`` / ``add_applicative_job``: the base64 PIE (and the children's keys); returns them."""
    for name in ("offchain_proof",):
        value = query.get(name)
        if value is not None and value not in BOOLEAN_TEXTS:
            raise ApiError(400, f"{name} must be true or false")
    function = query.get("program_hash_function")
    if function is not None and function not in ("PEDERSEN", "POSEIDON"):
        raise ApiError(400, "program_hash_function must be PEDERSEN or POSEIDON")
    if "application/json" not in content_type.lower():
        raise ApiError(415, "Content-Type must be application/json")
    if not isinstance(body, dict) or not isinstance(body.get("cairo_pie_encoded"), str):
        raise ApiError(400, "body must be JSON with a base64 cairo_pie_encoded field")
    children: list[str] = []
    if applicative:
        children = body.get("children_cairo_job_keys")
        if not isinstance(children, list) or not children or not all(isinstance(c, str) and c for c in children):
            raise ApiError(400, "children_cairo_job_keys must be a non-empty list of job keys")
        if len(set(children)) != len(children):
            raise ApiError(400, "children_cairo_job_keys lists a job twice")
    return body["cairo_pie_encoded"], children
