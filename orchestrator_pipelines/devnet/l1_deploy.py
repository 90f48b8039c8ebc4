"""Deploy the devnet settlement contracts on an L1, register operators and facts there.

The core contract is deployed, then initialised as on Ethereum with 7 words
(program hash, aggregator program hash, verifier, config hash and the genesis
state): the appchain's block 0 (root, number, hash), so the first batch the
orchestrator settles starts from exactly what the node reports. As on Ethereum,
only registered operators may update the state: the deployer initialises the
contract, which makes it the governor, and registers the settlement accounts it
is given. The resulting addresses go to a small JSON file that the
orchestrator's configuration reads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from eth_abi import encode as abi_encode
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from orchestrator_pipelines.devnet.contract_build import load_artifact
from orchestrator_pipelines.devnet.l1_transactions import connect, send_and_wait
from orchestrator_pipelines.devnet.snos_runner import DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.messages import l1_to_l2_message_hash



@dataclass(frozen=True)
class DeployedContracts:
    core_contract: str
    fact_registry: str
    deployer: str
    chain_id: int


@dataclass(frozen=True)
class CoreContractBuild:
    """A compiled Starknet core contract to deploy in place of the project's own (bring your own build)."""

    abi: list[dict[str, Any]]
    bytecode: str
    source: str
    sha256: str

    def has_function(self, name: str, *input_types: str) -> bool:
        return any(
            entry.get("type") == "function"
            and entry.get("name") == name
            and [i.get("type") for i in entry.get("inputs", [])] == list(input_types)
            for entry in self.abi
        )

    @property
    def has_operator_role(self) -> bool:
        """Whether the build restricts state updates to operators that its governor registers."""
        return self.has_function("registerOperator", "address") and self.has_function("isOperator", "address")


def load_core_contract_build(path: str | Path) -> CoreContractBuild:
    """Read a compiled core contract: a JSON object with ``abi`` and ``bytecode``.

    ``bytecode`` may be a hex string (solc, Hardhat) or ``{"object": hex}`` (Foundry).
    The build must be deployable without constructor arguments and initialisable
    with ``initializeContractState(bytes)``, as the devnet initialises it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except FileNotFoundError:
        raise InvalidInputError(f"core contract artifact {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"core contract artifact {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("abi"), list):
        raise InvalidInputError(f"core contract artifact {path}: expected a JSON object with an 'abi' list")
    bytecode = data.get("bytecode")
    if isinstance(bytecode, dict):
        bytecode = bytecode.get("object")
    if not isinstance(bytecode, str) or not bytecode:
        raise InvalidInputError(f"core contract artifact {path}: 'bytecode' must be a hex string or {{'object': hex}}")
    bytecode = bytecode if bytecode.startswith("0x") else "0x" + bytecode
    if "__" in bytecode:
        raise InvalidInputError(f"core contract artifact {path}: the bytecode has unlinked library placeholders")
    try:
        bytes.fromhex(bytecode[2:])
    except ValueError:
        raise InvalidInputError(f"core contract artifact {path}: 'bytecode' is not hex") from None
    build = CoreContractBuild(
        abi=data["abi"], bytecode=bytecode, source=str(path), sha256=hashlib.sha256(raw).hexdigest()
    )
    constructor = next((e for e in build.abi if e.get("type") == "constructor"), None)
    if constructor is not None and constructor.get("inputs"):
        raise InvalidInputError(
            f"core contract artifact {path}: its constructor takes arguments; the devnet deploys it without any "
            "and initialises it with initializeContractState(bytes)"
        )
    if not build.has_function("initializeContractState", "bytes"):
        raise InvalidInputError(
            f"core contract artifact {path}: the build has no initializeContractState(bytes) to initialise it with "
            "(a build for a proxy exposes only initialize(bytes): use the build made for direct deployment)"
        )
    return build


def _deploy(w3: Web3, private_key: str, name: str, *constructor_args: Any) -> str:
    artifact = load_artifact(name)
    return deploy_artifact(w3, private_key, artifact["abi"], artifact["bytecode"], name, *constructor_args)


def deploy_artifact(w3: Web3, private_key: str, abi: list[dict[str, Any]], bytecode: str, name: str, *args: Any) -> str:
    """Deploy compiled ``bytecode`` with constructor ``args``; returns the contract address."""
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor(*args).build_transaction({"from": Account.from_key(private_key).address, "gas": 6_000_000})
    receipt = send_and_wait(w3, private_key, {k: v for k, v in tx.items() if k in ("data", "gas", "value")}, f"deploying {name}")
    return Web3.to_checksum_address(receipt["contractAddress"])


def initialization_data(
    *,
    program_hash: int,
    aggregator_program_hash: int,
    verifier: str,
    config_hash: int,
    genesis_root: int,
    genesis_block_number: int,
    genesis_block_hash: int,
) -> bytes:
    """The 7 words a Starknet core contract is initialised with (``initializeContractState``)."""
    return abi_encode(
        ["uint256", "uint256", "address", "uint256", "uint256", "int256", "uint256"],
        [
            program_hash,
            aggregator_program_hash,
            Web3.to_checksum_address(verifier),
            config_hash,
            genesis_root,
            genesis_block_number,
            genesis_block_hash,
        ],
    )


def initialize_core_contract(w3: Web3, governor_key: str, contract: Contract, data: bytes) -> None:
    """Call ``initializeContractState(data)``: the caller becomes the contract's governor."""
    call = contract.functions.initializeContractState(data)._encode_transaction_data()
    send_and_wait(w3, governor_key, {"to": contract.address, "data": call}, "initializeContractState")


