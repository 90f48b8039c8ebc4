"""Bring your own core contract build: the devnet deploys a compiled JSON artifact in place of
its own, initialises it the same way, and registers operators only where the build has the role.
The builds here are compiled by the test itself from variants of the project's contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from web3 import Web3

from orchestrator_pipelines.cli import main
from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, DEV_ACCOUNTS, AnvilProcess
from orchestrator_pipelines.devnet.contract_build import CONTRACTS_DIR, compile_sources, load_artifact
from orchestrator_pipelines.devnet.l1_deploy import load_core_contract_build, register_fact
from orchestrator_pipelines.devnet.settlement_sample import BLOB_SIZE, build_kzg_settlement_input, random_blob
from orchestrator_pipelines.devnet.snos_runner import DevnetSnosRunner
from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import felts_to_blobs
from orchestrator_pipelines.starknet.kzg import compute_point_proof

from tests.core_contract_setup import CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core

IDENTITY = "Operator_Own_Build_2026"


def _variant(name: str, *, identity: str, operator_role: bool) -> str:
    source = (CONTRACTS_DIR / "StarknetCoreContract.sol").read_text()
    source = source.replace("contract StarknetCoreContract {", f"contract {name} {{")
    source = source.replace('"StarkWare_Starknet_2024_9"', f'"{identity}"')
    if not operator_role:
        source = source.replace('require(operators[msg.sender], "ONLY_OPERATOR");', "")
        source, removed = re.subn(
            r"\n    (/// [^\n]*\n    )*function (registerOperator|unregisterOperator|isOperator)\(.*?\n    }\n",
            "\n", source, flags=re.DOTALL,
        )
        assert removed == 3
    return source


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two builds as an operator would bring them: {abi, bytecode} JSON files."""
    sources = {
        "contracts/OwnBuild.sol": _variant("OwnBuild", identity=IDENTITY, operator_role=True),
        "contracts/OpenBuild.sol": _variant("OpenBuild", identity="Open_Build", operator_role=False),
    }
    compiled = compile_sources(sources, ("OwnBuild", "OpenBuild"))
    directory = tmp_path_factory.mktemp("builds")
    paths = {}
    for name, artifact in compiled.items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_text(json.dumps({"abi": artifact["abi"], "bytecode": {"object": artifact["bytecode"]}}))
    return paths


def _settle_sample(anvil: AnvilProcess, deployed, key: str) -> None:
    sample = build_kzg_settlement_input(
        [random_blob(bytes(BLOB_SIZE))], prev_root=GENESIS["genesis_root"], new_root=0xAB02, prev_block_number=0,
        new_block_number=4, prev_block_hash=GENESIS["genesis_block_hash"], new_block_hash=0xCD03,
        program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sample.fact)
    SettlementClient(anvil.url, key, deployed.core_contract).update_state_kzg_da(
        sample.program_output, sample.kzg_proofs, sample.blobs
    )


def test_build_without_the_operator_role_gets_no_operator_calls(anvil: AnvilProcess, builds: dict[str, Path]) -> None:
    build = load_core_contract_build(builds["OpenBuild"])
    assert not build.has_operator_role
    deployed = deploy_core(anvil, core_contract_build=build)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    core = w3.eth.contract(address=deployed.core_contract, abi=build.abi)
    assert core.functions.identify().call() == "Open_Build"
    assert core.functions.programHash().call() == PROGRAM_HASH
    # Any account settles on a build without the role.
    _settle_sample(anvil, deployed, DEV_ACCOUNTS[4].private_key)
    assert core.functions.stateBlockNumber().call() == 4


def test_build_with_the_operator_role_gets_the_settlement_operator(anvil: AnvilProcess, builds: dict[str, Path]) -> None:
    build = load_core_contract_build(builds["OwnBuild"])
    assert build.has_operator_role
    deployed = deploy_core(anvil, core_contract_build=build)
    core = Web3(Web3.HTTPProvider(anvil.url)).eth.contract(address=deployed.core_contract, abi=build.abi)
    assert core.functions.isOperator(SETTLEMENT_ACCOUNT.address).call()
    assert not core.functions.isOperator(DEV_ACCOUNTS[4].address).call()
    _settle_sample(anvil, deployed, SETTLEMENT_ACCOUNT.private_key)


