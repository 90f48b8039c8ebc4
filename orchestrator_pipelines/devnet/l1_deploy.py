"""Deploy the devnet settlement contracts on an L1, register operators and facts there.

The core contract's genesis state is the appchain's block 0 (root, number,
hash), so the first batch the orchestrator settles starts from exactly what
the node reports. As on Ethereum, only registered operators may update the
state: the deployer is the governor and registers the settlement accounts it
is given. The resulting addresses go to a small JSON file that the
orchestrator's configuration reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from orchestrator_pipelines.devnet.contract_build import load_artifact
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError

TX_TIMEOUT_S = 60


@dataclass(frozen=True)
class DeployedContracts:
    core_contract: str
    fact_registry: str
    deployer: str
    chain_id: int


def _web3(rpc_url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise OrchestratorError(f"no Ethereum JSON-RPC answering at {rpc_url}")
    return w3


def _send(w3: Web3, private_key: str, tx: dict[str, Any], what: str) -> Any:
    account = Account.from_key(private_key)
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        try:
            tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 10_000
        except ContractLogicError as exc:
            raise OrchestratorError(f"{what} reverted: {exc.message.removeprefix('execution reverted: ')}") from None
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx.setdefault("maxPriorityFeePerGas", 1_000_000_000)
    tx.setdefault("maxFeePerGas", 2 * base_fee + tx["maxPriorityFeePerGas"])
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_TIMEOUT_S, poll_latency=0.1)
    if receipt["status"] != 1:
        raise OrchestratorError(f"{what} failed on chain: transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


def _deploy(w3: Web3, private_key: str, name: str, *constructor_args: Any) -> str:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*constructor_args).build_transaction(
        {"from": Account.from_key(private_key).address, "gas": 3_000_000}
    )
    receipt = _send(w3, private_key, {k: v for k, v in tx.items() if k in ("data", "gas", "value")}, f"deploying {name}")
    return Web3.to_checksum_address(receipt["contractAddress"])


def deploy_settlement_contracts(
    rpc_url: str,
    deployer_key: str,
    *,
    program_hash: int,
    config_hash: int,
    genesis_root: int,
    genesis_block_number: int,
    genesis_block_hash: int,
    operators: Sequence[str] = (),
) -> DeployedContracts:
    """Deploy FactRegistry (owned by the deployer) and StarknetCoreContract at the given genesis.

    The deployer governs the core contract; each address in ``operators`` is
    registered as an operator, the role ``updateStateKzgDA`` requires.
    """
    w3 = _web3(rpc_url)
    fact_registry = _deploy(w3, deployer_key, "FactRegistry")
    core_contract = _deploy(
        w3,
        deployer_key,
        "StarknetCoreContract",
        program_hash,
        config_hash,
        fact_registry,
        genesis_root,
        genesis_block_number,
        genesis_block_hash,
    )
    for operator in operators:
        register_operator(rpc_url, deployer_key, core_contract, operator)
    return DeployedContracts(
        core_contract=core_contract,
        fact_registry=fact_registry,
        deployer=Account.from_key(deployer_key).address,
        chain_id=int(w3.eth.chain_id),
    )


def core_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("StarknetCoreContract")["abi"]
    )


def register_operator(rpc_url: str, governor_key: str, core_contract_address: str, operator: str) -> str | None:
    """Let ``operator`` update the core contract's state; returns the tx hash, or None when it already may."""
    w3 = _web3(rpc_url)
    contract = core_contract(w3, core_contract_address)
    operator = Web3.to_checksum_address(operator)
    if contract.functions.isOperator(operator).call():
        return None
    data = contract.functions.registerOperator(operator)._encode_transaction_data()
    receipt = _send(w3, governor_key, {"to": contract.address, "data": data}, f"registerOperator({operator})")
    return receipt["transactionHash"].to_0x_hex()


def unregister_operator(rpc_url: str, governor_key: str, core_contract_address: str, operator: str) -> str | None:
    """Withdraw ``operator``'s right to update the state; returns the tx hash, or None when it had none."""
    w3 = _web3(rpc_url)
    contract = core_contract(w3, core_contract_address)
    operator = Web3.to_checksum_address(operator)
    if not contract.functions.isOperator(operator).call():
        return None
    data = contract.functions.unregisterOperator(operator)._encode_transaction_data()
    receipt = _send(w3, governor_key, {"to": contract.address, "data": data}, f"unregisterOperator({operator})")
    return receipt["transactionHash"].to_0x_hex()


def is_operator(rpc_url: str, core_contract_address: str, address: str) -> bool:
    """Whether ``address`` may update the state; False for a contract without the operator role."""
    w3 = _web3(rpc_url)
    try:
        contract = core_contract(w3, core_contract_address)
        return bool(contract.functions.isOperator(Web3.to_checksum_address(address)).call())
    except (ContractLogicError, BadFunctionCallOutput, ValueError):
        return False


def fact_registry_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact("FactRegistry")["abi"])


def transfer_fact_registry_ownership(rpc_url: str, owner_key: str, fact_registry: str, new_owner: str) -> str:
    """Hand the registry to another account (the prover's registrar key); returns the tx hash."""
    w3 = _web3(rpc_url)
    registry = fact_registry_contract(w3, fact_registry)
    data = registry.functions.transferOwnership(Web3.to_checksum_address(new_owner))._encode_transaction_data()
    receipt = _send(w3, owner_key, {"to": registry.address, "data": data}, "transferOwnership")
    return receipt["transactionHash"].to_0x_hex()


def register_fact(rpc_url: str, owner_key: str, fact_registry: str, fact: bytes) -> str | None:
    """Register ``fact`` (32 bytes); returns the tx hash, or None when it was already valid."""
    if len(fact) != 32:
        raise InvalidInputError(f"fact must be 32 bytes, got {len(fact)}")
    w3 = _web3(rpc_url)
    registry = fact_registry_contract(w3, fact_registry)
    if registry.functions.isValid(fact).call():
        return None
    data = registry.functions.registerFact(fact)._encode_transaction_data()
    receipt = _send(w3, owner_key, {"to": registry.address, "data": data}, f"registerFact(0x{fact.hex()})")
    return receipt["transactionHash"].to_0x_hex()


def write_addresses(path: Path, deployed: DeployedContracts) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(deployed), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_addresses(path: Path) -> DeployedContracts:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"contract address file {path} does not exist; deploy the contracts first") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"contract address file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        return DeployedContracts(
            core_contract=Web3.to_checksum_address(data["core_contract"]),
            fact_registry=Web3.to_checksum_address(data["fact_registry"]),
            deployer=Web3.to_checksum_address(data["deployer"]),
            chain_id=int(data["chain_id"]),
        )
    except KeyError as exc:
        raise InvalidInputError(f"contract address file {path} lacks field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise InvalidInputError(f"contract address file {path} has a bad value: {exc}") from None