def deploy_settlement_contracts(
    rpc_url: str,
    deployer_key: str,
    *,
    program_hash: int,
    config_hash: int,
    genesis_root: int,
    genesis_block_number: int,
    genesis_block_hash: int,
    aggregator_program_hash: int = DEVNET_AGGREGATOR_FACT_PROGRAM_HASH,
    operators: Sequence[str] = (),
    core_contract_build: CoreContractBuild | None = None,
) -> DeployedContracts:
    """Deploy FactRegistry (owned by the deployer) and StarknetCoreContract at the given genesis.

    The core contract is initialised with the fact registry as its verifier and
    ``aggregator_program_hash`` (by default the devnet aggregator's, distinct from
    any OS program hash); the deployer governs it, and each address in ``operators``
    is registered as an operator, the role ``updateStateKzgDA`` requires.

    ``core_contract_build`` deploys that compiled core contract instead of the
    project's own, initialised the same way; operators are registered only if the
    build has the operator role.
    """
    w3 = connect(rpc_url)
    fact_registry = _deploy(w3, deployer_key, "FactRegistry")
    if core_contract_build is None:
        core_contract_address = _deploy(w3, deployer_key, "StarknetCoreContract")
        core = core_contract(w3, core_contract_address)
        register_operators = True
    else:
        core_contract_address = deploy_artifact(
            w3, deployer_key, core_contract_build.abi, core_contract_build.bytecode, core_contract_build.source
        )
        core = w3.eth.contract(address=core_contract_address, abi=core_contract_build.abi)
        register_operators = core_contract_build.has_operator_role
    data = initialization_data(
        program_hash=program_hash,
        aggregator_program_hash=aggregator_program_hash,
        verifier=fact_registry,
        config_hash=config_hash,
        genesis_root=genesis_root,
        genesis_block_number=genesis_block_number,
        genesis_block_hash=genesis_block_hash,
    )
    initialize_core_contract(w3, deployer_key, core, data)
    for operator in operators if register_operators else ():
        register_operator(rpc_url, deployer_key, core_contract_address, operator)
    return DeployedContracts(
        core_contract=core_contract_address,
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
    w3 = connect(rpc_url)
    contract = core_contract(w3, core_contract_address)
    operator = Web3.to_checksum_address(operator)
    if contract.functions.isOperator(operator).call():
        return None
    data = contract.functions.registerOperator(operator)._encode_transaction_data()
    receipt = send_and_wait(w3, governor_key, {"to": contract.address, "data": data}, f"registerOperator({operator})")
    return receipt["transactionHash"].to_0x_hex()


def unregister_operator(rpc_url: str, governor_key: str, core_contract_address: str, operator: str) -> str | None:
    """Withdraw ``operator``'s right to update the state; returns the tx hash, or None when it had none."""
    w3 = connect(rpc_url)
    contract = core_contract(w3, core_contract_address)
    operator = Web3.to_checksum_address(operator)
    if not contract.functions.isOperator(operator).call():
        return None
    data = contract.functions.unregisterOperator(operator)._encode_transaction_data()
    receipt = send_and_wait(w3, governor_key, {"to": contract.address, "data": data}, f"unregisterOperator({operator})")
    return receipt["transactionHash"].to_0x_hex()


def is_operator(rpc_url: str, core_contract_address: str, address: str) -> bool:
    """Whether ``address`` may update the state; False for a contract without the operator role."""
    w3 = connect(rpc_url)
    try:
        contract = core_contract(w3, core_contract_address)
        return bool(contract.functions.isOperator(Web3.to_checksum_address(address)).call())
    except (ContractLogicError, BadFunctionCallOutput, ValueError):
        return False


def aggregator_program_hash(rpc_url: str, core_contract_address: str) -> int | None:
    """The core contract's ``aggregatorProgramHash``; None for a contract without the fact rule."""
    w3 = connect(rpc_url)
    try:
        return int(core_contract(w3, core_contract_address).functions.aggregatorProgramHash().call())
    except (ContractLogicError, BadFunctionCallOutput, ValueError):
        return None


def fact_registry_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact("FactRegistry")["abi"])


