"""L1<->L2 messaging on the devnet core contract, on a real anvil: deposits sent with a fee
and consumed by a state update, withdrawals recorded by a state update and consumed once,
cancellation after the delay, the fee bounds; hashes as ``starknet.messages`` computes them."""

from __future__ import annotations

import random

import pytest
from web3 import Web3
from web3.logs import DISCARD

from orchestrator_pipelines.clients.settlement import SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, DEV_ACCOUNTS, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_transactions import send_and_wait
from orchestrator_pipelines.devnet.l1_deploy import (
    DeployedContracts,
    consume_message_from_l2,
    core_contract,
    register_fact,
    send_message_to_l2,
)
from orchestrator_pipelines.devnet.settlement_sample import BLOB_SIZE, build_kzg_settlement_input, random_blob
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.starknet.messages import (
    l1_to_l2_message_hash,
    l1_to_l2_message_words,
    l2_to_l1_message_hash,
    l2_to_l1_message_words,
)
from orchestrator_pipelines.starknet.os_output import MessageToL1, MessageToL2

from tests.core_contract_setup import CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core

BRIDGE = DEV_ACCOUNTS[3]  # the L1 side of a bridge: sends deposits, consumes withdrawals
L2_BRIDGE = 0x0594C1582459EA03F77DEAF9EB7E3917D6994A03C13405BA42867F83D85F085D
HANDLE_DEPOSIT = 0x02D757788A8D8D6F21D1CD40BCE38A8222D70654214E96FF95D8086E684FBEE5
ETHER = 10**18


@pytest.fixture()
def deployed(anvil: AnvilProcess) -> DeployedContracts:
    return deploy_core(anvil)


def contract(anvil: AnvilProcess, deployed: DeployedContracts):
    return core_contract(Web3(Web3.HTTPProvider(anvil.url)), deployed.core_contract)


def deposit(anvil: AnvilProcess, deployed: DeployedContracts, amount: int, fee_wei: int = 10**15):
    return send_message_to_l2(
        anvil.url, BRIDGE.private_key, deployed.core_contract,
        to_address=L2_BRIDGE, selector=HANDLE_DEPOSIT, payload=[0xBEEF, amount, 0], fee_wei=fee_wei,
    )


def settle(anvil, deployed, *, to_l1=(), to_l2=(), seed=1):
    """Settle blocks 1..9 with the given message segments; returns the receipt."""
    sample = build_kzg_settlement_input(
        [random_blob(random.Random(seed).randbytes(BLOB_SIZE))],
        prev_root=GENESIS["genesis_root"], new_root=0xAB02, prev_block_number=0, new_block_number=9,
        prev_block_hash=GENESIS["genesis_block_hash"], new_block_hash=0xCD03,
        program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
        messages_to_l1=[w for m in to_l1 for w in l2_to_l1_message_words(m)],
        messages_to_l2=[w for m in to_l2 for w in l1_to_l2_message_words(m)],
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.fact_registry, sample.fact)
    client = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, deployed.core_contract)
    return client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)


