"""The revert table of the devnet core contract on a real anvil: one row per rule of the
Ethereum contract's state update, each with an output that breaks exactly that rule and
the reason the settlement client reports; the fact rule (direct OS run vs aggregator run);
updateState with on-chain data; the genesis at block -1."""

from __future__ import annotations

import dataclasses
import random
from typing import Callable

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

from orchestrator_pipelines.clients.settlement import SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_transactions import send_and_wait
from orchestrator_pipelines.devnet.l1_deploy import (
    DeployedContracts,
    core_contract,
    register_fact,
)
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
    sharp_fact,
)
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.calldata import UPDATE_STATE_KZG_DA_SELECTOR
from orchestrator_pipelines.starknet.facts import fact, onchain_data_output_root
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.kzg import blob_to_commitment, versioned_hash

from tests.core_contract_setup import AGGREGATOR_PROGRAM_HASH, CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core

# With one blob: header 0-9, z 10, n_blobs 11, commitment 12-13, y 14-15, then the
# messages-to-L1 segment length (16) and the messages-to-L2 segment length (17).
L1_SEGMENT = 16
L2_SEGMENT = 17
BLOB = random_blob(random.Random(5).randbytes(BLOB_SIZE))


def deploy(anvil: AnvilProcess, **genesis: int) -> DeployedContracts:
    return deploy_core(anvil, aggregator_program_hash=AGGREGATOR_PROGRAM_HASH, **genesis)


@pytest.fixture()
def deployed(anvil: AnvilProcess) -> DeployedContracts:
    return deploy(anvil)


@pytest.fixture()
def client(anvil: AnvilProcess, deployed: DeployedContracts) -> SettlementClient:
    return SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, deployed.fact_registry)


@pytest.fixture(scope="module")
def base() -> KzgSettlementInput:
    """A direct OS run settling blocks 1..9 that the contract accepts."""
    return build_kzg_settlement_input(
        [BLOB], prev_root=GENESIS["genesis_root"], new_root=0xAB02, prev_block_number=0, new_block_number=9,
        prev_block_hash=GENESIS["genesis_block_hash"], new_block_hash=0xCD03,
        program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
    )


def setting(index: int, value: int) -> Callable[[list[int]], list[int]]:
    return lambda out: out[:index] + [value] + out[index + 1 :]


def adding(index: int, delta: int) -> Callable[[list[int]], list[int]]:
    return lambda out: out[:index] + [out[index] + delta] + out[index + 1 :]


def segments(to_l1: list[int], to_l2: list[int]) -> Callable[[list[int]], list[int]]:
    """Replace both message segments (their length words included) by the given words."""
    return lambda out: out[:L1_SEGMENT] + to_l1 + to_l2


@dataclasses.dataclass(frozen=True)
class Row:
    reason: str
    mutate: Callable[[list[int]], list[int]]
    # "send": through SettlementClient.update_state_kzg_da; "no blob", "blob hash version 2",
    # "short proof": an input the client refuses to send, simulated with the client's call.
    how: str = "send"
    # Which program hash the test registers the output's fact under (None: not registered).
    fact_under: int | None = PROGRAM_HASH
    # What the client reports when the chain refuses the input before the contract runs.
    refused_by_node: str | None = None


NEVER_SENT_DEPOSIT = [0xAB, 0xCD, 0, 0x77, 1, 5]

