"""The ZKsync OS devnet in one object: anvil with the chain's L1 contracts, the node, the prover API, fake provers.

What ``orchestrator dev`` starts with ``ORCHESTRATOR_STACK=zksync_os`` and what
the end-to-end tests and ``make bench-zksync`` use. The L1 side (Bridgehub,
chain type manager, diamond, validator timelock with one role per key,
verifier, DA validator, Mailbox) is deployed by
:mod:`orchestrator_pipelines.devnet.zksync_os.l1_deploy` with batch 0 set to
the node's genesis. The node reads deposits and commit/execute from that L1.
Provers are separate from the API and talk to it over HTTP, as real ones do;
``fake_provers=False`` leaves the jobs for provers started elsewhere.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator_pipelines.devnet.anvil import DEFAULT_CHAIN_ID, DEV_ACCOUNTS, AnvilProcess
from orchestrator_pipelines.devnet.zksync_os.node import NodeConfig, ZkOsNode
from orchestrator_pipelines.devnet.zksync_os.node_chain import Chain, ChainConfig
from orchestrator_pipelines.zksync_os.prover_api.fake_provers import FakeProver, FakeProverConfig
from orchestrator_pipelines.zksync_os.prover_api.server import ProverApiServer
from orchestrator_pipelines.zksync_os.prover_api.store import ProverApiLimits, ProverJobStore

log = logging.getLogger(__name__)

DEPLOYER, COMMITTER, PROVER, EXECUTOR, DEPOSITOR = DEV_ACCOUNTS[:5]
INFO_FILE = "zksync_os_devnet.json"


@dataclass
class ZkOsDevnetConfig:
    state_dir: Path
    l2_chain_id: int = 270
    l1_chain_id: int = DEFAULT_CHAIN_ID
    block_time_s: float = 1.0
    validium: bool = False
    execution_delay_s: int = 0
    seed: int = 0
    fake_provers: bool = True
    fri_provers: int = 2
    prover_compute_time_s: float = 0.0
    snark_poll_interval_s: float = 1.0
    limits: ProverApiLimits = ProverApiLimits()
    prover_api_database_url: str | None = None  # default: a SQLite file in state_dir
    node_chain: ChainConfig | None = None


class ZkOsDevnet:
    def __init__(self, config: ZkOsDevnetConfig):
        self.config = config
        self.anvil: AnvilProcess | None = None
        self.node: ZkOsNode | None = None
        self.prover_api: ProverApiServer | None = None
        self.provers: list[FakeProver] = []
        self.l1: Any = None

    def chain_config(self) -> ChainConfig:
        return self.config.node_chain or ChainConfig(chain_id=self.config.l2_chain_id, seed=self.config.seed)

    def genesis_state_commitment(self) -> bytes:
        """The node's batch-0 state commitment (deterministic), which L1 is created with."""
        return Chain(self.chain_config(), [a.address for a in DEV_ACCOUNTS]).blocks[0].state_commitment

    def start(self) -> ZkOsDevnet:
        from orchestrator_pipelines.devnet.zksync_os.l1_deploy import deploy_zksync_os_l1, write_deployment
        from orchestrator_pipelines.zksync_os.model import DAMode, genesis_stored_batch_info

        state = Path(self.config.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self.anvil = AnvilProcess(chain_id=self.config.l1_chain_id, log_file=state / "anvil.log")
        self.anvil.start()
        self.l1 = deploy_zksync_os_l1(
            self.anvil.url,
            DEPLOYER.private_key,
            chain_id=self.config.l2_chain_id,
            genesis=genesis_stored_batch_info(self.genesis_state_commitment()),
            committer=COMMITTER.address,
            prover=PROVER.address,
            executor=EXECUTOR.address,
            da_mode=DAMode.VALIDIUM if self.config.validium else DAMode.ROLLUP,
            execution_delay_s=self.config.execution_delay_s,
        )
        write_deployment(state / "l1_contracts.json", self.l1)
        self.node = ZkOsNode(NodeConfig(
            block_time_s=self.config.block_time_s, chain=self.chain_config(),
            l1_rpc_url=self.anvil.url, l1_diamond_address=self.l1.diamond,
        ))
        self.node.start()
        store = ProverJobStore(self.config.prover_api_database_url or str(state / "prover_api.sqlite"), self.config.limits)
        self.prover_api = ProverApiServer(store)
        self.prover_api.start()
        if self.config.fake_provers:
            self.start_provers()
        (state / INFO_FILE).write_text(json.dumps(self.info(), indent=1))
        return self

    def start_provers(self) -> None:
        for index in range(self.config.fri_provers):
            self._start_prover(FakeProverConfig(kind="fri", prover_id=f"fake-fri-{index}", poll_interval_s=0.5,
                                                compute_time_s=self.config.prover_compute_time_s, seed=index))
        self._start_prover(FakeProverConfig(kind="snark", prover_id="fake-snark",
                                            poll_interval_s=self.config.snark_poll_interval_s))

    def _start_prover(self, config: FakeProverConfig) -> FakeProver:
        prover = FakeProver(self.prover_api.url, config)
        prover.start_thread()
        self.provers.append(prover)
        return prover

    def deposit(self, *, amount_wei: int, to: str, private_key: str = DEPOSITOR.private_key) -> bytes:
        """An L1→L2 deposit through the chain's Mailbox entry; returns its canonical (priority tree) hash."""
        from orchestrator_pipelines.devnet.zksync_os.l1_deploy import request_deposit

        tx_hash, _ = request_deposit(self.anvil.url, private_key, self.l1.diamond, to=to, amount_wei=amount_wei)
        return tx_hash

    def info(self) -> dict[str, Any]:
        return {
            "l1": {"rpc_url": self.anvil.url, "chain_id": self.config.l1_chain_id, "bridgehub": self.l1.bridgehub,
                   "diamond": self.l1.diamond, "validium": self.config.validium,
                   "execution_delay_s": self.config.execution_delay_s},
            "l2": {"rpc_url": self.node.url, "chain_id": self.config.l2_chain_id},
            "prover_api": {"url": self.prover_api.url},
            "keys": {"commit": COMMITTER.private_key, "prove": PROVER.private_key, "execute": EXECUTOR.private_key,
                     "depositor": DEPOSITOR.private_key},
        }

    def orchestrator_env(self, artifacts_dir: str | Path) -> dict[str, str]:
        """The ``ORCHESTRATOR_*`` environment of a deployment settling this devnet (public anvil keys)."""
        info = self.info()
        return {
            "ORCHESTRATOR_PROFILE": "devnet",
            "ORCHESTRATOR_STACK": "zksync_os",
            "ORCHESTRATOR_ETHEREUM_RPC_URL": info["l1"]["rpc_url"],
            "ORCHESTRATOR_ZKOS_RPC_URL": info["l2"]["rpc_url"],
            "ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS": info["l1"]["bridgehub"],
            "ORCHESTRATOR_ZKOS_CHAIN_ID": str(info["l2"]["chain_id"]),
            "ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY": info["keys"]["commit"],
            "ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY": info["keys"]["prove"],
            "ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY": info["keys"]["execute"],
            "ORCHESTRATOR_PROVER_API_URL": info["prover_api"]["url"],
            # Anvil mines a block per transaction, so none would come on top of the last one sent:
            # the devnet waits for inclusion only, where a real chain keeps the default of 3.
            "ORCHESTRATOR_L1_CONFIRMATIONS": "0",
            "ORCHESTRATOR_ARTIFACT_STORE": "local",
            "ORCHESTRATOR_ARTIFACTS_DIR": str(Path(artifacts_dir).resolve()),
        }

    def stop(self) -> None:
        for prover in self.provers:
            prover.stop()
        self.provers = []
        if self.prover_api is not None:
            self.prover_api.stop()
        if self.node is not None:
            self.node.stop()
        if self.anvil is not None:
            self.anvil.stop()

    def __enter__(self) -> ZkOsDevnet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
