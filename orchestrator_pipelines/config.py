"""Deployment settings, read from environment variables: the one place a knob and its default live.

One settings object describes a deployment; the Dagster definitions are built
from it, and resources and clients receive its values (they never restate a
default). Two profiles:

- ``devnet`` (default): everything local. ``orchestrator dev`` starts the devnet
  stack and exports its URLs and addresses into these variables before it
  starts ``dagster dev``.
- ``chain``: a real Madara chain settling on Ethereum, configured entirely from
  the environment.

Every field accepts our variable (``ORCHESTRATOR_*``) and, where the Madara
orchestrator (Rust) has a variable with the same meaning, its name too
(``MADARA_ORCHESTRATOR_*``), so an operator keeps their environment file. A
Madara variable that has no meaning here is refused at load with one line
saying why (:data:`REFUSED_MADARA_VARIABLES`), and an unknown
``MADARA_ORCHESTRATOR_*`` name is refused too: nothing is silently ignored.

Secrets (the Ethereum key, the prover API key, the SHARP client key, the Slack
webhook) are never copied into the settings: only the *name* of the variable
that holds them is kept, and the Dagster layer passes it on as
``EnvVar(name)`` so the value never shows in the UI, in metadata or in logs.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Mapping

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.cairo_pie import MAX_UNCOMPRESSED_BYTES

OURS = "ORCHESTRATOR_"
MADARA = "MADARA_ORCHESTRATOR_"

# Madara's default cap on the signed fee liability of one state update (0.01 ETH).
DEFAULT_STATE_UPDATE_MAX_FEE_WEI = 10**16
# Blocks per batch when MAX_BATCH_BLOCKS is unset: direct batches, and aggregator batches (Madara's default).
DIRECT_BATCH_BLOCKS = 10
AGGREGATOR_BATCH_BLOCKS = 100
ATLANTIC_ARTIFACTS_BASE_URL = "https://storage.googleapis.com/hero-atlantic-bucket"
ATLANTIC_RESULTS = (
    "TRACE_GENERATION",
    "PROOF_GENERATION",
    "PROOF_VERIFICATION",
    "PROOF_VERIFICATION_ON_L1",
    "PROOF_VERIFICATION_ON_L2",
    "PROOF_GENERATION_AND_VERIFICATION",
)


def _env(name: str, *madara: str) -> AliasChoices:
    """Our variable first, then the Madara orchestrator's names for the same setting."""
    return AliasChoices(f"{OURS}{name}", *(f"{MADARA}{m}" for m in madara))


def _server_env(name: str) -> AliasChoices:
    """Our variable first, then zksync-os-server's name for the same setting (e.g. ``BATCHER_BATCH_TIMEOUT``)."""
    return AliasChoices(f"{OURS}{name}", name)


# Secret settings: (our variable, the Madara orchestrator's variable or None).
SECRET_ENV_VARS: dict[str, tuple[str, str | None]] = {
    "ethereum_private_key": ("ORCHESTRATOR_ETHEREUM_PRIVATE_KEY", "MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"),
    "atlantic_api_key": ("ORCHESTRATOR_ATLANTIC_API_KEY", "MADARA_ORCHESTRATOR_ATLANTIC_API_KEY"),
    "sharp_user_key": ("ORCHESTRATOR_SHARP_USER_KEY", "MADARA_ORCHESTRATOR_SHARP_USER_KEY"),
    "slack_webhook_url": ("ORCHESTRATOR_SLACK_WEBHOOK_URL", None),
    # ZKsync OS: one key per L1 step, as the server's l1_sender_operator_{commit,prove,execute}_pk.
    "zkos_commit_private_key": ("ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY", None),
    "zkos_prove_private_key": ("ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY", None),
    "zkos_execute_private_key": ("ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY", None),
}

_DAGSTER_STATE = "not used — the Dagster instance stores the state (PostgreSQL in production); see deploy/"
_NO_QUEUES = "not used — sensors trigger the work and Dagster's run queue holds it; there are no SQS queues or EventBridge rules"
_RUN_QUEUE = "not used — run concurrency is the Dagster instance's run queue (tag_concurrency_limits in deploy/dagster.postgres.yaml)"
_NO_L3 = "not used — this orchestrator settles on Ethereum (LAYER=l2); settling on Starknet is not supported"
_SNOS_COMMAND = "not used — the external SNOS command (ORCHESTRATOR_SNOS_COMMAND) takes its own SNOS options"