REVERT_TABLE: dict[str, Row] = {
    "output is only the header": Row("STARKNET_OUTPUT_TOO_SHORT", lambda out: out[:10]),
    "previous block is not the settled one": Row("INVALID_PREV_BLOCK_NUMBER", setting(2, 1)),
    "DA flag off for a blob update": Row("UNEXPECTED_KZG_DA_FLAG", setting(8, 0)),
    "KZG segment has no blob count": Row("KZG_SEGMENT_TOO_SHORT", lambda out: out[:11]),
    "output declares two blobs": Row("INVALID_NUMBER_OF_KZG_PROOFS", setting(11, 2)),
    "no blob attached": Row("INVALID_BLOB_INDEX", lambda out: out, how="no blob"),
    # EIP-4844 nodes refuse a versioned hash of another version before executing anything,
    # so the contract's own check is never reached on Ethereum either.
    "blob hash of another version": Row(
        "UNEXPECTED_BLOB_HASH_VERSION", lambda out: out, how="blob hash version 2",
        refused_by_node="simulation failed: Blob transaction contains a versioned hash with an incorrect version",
    ),
    "commitment limb over 192 bits": Row("INVALID_KZG_COMMITMENT", setting(12, 2**192)),
    "y limb over 128 bits": Row("INVALID_Y_VALUE", setting(14, 2**128)),
    "KZG proof of 47 bytes": Row("INVALID_KZG_PROOF_SIZE", lambda out: out, how="short proof"),
    "y is not the blob's value at z": Row("POINT_EVALUATION_PRECOMPILE_CALL_FAILED", adding(14, 1)),
    "a word is not a felt": Row("PROGRAM_OUTPUT_VALUE_OUT_OF_RANGE", setting(1, STARK_PRIME)),
    "config hash of another chain": Row("INVALID_CONFIG_HASH", adding(7, 1)),
    "full output": Row("FULL_OUTPUT_NOT_SUPPORTED", setting(9, 1)),
    "aggregator run of another OS": Row("AGGREGATOR_MODE_INVALID_OS_PROGRAM_HASH", setting(6, PROGRAM_HASH + 1)),
    "fact not registered": Row("NO_STATE_TRANSITION_PROOF", lambda out: out, fact_under=None),
    "direct run proven under the aggregator": Row(
        "NO_STATE_TRANSITION_PROOF", lambda out: out, fact_under=AGGREGATOR_PROGRAM_HASH
    ),
    "aggregator run proven under the OS": Row("NO_STATE_TRANSITION_PROOF", setting(6, PROGRAM_HASH)),
    "new block not after the previous": Row("INVALID_NEW_BLOCK_NUMBER", setting(3, 0)),
    "previous block hash is not the settled one": Row("INVALID_PREV_BLOCK_HASH", adding(4, 1)),
    "previous root is not the settled one": Row("INVALID_PREVIOUS_ROOT", adding(0, 1)),
    "messages-to-L1 segment of 2^30 words": Row("INVALID_MESSAGE_SEGMENT_SIZE", setting(L1_SEGMENT, 2**30)),
    "segment ends inside a message": Row("INVALID_MESSAGE_SEGMENT_SIZE", segments([2, 0xA, 0xB, 0], [0])),
    "segment ends before a payload size": Row("MESSAGE_TOO_SHORT", setting(L1_SEGMENT, 5)),
    "payload of 2^30 words": Row("INVALID_PAYLOAD_LENGTH", segments([3, 0xA, 0xB, 2**30], [0])),
    "payload runs past the output": Row("TRUNCATED_MESSAGE_PAYLOAD", segments([5, 0xA, 0xB, 3, 1], [])),
    "deposit never sent on L1": Row("INVALID_MESSAGE_TO_CONSUME", segments([0], [6, *NEVER_SENT_DEPOSIT])),
    "a word after the segments": Row("STARKNET_OUTPUT_TOO_LONG", lambda out: out + [0]),
}


def test_every_state_update_revert_of_the_real_contract_has_a_row() -> None:
    """The Ethereum contract's updateStateKzgDA reasons (Starknet.sol, StarknetState.sol,
    Output.sol); ONLY_OPERATOR is in test_core_contract, REENTRANCY_FAILURE has its own test
    below, and UNEXPECTED_POINT_EVALUATION_PRECOMPILE_OUTPUT cannot be reached with a
    working precompile."""
    real = {
        "STARKNET_OUTPUT_TOO_SHORT", "INVALID_PREV_BLOCK_NUMBER", "UNEXPECTED_KZG_DA_FLAG", "KZG_SEGMENT_TOO_SHORT",
        "INVALID_NUMBER_OF_KZG_PROOFS", "INVALID_BLOB_INDEX", "UNEXPECTED_BLOB_HASH_VERSION", "INVALID_KZG_COMMITMENT",
        "INVALID_Y_VALUE", "INVALID_KZG_PROOF_SIZE", "POINT_EVALUATION_PRECOMPILE_CALL_FAILED",
        "PROGRAM_OUTPUT_VALUE_OUT_OF_RANGE", "INVALID_CONFIG_HASH", "FULL_OUTPUT_NOT_SUPPORTED",
        "AGGREGATOR_MODE_INVALID_OS_PROGRAM_HASH", "NO_STATE_TRANSITION_PROOF", "INVALID_NEW_BLOCK_NUMBER",
        "INVALID_PREV_BLOCK_HASH", "INVALID_PREVIOUS_ROOT", "INVALID_MESSAGE_SEGMENT_SIZE", "MESSAGE_TOO_SHORT",
        "INVALID_PAYLOAD_LENGTH", "TRUNCATED_MESSAGE_PAYLOAD", "INVALID_MESSAGE_TO_CONSUME", "STARKNET_OUTPUT_TOO_LONG",
    }
    assert {row.reason for row in REVERT_TABLE.values()} == real


