"""The ZKsync OS code location, as the webserver serves it, shows none of its secrets.

Its three L1 keys (commit, prove, execute), the settlement key and the Slack
webhook are set to values of this test's own; the webserver runs
``orchestrator_pipelines.definitions`` with ``ORCHESTRATOR_STACK=zksync_os``
against an instance on PostgreSQL, and its GraphQL answers (resources with their
config, each job's run config schema, sensors, assets, the instance page) must
hold no spelling of any of them. No devnet: what the UI shows of a code location
does not depend on batches, and the Starknet stack's settled run is searched by
tests/production/test_pipeline_on_postgres.py.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from eth_account import Account

from tests.production.postgres_instance import pg_environ, render_postgres_home
from tests.production.secret_scan import SecretScan, scan_webserver
from tests.ui.deployment import SettledDeployment, Webserver

pytestmark = pytest.mark.postgres


def test_zksync_os_resources_and_run_config_show_no_key(tmp_path: Path, pg_env: str):
    keys = {f"ZKsync OS {step} key": "0x" + Account.create().key.hex().removeprefix("0x") for step in ("commit", "prove", "execute")}
    known = {**keys, "L1 settlement key": "0x" + Account.create().key.hex().removeprefix("0x"),
             "Slack webhook URL": f"https://hooks.slack.com/services/T0/B0/{secrets.token_hex(12)}"}
    env = {
        **pg_environ(),
        "ORCHESTRATOR_STACK": "zksync_os",
        "ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS": "0x" + "11" * 20,
        "ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY": keys["ZKsync OS commit key"],
        "ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY": keys["ZKsync OS prove key"],
        "ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY": keys["ZKsync OS execute key"],
        "ORCHESTRATOR_ETHEREUM_PRIVATE_KEY": known["L1 settlement key"],
        "ORCHESTRATOR_SLACK_WEBHOOK_URL": known["Slack webhook URL"],
        "ORCHESTRATOR_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    home = render_postgres_home(tmp_path / "dagster_home")
    webserver = Webserver(SettledDeployment(home=home, env=env, batch_keys=[], metadata={}))
    scan = SecretScan(known)
    try:
        shown = scan_webserver(scan, webserver.start())
    finally:
        webserver.stop()
    assert shown["resources"] >= 6, shown
    scan.tree(home, "DAGSTER_HOME")
    assert not scan.leaks, f"{len(scan.leaks)} leaks in {scan.places} places searched: " + "; ".join(scan.leaks[:20])