# Madara orchestrator variables that have no meaning here, and why. Refused at load when set to a
# non-empty value, so an operator learns what replaces them instead of believing they act.
REFUSED_MADARA_VARIABLES: dict[str, str] = {
    "MADARA_ORCHESTRATOR_MONGODB_CONNECTION_URL": _DAGSTER_STATE,
    "MADARA_ORCHESTRATOR_DATABASE_NAME": _DAGSTER_STATE,
    "MADARA_ORCHESTRATOR_SQS_PREFIX": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_SQS_SUFFIX": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_SQS_BASE_QUEUE_URL": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_AWS_SQS_QUEUE_IDENTIFIER": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_AWS_SQS_QUEUE_IDENTIFIER_TEMPLATE": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_TARGET_QUEUE_NAME": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_TYPE": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_INTERVAL_SECONDS": "not used — sensors run every ORCHESTRATOR_SENSOR_INTERVAL_SECONDS",
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_TRIGGER_RULE_NAME": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_TRIGGER_ROLE_NAME": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_EVENT_BRIDGE_TRIGGER_POLICY_NAME": _NO_QUEUES,
    "MADARA_ORCHESTRATOR_OTEL_SERVICE_NAME": "not used — metrics come from `orchestrator metrics serve` (Prometheus), logs from Dagster",
    "MADARA_ORCHESTRATOR_OTEL_COLLECTOR_ENDPOINT": "not used — metrics come from `orchestrator metrics serve` (Prometheus), logs from Dagster",
    "MADARA_ORCHESTRATOR_HOST": "not used — there is no HTTP admin server; use the Dagster UI and the `orchestrator status` commands",
    "MADARA_ORCHESTRATOR_PORT": "not used — there is no HTTP admin server; use the Dagster UI and the `orchestrator status` commands",
    "MADARA_ORCHESTRATOR_ADMIN_ENABLED": "not used — admin actions are `orchestrator retry failed`, `orchestrator batches close-open` and the Dagster UI",
    "MADARA_ORCHESTRATOR_STARKNET_SETTLEMENT_RPC_URL": _NO_L3,
    "MADARA_ORCHESTRATOR_STARKNET_PRIVATE_KEY": _NO_L3,
    "MADARA_ORCHESTRATOR_STARKNET_ACCOUNT_ADDRESS": _NO_L3,
    "MADARA_ORCHESTRATOR_STARKNET_CAIRO_CORE_CONTRACT_ADDRESS": _NO_L3,
    "MADARA_ORCHESTRATOR_STARKNET_FINALITY_RETRY_WAIT_IN_SECS": _NO_L3,
    "MADARA_ORCHESTRATOR_STARKNET_DA_RPC_URL": _NO_L3,
    "MADARA_ORCHESTRATOR_CAIRO_V0_VERIFIER_PROGRAM_HASH": _NO_L3,
    "MADARA_ORCHESTRATOR_MADARA_BINARY_PATH": "not used — the orchestrator never starts a Madara node",
    "MADARA_ORCHESTRATOR_MADARA_FEEDER_GATEWAY_URL": "not used — blocks and state updates are read over JSON-RPC (MADARA_RPC_URL)",
    "MADARA_ORCHESTRATOR_MADARA_VERSION": "not used — each block's Starknet version is read from the block itself",
    "MADARA_ORCHESTRATOR_REPLAY_BOUNDS_RPC_URL": "not supported — blocks are not compared with a reference node",
    "MADARA_ORCHESTRATOR_DA_PUBLIC_KEYS": "not supported — DA is EIP-4844 blobs on Ethereum, without a DA committee",
    "MADARA_ORCHESTRATOR_BOUNCER_WEIGHTS_LIMIT_FILE": "not supported — batches close on blocks, blobs and age (see the configuration table)",
    "MADARA_ORCHESTRATOR_DEFAULT_EMPTY_BLOCK_PROVING_GAS": "not supported — batches close on blocks, blobs and age (see the configuration table)",
    "MADARA_ORCHESTRATOR_BATCHING_LOCK_DURATION_SECONDS": "not used — Dagster evaluates one batching sensor tick at a time",
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_SNOS_JOBS": _RUN_QUEUE,
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_PROVING_JOBS": _RUN_QUEUE,
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_AGGREGATOR_JOBS": _RUN_QUEUE,
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_DATA_SUBMISSION_JOBS": _RUN_QUEUE,
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_STATE_TRANSITION_JOBS": _RUN_QUEUE,
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_CREATED_SNOS_JOBS": "not used — ORCHESTRATOR_MAX_UNSETTLED_BATCHES bounds the work created",
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_CREATED_PROVING_JOBS": "not used — ORCHESTRATOR_MAX_UNSETTLED_BATCHES bounds the work created",
    "MADARA_ORCHESTRATOR_MAX_CONCURRENT_CREATED_AGGREGATOR_JOBS": "not used — ORCHESTRATOR_MAX_UNSETTLED_BATCHES bounds the work created",
    "MADARA_ORCHESTRATOR_JOB_PROCESSING_TIMEOUT_SECONDS": "not used — stuck runs are Dagster run monitoring's job (deploy/dagster.postgres.yaml)",
    "MADARA_ORCHESTRATOR_POLL_INTERVAL_MS": "not used — sensors run every ORCHESTRATOR_SENSOR_INTERVAL_SECONDS",
    "MADARA_ORCHESTRATOR_GRACEFUL_SHUTDOWN_TIMEOUT": "not used — the Dagster daemon and run launcher stop runs; interrupted steps are retried",
    "MADARA_ORCHESTRATOR_SETUP_TIMEOUT": "not used — `orchestrator setup` creates each resource synchronously",
    "MADARA_ORCHESTRATOR_SETUP_RESOURCE_POLL_INTERVAL": "not used — `orchestrator setup` creates each resource synchronously",
    "MADARA_ORCHESTRATOR_ETHEREUM_IS_MAINNET": "superseded — the blob wrapper follows the node's fork (ORCHESTRATOR_BLOB_SIDECAR, MADARA_ORCHESTRATOR_ETHEREUM_DISABLE_PEERDAS)",
    "MADARA_ORCHESTRATOR_VERSIONED_CONSTANTS_PATH": _SNOS_COMMAND,
    "MADARA_ORCHESTRATOR_STRK_NATIVE_FEE_TOKEN_ADDRESS": _SNOS_COMMAND,
    "MADARA_ORCHESTRATOR_ETH_NATIVE_FEE_TOKEN_ADDRESS": _SNOS_COMMAND,
    "MADARA_ORCHESTRATOR_USE_COMMITTED_DATA": _SNOS_COMMAND,
    "MADARA_ORCHESTRATOR_COMMITTED_DATA_RPC_URL": _SNOS_COMMAND,
}


