"""Initialisation and governance of the devnet core contract on a real anvil: the 7-word
initialisation and its checks, governor-only setters with their events, finalization."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.logs import DISCARD

from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_transactions import send_and_wait
from orchestrator_pipelines.devnet.l1_deploy import (
    DeployedContracts,
    _deploy,
    core_contract,
    initialization_data,
)
from orchestrator_pipelines.errors import OrchestratorError

from tests.core_contract_setup import AGGREGATOR_PROGRAM_HASH, CONFIG_HASH, PROGRAM_HASH, deploy_core

VERIFIER = "0x000000000000000000000000000000000000fAC7"


@pytest.fixture(scope="module")
def w3(anvil: AnvilProcess) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.url))


@pytest.fixture()
def deployed(anvil: AnvilProcess) -> DeployedContracts:
    return deploy_core(anvil, aggregator_program_hash=AGGREGATOR_PROGRAM_HASH)


def transact(w3: Web3, key: str, fn, what: str):
    return send_and_wait(w3, key, {"to": fn.address, "data": fn._encode_transaction_data()}, what)


def init_words(**overrides) -> bytes:
    fields = dict(program_hash=PROGRAM_HASH, aggregator_program_hash=AGGREGATOR_PROGRAM_HASH, verifier=VERIFIER,
                  config_hash=CONFIG_HASH, genesis_root=1, genesis_block_number=-1, genesis_block_hash=2)
    fields.update(overrides)
    return initialization_data(**fields)


def test_initialisation_sets_every_word_once(w3: Web3) -> None:
    address = _deploy(w3, DEPLOYER_ACCOUNT.private_key, "StarknetCoreContract")
    core = core_contract(w3, address)
    assert core.functions.programHash().call() == 0
    for data, reason in (
        (init_words()[:-32], "ILLEGAL_INIT_DATA_SIZE"),
        (init_words() + bytes(32), "ILLEGAL_INIT_DATA_SIZE"),
        (init_words(program_hash=0), "BAD_INITIALIZATION"),
    ):
        with pytest.raises(OrchestratorError, match=f"^initializeContractState reverted: {reason}$"):
            transact(w3, DEPLOYER_ACCOUNT.private_key, core.functions.initializeContractState(data),
                     "initializeContractState")
    with pytest.raises(OrchestratorError, match="^initializeContractState reverted: ONLY_DEPLOYER$"):
        transact(w3, SETTLEMENT_ACCOUNT.private_key, core.functions.initializeContractState(init_words()),
                 "initializeContractState")

    receipt = transact(w3, DEPLOYER_ACCOUNT.private_key, core.functions.initializeContractState(init_words()),
                       "initializeContractState")

    (accepted,) = core.events.LogNewGovernorAccepted().process_receipt(receipt, errors=DISCARD)
    assert accepted.args.acceptedGovernor == DEPLOYER_ACCOUNT.address
    assert core.functions.starknetIsGovernor(DEPLOYER_ACCOUNT.address).call()
    assert core.functions.programHash().call() == PROGRAM_HASH
    assert core.functions.aggregatorProgramHash().call() == AGGREGATOR_PROGRAM_HASH
    assert core.functions.configHash().call() == CONFIG_HASH
    assert (core.functions.stateRoot().call(), core.functions.stateBlockNumber().call(),
            core.functions.stateBlockHash().call()) == (1, -1, 2)
    assert core.functions.messageCancellationDelay().call() == 5 * 24 * 3600
    assert core.functions.identify().call() == "StarkWare_Starknet_2024_9"
    with pytest.raises(OrchestratorError, match="^initializeContractState reverted: ALREADY_INITIALIZED$"):
        transact(w3, DEPLOYER_ACCOUNT.private_key, core.functions.initializeContractState(init_words()),
                 "initializeContractState")


@pytest.mark.parametrize(
    "setter,getter,event,old_field,new_field",
    [
        ("setProgramHash", "programHash", "ProgramHashChanged", "oldProgramHash", "newProgramHash"),
        ("setAggregatorProgramHash", "aggregatorProgramHash", "AggregatorProgramHashChanged",
         "oldAggregatorProgramHash", "newAggregatorProgramHash"),
        ("setConfigHash", "configHash", "ConfigHashChanged", "oldConfigHash", "newConfigHash"),
    ],
)
def test_hash_setters_are_governor_only_and_logged(
    w3: Web3, deployed: DeployedContracts, setter: str, getter: str, event: str, old_field: str, new_field: str
) -> None:
    core = core_contract(w3, deployed.core_contract)
    old = getattr(core.functions, getter)().call()
    with pytest.raises(OrchestratorError, match=f"^{setter} reverted: ONLY_GOVERNANCE$"):
        transact(w3, SETTLEMENT_ACCOUNT.private_key, getattr(core.functions, setter)(0x1234), setter)

    receipt = transact(w3, DEPLOYER_ACCOUNT.private_key, getattr(core.functions, setter)(0x1234), setter)

    (logged,) = getattr(core.events, event)().process_receipt(receipt, errors=DISCARD)
    assert (logged.args.changedBy, logged.args[old_field], logged.args[new_field]) == (
        DEPLOYER_ACCOUNT.address, old, 0x1234,
    )
    assert getattr(core.functions, getter)().call() == 0x1234


def test_finalize_freezes_the_setters(w3: Web3, deployed: DeployedContracts) -> None:
    core = core_contract(w3, deployed.core_contract)
    with pytest.raises(OrchestratorError, match="^setMessageCancellationDelay reverted: ONLY_GOVERNANCE$"):
        transact(w3, SETTLEMENT_ACCOUNT.private_key, core.functions.setMessageCancellationDelay(1),
                 "setMessageCancellationDelay")
    with pytest.raises(OrchestratorError, match="^finalize reverted: ONLY_GOVERNANCE$"):
        transact(w3, SETTLEMENT_ACCOUNT.private_key, core.functions.finalize(), "finalize")

    receipt = transact(w3, DEPLOYER_ACCOUNT.private_key, core.functions.finalize(), "finalize")

    assert len(core.events.Finalized().process_receipt(receipt, errors=DISCARD)) == 1
    assert core.functions.isFinalized().call()
    for setter in ("setProgramHash", "setAggregatorProgramHash", "setConfigHash", "setMessageCancellationDelay"):
        with pytest.raises(OrchestratorError, match=f"^{setter} reverted: FINALIZED$"):
            transact(w3, DEPLOYER_ACCOUNT.private_key, getattr(core.functions, setter)(7), setter)
    with pytest.raises(OrchestratorError, match="^finalize reverted: FINALIZED$"):
        transact(w3, DEPLOYER_ACCOUNT.private_key, core.functions.finalize(), "finalize")
    assert core.functions.programHash().call() == PROGRAM_HASH