@pytest.mark.e2e
def test_devnet_stack_settles_devnet_blocks_on_the_given_build(tmp_path: Path, builds: dict[str, Path]) -> None:
    config = DevnetConfig(state_dir=tmp_path / "devnet", block_time_s=0.3, prover_delay_s=0.2,
                          core_contract_artifact=builds["OwnBuild"])
    with DevnetStack(config) as stack:
        info = stack.info()
        assert info["l1"]["core_contract_artifact"] == str(builds["OwnBuild"])
        w3 = Web3(Web3.HTTPProvider(stack.l1_rpc_url))
        core = w3.eth.contract(address=stack.core_contract, abi=stack.core_contract_build.abi)
        assert core.functions.identify().call() == IDENTITY
        while stack.starknet_block_number() < 3:
            stack.node.produce_block() if stack.config.block_time_s == 0 else None
        runner = DevnetSnosRunner(stack.starknet_rpc_url)
        result = runner.run(1, 3, tmp_path / "snos")
        output, felts = runner.os_output(1, 3)
        blobs = felts_to_blobs(felts)
        proofs = [compute_point_proof(blob, output.kzg.x0)[0] for blob in blobs]
        register_fact(stack.l1_rpc_url, stack.fact_registrar_account.private_key, stack.fact_registry, result.fact)
        client = SettlementClient(stack.l1_rpc_url, stack.settlement_key, stack.core_contract)
        client.update_state_kzg_da(result.program_output, proofs, blobs)
        block_3 = stack.starknet_rpc("starknet_getBlockWithTxHashes", {"block_number": 3})
        assert client.state().block_number == 3 == int(block_3["block_number"])
    # Restarting with the project's own build deploys it afresh instead of reusing the other one.
    with DevnetStack(DevnetConfig(state_dir=tmp_path / "devnet", block_time_s=0.3, prover_delay_s=0.2)) as again:
        core = Web3(Web3.HTTPProvider(again.l1_rpc_url)).eth.contract(
            address=again.core_contract, abi=load_artifact("StarknetCoreContract")["abi"]
        )
        assert core.functions.identify().call() == "StarkWare_Starknet_2024_9"
        assert SettlementClient(again.l1_rpc_url, again.settlement_key, again.core_contract).state() == CoreState(
            info["starknet"]["genesis"]["block_number"], info["starknet"]["genesis"]["root"],
            info["starknet"]["genesis"]["block_hash"],
        )


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "does not exist"),
        ("not json", "is not JSON"),
        ('{"bytecode": "0x00"}', "expected a JSON object with an 'abi' list"),
        ('{"abi": [], "bytecode": 7}', "'bytecode' must be a hex string"),
        ('{"abi": [], "bytecode": "0xzz"}', "'bytecode' is not hex"),
        ('{"abi": [{"type": "constructor", "inputs": [{"name": "a", "type": "uint256"}]}], "bytecode": "0x00"}',
         "its constructor takes arguments"),
        ('{"abi": [{"type": "function", "name": "initialize", "inputs": [{"name": "data", "type": "bytes"}]}],'
         ' "bytecode": "0x00"}', "has no initializeContractState"),
    ],
)
def test_unusable_artifacts_are_one_readable_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "core.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        load_core_contract_build(path)


def test_devnet_up_refuses_an_unusable_artifact_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    artifact = tmp_path / "FactRegistry.json"
    artifact.write_text(json.dumps(load_artifact("FactRegistry")))
    code = main(["devnet", "up", "--state-dir", str(tmp_path / "devnet"), "--core-contract-artifact", str(artifact)])
    err = capsys.readouterr().err
    assert code != 0
    assert "has no initializeContractState(bytes)" in err and err.count("\n") == 1
    assert not (tmp_path / "devnet").exists()