def secret_env_name(setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The name of the environment variable that holds secret ``setting``.

    Our own name wins when both are set; when neither is set our own name is
    returned, so the error Dagster raises names the variable to set.
    """
    environ = os.environ if environ is None else environ
    ours, madara = SECRET_ENV_VARS[setting]
    if ours in environ or madara is None or madara not in environ:
        return ours
    return madara


def _f(default: Any, variable: str, *madara: str, doc: str, shown_default: str | None = None, **constraints: Any) -> Any:
    """A setting read from ``ORCHESTRATOR_<variable>`` then the Madara names; ``doc`` is its README meaning."""
    extra = {"shown_default": shown_default} if shown_default else None
    return Field(default, validation_alias=_env(variable, *madara), description=doc, json_schema_extra=extra, **constraints)


def _zf(default: Any, variable: str, *, doc: str, **constraints: Any) -> Any:
    """A ZKsync OS setting read from ``ORCHESTRATOR_<variable>`` then zksync-os-server's own name."""
    return Field(default, validation_alias=_server_env(variable), description=doc, **constraints)


class Settings(BaseSettings):
    """Every knob of a deployment; the README's configuration table has one row per field."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    profile: Literal["devnet", "chain"] = _f(
        "devnet", "PROFILE", doc="`devnet` (local stack, sensors running) or `chain` (real chain, sensors start stopped)"
    )
    layer: Literal["l2"] = _f("l2", "LAYER", "LAYER", doc="`l2`: the chain settles on Ethereum (the only layer supported)")

    # Madara (the chain being settled)
    madara_rpc_url: str = _f("http://127.0.0.1:9944", "MADARA_RPC_URL", "MADARA_RPC_URL", doc="Madara JSON-RPC (spec 0.10)")
    madara_rpc_timeout_s: float = _f(
        30.0, "MADARA_RPC_TIMEOUT_SECONDS", "UPSTREAM_READ_TIMEOUT_SECS", gt=0, doc="time limit of one Madara RPC read"
    )
    madara_read_attempts: int = _f(
        5, "MADARA_READ_ATTEMPTS", "UPSTREAM_READ_MAX_ATTEMPTS", ge=1,
        doc="attempts of one Madara RPC request (network errors, timeouts, 429 and 5xx, malformed JSON) "
        "before the step or sensor tick fails",
    )
    madara_retry_backoff_s: float = _f(
        0.2, "MADARA_RETRY_BACKOFF_SECONDS", ge=0,
        doc="pause after a failed Madara RPC attempt, doubled after each one (at most 2 s)",
    )
    madara_chain_id: str = _f(
        "", "MADARA_CHAIN_ID",
        doc="chain id the Madara node must report (`starknet_chainId`: a short string such as `SN_SEPOLIA`, or its "
        "hex felt); another one stops batching and settlement with an alert. Empty: not checked",
    )

    # Ethereum (settlement and blobs)
    ethereum_rpc_url: str = _f(
        "http://127.0.0.1:8545", "ETHEREUM_RPC_URL", "ETHEREUM_SETTLEMENT_RPC_URL", doc="Ethereum RPC for settlement and blobs"
    )
    ethereum_da_rpc_url: str = _f(
        "", "ETHEREUM_DA_RPC_URL", "ETHEREUM_DA_RPC_URL",
        doc="must be empty or the settlement RPC: the blobs travel in the state update transaction",
    )
    core_contract_address: str = _f("", "CORE_CONTRACT_ADDRESS", "L1_CORE_CONTRACT_ADDRESS", doc="Starknet core contract")
    l1_chain_id: int | None = _f(
        None, "L1_CHAIN_ID", ge=1,
        doc="chain id the Ethereum RPC must report (`eth_chainId`, e.g. `1`); another one stops batching and "
        "settlement with an alert. Empty: not checked",
    )
    operator_address: str = _f(
        "", "OPERATOR_ADDRESS", "STARKNET_OPERATOR_ADDRESS",
        doc="when set, the settlement key's address must be this one (checked before sending)",
    )
    fact_registry_address: str = _f(
        "", "FACT_REGISTRY_ADDRESS", "ATLANTIC_VERIFIER_CONTRACT_ADDRESS",
        doc="fact registry the proof check reads (Atlantic's verifier; for SHARP and mock, the GPS or mock verifier when those are set)",
    )
    gps_verifier_contract_address: str = _f(
        "", "GPS_VERIFIER_CONTRACT_ADDRESS", "GPS_VERIFIER_CONTRACT_ADDRESS",
        doc="SHARP's GPS verifier (fact registry) on L1, used with `PROVER=sharp`",
    )
    mock_verifier_address: str = _f(
        "", "MOCK_VERIFIER_ADDRESS", "MOCK_VERIFIER_ADDRESS",
        doc="mock GPS verifier on L1 where the `mock` prover registers facts itself",
    )
    l1_confirmations: int = _f(
        3, "L1_CONFIRMATIONS", "ETHEREUM_REQUIRED_BLOCK_CONFIRMATIONS", ge=0,
        doc="L1 blocks required on top of the block that includes the state update (0: inclusion is enough)",
    )
    l1_poll_interval_s: float = _f(
        1.0, "L1_POLL_INTERVAL_SECONDS", "ETHEREUM_FINALITY_RETRY_WAIT_IN_SECS", gt=0,
        doc="seconds between receipt and confirmation checks of a settlement transaction",
    )
    l1_tx_timeout_s: int = _f(
        600, "L1_TX_TIMEOUT_SECONDS", gt=0, doc="how long a settlement tx may take to be mined and confirmed (replacements included)"
    )
    l1_replace_after_s: int = _f(
        180, "L1_REPLACE_AFTER_SECONDS", "ETHEREUM_TX_CONFIRMATION_TIMEOUT_SECS", gt=0,
        doc="a settlement tx not mined this long is replaced (same nonce, doubled fees, within the caps)",
    )
    l1_max_fee_bumps: int = _f(
        2, "L1_MAX_FEE_BUMPS", "ETHEREUM_MAX_FEE_BUMPS", ge=0, doc="same-nonce fee-bump replacements of one state update"
    )
    l1_state_update_max_fee_wei: int = _f(
        DEFAULT_STATE_UPDATE_MAX_FEE_WEI, "L1_STATE_UPDATE_MAX_FEE_WEI", "ETHEREUM_L2_STATE_UPDATE_MAX_FEE_WEI", gt=0,
        doc="cap on the fee one state update may cost (gas limit × max fee + blob gas × max blob fee), replacements included",
    )
    l1_base_fee_multiplier: float = _f(
        2.0, "L1_BASE_FEE_MULTIPLIER", "EIP1559_MAX_GAS_MUL_FACTOR", ge=1,
        doc="maxFeePerGas = this × the latest base fee + the tip (room for base-fee growth while the tx waits)",
    )
    max_fee_per_gas_gwei: float | None = _f(
        None, "MAX_FEE_PER_GAS_GWEI", gt=0, doc="cap on the EIP-1559 max fee (above it: wait and retry)"
    )
    max_fee_per_blob_gas_gwei: float | None = _f(None, "MAX_FEE_PER_BLOB_GAS_GWEI", gt=0, doc="cap on the blob fee")
    blob_sidecar: Literal["auto", "v0", "v1"] = _f(
        "auto", "BLOB_SIDECAR",
        doc="blob wrapper: `v0` (blob proofs, before Fusaka), `v1` (EIP-7594 cell proofs, Fusaka and later) or `auto` (from the node's `eth_config`)",
    )
    ethereum_disable_peerdas: bool = _f(
        False, "DISABLE_PEERDAS", "ETHEREUM_DISABLE_PEERDAS",
        doc="`true`: always send the version-0 blob wrapper (as `BLOB_SIDECAR=v0`)",
    )

    # Prover
    prover: Literal["atlantic", "sharp", "mock"] = _f(
        "atlantic", "PROVER", "PROVER",
        doc="`atlantic`, `sharp` or `mock` (registers each fact itself on the mock verifier, no proving)",
    )
    prover_layout: str = _f("dynamic", "PROVER_LAYOUT", "PROVER_LAYOUT_NAME", doc="Cairo layout sent to the prover")
    max_proof_attempts: int = _f(3, "MAX_PROOF_ATTEMPTS", ge=1, doc="prover submissions per batch before alerting")
    proof_timeout_s: int = _f(
        6 * 3600, "PROOF_TIMEOUT_SECONDS", ge=1, doc="alert when a prover query is still running after this long"
    )
    max_submit_attempts: int = _f(
        3, "MAX_SUBMIT_ATTEMPTS", ge=1,
        doc="failed proof submission runs of one batch (the prover refused the request or was down) requested "
        "again by the proof sensor before it alerts and waits",
    )
    submit_retry_after_s: float = _f(
        60.0, "SUBMIT_RETRY_AFTER_SECONDS", ge=0,
        doc="pause after a failed proof submission run before the proof sensor requests it again, doubled after each",
    )
    aggregation_timeout_s: int = _f(
        6 * 3600, "AGGREGATION_TIMEOUT_SECONDS", ge=1,
        doc="an aggregation (Atlantic bucket) still not DONE this long after it was closed is given up: alert, "
        "then prove again from a new aggregation (as after a FAILED one)",
    )
    prover_timeout_s: float = _f(60.0, "PROVER_HTTP_TIMEOUT_SECONDS", gt=0, doc="time limit of one prover API request")
    atlantic_service_url: str = _f(
        "http://127.0.0.1:8585", "ATLANTIC_SERVICE_URL", "ATLANTIC_SERVICE_URL", doc="Atlantic API"
    )
    atlantic_api_key_file: str = _f(
        "", "ATLANTIC_API_KEY_FILE", "ATLANTIC_API_KEY_FILE", doc="file holding the Atlantic API key (instead of the variable)"
    )
    atlantic_network: Literal["MAINNET", "TESTNET"] = _f(
        "TESTNET", "ATLANTIC_NETWORK", "ATLANTIC_NETWORK", doc="Atlantic network (`MAINNET` or `TESTNET`)"
    )
    atlantic_result: Literal[ATLANTIC_RESULTS] = _f(  # type: ignore[valid-type]
        "PROOF_GENERATION", "ATLANTIC_RESULT", "ATLANTIC_RESULT",
        doc="what Atlantic does with a query (`result`): `PROOF_GENERATION`, `PROOF_VERIFICATION`, … (Madara's `proof-generation` spelling accepted)",
    )
    atlantic_cairo_vm: Literal["rust", "python"] = _f(
        "rust", "ATLANTIC_CAIRO_VM", "ATLANTIC_CAIRO_VM", doc="Cairo VM Atlantic runs (`cairoVm`)"
    )
    atlantic_sharp_prover: Literal["stone", "stwo"] = _f(
        "stone", "ATLANTIC_SHARP_PROVER", "ATLANTIC_SHARP_PROVER", doc="prover backend Atlantic uses (`sharpProver`)"
    )
    atlantic_artifacts_base_url: str = _f(
        ATLANTIC_ARTIFACTS_BASE_URL, "ATLANTIC_ARTIFACTS_BASE_URL", "ATLANTIC_ARTIFACTS_BASE_URL",
        doc="where Atlantic publishes a query's artifacts (`{base}/queries/{id}/proof.json`, a bucket's `pie.cairo0.zip` and `da_blob.json`)",
    )
    atlantic_aggregator_version: Literal[
        "snos_aggregator_0.13.2", "snos_aggregator_0.13.3", "snos_aggregator_0.14.1"
    ] = _f(
        "snos_aggregator_0.14.1", "ATLANTIC_AGGREGATOR_VERSION",
        doc="aggregator program of an Atlantic bucket (`aggregatorVersion`)",
    )
    atlantic_mock_fact_hash: bool = _f(
        False, "ATLANTIC_MOCK_FACT_HASH", "ATLANTIC_MOCK_FACT_HASH", doc="ask Atlantic for a mocked fact (`mockFactHash`)"
    )
    atlantic_rpc_node_url: str = _f(
        "", "ATLANTIC_RPC_NODE_URL", "ATLANTIC_RPC_NODE_URL",
        doc="RPC of the chain holding Atlantic's verifier (default: the Ethereum RPC)",
    )
    atlantic_settlement_layer: Literal["ethereum", "starknet"] = _f(
        "ethereum", "ATLANTIC_SETTLEMENT_LAYER", "ATLANTIC_SETTLEMENT_LAYER", doc="where Atlantic verifies proofs"
    )
    atlantic_prover_type: Literal["herodotus", "starkware"] = _f(
        "herodotus", "ATLANTIC_PROVER_TYPE", "ATLANTIC_PROVER_TYPE", doc="Atlantic prover type"
    )
    sharp_service_url: str = _f("", "SHARP_URL", "SHARP_URL", doc="SHARP gateway")
    sharp_customer_id: str = _f("", "SHARP_CUSTOMER_ID", "SHARP_CUSTOMER_ID", doc="SHARP customer id")
    sharp_user_crt: str = _f(
        "", "SHARP_USER_CRT", "SHARP_USER_CRT", doc="SHARP client certificate for mutual TLS (a file or the PEM itself)"
    )
    sharp_server_crt: str = _f(
        "", "SHARP_SERVER_CRT", "SHARP_SERVER_CRT", doc="CA certificate the SHARP server's certificate must chain to (a file or the PEM)"
    )
    sharp_rpc_node_url: str = _f(
        "", "SHARP_RPC_NODE_URL", "SHARP_RPC_NODE_URL", doc="RPC of the chain holding the GPS verifier (default: the Ethereum RPC)"
    )
    sharp_proof_layout: str = _f("small", "SHARP_PROOF_LAYOUT", "SHARP_PROOF_LAYOUT", doc="SHARP proof layout")
    sharp_settlement_layer: Literal["ethereum", "starknet"] = _f(
        "ethereum", "SHARP_SETTLEMENT_LAYER", "SHARP_SETTLEMENT_LAYER", doc="where SHARP registers facts"
    )
    sharp_offchain_proof: bool = _f(
        False, "SHARP_OFFCHAIN_PROOF", "SHARP_OFFCHAIN_PROOF", doc="`true`: SHARP does not register the fact on L1"
    )

    # SNOS
    snos_runner: Literal["devnet", "external"] = _f("devnet", "SNOS_RUNNER", doc="`devnet` or `external`")
    snos_command: str = _f(
        "", "SNOS_COMMAND",
        doc="external SNOS command; `{first_block}`, `{last_block}`, `{rpc_url}`, `{layout}`, `{output}` (a PIE zip)",
    )
    snos_timeout_s: int = _f(3600, "SNOS_TIMEOUT_SECONDS", gt=0, doc="external SNOS time limit")
    max_pie_bytes: int = _f(
        MAX_UNCOMPRESSED_BYTES, "MAX_PIE_BYTES", ge=1,
        doc="most a Cairo PIE zip from SNOS may inflate to, per member and in all; a member declaring or "
        "inflating past it is refused while it is read, not after",
    )
    snos_rpc_url: str = _f("", "SNOS_RPC_URL", "RPC_FOR_SNOS", doc="RPC SNOS reads the blocks from (default: the Madara RPC)")
    snos_rpc_backup_url: str = _f(
        "", "SNOS_RPC_BACKUP_URL", "RPC_FOR_SNOS_BACKUP", doc="RPC SNOS uses when a run is retried (default: the same)"
    )
    snos_layout: str = _f("all_cairo", "SNOS_LAYOUT", "SNOS_LAYOUT_NAME", doc="Cairo layout SNOS runs with")
    snos_full_output: bool = _f(
        False, "SNOS_FULL_OUTPUT", "SNOS_FULL_OUTPUT",
        doc="must be `false`: settlement reads the OS output with its KZG DA segment",
    )

    # Batching
    max_batch_blocks: int | None = _f(
        None, "MAX_BATCH_BLOCKS", "MAX_BATCH_SIZE", ge=1, shown_default=f"`{DIRECT_BATCH_BLOCKS}` direct, `{AGGREGATOR_BATCH_BLOCKS}` aggregated",
        doc="blocks per batch, or per aggregator batch when aggregating (1 is valid)",
    )
    max_batch_age_s: int = _f(
        60, "MAX_BATCH_AGE_SECONDS", "MAX_BATCH_TIME_SECONDS", ge=1,
        doc="close a partial batch when its first block is this old; an aggregator batch when it was opened "
        "this long ago (as Madara), also when no new block comes",
    )
    max_blobs: int = _f(6, "MAX_BLOBS", "MAX_NUM_BLOBS", ge=1, le=9, doc="blobs per batch")
    min_block: int | None = _f(
        None, "MIN_BLOCK", "MIN_BLOCK_NO_TO_PROCESS", ge=0,
        doc="first block to batch (default: after L1's `stateBlockNumber`)",
    )
    max_block: int | None = _f(None, "MAX_BLOCK", "MAX_BLOCK_NO_TO_PROCESS", ge=0, doc="last block to batch")
    max_batches_per_tick: int = _f(10, "MAX_BATCHES_PER_TICK", ge=1, doc="batches the batching sensor closes per tick")
    max_blocks_per_tick: int | None = _f(
        None, "MAX_BLOCKS_PER_TICK", "MAX_BLOCKS_TO_BATCH_AT_ONCE", ge=1,
        doc="blocks the batching sensor reads per tick (default: max batches per tick × blocks per batch)",
    )
    max_unsettled_batches: int = _f(50, "MAX_UNSETTLED_BATCHES", ge=1, doc="no new batch while this many wait for settlement")

    # Two-level batching (Starknet 0.14 aggregation)
    aggregation: Literal["auto", "on", "off"] = _f(
        "auto", "AGGREGATION",
        doc="`on`: two-level batching (SNOS batches proven as children of an aggregator batch, one L1 update per "
        "aggregator batch); `off`: one OS run, proof and L1 update per batch; `auto`: aggregation for blocks of "
        "Starknet 0.14 and later, the direct path before",
    )
    blob_size_buffer: int = _f(
        15, "BLOB_SIZE_BUFFER", "BLOB_SIZE_BUFFER", ge=0,
        doc="an aggregator batch's squashed, compressed diff must fit `MAX_NUM_BLOBS × 4096 − BLOB_SIZE_BUFFER` felts",
    )
    max_aggregator_input_size: int = _f(
        750_000, "MAX_AGGREGATOR_INPUT_SIZE", "MAX_AGGREGATOR_INPUT_SIZE", ge=1,
        doc="upper bound (felts, Madara's formula) of the aggregator program's input; closes the aggregator batch",
    )
    max_blocks_per_snos_batch: int = _f(
        10, "MAX_BLOCKS_PER_SNOS_BATCH", "MAX_BLOCKS_PER_SNOS_BATCH", ge=1,
        doc="blocks per SNOS batch (one OS run and child proof); never crosses an aggregator batch",
    )
    fixed_blocks_per_snos_batch: int | None = _f(
        None, "FIXED_BLOCKS_PER_SNOS_BATCH", "FIXED_BLOCKS_PER_SNOS_BATCH", ge=1,
        doc="exactly this many blocks per SNOS batch (the last one of an aggregator batch may be shorter)",
    )
    max_snos_batches_per_batch: int = _f(
        50, "MAX_SNOS_BATCHES_PER_BATCH", "MAX_SNOS_BATCHES_PER_AGGREGATOR_BATCH", ge=1,
        doc="SNOS batches aggregated into one aggregator batch",
    )
    settled_retention_hours: int = _f(
        168, "SETTLED_RETENTION_HOURS", ge=1,
        doc="aggregator batches settled longer ago than this leave the partition set (artifacts and L1 records stay)",
    )

    # Sensors
    sensor_interval_s: int = _f(5, "SENSOR_INTERVAL_SECONDS", ge=1, doc="sensors' minimum interval")
    stall_alert_minutes: int = _f(30, "STALL_ALERT_MINUTES", ge=1, doc="alert when nothing settled this long while blocks advance")
    max_settle_attempts: int = _f(
        3, "MAX_SETTLE_ATTEMPTS", ge=1, doc="failed settle runs of one batch before the settlement sensor alerts and waits"
    )
    settle_skip_ahead_per_tick: int = _f(
        100, "SETTLE_SKIP_AHEAD_PER_TICK", ge=1,
        doc="batches the settlement sensor walks past per tick when L1 already covers them",
    )

    # Artifacts
    artifact_store: Literal["local", "s3"] = _f("local", "ARTIFACT_STORE", doc="`local` or `s3`")
    artifacts_dir: str = _f(".devnet/artifacts", "ARTIFACTS_DIR", doc="local artifact directory")
    s3_bucket: str = _f(
        "", "S3_BUCKET", "AWS_S3_BUCKET_IDENTIFIER", "AWS_S3_BUCKET_NAME",
        doc="artifact bucket: a name (prefixed `{AWS_PREFIX}-`) or an ARN `arn:aws:s3:::name` (used as is)",
    )
    aws_prefix: str = _f(
        "", "AWS_PREFIX", "AWS_PREFIX", doc="prefix of the bucket (`{prefix}-{bucket}`) and topic (`{prefix}_{topic}`) names"
    )
    s3_prefix: str = _f("", "S3_PREFIX", doc="key prefix in the bucket")
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("ORCHESTRATOR_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        description="S3/SNS endpoint (S3-compatible stores, tests)",
    )
    aws_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"), description="AWS region"
    )
    storage_expiration_days: int = _f(
        14, "STORAGE_EXPIRATION_DAYS", "STORAGE_EXPIRATION_DAYS", ge=1,
        doc="days after which S3 deletes the artifacts of settled batches (the lifecycle rule `orchestrator setup` creates)",
    )
    store_audit_artifacts: bool = _f(
        False, "STORE_AUDIT_ARTIFACTS", "STORE_AUDIT_ARTIFACTS",
        doc="also keep the prover's proof document in the artifact store (only its fact is needed to settle)",
    )

    # ZKsync OS stack (ORCHESTRATOR_STACK=zksync_os). Names after the zksync-os-server setting
    # they mirror; the server's own variable name is accepted too.
    stack: Literal["starknet", "zksync_os"] = _f(
        "starknet", "STACK", doc="which chain this deployment settles: `starknet` (Madara) or `zksync_os`"
    )
    zkos_rpc_url: str = _f("http://127.0.0.1:3050", "ZKOS_RPC_URL", doc="ZKsync OS node JSON-RPC")
    zkos_bridgehub_address: str = _f(
        "", "ZKOS_BRIDGEHUB_ADDRESS",
        doc="Bridgehub on L1; the chain's diamond, timelock and DA mode are discovered from it",
    )
    zkos_chain_id: int = _f(270, "ZKOS_CHAIN_ID", ge=1, doc="L2 chain id registered in the Bridgehub")
    batcher_blocks_per_batch_limit: int = _zf(
        10, "BATCHER_BLOCKS_PER_BATCH_LIMIT", ge=1,
        doc="seal a batch at this many blocks (server: `batcher_blocks_per_batch_limit`)",
    )
    batcher_batch_timeout_s: float = _zf(
        1.0, "BATCHER_BATCH_TIMEOUT", gt=0,
        doc="seconds after the first block's timestamp to seal a partial batch (`batcher_batch_timeout`)",
    )
    sequencer_block_pubdata_limit_bytes: int = _zf(
        110_000, "SEQUENCER_BLOCK_PUBDATA_LIMIT_BYTES", ge=1,
        doc="pubdata bytes per batch (`sequencer_block_pubdata_limit_bytes`)",
    )
    prover_api_url: str = _f("http://127.0.0.1:3124", "PROVER_API_URL", doc="where the Dagster assets reach the prover API")
    prover_api_address: str = _zf(
        "0.0.0.0:3124", "PROVER_API_ADDRESS", doc="where `orchestrator prover-api` listens (`prover_api_address`)"
    )
    prover_api_database_url: str = _f(
        ".devnet/prover_api.sqlite", "PROVER_API_DATABASE_URL",
        doc="prover job store: `postgresql://…` in production, a SQLite file for development",
    )
    prover_api_fri_job_timeout_s: float = _zf(
        300.0, "PROVER_API_FRI_JOB_TIMEOUT", gt=0,
        doc="seconds before an assigned FRI job is offered to another prover (`prover_api_fri_job_timeout`)",
    )
    prover_api_snark_job_timeout_s: float = _zf(
        300.0, "PROVER_API_SNARK_JOB_TIMEOUT", gt=0, doc="the same for SNARK jobs (`prover_api_snark_job_timeout`)"
    )
    prover_api_max_assigned_batch_range: int = _zf(
        10, "PROVER_API_MAX_ASSIGNED_BATCH_RANGE", ge=1,
        doc="no new FRI job while assigned jobs span this many batches, only retries (`prover_api_max_assigned_batch_range`)",
    )
    prover_api_max_fris_per_snark: int = _zf(
        10, "PROVER_API_MAX_FRIS_PER_SNARK", ge=1,
        doc="FRI proofs aggregated by one SNARK job (`prover_api_max_fris_per_snark`)",
    )
    zkos_abandoned_run_after_s: float = _f(
        600.0, "ZKOS_ABANDONED_RUN_AFTER_SECONDS", gt=0,
        doc="a ZKsync OS run STARTED this long ago lost its worker (daemon killed): marked failed, its step requested again",
    )

    # Alerts
    sns_topic: str = _f(
        "", "SNS_TOPIC", "AWS_SNS_TOPIC_IDENTIFIER", "AWS_SNS_ARN",
        doc="alerts topic: a name (prefixed `{AWS_PREFIX}_`) or an ARN (used as is)",
    )

    @field_validator("prover", "atlantic_cairo_vm", "atlantic_sharp_prover", "atlantic_settlement_layer",
                     "sharp_settlement_layer", "atlantic_prover_type", "layer", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        """Madara parses these enums case-insensitively (``PROVER=Atlantic`` works there)."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("layer", mode="before")
    @classmethod
    def _only_l2(cls, value: Any) -> Any:
        if value == "l3":
            raise ValueError("l3 (settling on Starknet) is not supported; this orchestrator settles on Ethereum (l2)")
        return value

    @field_validator("snos_full_output")
    @classmethod
    def _kzg_da_output(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "true is not supported: settlement reads the OS output with its KZG DA segment (full output off)"
            )
        return value

    @field_validator("atlantic_result", "atlantic_network", mode="before")
    @classmethod
    def _screaming_snake(cls, value: Any) -> Any:
        """Madara's command line spells ``proof-generation``; the API ``PROOF_GENERATION``."""
        return value.strip().upper().replace("-", "_") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_profile(self) -> "Settings":
        if self.min_block is not None and self.max_block is not None and self.max_block < self.min_block:
            raise ValueError(f"max_block ({self.max_block}) is below min_block ({self.min_block})")
        if self.ethereum_disable_peerdas and self.blob_sidecar == "v1":
            raise ValueError("ETHEREUM_DISABLE_PEERDAS=true contradicts BLOB_SIDECAR=v1")
        if self.ethereum_da_rpc_url and self.ethereum_da_rpc_url.rstrip("/") != self.ethereum_rpc_url.rstrip("/"):
            raise ValueError(
                "ETHEREUM_DA_RPC_URL differs from the settlement RPC: the blobs travel in the state update "
                "transaction, so DA uses ETHEREUM_SETTLEMENT_RPC_URL"
            )
        if self.blob_size_buffer >= self.max_blobs * 4096:
            raise ValueError(f"blob_size_buffer ({self.blob_size_buffer}) leaves no room in {self.max_blobs} blobs")
        if self.profile == "chain":
            required = (
                (("ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS", self.zkos_bridgehub_address),)
                if self.stack == "zksync_os"
                else (
                    ("ORCHESTRATOR_CORE_CONTRACT_ADDRESS", self.core_contract_address),
                    (self._fact_registry_variable, self.effective_fact_registry_address),
                )
            )
            missing = [name for name, value in required if not value]
            if self.snos_runner == "external" and not self.snos_command:
                missing.append("ORCHESTRATOR_SNOS_COMMAND")
            if self.artifact_store == "s3" and not self.s3_bucket:
                missing.append("ORCHESTRATOR_S3_BUCKET")
            if self.prover == "sharp":
                if not self.sharp_service_url:
                    missing.append("ORCHESTRATOR_SHARP_URL")
                if not self.sharp_customer_id:
                    missing.append("ORCHESTRATOR_SHARP_CUSTOMER_ID")
            if missing:
                raise ValueError("the chain profile needs " + ", ".join(missing))
        return self

    # ---- values derived from several fields (one rule each, used by resources and commands) ----

    @property
    def direct_batch_blocks(self) -> int:
        """Blocks per batch of the direct (one OS run per batch) pipeline."""
        return self.max_batch_blocks or DIRECT_BATCH_BLOCKS

    @property
    def aggregator_batch_blocks(self) -> int:
        """Blocks per aggregator batch (``MAX_BATCH_SIZE``, Madara's default 100)."""
        return self.max_batch_blocks or AGGREGATOR_BATCH_BLOCKS

    @property
    def sensors_running_by_default(self) -> bool:
        """Devnet sensors start running; on a real chain an operator switches them on."""
        return self.profile == "devnet"

    @property
    def effective_blob_sidecar(self) -> str:
        return "v0" if self.ethereum_disable_peerdas else self.blob_sidecar

    @property
    def effective_fact_registry_address(self) -> str:
        """The registry the proof check reads: the chosen prover's verifier when it is set."""
        if self.prover == "sharp" and self.gps_verifier_contract_address:
            return self.gps_verifier_contract_address
        if self.prover == "mock" and self.mock_verifier_address:
            return self.mock_verifier_address
        return self.fact_registry_address

    @property
    def _fact_registry_variable(self) -> str:
        return {
            "sharp": "ORCHESTRATOR_GPS_VERIFIER_CONTRACT_ADDRESS",
            "mock": "ORCHESTRATOR_MOCK_VERIFIER_ADDRESS",
        }.get(self.prover, "ORCHESTRATOR_FACT_REGISTRY_ADDRESS")

    @property
    def snos_rpc(self) -> str:
        return self.snos_rpc_url or self.madara_rpc_url

    @property
    def snos_rpc_on_retry(self) -> str:
        return self.snos_rpc_backup_url or self.snos_rpc

    @property
    def s3_bucket_name(self) -> str:
        """Madara's naming: an ARN names the bucket itself; a name gets ``{AWS_PREFIX}-`` in front."""
        return aws_resource_name(self.s3_bucket, self.aws_prefix, "-", "arn:aws:s3:::")

    @property
    def sns_topic_name(self) -> str:
        return aws_resource_name(self.sns_topic, self.aws_prefix, "_", "arn:")

    @property
    def sns_topic_arn(self) -> str:
        """The topic's ARN when it was given as one, else "" (the name is resolved against SNS)."""
        return self.sns_topic if self.sns_topic.startswith("arn:") else ""


def aws_resource_name(identifier: str, prefix: str, separator: str, arn_prefix: str) -> str:
    if not identifier:
        return ""
    if identifier.startswith(arn_prefix):
        return identifier.rsplit(":", 1)[-1]
    return f"{prefix}{separator}{identifier}" if prefix else identifier


# Prefixes of the variables settings are read from (ours, the Madara orchestrator's, AWS, zksync-os-server's).
SETTING_PREFIXES = (OURS, MADARA, "AWS_", "BATCHER_", "SEQUENCER_", "PROVER_API_")


def _is_setting_variable(name: str) -> bool:
    return name.startswith(SETTING_PREFIXES)


def honoured_variables() -> dict[str, str]:
    """Every variable a setting reads, mapped to the setting: our names, Madara's and AWS's."""
    names = {choice: name for name, field in Settings.model_fields.items() for choice in field.validation_alias.choices}
    for setting, (ours, madara) in SECRET_ENV_VARS.items():
        names[ours] = setting
        if madara:
            names[madara] = setting
    return names


def refused_variable(name: str, value: str) -> str | None:
    """Why ``name`` (set to ``value``) is refused, or None when it is accepted."""
    if not name.startswith(MADARA) or not value.strip():
        return None
    if name in REFUSED_MADARA_VARIABLES:
        return REFUSED_MADARA_VARIABLES[name]
    if name not in honoured_variables():
        return "not a Madara orchestrator variable this orchestrator knows; see the README's configuration table"
    return None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, with one readable line on a bad or refused variable."""
    from pydantic import ValidationError

    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        reason = refused_variable(name, environ[name])
        if reason:
            raise InvalidInputError(f"{name}: {reason}")
    try:
        return Settings.model_validate(
            {key: value for key, value in environ.items() if _is_setting_variable(key) and value != ""}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        where = _variable_set_for(where, environ)
        message = error["msg"].removeprefix("Value error, ")
        raise InvalidInputError(f"invalid orchestrator setting {where}: {message}") from None


def setting_sources(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """For each setting, the variable its value came from (None: the default)."""
    environ = os.environ if environ is None else environ
    return {
        name: next((c for c in field.validation_alias.choices if environ.get(c, "") != ""), None)
        for name, field in Settings.model_fields.items()
    }


def _variable_set_for(reported: str, environ: Mapping[str, str]) -> str:
    """The variable the operator actually set for a setting pydantic reports under its first alias.

    A bad ``MADARA_ORCHESTRATOR_MAX_NUM_BLOBS`` is reported by pydantic as
    ``ORCHESTRATOR_MAX_BLOBS``; the message must name the one that is set.
    """
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and reported in alias.choices:
            return next((name for name in alias.choices if environ.get(name, "") != ""), reported)
    return reported


def setting_default(name: str) -> Any:
    """A setting's default, for a resource built without settings (tests, scripts): never restated."""
    return Settings.model_fields[name].default


SECRET_DOCS: dict[str, str] = {
    "ethereum_private_key": "key that sends `updateStateKzgDA`",
    "atlantic_api_key": "Atlantic API key",
    "sharp_user_key": "SHARP client key for mutual TLS (a file or the PEM itself)",
    "slack_webhook_url": "alerts Slack webhook",
    "zkos_commit_private_key": "key of the timelock's committer role (server: `l1_sender_operator_commit_pk`)",
    "zkos_prove_private_key": "key of the prover role (`l1_sender_operator_prove_pk`); must differ from the others",
    "zkos_execute_private_key": "key of the executor role (`l1_sender_operator_execute_pk`)",
}


def _default_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def configuration_rows() -> dict[str, str]:
    """The README configuration table's row of every setting and secret, keyed by setting name.

    ``| variable | Madara orchestrator name(s) | default | meaning |``: the test of the
    README compares its table with these rows, so the table cannot drift from the model.
    """
    rows: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        ours, *others = field.validation_alias.choices
        also = ", ".join(f"`{other}`" for other in others)
        shown = (field.json_schema_extra or {}).get("shown_default") or _default_text(field.default)
        rows[name] = f"| `{ours}` | {also} | {shown} | {field.description} |".replace("|  |", "| |")
    for name, (ours, madara) in SECRET_ENV_VARS.items():
        rows[name] = f"| `{ours}` (secret) | {f'`{madara}`' if madara else ''} | — | {SECRET_DOCS[name]} |".replace("|  |", "| |")
    return rows
