"""The Grafana dashboard and Prometheus rules use only metric names the exporter exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orchestrator_pipelines.metrics.registry import OrchestratorMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC_NAME = re.compile(r"\borchestrator_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed_series_names() -> dict[str, str]:
    """Series name -> family name, for every metric in the registry."""
    names = {}
    for family in OrchestratorMetrics().registry.collect():
        for suffix in SUFFIXES[family.type]:
            names[family.name + suffix] = family.name
    return names


@pytest.fixture(scope="module")
def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "orchestrator-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs
    return exprs


@pytest.fixture(scope="module")
def rule_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert exprs
    return exprs


def test_dashboard_queries_name_real_series(dashboard_exprs: list[str]) -> None:
    exposed = exposed_series_names()
    for expr in dashboard_exprs:
        used = METRIC_NAME.findall(expr)
        assert used, f"panel query names no orchestrator metric: {expr}"
        unknown = set(used) - set(exposed)
        assert not unknown, f"{expr} uses {unknown}, not exposed by the exporter"


def test_dashboard_shows_every_metric_family(dashboard_exprs: list[str]) -> None:
    exposed = exposed_series_names()
    shown = {exposed[name] for expr in dashboard_exprs for name in METRIC_NAME.findall(expr)}
    assert shown == set(exposed.values())


def test_dashboard_is_importable_shape() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "orchestrator-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_alert_rules_name_real_series(rule_exprs: list[str]) -> None:
    exposed = exposed_series_names()
    for expr in rule_exprs:
        unknown = set(METRIC_NAME.findall(expr)) - set(exposed)
        assert not unknown, f"{expr} uses {unknown}"
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for rule in (r for group in rules["groups"] for r in group["rules"]):
        assert rule["alert"].startswith("Orchestrator")
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_deploy_readme_lists_every_metric_with_its_type() -> None:
    readme = (DEPLOY / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(orchestrator_[a-z0-9_]+)` \| (\w+) \|", readme, re.MULTILINE))
    expected = {}
    for family in OrchestratorMetrics().registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        expected[name] = family.type
    assert rows == expected
