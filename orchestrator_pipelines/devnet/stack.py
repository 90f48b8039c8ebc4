"""The whole local devnet in one object: L1 (anvil + contracts), the Starknet node and the prover.

``DevnetStack`` is what ``orchestrator devnet up`` runs in the foreground and
what end-to-end tests use as a fixture. Every service binds 127.0.0.1 on a
free port unless one is configured; everything it knows (URLs, chain ids,
contract addresses, which key settles and which registers facts, the prover
API key) goes to ``<state_dir>/devnet.json`` for the orchestrator's config.

With ``persist`` the chains survive a restart: anvil dumps its state to the
state directory, the node replays its block log, and the contracts recorded in
``devnet.json`` are reused when their code is still on the L1.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from orchestrator_pipelines.devnet.anvil import (
    DEFAULT_CHAIN_ID,
    DEPLOYER_ACCOUNT,
    DEPOSITOR_ACCOUNT,
    FACT_REGISTRAR_ACCOUNT,
    L1_BRIDGE_ACCOUNT,
    SETTLEMENT_ACCOUNT,
    AnvilProcess,
    DevAccount,
)
from orchestrator_pipelines.devnet.l1_deploy import (
    CoreContractBuild,
    DeployedContracts,
    aggregator_program_hash,
    deploy_settlement_contracts,
    is_operator,
    load_core_contract_build,
    transfer_fact_registry_ownership,
    write_addresses,
)
from orchestrator_pipelines.devnet.prover import ProverConfig, ProverServer
from orchestrator_pipelines.devnet.snos_runner import (
    DEVNET_AGGREGATOR_FACT_PROGRAM_HASH,
    DEVNET_OS_CONFIG_HASH,
    DEVNET_OS_PROGRAM_HASH,
)
from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.devnet.starknet_node.generator import (
    BRIDGED_TOKEN_ADDRESS,
    HANDLE_DEPOSIT_SELECTOR,
    L2_TOKEN_BRIDGE_ADDRESS,
)
from orchestrator_pipelines.errors import OrchestratorError

log = logging.getLogger(__name__)

DEVNET_INFO_FILE = "devnet.json"
CONTRACTS_FILE = "l1_contracts.json"
DEFAULT_PROVER_API_KEY = "devnet-api-key"


@dataclass(frozen=True)
class GenesisBlock:
    """The appchain's block 0, which the core contract starts from."""

    block_number: int
    root: int
    block_hash: int


@dataclass
class DevnetConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    block_time_s: float = 2.0
    l1_block_time_s: float | None = None
    l1_chain_id: int = DEFAULT_CHAIN_ID
    prover_delay_s: float = 5.0
    prover_failure_rate: float = 0.0
    prover_api_key: str = DEFAULT_PROVER_API_KEY
    seed: int = 0
    anvil_port: int | None = None
    starknet_port: int = 0
    prover_port: int = 0
    persist: bool = True
    node_options: dict[str, Any] = field(default_factory=dict)
    # A compiled core contract (JSON with abi and bytecode) to deploy instead of the project's own.
    core_contract_artifact: Path | None = None
    # The key that settles, instead of anvil's well-known one (the secret-leak tests need a value of
    # their own to search for); made an operator of the core contract and funded at start.
    settlement_account: DevAccount | None = None