def test_deposit_is_pending_with_its_fee_and_nonce(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    core = contract(anvil, deployed)
    assert core.functions.l1ToL2MessageNonce().call() == 0
    first = deposit(anvil, deployed, 100, fee_wei=12345)
    second = deposit(anvil, deployed, 100, fee_wei=1)

    assert (first.nonce, second.nonce) == (0, 1)
    assert core.functions.l1ToL2MessageNonce().call() == 2
    expected = l1_to_l2_message_hash(BRIDGE.address, L2_BRIDGE, 0, HANDLE_DEPOSIT, [0xBEEF, 100, 0])
    assert first.msg_hash == expected != second.msg_hash
    # The real contract stores fee + 1, so a pending message is never 0.
    assert core.functions.l1ToL2Messages(first.msg_hash).call() == 12346
    assert core.functions.l1ToL2Messages(second.msg_hash).call() == 2
    assert core.functions.getMaxL1MsgFee().call() == ETHER


@pytest.mark.parametrize(
    "fee_wei,reason", [(0, "L1_MSG_FEE_MUST_BE_GREATER_THAN_0"), (ETHER + 1, "MAX_L1_MSG_FEE_EXCEEDED")]
)
def test_fee_bounds(anvil: AnvilProcess, deployed: DeployedContracts, fee_wei: int, reason: str) -> None:
    with pytest.raises(OrchestratorError, match=f"^sendMessageToL2 reverted: {reason}$"):
        deposit(anvil, deployed, 1, fee_wei=fee_wei)
    assert contract(anvil, deployed).functions.l1ToL2MessageNonce().call() == 0
    deposit(anvil, deployed, 1, fee_wei=ETHER)  # the bound itself is allowed


def test_state_update_consumes_the_deposit_and_pays_its_fee(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    core = contract(anvil, deployed)
    sent = deposit(anvil, deployed, 500, fee_wei=7 * 10**15)
    message = MessageToL2(int(BRIDGE.address, 16), L2_BRIDGE, sent.nonce, HANDLE_DEPOSIT, [0xBEEF, 500, 0])
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    balance_before = w3.eth.get_balance(SETTLEMENT_ACCOUNT.address)

    receipt = settle(anvil, deployed, to_l2=[message])

    assert core.functions.l1ToL2Messages(sent.msg_hash).call() == 0
    (consumed,) = core.events.ConsumedMessageToL2().process_receipt(w3.eth.get_transaction_receipt(receipt.tx_hash), errors=DISCARD)
    assert (consumed.args.fromAddress, consumed.args.toAddress, consumed.args.selector) == (
        BRIDGE.address, L2_BRIDGE, HANDLE_DEPOSIT,
    )
    assert (list(consumed.args.payload), consumed.args.nonce) == ([0xBEEF, 500, 0], sent.nonce)
    # The fee goes to the operator that settled: its balance moved by fee - gas paid.
    balance_after = w3.eth.get_balance(SETTLEMENT_ACCOUNT.address)
    assert balance_after - balance_before == 7 * 10**15 - receipt.fee_wei


def test_a_deposit_never_sent_cannot_be_consumed(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    forged = MessageToL2(int(BRIDGE.address, 16), L2_BRIDGE, 0, HANDLE_DEPOSIT, [0xBEEF, 10**24, 0])
    with pytest.raises(OrchestratorError, match="^updateStateKzgDA reverted: INVALID_MESSAGE_TO_CONSUME$"):
        settle(anvil, deployed, to_l2=[forged])


def test_withdrawal_is_consumable_once_after_its_state_update(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    core = contract(anvil, deployed)
    withdrawal = MessageToL1(L2_BRIDGE, int(BRIDGE.address, 16), [0, 0xBEEF, 250, 0])
    msg_hash = l2_to_l1_message_hash(withdrawal)
    with pytest.raises(OrchestratorError, match="^consumeMessageFromL2 reverted: INVALID_MESSAGE_TO_CONSUME$"):
        consume_message_from_l2(anvil.url, BRIDGE.private_key, deployed.core_contract,
                                from_address=L2_BRIDGE, payload=withdrawal.payload)

    receipt = settle(anvil, deployed, to_l1=[withdrawal, withdrawal])

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    logged = core.events.LogMessageToL1().process_receipt(w3.eth.get_transaction_receipt(receipt.tx_hash), errors=DISCARD)
    assert [(e.args.fromAddress, e.args.toAddress, list(e.args.payload)) for e in logged] == [
        (L2_BRIDGE, BRIDGE.address, withdrawal.payload)
    ] * 2
    assert core.functions.l2ToL1Messages(msg_hash).call() == 2
    # Only the recipient can consume it: the hash includes the caller.
    with pytest.raises(OrchestratorError, match="INVALID_MESSAGE_TO_CONSUME"):
        consume_message_from_l2(anvil.url, DEPLOYER_ACCOUNT.private_key, deployed.core_contract,
                                from_address=L2_BRIDGE, payload=withdrawal.payload)
    for remaining in (1, 0):
        tx_hash = consume_message_from_l2(anvil.url, BRIDGE.private_key, deployed.core_contract,
                                          from_address=L2_BRIDGE, payload=withdrawal.payload)
        assert core.functions.l2ToL1Messages(msg_hash).call() == remaining
        (event,) = core.events.ConsumedMessageToL1().process_receipt(w3.eth.get_transaction_receipt(tx_hash), errors=DISCARD)
        assert (event.args.fromAddress, event.args.toAddress) == (L2_BRIDGE, BRIDGE.address)
    with pytest.raises(OrchestratorError, match="^consumeMessageFromL2 reverted: INVALID_MESSAGE_TO_CONSUME$"):
        consume_message_from_l2(anvil.url, BRIDGE.private_key, deployed.core_contract,
                                from_address=L2_BRIDGE, payload=withdrawal.payload)


def _sender_call(anvil, deployed, name: str, sent, account=BRIDGE) -> str:
    core = contract(anvil, deployed)
    fn = getattr(core.functions, name)(L2_BRIDGE, HANDLE_DEPOSIT, [0xBEEF, 42, 0], sent.nonce)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    return send_and_wait(w3, account.private_key, {"to": core.address, "data": fn._encode_transaction_data()}, name)


def test_cancellation_needs_a_request_and_the_delay(anvil: AnvilProcess, deployed: DeployedContracts) -> None:
    core = contract(anvil, deployed)
    assert core.functions.messageCancellationDelay().call() == 5 * 24 * 3600
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    governor_call = core.functions.setMessageCancellationDelay(600)._encode_transaction_data()
    send_and_wait(w3, DEPLOYER_ACCOUNT.private_key, {"to": core.address, "data": governor_call}, "setMessageCancellationDelay")
    assert core.functions.messageCancellationDelay().call() == 600
    sent = deposit(anvil, deployed, 42)

    with pytest.raises(OrchestratorError, match="^cancelL1ToL2Message reverted: MESSAGE_CANCELLATION_NOT_REQUESTED$"):
        _sender_call(anvil, deployed, "cancelL1ToL2Message", sent)
    # Another account's start names a message it never sent.
    with pytest.raises(OrchestratorError, match="^startL1ToL2MessageCancellation reverted: NO_MESSAGE_TO_CANCEL$"):
        _sender_call(anvil, deployed, "startL1ToL2MessageCancellation", sent, account=DEPLOYER_ACCOUNT)
    started = _sender_call(anvil, deployed, "startL1ToL2MessageCancellation", sent)
    started_at = w3.eth.get_block(started["blockNumber"])["timestamp"]
    assert core.functions.l1ToL2MessageCancellations(sent.msg_hash).call() == started_at
    with pytest.raises(OrchestratorError, match="^cancelL1ToL2Message reverted: MESSAGE_CANCELLATION_NOT_ALLOWED_YET$"):
        _sender_call(anvil, deployed, "cancelL1ToL2Message", sent)

    anvil.rpc("evm_increaseTime", 600)
    anvil.rpc("evm_mine")
    cancelled = _sender_call(anvil, deployed, "cancelL1ToL2Message", sent)
    (event,) = core.events.MessageToL2Canceled().process_receipt(cancelled, errors=DISCARD)
    assert (event.args.fromAddress, event.args.nonce) == (BRIDGE.address, sent.nonce)
    assert core.functions.l1ToL2Messages(sent.msg_hash).call() == 0
    with pytest.raises(OrchestratorError, match="^cancelL1ToL2Message reverted: NO_MESSAGE_TO_CANCEL$"):
        _sender_call(anvil, deployed, "cancelL1ToL2Message", sent)
    # A cancelled deposit can no longer be consumed by a state update.
    message = MessageToL2(int(BRIDGE.address, 16), L2_BRIDGE, sent.nonce, HANDLE_DEPOSIT, [0xBEEF, 42, 0])
    with pytest.raises(OrchestratorError, match="INVALID_MESSAGE_TO_CONSUME"):
        settle(anvil, deployed, to_l2=[message], seed=2)
