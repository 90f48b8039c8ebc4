"""SettlementClient against a real anvil with the devnet core contract deployed."""

from __future__ import annotations

import random
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

import pytest
from eth_account import Account
from web3 import Web3

from orchestrator_pipelines.clients.settlement import (
    CoreState,
    SettlementClient,
    decode_revert_reason,
)
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, DEV_ACCOUNTS, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import (
    DeployedContracts,
    deploy_settlement_contracts,
    register_fact,
    register_operator,
)
from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
)
from orchestrator_pipelines.starknet.kzg import blob_to_commitment, versioned_hash
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from tests.core_contract_setup import CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core

SECOND_OPERATOR = DEV_ACCOUNTS[3]

GENESIS_ROOT, GENESIS_HASH = GENESIS["genesis_root"], GENESIS["genesis_block_hash"]


@pytest.fixture()
def deployed(anvil: AnvilProcess) -> DeployedContracts:
    return deploy_core(anvil)


@pytest.fixture()
def client(anvil: AnvilProcess, deployed: DeployedContracts) -> SettlementClient:
    return SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, deployed.fact_registry)


def blobs(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [random_blob(rng.randbytes(BLOB_SIZE)) for _ in range(count)]


def batch(blob_list: list[bytes], prev: CoreState, new_block_number: int, **overrides: int) -> KzgSettlementInput:
    fields = dict(
        prev_root=prev.root,
        new_root=prev.root + 1,
        prev_block_number=prev.block_number,
        new_block_number=new_block_number,
        prev_block_hash=prev.block_hash,
        new_block_hash=prev.block_hash + 1,
        program_hash=PROGRAM_HASH,
        config_hash=CONFIG_HASH,
    )
    fields.update(overrides)
    return build_kzg_settlement_input(blob_list, **fields)


def registered(anvil: AnvilProcess, deployed: DeployedContracts, sample: KzgSettlementInput) -> KzgSettlementInput:
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sample.fact)
    return sample


def nonce(anvil: AnvilProcess) -> int:
    return Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(SETTLEMENT_ACCOUNT.address)


def test_reads_contract_configuration(client: SettlementClient) -> None:
    assert client.state() == CoreState(block_number=0, root=GENESIS_ROOT, block_hash=GENESIS_HASH)
    assert client.program_hash() == PROGRAM_HASH
    assert client.config_hash() == CONFIG_HASH
    assert client.address == SETTLEMENT_ACCOUNT.address


def test_two_blob_update_then_next_batch(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient
) -> None:
    first = registered(anvil, deployed, batch(blobs(10, 2), client.state(), 5))
    sent: list[str] = []
    receipt = client.update_state_kzg_da(first.program_output, first.kzg_proofs, first.blobs, on_sent=sent.append)

    assert sent == [receipt.tx_hash]
    assert client.state() == CoreState(block_number=5, root=GENESIS_ROOT + 1, block_hash=GENESIS_HASH + 1)
    assert receipt.blob_gas_used == 2 * 131072
    assert receipt.gas_used > 21_000
    assert receipt.fee_wei == receipt.gas_used * receipt.effective_gas_price + receipt.blob_gas_used * receipt.blob_gas_price
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    mined = w3.eth.get_transaction(receipt.tx_hash)
    assert mined["type"] == 3
    assert mined["from"] == SETTLEMENT_ACCOUNT.address
    assert [bytes(h) for h in mined["blobVersionedHashes"]] == [versioned_hash(blob_to_commitment(b)) for b in first.blobs]
    assert mined["blockNumber"] == receipt.block_number

    second = registered(anvil, deployed, batch(blobs(11, 1), client.state(), 8))
    client.update_state_kzg_da(second.program_output, second.kzg_proofs, second.blobs)
    assert client.state().block_number == 8


def test_wrong_kzg_proof_reverts_readably_and_sends_nothing(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient
) -> None:
    good = registered(anvil, deployed, batch(blobs(20, 2), client.state(), 3))
    swapped = [good.kzg_proofs[1], good.kzg_proofs[0]]
    before = nonce(anvil)
    with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: POINT_EVALUATION_PRECOMPILE_CALL_FAILED$"):
        client.update_state_kzg_da(good.program_output, swapped, good.blobs)
    assert nonce(anvil) == before
    assert client.state().block_number == 0


