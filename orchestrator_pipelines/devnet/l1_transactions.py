"""Signing and sending the devnet's own L1 transactions (deployments, facts, deposits), waiting for each receipt.

Both devnets (the Starknet core contract and the ZKsync OS contracts) set up
their L1 the same way: one transaction at a time from a funded dev account,
gas estimated (so a revert is reported with the contract's reason before
anything is sent), EIP-1559 fees over the latest base fee, and a receipt
awaited, since every later step reads the state the previous one wrote.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from orchestrator_pipelines.errors import OrchestratorError

TX_TIMEOUT_S = 60
GAS_MARGIN = 20_000
PRIORITY_FEE_WEI = 1_000_000_000


def connect(rpc_url: str) -> Web3:
    """A web3 handle on ``rpc_url``, refused in one line when nothing answers there."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise OrchestratorError(f"no Ethereum JSON-RPC answering at {rpc_url}")
    return w3


def send_and_wait(w3: Web3, private_key: str, tx: dict[str, Any], what: str) -> Any:
    """Sign ``tx`` with ``private_key``, send it and return its receipt; a revert names ``what`` and the reason."""
    account = Account.from_key(private_key)
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    tx.setdefault("value", 0)
    if "gas" not in tx:
        try:
            tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + GAS_MARGIN
        except ContractLogicError as exc:
            reason = (exc.message or str(exc)).removeprefix("execution reverted: ")
            raise OrchestratorError(f"{what} reverted: {reason}") from None
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx.setdefault("maxPriorityFeePerGas", PRIORITY_FEE_WEI)
    tx.setdefault("maxFeePerGas", 2 * base_fee + tx["maxPriorityFeePerGas"])
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_TIMEOUT_S, poll_latency=0.05)
    if receipt["status"] != 1:
        raise OrchestratorError(f"{what} failed on chain: transaction {tx_hash.to_0x_hex()} reverted")
    return receipt
