"""What the fork server of :mod:`orchestrator_pipelines.run_launcher` imports before forking run workers.

Everything a run imports before or during its steps and that costs CPU to
load: Dagster's run worker entry point, the code location (``defs``), and
the libraries the steps import only when they need them (web3.py and
eth-abi for L1, starknet-py for the node, ckzg with the trusted setup for
blobs). Loading them here once means a forked worker starts with them
already in memory. Nothing here opens a connection: the server forks after
importing this, and a socket or thread made before a fork is not safe in
the child.
"""

from __future__ import annotations

import dagster._cli.api  # noqa: F401 - the run worker's entry point
import eth_abi  # noqa: F401
import starknet_py.net.full_node_client  # noqa: F401
import web3  # noqa: F401

import orchestrator_pipelines.aggregation_derivation  # noqa: F401
import orchestrator_pipelines.assets.state_update  # noqa: F401
import orchestrator_pipelines.clients.l1_messaging  # noqa: F401
import orchestrator_pipelines.clients.settlement  # noqa: F401
import orchestrator_pipelines.definitions  # noqa: F401 - the code location
import orchestrator_pipelines.devnet.snos_runner  # noqa: F401 - the stand-in SNOS of `make dev` and the benchmarks
import orchestrator_pipelines.starknet.aggregator  # noqa: F401
import orchestrator_pipelines.starknet.da_segment  # noqa: F401
from orchestrator_pipelines.starknet import kzg

kzg.trusted_setup()  # about 2 s of CPU, then shared by every worker (copy-on-write)