def transfer_fact_registry_ownership(rpc_url: str, owner_key: str, fact_registry: str, new_owner: str) -> str:
    """Hand the registry to another account (the prover's registrar key); returns the tx hash."""
    w3 = connect(rpc_url)
    registry = fact_registry_contract(w3, fact_registry)
    data = registry.functions.transferOwnership(Web3.to_checksum_address(new_owner))._encode_transaction_data()
    receipt = send_and_wait(w3, owner_key, {"to": registry.address, "data": data}, "transferOwnership")
    return receipt["transactionHash"].to_0x_hex()


def register_fact(rpc_url: str, owner_key: str, fact_registry: str, fact: bytes) -> str | None:
    """Register ``fact`` (32 bytes); returns the tx hash, or None when it was already valid."""
    if len(fact) != 32:
        raise InvalidInputError(f"fact must be 32 bytes, got {len(fact)}")
    w3 = connect(rpc_url)
    registry = fact_registry_contract(w3, fact_registry)
    if registry.functions.isValid(fact).call():
        return None
    data = registry.functions.registerFact(fact)._encode_transaction_data()
    receipt = send_and_wait(w3, owner_key, {"to": registry.address, "data": data}, f"registerFact(0x{fact.hex()})")
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


@dataclass(frozen=True)
class SentMessageToL2:
    """An L1->L2 message as ``sendMessageToL2`` recorded it (its hash is the ``l1ToL2Messages`` key)."""

    msg_hash: bytes
    nonce: int
    fee_wei: int
    tx_hash: str
    l1_block_number: int


def send_message_to_l2(
    rpc_url: str,
    sender_key: str,
    core_contract_address: str,
    *,
    to_address: int,
    selector: int,
    payload: Sequence[int],
    fee_wei: int,
) -> SentMessageToL2:
    """Send an L1->L2 message (a deposit's message) from the account of ``sender_key``, paying ``fee_wei``."""
    w3 = connect(rpc_url)
    contract = core_contract(w3, core_contract_address)
    fn = contract.functions.sendMessageToL2(int(to_address), int(selector), [int(w) for w in payload])
    data = fn._encode_transaction_data()
    receipt = send_and_wait(
        w3, sender_key, {"to": contract.address, "data": data, "value": int(fee_wei)}, "sendMessageToL2"
    )
    (event,) = contract.events.LogMessageToL2().process_receipt(receipt)
    msg_hash = l1_to_l2_message_hash(
        event.args.fromAddress, event.args.toAddress, event.args.nonce, event.args.selector, event.args.payload
    )
    return SentMessageToL2(
        msg_hash=msg_hash,
        nonce=int(event.args.nonce),
        fee_wei=int(event.args.fee),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        l1_block_number=int(receipt["blockNumber"]),
    )


def consume_message_from_l2(
    rpc_url: str, consumer_key: str, core_contract_address: str, *, from_address: int, payload: Sequence[int]
) -> str:
    """Take one copy of the L2->L1 message ``from_address`` sent to the account of ``consumer_key``; returns the tx hash.

    Refused with ``INVALID_MESSAGE_TO_CONSUME`` while no settled state update carries the
    message, or once every copy was consumed.
    """
    w3 = connect(rpc_url)
    contract = core_contract(w3, core_contract_address)
    data = contract.functions.consumeMessageFromL2(int(from_address), [int(w) for w in payload])._encode_transaction_data()
    receipt = send_and_wait(w3, consumer_key, {"to": contract.address, "data": data}, "consumeMessageFromL2")
    return receipt["transactionHash"].to_0x_hex()
