"""The devnet Starknet core contract on a real anvil: blob transactions, a real mainnet
output, operators and the fact registry (the revert table is in test_core_contract_rules)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from orchestrator_pipelines.clients.settlement import SettlementClient
from orchestrator_pipelines.devnet.anvil import (
    DEPLOYER_ACCOUNT,
    FACT_REGISTRAR_ACCOUNT,
    SETTLEMENT_ACCOUNT,
    AnvilProcess,
)
from orchestrator_pipelines.devnet.contract_build import load_artifact
from orchestrator_pipelines.devnet.l1_deploy import (
    DeployedContracts,
    is_operator,
    read_addresses,
    register_fact,
    register_operator,
    transfer_fact_registry_ownership,
    unregister_operator,
    write_addresses,
)
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
    sharp_fact,
)
from orchestrator_pipelines.starknet.kzg import blob_to_commitment, compute_point_proof, versioned_hash
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.starknet.messages import l2_to_l1_message_hash
from orchestrator_pipelines.starknet.os_output import parse_os_output

from tests.core_contract_setup import CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core



@pytest.fixture()
def deployed(anvil: AnvilProcess) -> DeployedContracts:
    return deploy_core(anvil)


@pytest.fixture()
def client(anvil: AnvilProcess, deployed: DeployedContracts) -> SettlementClient:
    return SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, deployed.fact_registry)


def seeded_blob(seed: int) -> bytes:
    return random_blob(random.Random(seed).randbytes(BLOB_SIZE))


def first_batch(blobs: list[bytes], **overrides: int) -> KzgSettlementInput:
    fields = dict(
        prev_root=GENESIS["genesis_root"],
        new_root=0xAB02,
        prev_block_number=0,
        new_block_number=9,
        prev_block_hash=GENESIS["genesis_block_hash"],
        new_block_hash=0xCD03,
        program_hash=PROGRAM_HASH,
        config_hash=CONFIG_HASH,
    )
    fields.update(overrides)
    return build_kzg_settlement_input(blobs, **fields)


def core(anvil: AnvilProcess, deployed: DeployedContracts):
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    return w3, w3.eth.contract(address=deployed.core_contract, abi=load_artifact("StarknetCoreContract")["abi"])


def test_constructor_sets_genesis_state(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    _, contract = core(anvil, deployed)
    assert contract.functions.stateRoot().call() == GENESIS["genesis_root"]
    assert contract.functions.stateBlockNumber().call() == GENESIS["genesis_block_number"]
    assert contract.functions.stateBlockHash().call() == GENESIS["genesis_block_hash"]
    assert contract.functions.programHash().call() == PROGRAM_HASH
    assert contract.functions.configHash().call() == CONFIG_HASH


def test_eth_account_blob_transaction_moves_state_and_emits_log_state_update(
    anvil: AnvilProcess, deployed: DeployedContracts
) -> None:
    """Built and signed by eth-account alone (its own sidecar), independent of SettlementClient."""
    sample = first_batch([seeded_blob(1)])
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sample.fact)
    w3, contract = core(anvil, deployed)
    sender = Account.from_key(SETTLEMENT_ACCOUNT.private_key)
    tx = contract.functions.updateStateKzgDA(sample.program_output, sample.kzg_proofs).build_transaction(
        {
            "from": sender.address,
            "nonce": w3.eth.get_transaction_count(sender.address),
            "gas": 1_000_000,
            "maxFeePerGas": 10 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    tx["type"] = 3
    tx["maxFeePerBlobGas"] = 10 * w3.eth.blob_base_fee + 1
    signed = sender.sign_transaction(tx, blobs=sample.blobs)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=60)

    assert receipt["status"] == 1
    assert receipt["blobGasUsed"] == 131072
    assert contract.functions.stateRoot().call() == 0xAB02
    assert contract.functions.stateBlockNumber().call() == 9
    assert contract.functions.stateBlockHash().call() == 0xCD03
    events = contract.events.LogStateUpdate().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.globalRoot, e.args.blockNumber, e.args.blockHash) for e in events] == [(0xAB02, 9, 0xCD03)]
    mined = w3.eth.get_transaction(receipt["transactionHash"])
    assert [bytes(h) for h in mined["blobVersionedHashes"]] == [versioned_hash(blob_to_commitment(sample.blobs[0]))]


def test_real_mainnet_0_13_3_output_and_blob_settle(
    anvil: AnvilProcess, vectors_dir: Path
) -> None:
    """A Starknet OS output and its blob from an Ethereum settlement (new layout) pass every check."""
    directory = vectors_dir / "l1_blobs" / "6806848"
    output = [int(word) for word in (directory / "program_output.txt").read_text().split()]
    blob = bytes.fromhex((directory / "blob_data.txt").read_text().strip())
    # An aggregator run (word 6 is the OS program hash): its fact is under the aggregator program hash.
    deployed = deploy_core(
        anvil,
        program_hash=output[6],
        aggregator_program_hash=PROGRAM_HASH,
        config_hash=output[7],
        genesis_root=output[0],
        genesis_block_number=output[2],
        genesis_block_hash=output[4],
        operators=[SETTLEMENT_ACCOUNT.address],
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sharp_fact(PROGRAM_HASH, output))
    proof, _ = compute_point_proof(blob, output[10])
    client = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract)

    client.update_state_kzg_da(output, [proof], [blob])

    state = client.state()
    assert (state.root, state.block_number, state.block_hash) == (output[1], output[3], output[5])
    # Its one message to L1 is now consumable, under the hash starknet.messages computes.
    (message,) = parse_os_output(output).messages_to_l1
    _, contract = core(anvil, deployed)
    assert contract.functions.l2ToL1Messages(l2_to_l1_message_hash(message)).call() == 1


def test_fact_registry_is_owner_only_and_transferable(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    fact = bytes(range(32))
    with pytest.raises(OrchestratorError, match="reverted: ONLY_OWNER$"):
        register_fact(anvil.url, FACT_REGISTRAR_ACCOUNT.private_key, deployed.fact_registry, fact)

    transfer_fact_registry_ownership(
        anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, FACT_REGISTRAR_ACCOUNT.address
    )
    tx_hash = register_fact(anvil.url, FACT_REGISTRAR_ACCOUNT.private_key, deployed.fact_registry, fact)
    assert tx_hash is not None and tx_hash.startswith("0x")
    assert register_fact(anvil.url, FACT_REGISTRAR_ACCOUNT.private_key, deployed.fact_registry, fact) is None
    checker = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, deployed.fact_registry)
    assert checker.is_fact_valid(fact)
    assert not checker.is_fact_valid(bytes(32))
    with pytest.raises(OrchestratorError, match="reverted: ONLY_OWNER$"):
        register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, bytes(31) + b"\x01")


def test_operators_are_registered_by_the_governor_only(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    w3, contract = core(anvil, deployed)
    newcomer = FACT_REGISTRAR_ACCOUNT.address
    assert contract.functions.starknetIsGovernor(DEPLOYER_ACCOUNT.address).call()
    assert not contract.functions.starknetIsGovernor(SETTLEMENT_ACCOUNT.address).call()
    assert is_operator(anvil.url, deployed.core_contract, SETTLEMENT_ACCOUNT.address)
    assert not is_operator(anvil.url, deployed.core_contract, newcomer)

    for call in (register_operator, unregister_operator):
        target = newcomer if call is register_operator else SETTLEMENT_ACCOUNT.address
        with pytest.raises(OrchestratorError, match="reverted: ONLY_GOVERNANCE$"):
            call(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, target)

    tx_hash = register_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, newcomer)
    assert tx_hash is not None
    added = contract.events.LogOperatorAdded().process_receipt(w3.eth.get_transaction_receipt(tx_hash))
    assert [e.args.operator for e in added] == [newcomer]
    assert is_operator(anvil.url, deployed.core_contract, newcomer)
    assert register_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, newcomer) is None

    tx_hash = unregister_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, newcomer)
    assert tx_hash is not None
    removed = contract.events.LogOperatorRemoved().process_receipt(w3.eth.get_transaction_receipt(tx_hash))
    assert [e.args.operator for e in removed] == [newcomer]
    assert not is_operator(anvil.url, deployed.core_contract, newcomer)
    assert unregister_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, newcomer) is None


def test_unregistered_operator_cannot_update_the_state(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    """The operator check comes first, as on mainnet: even a valid update is refused."""
    sample = first_batch([seeded_blob(4)])
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sample.fact)
    unregister_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, SETTLEMENT_ACCOUNT.address)
    client = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract)
    with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: ONLY_OPERATOR "):
        client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    assert client.state().block_number == GENESIS["genesis_block_number"]


def test_is_operator_is_false_for_a_contract_without_the_role(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    """What the devnet stack relies on to not reuse a core contract deployed before the operator role."""
    assert not is_operator(anvil.url, deployed.fact_registry, SETTLEMENT_ACCOUNT.address)


def test_addresses_file_round_trip(deployed: DeployedContracts, tmp_path: Path) -> None:
    path = tmp_path / "l1" / "addresses.json"
    write_addresses(path, deployed)
    assert read_addresses(path) == deployed
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_addresses(tmp_path / "absent.json")
    path.write_text('{"core_contract": "0x01"}')
    with pytest.raises(InvalidInputError, match="addresses.json"):
        read_addresses(path)