class DevnetStack:
    """Starts anvil, the Starknet node, the contracts and the prover; stops them in reverse."""

    def __init__(self, config: DevnetConfig) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.anvil: AnvilProcess | None = None
        self.node: NodeServer | None = None
        self.prover: ProverServer | None = None
        self.genesis: GenesisBlock | None = None
        self.contracts: DeployedContracts | None = None
        self.settlement_account: DevAccount = config.settlement_account or SETTLEMENT_ACCOUNT
        self.fact_registrar_account: DevAccount = FACT_REGISTRAR_ACCOUNT
        self.deployer_account: DevAccount = DEPLOYER_ACCOUNT
        self.l1_bridge_account: DevAccount = L1_BRIDGE_ACCOUNT
        self.depositor_account: DevAccount = DEPOSITOR_ACCOUNT
        self.core_contract_build: CoreContractBuild | None = None

    # ---- lifecycle -------------------------------------------------------------

    def start(self) -> "DevnetStack":
        if self.config.core_contract_artifact is not None:
            # Read before starting anything: a bad file is one error, not a half-started devnet.
            self.core_contract_build = load_core_contract_build(self.config.core_contract_artifact)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_anvil()
            self._fund_settlement_account()
            self._start_node()
            self.genesis = self._read_genesis()
            self.contracts = self._reuse_contracts() or self._deploy_contracts()
            assert self.node is not None
            self.node.watch_l1(self.l1_rpc_url, self.contracts.core_contract)
            self._start_prover()
            self.write_info()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop whatever is running; safe to call more than once and after a failed start."""
        for name in ("prover", "node", "anvil"):
            service = getattr(self, name)
            if service is None:
                continue
            try:
                service.stop()
            except Exception:  # keep stopping the rest
                log.exception("stopping the devnet %s failed", name)
            setattr(self, name, None)

    def __enter__(self) -> "DevnetStack":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- the services -------------------------------------------------------------

    def _start_anvil(self) -> None:
        cfg = self.config
        self.anvil = AnvilProcess(
            host=cfg.host,
            port=cfg.anvil_port or None,
            chain_id=cfg.l1_chain_id,
            block_time_s=cfg.l1_block_time_s,
            state_file=self.state_dir / "anvil-state.json" if cfg.persist else None,
            log_file=self.state_dir / "anvil.log",
        )
        self.anvil.start()

    def _fund_settlement_account(self) -> None:
        """Anvil funds only its own accounts: a settlement key of one's own gets 100 ETH."""
        if self.config.settlement_account is not None:
            assert self.anvil is not None
            self.anvil.rpc("anvil_setBalance", self.settlement_account.address, hex(100 * 10**18))

    def _start_node(self) -> None:
        cfg = self.config
        self.node = NodeServer(
            NodeConfig(
                host=cfg.host,
                port=cfg.starknet_port,
                block_time_s=cfg.block_time_s,
                seed=cfg.seed,
                data_dir=self.state_dir / "starknet" if cfg.persist else None,
                l1_bridge_address=int(self.l1_bridge_account.address, 16),
                **cfg.node_options,
            )
        )
        self.node.start()

    def _start_prover(self) -> None:
        cfg = self.config
        assert self.contracts is not None
        self.prover = ProverServer(
            ProverConfig(
                host=cfg.host,
                port=cfg.prover_port,
                api_key=cfg.prover_api_key,
                proving_delay_s=cfg.prover_delay_s,
                failure_rate=cfg.prover_failure_rate,
                seed=cfg.seed,
                l1_rpc_url=self.l1_rpc_url,
                fact_registry_address=self.contracts.fact_registry,
                registrar_private_key=self.fact_registrar_account.private_key,
                data_dir=str(self.state_dir / "prover"),
            )
        )
        self.prover.start()

    def _read_genesis(self) -> GenesisBlock:
        update = self.starknet_rpc("starknet_getStateUpdate", {"block_number": 0})
        block = self.starknet_rpc("starknet_getBlockWithTxHashes", {"block_number": 0})
        return GenesisBlock(
            block_number=int(block["block_number"]),
            root=int(update["new_root"], 16),
            block_hash=int(block["block_hash"], 16),
        )

    def _deploy_contracts(self) -> DeployedContracts:
        assert self.genesis is not None
        deployed = deploy_settlement_contracts(
            self.l1_rpc_url,
            self.deployer_account.private_key,
            program_hash=DEVNET_OS_PROGRAM_HASH,
            aggregator_program_hash=DEVNET_AGGREGATOR_FACT_PROGRAM_HASH,
            config_hash=DEVNET_OS_CONFIG_HASH,
            genesis_root=self.genesis.root,
            genesis_block_number=self.genesis.block_number,
            genesis_block_hash=self.genesis.block_hash,
            operators=[self.settlement_account.address],
            core_contract_build=self.core_contract_build,
        )
        transfer_fact_registry_ownership(
            self.l1_rpc_url,
            self.deployer_account.private_key,
            deployed.fact_registry,
            self.fact_registrar_account.address,
        )
        write_addresses(self.state_dir / CONTRACTS_FILE, deployed)
        return deployed

    def _reuse_contracts(self) -> DeployedContracts | None:
        """The contracts of a previous run, if the persisted L1 still has them for the same genesis.

        A core contract on which the settlement account is not an operator (for
        instance one deployed before the operator role existed) is not reused:
        every state update would revert with ONLY_OPERATOR; nor is one without the
        devnet's aggregator program hash (deployed before the fact rule).
        """
        info_path = self.state_dir / DEVNET_INFO_FILE
        if not (self.config.persist and info_path.is_file()):
            return None
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            l1 = info["l1"]
            previous_genesis = GenesisBlock(**info["starknet"]["genesis"])
            previous_build = l1.get("core_contract_build_sha256")
            deployed = DeployedContracts(
                core_contract=l1["core_contract"],
                fact_registry=l1["fact_registry"],
                deployer=l1["deployer"],
                chain_id=int(l1["chain_id"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if previous_genesis != self.genesis or deployed.chain_id != self.config.l1_chain_id:
            return None
        if previous_build != self._build_sha256:
            return None  # another core contract build was asked for
        assert self.anvil is not None
        for address in (deployed.core_contract, deployed.fact_registry):
            if self.anvil.rpc("eth_getCode", address, "latest") in ("0x", "0x0", None):
                return None
        has_operator_role = self.core_contract_build is None or self.core_contract_build.has_operator_role
        if has_operator_role and not is_operator(
            self.l1_rpc_url, deployed.core_contract, self.settlement_account.address
        ):
            return None
        if aggregator_program_hash(self.l1_rpc_url, deployed.core_contract) != DEVNET_AGGREGATOR_FACT_PROGRAM_HASH:
            return None  # deployed before the aggregator fact rule: it would not check os_program_hash
        return deployed

    @property
    def _build_sha256(self) -> str | None:
        """The sha256 of the core contract artifact file deployed, None for the project's own build."""
        return self.core_contract_build.sha256 if self.core_contract_build is not None else None

    # ---- what the stack exposes -------------------------------------------------------------

    @property
    def l1_rpc_url(self) -> str:
        return self._running(self.anvil, "anvil").url

    @property
    def starknet_rpc_url(self) -> str:
        return self._running(self.node, "Starknet node").url

    @property
    def prover_url(self) -> str:
        return self._running(self.prover, "prover").url

    @property
    def core_contract(self) -> str:
        return self._running(self.contracts, "core contract").core_contract

    @property
    def fact_registry(self) -> str:
        return self._running(self.contracts, "fact registry").fact_registry

    @property
    def settlement_key(self) -> str:
        return self.settlement_account.private_key

    @property
    def info_path(self) -> Path:
        return self.state_dir / DEVNET_INFO_FILE

    @staticmethod
    def _running(value: Any, what: str) -> Any:
        if value is None:
            raise OrchestratorError(f"the devnet {what} is not running; start the stack first")
        return value

    def info(self) -> dict[str, Any]:
        """Everything a client of the devnet needs, as written to ``devnet.json``."""
        genesis = self._running(self.genesis, "Starknet node")
        contracts = self._running(self.contracts, "L1 contracts")
        cfg = self.config
        return {
            "state_dir": str(self.state_dir.resolve()),
            "starknet": {
                "rpc_url": self.starknet_rpc_url,
                "chain_id": self.node.config.chain_id if self.node else None,
                "starknet_version": self.node.config.starknet_version if self.node else None,
                "block_time_s": cfg.block_time_s,
                "seed": cfg.seed,
                "genesis": asdict(genesis),
            },
            "l1": {
                "rpc_url": self.l1_rpc_url,
                "chain_id": contracts.chain_id,
                "core_contract": contracts.core_contract,
                "fact_registry": contracts.fact_registry,
                "deployer": contracts.deployer,
                "program_hash": hex(DEVNET_OS_PROGRAM_HASH),
                "aggregator_program_hash": hex(DEVNET_AGGREGATOR_FACT_PROGRAM_HASH),
                "core_contract_artifact": self.core_contract_build.source if self.core_contract_build else None,
                "core_contract_build_sha256": self._build_sha256,
                "config_hash": hex(DEVNET_OS_CONFIG_HASH),
                # Anvil's well-known development keys, public by design.
                "settlement_account": asdict(self.settlement_account),
                "fact_registrar_account": asdict(self.fact_registrar_account),
            },
            "messaging": {
                "l2_token_bridge": hex(L2_TOKEN_BRIDGE_ADDRESS),
                "bridged_token": hex(BRIDGED_TOKEN_ADDRESS),
                "deposit_selector": hex(HANDLE_DEPOSIT_SELECTOR),
                "withdrawal_every": self.node.config.withdrawal_every if self.node else None,
                "l1_bridge_account": asdict(self.l1_bridge_account),
                "depositor_account": asdict(self.depositor_account),
            },
            "prover": {
                "url": self.prover_url,
                "api_key": cfg.prover_api_key,
                "proving_delay_s": cfg.prover_delay_s,
                "failure_rate": cfg.prover_failure_rate,
            },
        }

    def write_info(self) -> Path:
        path = self.info_path
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.info(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    def starknet_rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call to the Starknet node."""
        answer = requests.post(
            self.starknet_rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=10,
        ).json()
        if "error" in answer:
            raise OrchestratorError(f"Starknet node {method} failed: {json.dumps(answer['error'])}")
        return answer["result"]

    def starknet_block_number(self) -> int:
        return int(self.starknet_rpc("starknet_blockNumber"))


def load_devnet_info(state_dir: Path) -> dict[str, Any]:
    """Read ``<state_dir>/devnet.json`` written by a running stack."""
    path = Path(state_dir) / DEVNET_INFO_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OrchestratorError(f"{path} does not exist; start the devnet with `orchestrator devnet up`") from None
    except json.JSONDecodeError as exc:
        raise OrchestratorError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
