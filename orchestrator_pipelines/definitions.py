"""The code location: assets, jobs, sensors and resources for one deployment profile.

``defs`` is what ``dagster dev``, ``dagster code-server`` and the tests load.
It is built from :class:`~orchestrator_pipelines.config.Settings` (environment
variables), so the same code serves the devnet and a real chain; secrets reach
the resources only as ``EnvVar`` references.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dagster import DefaultSensorStatus, Definitions, EnvVar

from orchestrator_pipelines.aggregation_batching import AggregationPolicy
from orchestrator_pipelines.alembic_scripts import install as install_alembic_scripts_once
from orchestrator_pipelines.aggregation_jobs import AGGREGATION_JOBS
from orchestrator_pipelines.aggregation_partitions import snos_batches_partitions
from orchestrator_pipelines.assets import BATCH_ASSETS
from orchestrator_pipelines.assets.aggregator_batch import AGGREGATOR_ASSETS
from orchestrator_pipelines.assets.snos_batch import build_snos_batch_assets
from orchestrator_pipelines.config import Settings, load_settings, secret_env_name
from orchestrator_pipelines.jobs import ALL_JOBS
from resources import (
    AlertsResource,
    ArtifactStoreResource,
    MadaraRpcResource,
    PipelinePolicyResource,
    ProverResource,
    SettlementResource,
    SnosRunnerResource,
)
from sensors.aggregation import build_aggregation_sensor
from sensors.aggregator_batching import build_aggregator_batching_sensor
from sensors.aggregator_settlement import build_aggregator_settlement_sensor
from sensors import (
    build_batching_sensor,
    build_proof_sensor,
    build_run_failure_alert_sensor,
    build_settlement_sensor,
)


def build_prover_resource(settings: Settings, environ: Mapping[str, str] | None = None) -> ProverResource:
    """The prover resource from the settings; secrets stay ``EnvVar``s, and only those the prover uses."""
    environ = os.environ if environ is None else environ
    secret = lambda name: EnvVar(secret_env_name(name, environ))  # noqa: E731
    is_set = lambda name: secret_env_name(name, environ) in environ  # noqa: E731
    common = dict(layout=settings.prover_layout, timeout_s=settings.prover_timeout_s,
                  fact_registry_address=settings.effective_fact_registry_address)
    if settings.prover == "sharp":
        return ProverResource(
            kind="sharp", service_url=settings.sharp_service_url, customer_id=settings.sharp_customer_id,
            user_crt=settings.sharp_user_crt, user_key=secret("sharp_user_key") if is_set("sharp_user_key") else "",
            server_crt=settings.sharp_server_crt, offchain_proof=settings.sharp_offchain_proof,
            l1_rpc_url=settings.sharp_rpc_node_url or settings.ethereum_rpc_url, **common,
        )
    if settings.prover == "mock":
        return ProverResource(
            kind="mock", service_url="", l1_rpc_url=settings.ethereum_rpc_url,
            registrar_private_key=secret("ethereum_private_key") if settings.mock_verifier_address else "",
            **{**common, "fact_registry_address": settings.mock_verifier_address},
        )
    use_file = bool(settings.atlantic_api_key_file) and not is_set("atlantic_api_key")
    return ProverResource(
        kind="atlantic", service_url=settings.atlantic_service_url,
        api_key="" if use_file else secret("atlantic_api_key"), api_key_file=settings.atlantic_api_key_file,
        network=settings.atlantic_network, result=settings.atlantic_result, cairo_vm=settings.atlantic_cairo_vm,
        sharp_prover=settings.atlantic_sharp_prover, mock_fact_hash=settings.atlantic_mock_fact_hash,
        settlement_layer=settings.atlantic_settlement_layer, artifacts_base_url=settings.atlantic_artifacts_base_url,
        aggregator_version=settings.atlantic_aggregator_version,
        l1_rpc_url=settings.atlantic_rpc_node_url or settings.ethereum_rpc_url, **common,
    )


def build_resources(settings: Settings) -> dict[str, object]:
    optional_secret = lambda name: EnvVar(secret_env_name(name))  # noqa: E731
    return {
        "madara": MadaraRpcResource(
            rpc_url=settings.madara_rpc_url,
            timeout_s=settings.madara_rpc_timeout_s,
            read_attempts=settings.madara_read_attempts,
            retry_backoff_s=settings.madara_retry_backoff_s,
            chain_id=settings.madara_chain_id,
        ),
        "snos": SnosRunnerResource(
            kind=settings.snos_runner,
            rpc_url=settings.snos_rpc,
            backup_rpc_url=settings.snos_rpc_backup_url,
            command=settings.snos_command,
            timeout_s=settings.snos_timeout_s,
            layout=settings.snos_layout,
            max_blobs=settings.max_blobs,
            max_pie_bytes=settings.max_pie_bytes,
        ),
        "prover": build_prover_resource(settings),
        "settlement": SettlementResource(
            rpc_url=settings.ethereum_rpc_url,
            private_key=optional_secret("ethereum_private_key"),
            core_contract_address=settings.core_contract_address,
            fact_registry_address=settings.effective_fact_registry_address,
            operator_address=settings.operator_address,
            confirmations=settings.l1_confirmations,
            max_fee_per_gas_gwei=settings.max_fee_per_gas_gwei,
            max_fee_per_blob_gas_gwei=settings.max_fee_per_blob_gas_gwei,
            tx_timeout_s=settings.l1_tx_timeout_s,
            replace_after_s=settings.l1_replace_after_s,
            poll_interval_s=settings.l1_poll_interval_s,
            max_fee_bumps=settings.l1_max_fee_bumps,
            state_update_max_fee_wei=settings.l1_state_update_max_fee_wei,
            base_fee_multiplier=settings.l1_base_fee_multiplier,
            blob_sidecar=settings.effective_blob_sidecar,
            chain_id=settings.l1_chain_id,
        ),
        "artifacts": ArtifactStoreResource(
            kind=settings.artifact_store,
            local_dir=str(Path(settings.artifacts_dir).resolve()),
            s3_bucket=settings.s3_bucket_name,
            store_audit_artifacts=settings.store_audit_artifacts,
            s3_prefix=settings.s3_prefix,
            s3_endpoint_url=settings.s3_endpoint_url,
            region_name=settings.aws_region,
        ),
        "policy": PipelinePolicyResource(
            max_batch_blocks=settings.direct_batch_blocks,
            max_batch_age_s=settings.max_batch_age_s,
            max_blobs=settings.max_blobs,
            min_block=settings.min_block,
            max_block=settings.max_block,
            max_batches_per_tick=settings.max_batches_per_tick,
            max_blocks_per_tick=settings.max_blocks_per_tick,
            max_unsettled_batches=settings.max_unsettled_batches,
            max_proof_attempts=settings.max_proof_attempts,
            proof_timeout_s=settings.proof_timeout_s,
            max_submit_attempts=settings.max_submit_attempts,
            submit_retry_after_s=settings.submit_retry_after_s,
            aggregation_timeout_s=settings.aggregation_timeout_s,
            max_settle_attempts=settings.max_settle_attempts,
            settle_skip_ahead_per_tick=settings.settle_skip_ahead_per_tick,
            stall_alert_minutes=settings.stall_alert_minutes,
            aggregation=settings.aggregation,
            aggregator_batch_blocks=settings.aggregator_batch_blocks,
            blob_size_buffer=settings.blob_size_buffer,
            max_aggregator_input_size=settings.max_aggregator_input_size,
            max_blocks_per_snos_batch=settings.max_blocks_per_snos_batch,
            fixed_blocks_per_snos_batch=settings.fixed_blocks_per_snos_batch,
            settled_retention_hours=settings.settled_retention_hours,
        ),
        "alerts": AlertsResource(
            sns_topic=settings.sns_topic_arn or settings.sns_topic_name,
            sns_endpoint_url=settings.s3_endpoint_url,
            region_name=settings.aws_region,
            slack_webhook_url=(
                EnvVar(secret_env_name("slack_webhook_url"))
                if _is_set(secret_env_name("slack_webhook_url"))
                else ""
            ),
        ),
    }


def _is_set(name: str) -> bool:
    import os

    return bool(os.environ.get(name))


def max_snos_batches(settings: Settings) -> int:
    """How many SNOS batches an aggregator batch can hold: the size of the SNOS partitions' child dimension."""
    return AggregationPolicy(
        max_batch_size=settings.aggregator_batch_blocks,
        max_blocks_per_snos_batch=settings.max_blocks_per_snos_batch,
        fixed_blocks_per_snos_batch=settings.fixed_blocks_per_snos_batch,
        max_num_blobs=settings.max_blobs,
        blob_size_buffer=settings.blob_size_buffer,
    ).max_snos_batches


