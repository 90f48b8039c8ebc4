"""Deployment settings, read from environment variables.

One settings object describes a deployment; the Dagster definitions are built
from it. Two profiles:

- ``devnet`` (default): everything local. ``orchestrator dev`` starts the devnet
  stack and exports its URLs and addresses into these variables before it
  starts ``dagster dev``.
- ``chain``: a real Madara chain settling on Ethereum, configured entirely from
  the environment. Where the Madara orchestrator (Rust) has a variable with the
  same meaning, its name is accepted too (``MADARA_ORCHESTRATOR_*``), so an
  operator can switch without renaming anything.

Secrets (the Ethereum key, the prover API key, the Slack webhook) are never
copied into the settings: only the *name* of the variable that holds them is
kept, and the Dagster layer passes it on as ``EnvVar(name)`` so the value never
shows in the UI, in metadata or in logs.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator_pipelines.errors import InvalidInputError


def _env(name: str, *madara: str) -> AliasChoices:
    """Our variable first, then the Madara orchestrator's names for the same setting."""
    return AliasChoices(f"ORCHESTRATOR_{name}", *(f"MADARA_ORCHESTRATOR_{m}" for m in madara))


def _server_env(name: str) -> AliasChoices:
    """Our variable first, then zksync-os-server's name for the same setting (e.g. ``BATCHER_BATCH_TIMEOUT``)."""
    return AliasChoices(f"ORCHESTRATOR_{name}", name)


# Secret settings: (our variable, the Madara orchestrator's variable or None).
SECRET_ENV_VARS: dict[str, tuple[str, str | None]] = {
    "ethereum_private_key": ("ORCHESTRATOR_ETHEREUM_PRIVATE_KEY", "MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"),
    "atlantic_api_key": ("ORCHESTRATOR_ATLANTIC_API_KEY", "MADARA_ORCHESTRATOR_ATLANTIC_API_KEY"),
    "slack_webhook_url": ("ORCHESTRATOR_SLACK_WEBHOOK_URL", None),
    # ZKsync OS: one key per L1 step, as the server's l1_sender_operator_{commit,prove,execute}_pk.
    "zkos_commit_private_key": ("ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY", None),
    "zkos_prove_private_key": ("ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY", None),
    "zkos_execute_private_key": ("ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY", None),
}


