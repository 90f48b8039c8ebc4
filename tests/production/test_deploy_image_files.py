"""deploy/Dockerfile, workspace.grpc.yaml and helm/values.yaml agree with each other and the repo.

No Docker daemon is needed: the Dockerfile is parsed (continuations joined,
comments dropped) and checked for what a build would trip on.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._core.workspace.config_schema import process_workspace_config

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
KNOWN_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|PRIVATE_KEY|API_KEY|TOKEN)", re.IGNORECASE)


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if not full:
            continue
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def _exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _code_server_command(dockerfile: list[tuple[str, str]]) -> list[str]:
    commands = [args for keyword, args in dockerfile if keyword in ("CMD", "ENTRYPOINT")]
    assert commands, "Dockerfile has neither CMD nor ENTRYPOINT"
    return _exec_form(commands[-1])


def _flag(command: list[str], *names: str) -> str:
    for index, part in enumerate(command):
        if part in names:
            return command[index + 1]
    raise AssertionError(f"{names} not in {command}")


def test_dockerfile_instructions_are_known_and_from_comes_first(dockerfile) -> None:
    keywords = [keyword for keyword, _ in dockerfile]
    unknown = set(keywords) - KNOWN_INSTRUCTIONS
    assert not unknown, f"unknown Dockerfile instructions {unknown}"
    first_non_arg = next(keyword for keyword in keywords if keyword != "ARG")
    assert first_non_arg == "FROM"
    assert dict(dockerfile)["FROM"] == "python:3.11-slim"


def test_dockerfile_copies_only_existing_repo_paths(dockerfile) -> None:
    copies = [args for keyword, args in dockerfile if keyword in ("COPY", "ADD")]
    assert copies
    for args in copies:
        parts = [part for part in shlex.split(args) if not part.startswith("--")]
        *sources, _destination = parts
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} does not exist in the repo"


def test_dockerfile_copies_what_the_package_build_needs(dockerfile) -> None:
    copied = {
        source
        for keyword, args in dockerfile
        if keyword == "COPY"
        for source in shlex.split(args)[:-1]
    }
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "pyproject.toml" in copied
    assert pyproject["project"]["readme"] in copied
    for package in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert package.rstrip("*") in copied


def test_dockerfile_runs_the_code_server_as_a_non_root_user(dockerfile) -> None:
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    keywords = [keyword for keyword, _ in dockerfile]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")

    command = _code_server_command(dockerfile)
    assert command[:3] == ["dagster", "code-server", "start"]
    assert _flag(command, "-h", "--host") == "0.0.0.0"
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert _flag(command, "-m", "--module-name") == pyproject["tool"]["dagster"]["module_name"]
    exposed = [args for keyword, args in dockerfile if keyword == "EXPOSE"]
    assert exposed == [_flag(command, "-p", "--port")]


def test_dockerfile_bakes_in_no_secrets(dockerfile) -> None:
    for keyword, args in dockerfile:
        if keyword in ("ENV", "ARG"):
            assert not SECRET_NAME.search(args), f"{keyword} {args} looks like a secret"


def test_workspace_points_at_the_code_server_port(dockerfile, monkeypatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_CODE_SERVER_HOST", "orchestrator-code")
    raw = yaml.safe_load((DEPLOY / "workspace.grpc.yaml").read_text())
    result = process_workspace_config(raw)
    assert result.success, [error.message for error in result.errors]
    [entry] = result.value["load_from"]
    server = entry["grpc_server"]
    assert server["host"] == "orchestrator-code"
    assert str(server["port"]) == _flag(_code_server_command(dockerfile), "-p", "--port")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert server["location_name"] == pyproject["tool"]["dagster"]["code_location_name"]


def test_helm_values_use_the_image_port_and_limits_of_the_k8s_variant(dockerfile) -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    command = _code_server_command(dockerfile)
    assert str(deployment["port"]) == _flag(command, "-p", "--port")
    args = deployment["codeServerArgs"]
    assert _flag(args, "-m", "--module-name") == _flag(command, "-m", "--module-name")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert deployment["image"]["tag"] == pyproject["project"]["version"]
    assert deployment["image"]["repository"].endswith(pyproject["project"]["name"])
    run_as = deployment["securityContext"]["runAsUser"]
    assert f"--uid {run_as}" in " ".join(args for keyword, args in dockerfile if keyword == "RUN")

    k8s = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    daemon = values["dagsterDaemon"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert (
        daemon["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
        == k8s["run_coordinator"]["config"]["tag_concurrency_limits"]
    )
    assert daemon["runRetries"] == {
        "enabled": k8s["run_retries"]["enabled"],
        "maxRetries": k8s["run_retries"]["max_retries"],
        "retryOnAssetOrOpFailure": k8s["run_retries"]["retry_on_asset_or_op_failure"],
    }
    assert daemon["sensors"]["useThreads"] is True and daemon["backfills"]["useThreads"] is True
    assert values["telemetry"]["enabled"] is False
    assert values["postgresql"]["enabled"] is False
    assert "postgresqlPassword" not in values["postgresql"]


def test_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse_dockerfile("# c\nFROM a\nRUN x \\\n  # inner\n  && y\nCMD [\"z\"]\n")
    assert parsed == [("FROM", "a"), ("RUN", "x  && y"), ("CMD", '["z"]')]