def simulate(client: SettlementClient, output: list[int], proofs: list[bytes], blob_hashes: list[bytes] | None) -> None:
    """The client's own pre-send check (an eth_call of the transaction) for inputs it will not send."""
    call = {
        "from": client.address,
        "to": client.core_contract.address,
        # Encoded here: the project's encoder refuses a proof of the wrong size.
        "data": "0x" + (UPDATE_STATE_KZG_DA_SELECTOR + abi_encode(["uint256[]", "bytes[]"], [output, proofs])).hex(),
    }
    if blob_hashes is not None:
        call.update(type="0x3", maxFeePerBlobGas=hex(10**10), blobVersionedHashes=["0x" + h.hex() for h in blob_hashes])
    client._simulate(call, "updateStateKzgDA")


@pytest.mark.parametrize("case", list(REVERT_TABLE))
def test_revert_table(anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient,
                      base: KzgSettlementInput, case: str) -> None:
    row = REVERT_TABLE[case]
    output = row.mutate(list(base.program_output))
    if row.fact_under is not None:
        register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sharp_fact(row.fact_under, output))
    expected = f"^updateStateKzgDA {row.refused_by_node or 'reverted: ' + row.reason}$"
    commitment_hash = versioned_hash(blob_to_commitment(BLOB))

    with pytest.raises(OrchestratorError, match=expected):
        if row.how == "send":
            client.update_state_kzg_da(output, base.kzg_proofs, base.blobs)
        elif row.how == "no blob":
            simulate(client, output, base.kzg_proofs, None)
        elif row.how == "blob hash version 2":
            simulate(client, output, base.kzg_proofs, [b"\x02" + commitment_hash[1:]])
        else:
            simulate(client, output, [base.kzg_proofs[0][:47]], [commitment_hash])
    assert client.state().block_number == GENESIS["genesis_block_number"]


@pytest.mark.parametrize(
    "run,os_program_hash,fact_under",
    [("direct OS run", 0, PROGRAM_HASH), ("aggregator run", PROGRAM_HASH, AGGREGATOR_PROGRAM_HASH)],
    ids=["direct OS run", "aggregator run"],
)
def test_fact_rule_accepts_each_run_under_its_program(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient,
    base: KzgSettlementInput, run: str, os_program_hash: int, fact_under: int,
) -> None:
    output = setting(6, os_program_hash)(list(base.program_output))
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sharp_fact(fact_under, output))
    receipt = client.update_state_kzg_da(output, base.kzg_proofs, base.blobs)

    assert client.state().block_number == 9
    core = core_contract(Web3(Web3.HTTPProvider(anvil.url)), deployed.core_contract)
    logs = core.events.LogStateTransitionFact().process_receipt(
        Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_receipt(receipt.tx_hash)
    )
    assert [e.args.stateTransitionFact for e in logs] == [keccak(b"".join(w.to_bytes(32, "big") for w in output))]


def test_genesis_at_block_minus_one_expects_minus_one_as_a_felt(anvil: AnvilProcess, base: KzgSettlementInput) -> None:
    deployed = deploy(anvil, genesis_block_number=-1)
    client = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract)
    for prev, new in ((0, 9), (STARK_PRIME - 1, 0)):
        output = setting(3, new)(setting(2, prev)(list(base.program_output)))
        register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sharp_fact(PROGRAM_HASH, output))
        if prev == 0:
            with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: INVALID_PREV_BLOCK_NUMBER$"):
                client.update_state_kzg_da(output, base.kzg_proofs, base.blobs)
        else:
            client.update_state_kzg_da(output, base.kzg_proofs, base.blobs)
    assert client.state().block_number == 0