def build_definitions(settings: Settings) -> Definitions:
    """The deployment's stack (``ORCHESTRATOR_STACK``): Starknet (Madara) or ZKsync OS."""
    if settings.stack == "zksync_os":
        from orchestrator_pipelines.zksync_os_pipeline.definitions import build_zksync_os_definitions

        return build_zksync_os_definitions(settings, build_resources(settings))
    return build_starknet_definitions(settings)


def build_starknet_definitions(settings: Settings) -> Definitions:
    """The direct pipeline (``aggregation`` off), the aggregated one (on), or both split by Starknet version (auto)."""
    status = DefaultSensorStatus.RUNNING if settings.sensors_running_by_default else DefaultSensorStatus.STOPPED
    interval = settings.sensor_interval_s
    assets, jobs, sensors = [], [], []
    if settings.aggregation != "on":
        assets += BATCH_ASSETS
        jobs += ALL_JOBS
        sensors += [
            build_batching_sensor(interval, status),
            build_proof_sensor(interval, status),
            build_settlement_sensor(interval, status),
        ]
    if settings.aggregation != "off":
        children = max_snos_batches(settings)
        assets += [*build_snos_batch_assets(snos_batches_partitions(children)), *AGGREGATOR_ASSETS]
        jobs += AGGREGATION_JOBS
        sensors += [
            build_aggregator_batching_sensor(interval, status, children),
            build_aggregation_sensor(interval, status, children),
            build_aggregator_settlement_sensor(interval, status),
        ]
    return Definitions(
        assets=assets,
        jobs=jobs,
        sensors=[*sensors, build_run_failure_alert_sensor(status)],
        resources=build_resources(settings),
    )


# The code server builds an instance per sensor evaluation: Alembic's scripts read once (alembic_scripts.py).
install_alembic_scripts_once()
defs = build_definitions(load_settings())
