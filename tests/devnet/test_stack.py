"""DevnetStack and `orchestrator devnet up`: every service up on free ports, wired together."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import requests
from web3 import Web3

from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient
from orchestrator_pipelines.devnet.l1_deploy import read_addresses, register_fact
from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.devnet.settlement_sample import BLOB_SIZE, build_kzg_settlement_input, random_blob
from orchestrator_pipelines.devnet.snos_runner import (
    DEVNET_OS_CONFIG_HASH,
    DEVNET_OS_PROGRAM_HASH,
    DevnetSnosRunner,
)
from orchestrator_pipelines.devnet.stack import CONTRACTS_FILE, DevnetConfig, DevnetStack, load_devnet_info
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.blob import felts_to_blobs
from orchestrator_pipelines.starknet.kzg import compute_point_proof

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def answers(url: str) -> bool:
    try:
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
        return True
    except requests.RequestException:
        return False


@pytest.fixture()
def stack(tmp_path: Path):
    with DevnetStack(DevnetConfig(state_dir=tmp_path / "devnet", block_time_s=0.3, prover_delay_s=0.2)) as running:
        yield running


def test_stack_starts_everything_and_blocks_advance(stack: DevnetStack) -> None:
    first = stack.starknet_block_number()
    wait_until(lambda: stack.starknet_block_number() >= first + 2, 10, "two new Starknet blocks")

    info = json.loads(stack.info_path.read_text())
    assert info == load_devnet_info(stack.state_dir)
    assert info["starknet"]["rpc_url"] == stack.starknet_rpc_url
    assert info["l1"]["rpc_url"] == stack.l1_rpc_url
    assert info["prover"]["url"] == stack.prover_url
    assert info["l1"]["core_contract"] == stack.core_contract
    assert info["l1"]["fact_registry"] == stack.fact_registry
    assert info["l1"]["settlement_account"]["private_key"] == stack.settlement_key
    assert info["l1"]["settlement_account"]["address"] != info["l1"]["fact_registrar_account"]["address"]
    assert read_addresses(stack.state_dir / CONTRACTS_FILE).core_contract == stack.core_contract
    assert requests.get(stack.prover_url + "/is-alive", timeout=5).status_code == 200

    client = SettlementClient(stack.l1_rpc_url, stack.settlement_key, stack.core_contract, stack.fact_registry)
    genesis = info["starknet"]["genesis"]
    assert client.state() == CoreState(genesis["block_number"], genesis["root"], genesis["block_hash"])
    node_genesis = stack.starknet_rpc("starknet_getStateUpdate", {"block_number": 0})
    assert int(node_genesis["new_root"], 16) == genesis["root"]
    assert client.program_hash() == DEVNET_OS_PROGRAM_HASH
    assert client.config_hash() == DEVNET_OS_CONFIG_HASH
    w3 = Web3(Web3.HTTPProvider(stack.l1_rpc_url))
    owner_abi = [{"type": "function", "name": "owner", "stateMutability": "view", "inputs": [],
                  "outputs": [{"name": "", "type": "address"}]}]
    registry = w3.eth.contract(address=stack.fact_registry, abi=owner_abi)
    assert registry.functions.owner().call() == info["l1"]["fact_registrar_account"]["address"]


def test_settlement_on_the_stack_with_its_keys(stack: DevnetStack) -> None:
    info = stack.info()
    client = SettlementClient(stack.l1_rpc_url, stack.settlement_key, stack.core_contract, stack.fact_registry)
    genesis = client.state()
    sample = build_kzg_settlement_input(
        [random_blob(bytes(BLOB_SIZE))],
        prev_root=genesis.root,
        new_root=genesis.root + 1,
        prev_block_number=genesis.block_number,
        new_block_number=genesis.block_number + 3,
        prev_block_hash=genesis.block_hash,
        new_block_hash=7,
        program_hash=DEVNET_OS_PROGRAM_HASH,
        config_hash=DEVNET_OS_CONFIG_HASH,
    )
    register_fact(
        stack.l1_rpc_url, info["l1"]["fact_registrar_account"]["private_key"], stack.fact_registry, sample.fact
    )
    client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    assert client.state().block_number == genesis.block_number + 3


def test_devnet_snos_output_settles_on_the_stack(stack: DevnetStack, tmp_path: Path) -> None:
    """The devnet OS output of real node blocks, its blobs and its fact pass the core contract."""
    wait_until(lambda: stack.starknet_block_number() >= 3, 15, "three Starknet blocks")
    runner = DevnetSnosRunner(stack.starknet_rpc_url)
    result = runner.run(1, 3, tmp_path / "snos")
    output, felts = runner.os_output(1, 3)
    blobs = felts_to_blobs(felts)
    proofs = [compute_point_proof(blob, output.kzg.x0)[0] for blob in blobs]
    register_fact(stack.l1_rpc_url, stack.fact_registrar_account.private_key, stack.fact_registry, result.fact)

    client = SettlementClient(stack.l1_rpc_url, stack.settlement_key, stack.core_contract, stack.fact_registry)
    client.update_state_kzg_da(result.program_output, proofs, blobs)

    block_3 = stack.starknet_rpc("starknet_getBlockWithTxHashes", {"block_number": 3})
    state_3 = stack.starknet_rpc("starknet_getStateUpdate", {"block_number": 3})
    assert client.state() == CoreState(3, int(state_3["new_root"], 16), int(block_3["block_hash"], 16))


def test_restart_keeps_chains_and_contracts(tmp_path: Path) -> None:
    config = DevnetConfig(state_dir=tmp_path / "devnet", block_time_s=0.2, prover_delay_s=0.2)
    with DevnetStack(config) as first:
        wait_until(lambda: first.starknet_block_number() >= 2, 10, "Starknet blocks")
        head = first.starknet_block_number()
        register_fact(first.l1_rpc_url, first.fact_registrar_account.private_key, first.fact_registry, b"\x05" * 32)
        contracts = (first.core_contract, first.fact_registry)
    with DevnetStack(config) as second:
        assert (second.core_contract, second.fact_registry) == contracts
        assert second.starknet_block_number() >= head
        client = SettlementClient(second.l1_rpc_url, second.settlement_key, second.core_contract, second.fact_registry)
        assert client.is_fact_valid(b"\x05" * 32)


def test_failed_start_stops_what_was_started(tmp_path: Path) -> None:
    """The prover's port is taken: the start fails and anvil and the node are stopped again."""
    anvil_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = DevnetConfig(
            state_dir=tmp_path / "devnet", anvil_port=anvil_port, prover_port=taken.getsockname()[1], persist=False
        )
        stack = DevnetStack(config)
        with pytest.raises(OSError):
            stack.start()
    assert (tmp_path / "devnet" / "anvil.log").is_file()
    assert not answers(f"http://127.0.0.1:{anvil_port}")
    assert stack.anvil is None and stack.node is None and stack.prover is None
    with pytest.raises(OrchestratorError, match="not running"):
        _ = stack.l1_rpc_url


def test_cli_devnet_up_prints_blocks_and_stops_on_sigterm(tmp_path: Path) -> None:
    state_dir = tmp_path / "cli-devnet"
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from orchestrator_pipelines.cli import main; sys.exit(main())",
         "devnet", "up", "--state-dir", str(state_dir),
         "--block-time", "0.3", "--prover-delay", "0.5", "--no-persist"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum("starknet block" in line for line in lines) < 2:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        assert sum("starknet block" in line for line in lines) >= 2, output
        info = load_devnet_info(state_dir)
        for url in (info["starknet"]["rpc_url"], info["l1"]["rpc_url"], info["prover"]["url"],
                    info["l1"]["core_contract"], info["l1"]["fact_registry"]):
            assert url in output
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "devnet stopped" in rest
    assert not answers(info["l1"]["rpc_url"])