def test_unregistered_fact_reverts_readably(client: SettlementClient) -> None:
    sample = batch(blobs(21, 1), client.state(), 3)
    assert not client.is_fact_valid(sample.fact)
    with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: NO_STATE_TRANSITION_PROOF$"):
        client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)


def test_wrong_previous_root_reverts_readably(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient
) -> None:
    sample = registered(anvil, deployed, batch(blobs(22, 1), client.state(), 3, prev_root=GENESIS_ROOT + 7))
    with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: INVALID_PREVIOUS_ROOT$"):
        client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)


def test_fee_caps_are_transient_errors(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    sample = registered(anvil, deployed, batch(blobs(23, 1), CoreState(0, GENESIS_ROOT, GENESIS_HASH), 3))
    gas_capped = SettlementClient(
        anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, max_fee_per_gas_cap_wei=1
    )
    with pytest.raises(TransientError, match="exceeds max_fee_per_gas_cap_wei=1"):
        gas_capped.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    blob_capped = SettlementClient(
        anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, max_fee_per_blob_gas_cap_wei=0
    )
    with pytest.raises(TransientError, match="exceeds max_fee_per_blob_gas_cap_wei=0"):
        blob_capped.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)

    generous = SettlementClient(
        anvil.url,
        SETTLEMENT_ACCOUNT.private_key,
        deployed.core_contract,
        max_fee_per_gas_cap_wei=10**12,
        max_fee_per_blob_gas_cap_wei=10**9,
    )
    receipt = generous.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    tx = Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction(receipt.tx_hash)
    assert tx["maxFeePerGas"] <= 10**12 and tx["maxFeePerBlobGas"] <= 10**9


def test_unreachable_rpc_is_transient(deployed: DeployedContracts) -> None:
    dead = SettlementClient(f"http://127.0.0.1:{free_port()}", SETTLEMENT_ACCOUNT.private_key, deployed.core_contract)
    with pytest.raises(TransientError, match="unreachable"):
        dead.state()


def test_wait_for_transaction_counts_confirmations(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    tx_hash = register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, bytes([7]) * 32)
    assert tx_hash is not None
    patient = SettlementClient(
        anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, confirmations=2, tx_timeout_s=0.5
    )
    with pytest.raises(TransientError, match="not confirmed"):
        patient.wait_for_transaction(tx_hash)
    anvil.rpc("anvil_mine", "0x2")
    receipt = patient.wait_for_transaction(tx_hash)
    assert receipt.tx_hash == tx_hash
    assert receipt.blob_gas_used == 0


