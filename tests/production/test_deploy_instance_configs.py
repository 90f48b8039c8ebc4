"""deploy/dagster*.yaml: Dagster's own schema accepts them and the classes they name start.

The files are loaded exactly as Dagster loads $DAGSTER_HOME/dagster.yaml (copied
into a temporary DAGSTER_HOME), with the environment variables they read set
for the test: PostgreSQL is the real server, AWS is the moto server, Kubernetes
is a kubeconfig file (the launcher reads it but does not connect on start).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import class_from_code_pointer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
INSTANCE_FILES = sorted(DEPLOY.glob("dagster*.yaml"))
CONFIGURABLE_SECTIONS = ("run_coordinator", "run_launcher", "compute_logs")


def _home_with(tmp_path: Path, source: Path | str, text: str | None = None) -> str:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    if text is None:
        shutil.copy(source, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(text)
    return str(home)


@pytest.fixture
def deploy_env(monkeypatch: pytest.MonkeyPatch, pg_env: str, tmp_path: Path) -> None:
    """Every variable any deploy/ file reads, pointing at local real services."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "ci", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "ci"}}],
                "current-context": "local",
            }
        )
    )
    values = {
        "DAGSTER_K8S_SERVICE_ACCOUNT": "dagster",
        "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-instance",
        "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql-secret",
        "DAGSTER_K8S_JOB_NAMESPACE": "orchestrator",
        "DAGSTER_ECS_TASK_DEFINITION": "orchestrator-run",
        "DAGSTER_COMPUTE_LOGS_BUCKET": "orchestrator-compute-logs",
        "DAGSTER_COMPUTE_LOGS_PREFIX": "dagster/logs",
        "KUBECONFIG": str(kubeconfig),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _sections(config: Mapping[str, Any]):
    for section in CONFIGURABLE_SECTIONS:
        if section in config:
            yield section, config[section]


def test_every_variant_is_present() -> None:
    names = {path.name for path in INSTANCE_FILES}
    assert {
        "dagster.postgres.yaml",
        "dagster.postgres-s3logs.yaml",
        "dagster.k8s.yaml",
        "dagster.ecs.yaml",
    } <= names


@pytest.mark.postgres
@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.name)
def test_instance_file_passes_dagster_schema(path: Path, deploy_env: None, tmp_path: Path) -> None:
    config, custom_class = dagster_instance_config(_home_with(tmp_path, path))
    assert custom_class is None

    for section, data in _sections(config):
        cls = class_from_code_pointer(data["module"], data["class"])
        result = process_config(cls.config_type(), data.get("config") or {})
        assert result.success, f"{path.name} {section}: {[e.message for e in result.errors]}"

    postgres = config["storage"]["postgres"]["postgres_db"]
    assert postgres["db_name"] == {"env": "DAGSTER_PG_DB"}
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {item["key"]: item["limit"] for item in coordinator["config"]["tag_concurrency_limits"]}
    assert limits["orchestrator/settlement"] == 1
    assert limits["orchestrator/prover-submit"] >= 1
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 3,
        "retry_on_asset_or_op_failure": False,
    }
    assert config["run_monitoring"]["enabled"] is True
    assert config["sensors"]["use_threads"] is True
    assert config["backfills"]["use_threads"] is True
    assert config["telemetry"]["enabled"] is False


@pytest.mark.postgres
def test_postgres_instance_writes_and_reads_a_run_and_materialization(
    deploy_env: None, tmp_path: Path
) -> None:
    home = _home_with(tmp_path, DEPLOY / "dagster.postgres.yaml")

    @asset(partitions_def=None, metadata={"stage": "batch"})
    def deploy_check_asset(context) -> None:
        context.add_output_metadata({"first_block": 410, "last_block": 419})

    with DagsterInstance.from_config(home) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert {limit["key"] for limit in queue.tag_concurrency_limits} == {
            "orchestrator/settlement",
            "orchestrator/prover-submit",
            "orchestrator/zkos-l1",
        }
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 3
        assert instance.run_monitoring_enabled

        result = materialize([deploy_check_asset], instance=instance)
        assert result.success
        run_id = result.run_id

    with DagsterInstance.from_config(home) as reopened:
        run = reopened.get_run_by_id(run_id)
        assert run is not None and run.is_success
        event = reopened.get_latest_materialization_event(AssetKey("deploy_check_asset"))
        assert event is not None and event.run_id == run_id
        metadata = event.asset_materialization.metadata
        assert metadata["last_block"].value == 419


