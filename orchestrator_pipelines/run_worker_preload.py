"""What the fork server of :mod:`orchestrator_pipelines.run_launcher` imports before forking run workers.

Everything a run imports before or during its steps and that costs CPU to
load: Dagster's run worker entry point, the code location (``defs``), and
the libraries the steps import only when they need them (web3.py and
eth-abi for L1, starknet-py for the node, ckzg with the trusted setup for
blobs), and the instance's storage classes with what they import
(SQLAlchemy, Alembic: about 0.6 s of CPU, which a worker otherwise pays in
``DagsterInstance.from_ref`` before its first event). Loading them here
once means a forked worker starts with them already in memory. Nothing here opens a connection: the server forks after
importing this, and a socket or thread made before a fork is not safe in
the child.
"""

from __future__ import annotations

import importlib
import os

import dagster._cli.api  # noqa: F401 - the run worker's entry point
import eth_abi  # noqa: F401
import starknet_py.net.full_node_client  # noqa: F401
import web3  # noqa: F401
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData

import orchestrator_pipelines.aggregation_derivation  # noqa: F401
import orchestrator_pipelines.assets.state_update  # noqa: F401
import orchestrator_pipelines.clients.l1_messaging  # noqa: F401
import orchestrator_pipelines.clients.settlement  # noqa: F401
import orchestrator_pipelines.definitions  # noqa: F401 - the code location
import orchestrator_pipelines.devnet.snos_runner  # noqa: F401 - the stand-in SNOS of `make dev` and the benchmarks
import orchestrator_pipelines.starknet.aggregator  # noqa: F401
import orchestrator_pipelines.starknet.da_segment  # noqa: F401
from orchestrator_pipelines import alembic_scripts
from orchestrator_pipelines.starknet import kzg

# What a run worker imports between its instance and its first step, whatever the instance file says.
for _module in (
    "dagster._core.storage.base_storage",
    "dagster._core.storage.root",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.execution.plan.active",
    "dagster._core.executor.in_process",
    "dagster._core.system_config.composite_descent",
    "upath.implementations.local",
):
    importlib.import_module(_module)


def _import_instance_classes() -> None:
    """The modules of the classes ``$DAGSTER_HOME/dagster.yaml`` names (storages, launcher, coordinator...).

    Reading the instance file opens nothing; only the classes' modules are imported, not instantiated.
    Without a readable instance file the workers import them themselves, as before.
    """
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    try:
        ref = InstanceRef.from_dir(home)
    except Exception:  # noqa: BLE001 - the worker reports a bad instance file itself, with Dagster's message
        return
    for value in ref._asdict().values():
        if isinstance(value, ConfigurableClassData):
            importlib.import_module(value.module_name)


def _read_alembic_scripts() -> None:
    """Dagster's migration scripts, read once here for every worker (see alembic_scripts.py)."""
    import dagster._core.storage.runs.sqlite.sqlite_run_storage as sqlite_runs
    from dagster._core.storage.sql import get_alembic_config

    alembic_scripts.install()
    alembic_scripts.KeptScriptDirectory.from_config(get_alembic_config(sqlite_runs.__file__)).as_revision_number("head")


_import_instance_classes()
_read_alembic_scripts()
kzg.trusted_setup()  # about 2 s of CPU, then shared by every worker (copy-on-write)
