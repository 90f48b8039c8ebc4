"""The ZKsync OS stack's definitions: its assets, jobs and sensors with the shared resources.

``orchestrator_pipelines.definitions`` builds these when ``ORCHESTRATOR_STACK=zksync_os``;
the artifact store, alerts and the run-failure alert sensor are the ones the
Starknet stack uses.
"""

from __future__ import annotations

from dagster import DefaultSensorStatus, Definitions, EnvVar

from orchestrator_pipelines.config import Settings, secret_env_name
from orchestrator_pipelines.zksync_os_pipeline.assets import ZKOS_ASSETS
from orchestrator_pipelines.zksync_os_pipeline.jobs import ZKOS_JOBS
from orchestrator_pipelines.zksync_os_pipeline.resources import (
    ProverApiResource,
    ZkOsL1Resource,
    ZkOsNodeResource,
    ZkOsPolicyResource,
)
from orchestrator_pipelines.zksync_os_pipeline.sensors import build_zkos_batching_sensor, build_zkos_l1_sensor
from sensors import build_run_failure_alert_sensor


def build_zksync_os_resources(settings: Settings, shared: dict[str, object]) -> dict[str, object]:
    return {
        "artifacts": shared["artifacts"],
        "alerts": shared["alerts"],
        "zkos_node": ZkOsNodeResource(rpc_url=settings.zkos_rpc_url),
        "prover_api": ProverApiResource(url=settings.prover_api_url),
        "zkos_l1": ZkOsL1Resource(
            rpc_url=settings.ethereum_rpc_url,
            bridgehub_address=settings.zkos_bridgehub_address,
            chain_id=settings.zkos_chain_id,
            commit_private_key=EnvVar(secret_env_name("zkos_commit_private_key")),
            prove_private_key=EnvVar(secret_env_name("zkos_prove_private_key")),
            execute_private_key=EnvVar(secret_env_name("zkos_execute_private_key")),
            confirmations=settings.l1_confirmations,
            max_fee_per_gas_gwei=settings.max_fee_per_gas_gwei,
            tx_timeout_s=settings.l1_tx_timeout_s,
        ),
        "zkos_policy": ZkOsPolicyResource(
            blocks_per_batch_limit=settings.batcher_blocks_per_batch_limit,
            batch_timeout_s=settings.batcher_batch_timeout_s,
            pubdata_limit_bytes=settings.sequencer_block_pubdata_limit_bytes,
            max_batches_per_tick=settings.max_batches_per_tick,
            max_unexecuted_batches=settings.max_unsettled_batches,
            abandoned_run_after_s=settings.zkos_abandoned_run_after_s,
            max_prepare_attempts=settings.max_settle_attempts,
        ),
    }


def build_zksync_os_definitions(settings: Settings, shared: dict[str, object]) -> Definitions:
    status = DefaultSensorStatus.RUNNING if settings.sensors_running_by_default else DefaultSensorStatus.STOPPED
    interval = settings.sensor_interval_s
    return Definitions(
        assets=ZKOS_ASSETS,
        jobs=ZKOS_JOBS,
        sensors=[
            build_zkos_batching_sensor(interval, status),
            build_zkos_l1_sensor(interval, status),
            build_run_failure_alert_sensor(status),
        ],
        resources=build_zksync_os_resources(settings, shared),
    )