@pytest.mark.postgres
def test_s3_compute_logs_variant_uploads_step_logs(
    deploy_env: None, aws_client, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=os.environ["DAGSTER_COMPUTE_LOGS_BUCKET"])
    home = _home_with(tmp_path, DEPLOY / "dagster.postgres-s3logs.yaml")

    @asset
    def noisy_step() -> None:
        print("settling batch 000042")

    with DagsterInstance.from_config(home) as instance:
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert materialize([noisy_step], instance=instance).success

    listed = s3.list_objects_v2(Bucket=os.environ["DAGSTER_COMPUTE_LOGS_BUCKET"], Prefix="dagster/logs/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    stdout_keys = [key for key in keys if key.endswith(".out")]
    assert stdout_keys, f"no step stdout uploaded; bucket holds {keys}"
    bodies = [
        s3.get_object(Bucket=os.environ["DAGSTER_COMPUTE_LOGS_BUCKET"], Key=key)["Body"].read()
        for key in stdout_keys
    ]
    assert any(b"settling batch 000042" in body for body in bodies)


@pytest.mark.postgres
def test_k8s_variant_starts_its_run_launcher(deploy_env: None, tmp_path: Path) -> None:
    config = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    launcher_config = config["run_launcher"]["config"]
    assert launcher_config["load_incluster_config"] is True
    # Outside a cluster the launcher reads the kubeconfig instead; nothing else changes.
    launcher_config["load_incluster_config"] = False
    launcher_config["kubeconfig_file"] = os.environ["KUBECONFIG"]
    home = _home_with(tmp_path, "", yaml.safe_dump(config))

    with DagsterInstance.from_config(home) as instance:
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "K8sRunLauncher"
        assert launcher.job_namespace == "orchestrator"
        assert launcher.instance_config_map == "dagster-instance"
        assert launcher.postgres_password_secret == "dagster-postgresql-secret"


@pytest.mark.postgres
def test_ecs_variant_resolves_its_task_definition(
    deploy_env: None, aws_client, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    ecs = aws_client("ecs")
    registered = ecs.register_task_definition(
        family=os.environ["DAGSTER_ECS_TASK_DEFINITION"],
        containerDefinitions=[{"name": "run", "image": "madara-dagster-orchestrator:0.1.0"}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
    )["taskDefinition"]
    aws_client("s3").create_bucket(Bucket=os.environ["DAGSTER_COMPUTE_LOGS_BUCKET"])
    home = _home_with(tmp_path, DEPLOY / "dagster.ecs.yaml")

    with DagsterInstance.from_config(home) as instance:
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "EcsRunLauncher"
        assert launcher.task_definition == registered["taskDefinitionArn"]
        assert "DAGSTER_PG_PASSWORD" not in launcher.env_vars
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"


def _render(source: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "render_instance_config.py"), str(source)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_rendered_limits_come_from_the_environment(deploy_env: None, tmp_path: Path) -> None:
    result = _render(
        DEPLOY / "dagster.postgres.yaml",
        ORCHESTRATOR_PROVER_SUBMIT_LIMIT="7",
        ORCHESTRATOR_MAX_CONCURRENT_RUNS="25",
    )
    assert result.returncode == 0, result.stderr
    config, _ = dagster_instance_config(_home_with(tmp_path, "", result.stdout))
    coordinator = config["run_coordinator"]["config"]
    assert coordinator["max_concurrent_runs"] == 25
    limits = {item["key"]: item["limit"] for item in coordinator["tag_concurrency_limits"]}
    assert limits == {"orchestrator/settlement": 1, "orchestrator/prover-submit": 7, "orchestrator/zkos-l1": 1}


def test_render_without_overrides_keeps_the_file_values() -> None:
    source = DEPLOY / "dagster.k8s.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "render_instance_config.py"), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == yaml.safe_load(source.read_text())


def test_render_rejects_a_bad_limit_in_one_line() -> None:
    result = _render(DEPLOY / "dagster.postgres.yaml", ORCHESTRATOR_PROVER_SUBMIT_LIMIT="two")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "render_instance_config: error: ORCHESTRATOR_PROVER_SUBMIT_LIMIT must be a positive integer, got 'two'"
    ]