def test_failed_receipt_raises_with_the_replayed_reason(
    anvil: AnvilProcess, deployed: DeployedContracts, client: SettlementClient
) -> None:
    """A transaction that reverts on chain (sent with fixed gas, no simulation) is an error naming the reason."""
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    outsider = Account.from_key(SETTLEMENT_ACCOUNT.private_key)
    registry = w3.eth.contract(
        address=deployed.fact_registry,
        abi=[{"type": "function", "name": "registerFact", "stateMutability": "nonpayable",
              "inputs": [{"name": "fact", "type": "bytes32"}], "outputs": []}],
    )
    tx = registry.functions.registerFact(bytes(32)).build_transaction(
        {"from": outsider.address, "gas": 100_000, "nonce": w3.eth.get_transaction_count(outsider.address),
         "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
    )
    tx_hash = w3.eth.send_raw_transaction(outsider.sign_transaction(tx).raw_transaction)
    block = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["blockNumber"]
    expected = f"^transaction reverted on chain in block {block}: ONLY_OWNER \\(transaction {tx_hash.to_0x_hex()}\\)$"
    with pytest.raises(OrchestratorError, match=expected):
        client.wait_for_transaction(tx_hash)


def test_input_shape_errors_name_the_field(client: SettlementClient) -> None:
    with pytest.raises(InvalidInputError, match="blob 0 is 10 bytes"):
        client.update_state_kzg_da([1], [bytes(48)], [bytes(10)])
    with pytest.raises(InvalidInputError, match="1 KZG proofs for 2 blobs"):
        client.update_state_kzg_da([1], [bytes(48)], [bytes(BLOB_SIZE)] * 2)
    with pytest.raises(InvalidInputError, match="core_contract_address"):
        SettlementClient("http://127.0.0.1:1", SETTLEMENT_ACCOUNT.private_key, "0x1234")


def test_decode_revert_reason() -> None:
    payload = bytes.fromhex("08c379a0") + bytes(31) + b"\x20" + bytes(31) + b"\x05" + b"HELLO" + bytes(27)
    assert decode_revert_reason(payload) == "HELLO"
    assert decode_revert_reason("0xdeadbeef") is None
    assert decode_revert_reason(None) is None


def test_non_operator_is_rejected_readably_and_sends_nothing(anvil: AnvilProcess) -> None:
    contracts = deploy_settlement_contracts(
        anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
        genesis_root=GENESIS_ROOT, genesis_block_number=0, genesis_block_hash=GENESIS_HASH,
    )
    outsider = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract)
    sample = registered(anvil, contracts, batch(blobs(24, 1), outsider.state(), 3))
    assert not outsider.is_operator()
    before = nonce(anvil)
    expected = (
        f"^updateStateKzgDA reverted: ONLY_OPERATOR \\({SETTLEMENT_ACCOUNT.address} is not an operator of the core "
        f"contract {contracts.core_contract}; its governor must call registerOperator\\({SETTLEMENT_ACCOUNT.address}\\)\\)$"
    )
    with pytest.raises(OrchestratorError, match=expected):
        outsider.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    assert nonce(anvil) == before

    register_operator(anvil.url, DEPLOYER_ACCOUNT.private_key, contracts.core_contract, SETTLEMENT_ACCOUNT.address)
    assert outsider.is_operator()
    outsider.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    assert outsider.state().block_number == 3


# ---- transactions the simulation could not vouch for: mining is driven by the test ----


@pytest.fixture(scope="module")
def manual_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    """An anvil whose blocks the tests mine themselves (automine is switched off inside a test)."""
    with AnvilProcess(log_file=tmp_path_factory.mktemp("manual-anvil") / "anvil.log") as process:
        yield process


@pytest.fixture()
def manual_contracts(manual_anvil: AnvilProcess) -> Iterator[DeployedContracts]:
    contracts = deploy_settlement_contracts(
        manual_anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
        genesis_root=GENESIS_ROOT, genesis_block_number=0, genesis_block_hash=GENESIS_HASH,
        operators=[SETTLEMENT_ACCOUNT.address, SECOND_OPERATOR.address],
    )
    yield contracts
    # Whatever a test left pending must not hold the next test's nonces.
    manual_anvil.rpc("anvil_dropAllTransactions")
    manual_anvil.rpc("evm_setAutomine", True)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30, *running: Future) -> None:
    """Poll ``condition``; a background call that already ended (say with an error) ends the wait at once."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for future in running:
            if future.done():
                raise AssertionError(f"waiting for {what}, the call ended: {future.exception() or future.result()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def settle_in_background(
    pool: ThreadPoolExecutor, client: SettlementClient, sample: KzgSettlementInput, sent: list[str]
) -> Future:
    return pool.submit(client.update_state_kzg_da, sample.program_output, sample.kzg_proofs, sample.blobs, sent.append)


def test_update_reverted_on_chain_is_replayed_for_the_reason(
    manual_anvil: AnvilProcess, manual_contracts: DeployedContracts
) -> None:
    """Two operators settle conflicting batches into one block: both pass simulation, the second reverts
    on chain, and its error names the contract's reason, recovered by replaying the call at that block."""
    start = CoreState(0, GENESIS_ROOT, GENESIS_HASH)
    # Same root before and after (a batch without state changes), so whichever comes second
    # fails on the block number check.
    first = registered(manual_anvil, manual_contracts, batch(blobs(40, 1), start, 5, new_root=GENESIS_ROOT))
    second = registered(manual_anvil, manual_contracts, batch(blobs(41, 1), start, 3, new_root=GENESIS_ROOT))
    clients = [
        SettlementClient(manual_anvil.url, account.private_key, manual_contracts.core_contract, tx_timeout_s=60)
        for account in (SETTLEMENT_ACCOUNT, SECOND_OPERATOR)
    ]
    manual_anvil.rpc("evm_setAutomine", False)
    sent: list[list[str]] = [[], []]
    with ThreadPoolExecutor(2) as pool:
        futures = [settle_in_background(pool, clients[0], first, sent[0])]
        wait_until(lambda: sent[0], "the first update to be broadcast", 30, futures[0])
        futures.append(settle_in_background(pool, clients[1], second, sent[1]))
        wait_until(lambda: sent[1], "the second update to be broadcast", 30, futures[1])
        manual_anvil.rpc("evm_mine")
        errors = [future.exception(timeout=60) for future in futures]

    w3 = Web3(Web3.HTTPProvider(manual_anvil.url))
    block = w3.eth.block_number
    assert {w3.eth.get_transaction(hashes[0])["blockNumber"] for hashes in sent} == {block}
    failed = [i for i, error in enumerate(errors) if error is not None]
    assert len(failed) == 1, errors
    loser = failed[0]
    assert isinstance(errors[loser], OrchestratorError)
    assert re.fullmatch(
        f"updateStateKzgDA reverted on chain in block {block}: INVALID_PREV_BLOCK_NUMBER "
        f"\\(transaction {sent[loser][0]}\\)",
        str(errors[loser]),
    ), str(errors[loser])
    winner = 1 - loser
    assert clients[0].state().block_number == (5, 3)[winner]