def test_update_state_with_onchain_data_proves_output_and_data_together(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient, base: KzgSettlementInput
) -> None:
    # Calldata DA: no KZG segment, the messages follow the header.
    output = [*base.program_output[:8], 0, 0, 0, 0]
    data = [3, 0x111, 0x222, 0x333]
    data_hash = int.from_bytes(keccak(b"".join(w.to_bytes(32, "big") for w in data)), "big")
    root = onchain_data_output_root(output, data_hash, len(data))
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, fact(PROGRAM_HASH, root))

    with pytest.raises(OrchestratorError, match="^updateState reverted: UNEXPECTED_KZG_DA_FLAG$"):
        client.update_state(base.program_output, data_hash, len(data))
    with pytest.raises(OrchestratorError, match="^updateState reverted: NO_STATE_TRANSITION_PROOF$"):
        client.update_state(output, data_hash, len(data) - 1)  # other data size, other fact
    sent: list[str] = []
    receipt = client.update_state(output, data_hash, len(data), on_sent=sent.append)
    assert sent == [receipt.tx_hash] and receipt.blob_gas_used == 0
    assert client.state().block_number == 9


REENTRANT_OPERATOR = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface ICoreContract {
    function updateState(uint256[] calldata programOutput, uint256 onchainDataHash, uint256 onchainDataSize) external;
}

/// An operator contract that, when paid the consumed messages' fees, settles a second output.
contract ReentrantOperator {
    ICoreContract internal immutable core;
    uint256[] internal nested;

    constructor(address core_) {
        core = ICoreContract(core_);
    }

    function settle(uint256[] calldata programOutput, uint256[] calldata nestedOutput) external {
        nested = nestedOutput;
        core.updateState(programOutput, 0, 0);
    }

    receive() external payable {
        if (nested.length > 0) {
            uint256[] memory output = nested;
            delete nested;
            core.updateState(output, 0, 0);
        }
    }
}
"""


def test_a_state_update_made_during_message_processing_is_refused(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient, base: KzgSettlementInput
) -> None:
    """The re-entrancy guard: the fee payment of a consumed deposit calls the operator, which
    settles another output from there; the outer update then sees a block number it did not set."""
    from orchestrator_pipelines.devnet.contract_build import compile_sources
    from orchestrator_pipelines.devnet.l1_deploy import deploy_artifact, register_operator, send_message_to_l2
    from orchestrator_pipelines.starknet.messages import l1_to_l2_message_words
    from orchestrator_pipelines.starknet.os_output import MessageToL2

    artifact = compile_sources({"contracts/ReentrantOperator.sol": REENTRANT_OPERATOR}, ("ReentrantOperator",))[
        "ReentrantOperator"
    ]
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    operator = deploy_artifact(w3, DEPLOYER_ACCOUNT.private_key, artifact["abi"], artifact["bytecode"],
                               "ReentrantOperator", deployed.core_contract)
    register_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract, operator)
    sent = send_message_to_l2(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract,
                              to_address=0x1234, selector=0x99, payload=[7], fee_wei=10**15)
    deposit = MessageToL2(int(DEPLOYER_ACCOUNT.address, 16), 0x1234, sent.nonce, 0x99, [7])
    header = [*base.program_output[:8], 0, 0]  # calldata DA: messages follow the header
    outer = [*header, 0, len(l1_to_l2_message_words(deposit)), *l1_to_l2_message_words(deposit)]
    nested = [header[1], 0xAB03, 9, 10, header[5], 0xCD04, 0, CONFIG_HASH, 0, 0, 0, 0]
    for output in (outer, nested):
        register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry,
                      fact(PROGRAM_HASH, onchain_data_output_root(output, 0, 0)))
    contract = w3.eth.contract(address=operator, abi=artifact["abi"])

    with pytest.raises(OrchestratorError, match="^settle reverted: REENTRANCY_FAILURE$"):
        send_and_wait(w3, DEPLOYER_ACCOUNT.private_key,
              {"to": operator, "data": contract.functions.settle(outer, nested)._encode_transaction_data()}, "settle")
    assert client.state().block_number == 0
    # Without the nested update the same output settles, and the fee reaches the operator.
    send_and_wait(w3, DEPLOYER_ACCOUNT.private_key,
          {"to": operator, "data": contract.functions.settle(outer, [])._encode_transaction_data()}, "settle")
    assert client.state().block_number == 9
    assert w3.eth.get_balance(operator) == 10**15
