"""A Dagster instance on PostgreSQL keeps working across a restart of the server.

The instance is the deployment's (deploy/dagster.postgres.yaml) on a private
cluster (tests/production/private_postgres.py), so the server can be
restarted, which the shared one on 127.0.0.1:5432 must not be. Every
dagster-postgres storage opens a connection per operation (no pool), so the
first call after the restart must succeed without any reconnect logic of
ours; and what was written before the restart must still be there (an
immediate stop skips the shutdown checkpoint: crash recovery replays the WAL).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from tests.production.postgres_instance import render_postgres_home
from tests.production.private_postgres import PrivateCluster

PARTITIONS = "restart_probe"


def test_the_instance_survives_an_immediate_restart_of_its_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with PrivateCluster() as cluster:
        for name, value in cluster.environ(cluster.create_database("dagster")).items():
            monkeypatch.setenv(name, value)  # the rendered dagster.yaml names them; the instance reads them
        home = render_postgres_home(tmp_path / "home")
        with DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(PARTITIONS, ["before"])
            down_s = cluster.restart("immediate")
            assert cluster.restarts == 1 and down_s < 30
            assert instance.get_dynamic_partitions(PARTITIONS) == ["before"]
            instance.add_dynamic_partitions(PARTITIONS, ["after"])
            assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["after", "before"]
        root = cluster.root
    assert not root.exists(), "the cluster's directory was not removed"