def test_stuck_update_is_replaced_with_bumped_fees_and_any_broadcast_is_accepted(
    manual_anvil: AnvilProcess, manual_contracts: DeployedContracts
) -> None:
    """The base fee jumps above the sent transaction's fee cap: it is replaced (same nonce, every fee at
    least doubled, as geth's blob pool requires), every hash is reported, and the replacement settles."""
    client = SettlementClient(
        manual_anvil.url, SETTLEMENT_ACCOUNT.private_key, manual_contracts.core_contract,
        tx_timeout_s=60, replace_after_s=0.5,
    )
    sample = registered(manual_anvil, manual_contracts, batch(blobs(42, 2), client.state(), 4))
    w3 = Web3(Web3.HTTPProvider(manual_anvil.url))
    manual_anvil.rpc("evm_setAutomine", False)
    sent: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        future = settle_in_background(pool, client, sample, sent)
        wait_until(lambda: sent, "the update to be broadcast", 30, future)
        original = w3.eth.get_transaction(sent[0])
        manual_anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(4 * original["maxFeePerGas"]))
        manual_anvil.rpc("evm_mine")
        assert w3.eth.get_block("latest")["transactions"] == []  # priced out
        wait_until(lambda: len(sent) >= 2, "a replacement to be broadcast", 30, future)
        manual_anvil.rpc("evm_mine")
        receipt = future.result(timeout=60)

    assert len(set(sent)) == len(sent)
    assert receipt.tx_hash == sent[-1]
    replacement = w3.eth.get_transaction(receipt.tx_hash)
    assert replacement["nonce"] == original["nonce"]
    assert replacement["maxFeePerGas"] >= 2 * original["maxFeePerGas"]
    assert replacement["maxPriorityFeePerGas"] >= 2 * original["maxPriorityFeePerGas"]
    assert replacement["maxFeePerBlobGas"] >= 2 * original["maxFeePerBlobGas"]
    assert replacement["maxFeePerGas"] >= w3.eth.get_block(receipt.block_number)["baseFeePerGas"]
    assert client.state().block_number == 4
    # The resume path: whichever recorded hash was mined is found, in any order.
    assert client.wait_for_transaction(sent) == receipt
    assert client.wait_for_transaction(list(reversed(sent))) == receipt