def secret_env_name(setting: str, environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The name of the environment variable that holds secret ``setting``.

    Our own name wins when both are set; when neither is set our own name is
    returned, so the error Dagster raises names the variable to set.
    """
    environ = os.environ if environ is None else environ
    ours, madara = SECRET_ENV_VARS[setting]
    if ours in environ or madara is None or madara not in environ:
        return ours
    return madara


class Settings(BaseSettings):
    """Every knob of a deployment; see the README's configuration table."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    profile: Literal["devnet", "chain"] = Field("devnet", validation_alias=_env("PROFILE"))

    # Madara (the chain being settled)
    madara_rpc_url: str = Field("http://127.0.0.1:9944", validation_alias=_env("MADARA_RPC_URL", "MADARA_RPC_URL"))

    # Ethereum (settlement and blobs)
    ethereum_rpc_url: str = Field(
        "http://127.0.0.1:8545", validation_alias=_env("ETHEREUM_RPC_URL", "ETHEREUM_SETTLEMENT_RPC_URL")
    )
    core_contract_address: str = Field(
        "", validation_alias=_env("CORE_CONTRACT_ADDRESS", "STARKNET_CORE_CONTRACT_ADDRESS")
    )
    fact_registry_address: str = Field(
        "", validation_alias=_env("FACT_REGISTRY_ADDRESS", "ATLANTIC_VERIFIER_CONTRACT_ADDRESS")
    )
    l1_confirmations: int = Field(1, ge=0, validation_alias=_env("L1_CONFIRMATIONS"))
    max_fee_per_gas_gwei: float | None = Field(None, gt=0, validation_alias=_env("MAX_FEE_PER_GAS_GWEI"))
    max_fee_per_blob_gas_gwei: float | None = Field(None, gt=0, validation_alias=_env("MAX_FEE_PER_BLOB_GAS_GWEI"))
    l1_tx_timeout_s: int = Field(600, gt=0, validation_alias=_env("L1_TX_TIMEOUT_SECONDS"))
    l1_replace_after_s: int = Field(180, gt=0, validation_alias=_env("L1_REPLACE_AFTER_SECONDS"))
    blob_sidecar: Literal["auto", "v0", "v1"] = Field("auto", validation_alias=_env("BLOB_SIDECAR"))

    # Prover
    prover: Literal["atlantic", "sharp"] = Field("atlantic", validation_alias=_env("PROVER"))
    atlantic_service_url: str = Field(
        "http://127.0.0.1:8585", validation_alias=_env("ATLANTIC_SERVICE_URL", "ATLANTIC_SERVICE_URL")
    )
    atlantic_network: str = Field("TESTNET", validation_alias=_env("ATLANTIC_NETWORK", "ATLANTIC_NETWORK"))
    sharp_service_url: str = Field("", validation_alias=_env("SHARP_URL", "SHARP_URL"))
    sharp_customer_id: str = Field("", validation_alias=_env("SHARP_CUSTOMER_ID", "SHARP_CUSTOMER_ID"))
    prover_layout: str = Field("dynamic", validation_alias=_env("PROVER_LAYOUT"))
    max_proof_attempts: int = Field(3, ge=1, validation_alias=_env("MAX_PROOF_ATTEMPTS"))

    # SNOS
    snos_runner: Literal["devnet", "external"] = Field("devnet", validation_alias=_env("SNOS_RUNNER"))
    snos_command: str = Field("", validation_alias=_env("SNOS_COMMAND"))
    snos_timeout_s: int = Field(3600, gt=0, validation_alias=_env("SNOS_TIMEOUT_SECONDS"))

    # Batching
    # Unset: 10 blocks per direct batch, 100 per aggregator batch (Madara's default).
    max_batch_blocks: int | None = Field(None, ge=1, validation_alias=_env("MAX_BATCH_BLOCKS", "MAX_BATCH_SIZE"))
    max_batch_age_s: int = Field(60, ge=1, validation_alias=_env("MAX_BATCH_AGE_SECONDS", "MAX_BATCH_TIME_SECONDS"))
    max_blobs: int = Field(6, ge=1, le=9, validation_alias=_env("MAX_BLOBS", "MAX_NUM_BLOBS"))
    min_block: int | None = Field(None, ge=0, validation_alias=_env("MIN_BLOCK", "MIN_BLOCK_NO_TO_PROCESS"))
    max_block: int | None = Field(None, ge=0, validation_alias=_env("MAX_BLOCK", "MAX_BLOCK_NO_TO_PROCESS"))
    max_batches_per_tick: int = Field(10, ge=1, validation_alias=_env("MAX_BATCHES_PER_TICK"))
    max_unsettled_batches: int = Field(50, ge=1, validation_alias=_env("MAX_UNSETTLED_BATCHES"))

    # Two-level batching (Starknet 0.14 aggregation)
    aggregation: Literal["auto", "on", "off"] = Field("auto", validation_alias=_env("AGGREGATION"))
    blob_size_buffer: int = Field(15, ge=0, validation_alias=_env("BLOB_SIZE_BUFFER", "BLOB_SIZE_BUFFER"))
    max_aggregator_input_size: int = Field(
        750_000, ge=1, validation_alias=_env("MAX_AGGREGATOR_INPUT_SIZE", "MAX_AGGREGATOR_INPUT_SIZE")
    )
    max_blocks_per_snos_batch: int = Field(
        10, ge=1, validation_alias=_env("MAX_BLOCKS_PER_SNOS_BATCH", "MAX_BLOCKS_PER_SNOS_BATCH")
    )
    fixed_blocks_per_snos_batch: int | None = Field(
        None, ge=1, validation_alias=_env("FIXED_BLOCKS_PER_SNOS_BATCH", "FIXED_BLOCKS_PER_SNOS_BATCH")
    )
    settled_retention_hours: int = Field(168, ge=1, validation_alias=_env("SETTLED_RETENTION_HOURS"))

    # Sensors
    sensor_interval_s: int = Field(5, ge=1, validation_alias=_env("SENSOR_INTERVAL_SECONDS"))
    stall_alert_minutes: int = Field(30, ge=1, validation_alias=_env("STALL_ALERT_MINUTES"))

    # Artifacts
    artifact_store: Literal["local", "s3"] = Field("local", validation_alias=_env("ARTIFACT_STORE"))
    artifacts_dir: str = Field(".devnet/artifacts", validation_alias=_env("ARTIFACTS_DIR"))
    s3_bucket: str = Field("", validation_alias=_env("S3_BUCKET", "AWS_S3_BUCKET_IDENTIFIER", "AWS_S3_BUCKET_NAME"))
    s3_prefix: str = Field("", validation_alias=_env("S3_PREFIX"))
    s3_endpoint_url: str | None = Field(None, validation_alias=AliasChoices("ORCHESTRATOR_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"))
    aws_region: str = Field("us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))

    # ZKsync OS stack (ORCHESTRATOR_STACK=zksync_os). Names after the zksync-os-server setting
    # they mirror; the server's own variable name is accepted too.
    stack: Literal["starknet", "zksync_os"] = Field("starknet", validation_alias=_env("STACK"))
    zkos_rpc_url: str = Field("http://127.0.0.1:3050", validation_alias=_env("ZKOS_RPC_URL"))
    zkos_bridgehub_address: str = Field("", validation_alias=_env("ZKOS_BRIDGEHUB_ADDRESS"))
    zkos_chain_id: int = Field(270, ge=1, validation_alias=_env("ZKOS_CHAIN_ID"))
    batcher_blocks_per_batch_limit: int = Field(10, ge=1, validation_alias=_server_env("BATCHER_BLOCKS_PER_BATCH_LIMIT"))
    batcher_batch_timeout_s: float = Field(1.0, gt=0, validation_alias=_server_env("BATCHER_BATCH_TIMEOUT"))
    sequencer_block_pubdata_limit_bytes: int = Field(
        110_000, ge=1, validation_alias=_server_env("SEQUENCER_BLOCK_PUBDATA_LIMIT_BYTES")
    )
    prover_api_url: str = Field("http://127.0.0.1:3124", validation_alias=_env("PROVER_API_URL"))
    prover_api_address: str = Field("0.0.0.0:3124", validation_alias=_server_env("PROVER_API_ADDRESS"))
    prover_api_database_url: str = Field(".devnet/prover_api.sqlite", validation_alias=_env("PROVER_API_DATABASE_URL"))
    prover_api_fri_job_timeout_s: float = Field(300.0, gt=0, validation_alias=_server_env("PROVER_API_FRI_JOB_TIMEOUT"))
    prover_api_snark_job_timeout_s: float = Field(300.0, gt=0, validation_alias=_server_env("PROVER_API_SNARK_JOB_TIMEOUT"))
    prover_api_max_assigned_batch_range: int = Field(
        10, ge=1, validation_alias=_server_env("PROVER_API_MAX_ASSIGNED_BATCH_RANGE")
    )
    prover_api_max_fris_per_snark: int = Field(10, ge=1, validation_alias=_server_env("PROVER_API_MAX_FRIS_PER_SNARK"))

    # Alerts
    sns_topic_arn: str = Field("", validation_alias=_env("SNS_TOPIC_ARN", "AWS_SNS_ARN"))

    @model_validator(mode="after")
    def _check_profile(self) -> "Settings":
        if self.min_block is not None and self.max_block is not None and self.max_block < self.min_block:
            raise ValueError(f"max_block ({self.max_block}) is below min_block ({self.min_block})")
        if self.profile == "chain":
            required = (
                (("ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS", self.zkos_bridgehub_address),)
                if self.stack == "zksync_os"
                else (
                    ("ORCHESTRATOR_CORE_CONTRACT_ADDRESS", self.core_contract_address),
                    ("ORCHESTRATOR_FACT_REGISTRY_ADDRESS", self.fact_registry_address),
                )
            )
            missing = [name for name, value in required if not value]
            if self.snos_runner == "external" and not self.snos_command:
                missing.append("ORCHESTRATOR_SNOS_COMMAND")
            if self.artifact_store == "s3" and not self.s3_bucket:
                missing.append("ORCHESTRATOR_S3_BUCKET")
            if self.prover == "sharp" and not self.sharp_service_url:
                missing.append("ORCHESTRATOR_SHARP_URL")
            if missing:
                raise ValueError("the chain profile needs " + ", ".join(missing))
        return self

    @property
    def direct_batch_blocks(self) -> int:
        """Blocks per batch of the direct (one OS run per batch) pipeline."""
        return self.max_batch_blocks or 10

    @property
    def aggregator_batch_blocks(self) -> int:
        """Blocks per aggregator batch (``MAX_BATCH_SIZE``, Madara's default 100)."""
        return self.max_batch_blocks or 100

    @property
    def sensors_running_by_default(self) -> bool:
        """Devnet sensors start running; on a real chain an operator switches them on."""
        return self.profile == "devnet"


# Prefixes of the variables settings are read from (ours, the Madara orchestrator's, AWS, zksync-os-server's).
SETTING_PREFIXES = ("ORCHESTRATOR_", "MADARA_ORCHESTRATOR_", "AWS_", "BATCHER_", "SEQUENCER_", "PROVER_API_")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment, with one readable line on a bad value."""
    from pydantic import ValidationError

    try:
        if environ is None:
            return Settings()
        return Settings.model_validate(
            {key: value for key, value in environ.items() if key.startswith(SETTING_PREFIXES)}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        where = _variable_set_for(where, os.environ if environ is None else environ)
        raise InvalidInputError(f"invalid orchestrator setting {where}: {error['msg']}") from None


def _variable_set_for(reported: str, environ) -> str:
    """The variable the operator actually set for a setting pydantic reports under its first alias.

    A bad ``MADARA_ORCHESTRATOR_MAX_NUM_BLOBS`` is reported by pydantic as
    ``ORCHESTRATOR_MAX_BLOBS``; the message must name the one that is set.
    """
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and reported in alias.choices:
            return next((name for name in alias.choices if name in environ), reported)
    return reported
