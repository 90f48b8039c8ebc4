"""A local Ethereum L1 for the devnet and the tests: Foundry's anvil as a child process.

Anvil runs with the Osaka hardfork (Fusaka, on Ethereum mainnet since December
2025) so that blob (type-3) transactions, their EIP-7594 cell-proof wrapper and
the point-evaluation precompile at 0x0A behave as on mainnet; the settlement path
is therefore exercised for real rather than simulated.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.devnet.children import child_preexec
from orchestrator_pipelines.devnet.tools import NODE_BIN_DIR, find_node_tool
from orchestrator_pipelines.errors import OrchestratorError

DEFAULT_CHAIN_ID = 31337
DEFAULT_HARDFORK = "osaka"
# What ``node_modules/.bin/anvil`` links to; the platform packages sit beside it.
NPM_ANVIL_WRAPPER = NODE_BIN_DIR.parent / "@foundry-rs" / "anvil" / "bin.mjs"


@dataclass(frozen=True)
class DevAccount:
    address: str
    private_key: str


# The accounts anvil funds (10,000 ETH each) from its default test mnemonic
# "test test test test test test test test test test test junk".
DEV_ACCOUNTS: tuple[DevAccount, ...] = (
    DevAccount(
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    DevAccount(
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    DevAccount(
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    DevAccount(
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    DevAccount(
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
)
DEPLOYER_ACCOUNT = DEV_ACCOUNTS[0]
SETTLEMENT_ACCOUNT = DEV_ACCOUNTS[1]
FACT_REGISTRAR_ACCOUNT = DEV_ACCOUNTS[2]
# The devnet's L1 token bridge: withdrawals are messages to this address, consumed with its key.
L1_BRIDGE_ACCOUNT = DEV_ACCOUNTS[3]
# An L1 user who deposits to L2 (sendMessageToL2 to the L2 token bridge).
DEPOSITOR_ACCOUNT = DEV_ACCOUNTS[4]


def find_anvil() -> Path:
    """The anvil executable: ``$ORCHESTRATOR_ANVIL_BIN`` or the one npm installed.

    npm's ``node_modules/.bin/anvil`` is a Node.js wrapper that starts the native
    binary of the platform package and exits as soon as it forwarded a signal:
    waiting for it does not wait for anvil's state dump, and killing it (or its
    parent) leaves anvil running. So the native binary is run when it is there.
    """
    wrapper = find_node_tool("anvil", "ORCHESTRATOR_ANVIL_BIN")
    if wrapper.resolve() == NPM_ANVIL_WRAPPER.resolve():
        machine = platform.machine().lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
        native = NPM_ANVIL_WRAPPER.parent.parent / f"anvil-{sys.platform}-{arch}" / "bin" / "anvil"
        if native.is_file() and os.access(native, os.X_OK):
            return native
    return wrapper


class AnvilProcess:
    """An anvil child process bound to 127.0.0.1.

    ``block_time_s=None`` means automine (a block per transaction), which keeps
    tests fast; a block time makes the chain tick like a real one. With
    ``state_file`` the chain is loaded from and dumped to that file, so a
    devnet survives a restart.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time_s: float | None = None,
        state_file: Path | None = None,
        log_file: Path | None = None,
        hardfork: str = DEFAULT_HARDFORK,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.block_time_s = block_time_s
        self.state_file = Path(state_file) if state_file else None
        self.log_file = Path(log_file) if log_file else None
        self.hardfork = hardfork
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise OrchestratorError("anvil is not started yet: no URL")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        args = [
            str(find_anvil()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--hardfork", self.hardfork,
        ]
        if self.block_time_s is not None:
            args += ["--block-time", _format_seconds(self.block_time_s)]
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--state", str(self.state_file)]
        return args

    def start(self) -> str:
        """Start anvil and return its URL once ``eth_chainId`` answers."""
        if self.running:
            return self.url
        if self.port is None:
            self.port = free_port(self.host)
        command = self.command()
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_file, "ab")
        self._process = subprocess.Popen(
            command,
            stdout=self._log if self._log else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C reaches the owner, which then
            # stops anvil in order (after the services that use it).
            start_new_session=True,
            # A SIGTERM (state dumped) when the owner dies, even by SIGKILL.
            preexec_fn=child_preexec(),
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise OrchestratorError(
                    f"anvil exited with status {self._process.returncode} on port {self.port}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            try:
                answer = requests.post(self.url, json=payload, timeout=1.0).json()
                if int(answer["result"], 16) == self.chain_id:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise OrchestratorError(f"anvil did not answer eth_chainId on {self.url} within {self.startup_timeout_s} s")

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC call to this anvil (anvil_* and evm_* cheat methods included)."""
        answer = requests.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10
        ).json()
        if "error" in answer:
            raise OrchestratorError(f"anvil {method} failed: {json.dumps(answer['error'])}")
        return answer["result"]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate anvil (it dumps ``state_file`` on SIGTERM) and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "AnvilProcess":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))