def test_replacement_above_the_fee_cap_is_held_back(
    manual_anvil: AnvilProcess, manual_contracts: DeployedContracts
) -> None:
    w3 = Web3(Web3.HTTPProvider(manual_anvil.url))
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    cap = 3 * base_fee + 2 * 10**9  # the first transaction fits, a doubled one does not
    client = SettlementClient(
        manual_anvil.url, SETTLEMENT_ACCOUNT.private_key, manual_contracts.core_contract,
        max_fee_per_gas_cap_wei=cap, tx_timeout_s=3, replace_after_s=0.3,
    )
    sample = registered(manual_anvil, manual_contracts, batch(blobs(43, 1), client.state(), 2))
    manual_anvil.rpc("evm_setAutomine", False)
    sent: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        future = settle_in_background(pool, client, sample, sent)
        wait_until(lambda: sent, "the update to be broadcast", 30, future)
        manual_anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(4 * cap))
        manual_anvil.rpc("evm_mine")
        error = future.exception(timeout=60)

    assert isinstance(error, TransientError)
    assert re.fullmatch(
        f"transaction\\(s\\) {sent[0]} not mined after 3 s; last replacement not sent: replacing needs "
        f"maxFeePerGas >= \\d+ wei \\(\\+100%\\), above max_fee_per_gas_cap_wei={cap}",
        str(error),
    ), str(error)
    assert len(sent) == 1


def test_wait_for_transaction_needs_a_hash(client: SettlementClient) -> None:
    with pytest.raises(InvalidInputError, match="at least one transaction hash"):
        client.wait_for_transaction([])
    with pytest.raises(InvalidInputError, match="replacement_bump_percent must be at least 10"):
        SettlementClient(client.rpc_url, SETTLEMENT_ACCOUNT.private_key, client.core_contract.address,
                         replacement_bump_percent=5)


def test_no_more_fee_bumps_than_max_fee_bumps(manual_anvil: AnvilProcess, manual_contracts: DeployedContracts) -> None:
    """Madara's ETHEREUM_MAX_FEE_BUMPS: a state update priced out is replaced at most that many times."""
    client = SettlementClient(
        manual_anvil.url, SETTLEMENT_ACCOUNT.private_key, manual_contracts.core_contract,
        tx_timeout_s=4, replace_after_s=0.3, max_fee_bumps=1,
    )
    sample = registered(manual_anvil, manual_contracts, batch(blobs(44, 1), client.state(), 2))
    w3 = Web3(Web3.HTTPProvider(manual_anvil.url))
    manual_anvil.rpc("evm_setAutomine", False)
    sent: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        future = settle_in_background(pool, client, sample, sent)
        wait_until(lambda: sent, "the update to be broadcast", 30, future)
        original = w3.eth.get_transaction(sent[0])
        manual_anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(100 * original["maxFeePerGas"]))
        manual_anvil.rpc("evm_mine")
        error = future.exception(timeout=60)

    assert isinstance(error, TransientError)
    assert len(sent) == 2, sent  # the first broadcast and one bump, no third
    assert "1 fee bump(s) already sent (max_fee_bumps)" in str(error)


def test_a_state_update_costing_more_than_the_fee_cap_is_not_sent(client: SettlementClient, anvil: AnvilProcess,
                                                                   deployed: DeployedContracts) -> None:
    """Madara's ETHEREUM_L2_STATE_UPDATE_MAX_FEE_WEI: gas × max fee + blob gas × max blob fee must fit the cap."""
    capped = SettlementClient(
        anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract, state_update_max_fee_wei=10**9,
    )
    state = capped.state()
    sample = registered(anvil, deployed, batch(blobs(45, 1), state, state.block_number + 2))
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    nonce = w3.eth.get_transaction_count(capped.address)
    with pytest.raises(TransientError, match=r"above state_update_max_fee_wei=1000000000; waiting for lower fees"):
        capped.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    assert w3.eth.get_transaction_count(capped.address, "pending") == nonce  # nothing sent


def test_the_configured_operator_must_be_the_keys_address(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    """Madara's STARKNET_OPERATOR_ADDRESS, checked against the settlement key rather than ignored."""
    SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract,
                     operator_address=SETTLEMENT_ACCOUNT.address)
    with pytest.raises(InvalidInputError, match="is not the configured operator"):
        SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract,
                         operator_address=DEPLOYER_ACCOUNT.address)
