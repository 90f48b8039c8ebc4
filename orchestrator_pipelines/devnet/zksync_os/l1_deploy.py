"""Deploy the devnet ZKsync OS settlement contracts on an L1 (anvil) and register one chain.

What is deployed is what the server's L1 discovery expects to find from a
Bridgehub address and a chain id: the Bridgehub (``getZKChain``,
``chainTypeManager``), a chain type manager (``validatorTimelockPostV29``), the
chain contract (totals, stored batch hashes, DA mode, priority tree, Mailbox
entry), the validator timelock the chain accepts as its only validator, the
verifier (development proofs on chain ids 31337 / 11155111) and the chain's
L1 DA validator (calldata rollup or validium). The timelock gets one account
per step (committer, prover, executor), which must be three different
accounts; the committer may also revert unexecuted batches. The chain starts at the genesis batch given (batch 0, stored as its
hash). The addresses go to a JSON file the orchestrator's devnet reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract

from orchestrator_pipelines.devnet.contract_build import load_artifact
from orchestrator_pipelines.devnet.l1_transactions import connect, send_and_wait
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.zksync_os.model import ZERO_ADDRESS, DAMode, StoredBatchInfo

# v0.29.9 packed as major << 64 | minor << 32 | patch.
PROTOCOL_VERSION = (0, 29, 9)
COMMITTER_ROLE = keccak(b"COMMITTER_ROLE")
PROVER_ROLE = keccak(b"PROVER_ROLE")
EXECUTOR_ROLE = keccak(b"EXECUTOR_ROLE")
REVERTER_ROLE = keccak(b"REVERTER_ROLE")


def pack_protocol_version(major: int, minor: int, patch: int) -> int:
    return (major << 64) | (minor << 32) | patch


@dataclass(frozen=True)
class ZkOsL1Deployment:
    bridgehub: str
    chain_type_manager: str
    diamond: str
    validator_timelock: str
    verifier: str
    l1_da_validator: str
    l2_da_validator: str
    da_mode: str
    chain_id: int
    l1_chain_id: int
    deployer: str
    committer: str
    prover: str
    executor: str
    execution_delay_s: int
    deployed_at_block: int
    genesis: dict


def _deploy(w3: Web3, private_key: str, name: str, *args: Any) -> str:
    artifact = load_artifact(name)
    data = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(*args).data_in_transaction
    receipt = send_and_wait(w3, private_key, {"data": data}, f"deploying {name}")
    return Web3.to_checksum_address(receipt["contractAddress"])


def _call(w3: Web3, private_key: str, contract: Contract, fn: str, *args: Any) -> None:
    data = getattr(contract.functions, fn)(*args)._encode_transaction_data()
    send_and_wait(w3, private_key, {"to": contract.address, "data": data}, f"{fn} on {contract.address}")


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"])


def deploy_zksync_os_l1(
    rpc_url: str,
    deployer_key: str,
    *,
    chain_id: int,
    genesis: StoredBatchInfo,
    committer: str,
    prover: str,
    executor: str,
    da_mode: DAMode | str = DAMode.ROLLUP,
    execution_delay_s: int = 0,
    l2_da_validator: str | None = None,
) -> ZkOsL1Deployment:
    """Deploy the contracts, register chain ``chain_id`` at ``genesis`` and grant the three step roles."""
    mode = DAMode.parse(da_mode)
    accounts = [Web3.to_checksum_address(a) for a in (committer, prover, executor)]
    if len(set(accounts)) != 3:
        raise InvalidInputError(
            f"committer, prover and executor must be three different accounts, got {', '.join(accounts)}"
        )
    if genesis.batch_number != 0:
        raise InvalidInputError(f"the genesis batch is batch 0, got batch {genesis.batch_number}")
    if not 0 <= execution_delay_s < 2**32:
        raise InvalidInputError(f"execution delay must fit in uint32 seconds, got {execution_delay_s}")
    w3 = connect(rpc_url)
    deployer = Account.from_key(deployer_key).address
    start_block = w3.eth.block_number
    l2_da = Web3.to_checksum_address(l2_da_validator or "0x" + ZERO_ADDRESS.hex())

    bridgehub = _deploy(w3, deployer_key, "Bridgehub", deployer)
    timelock = _deploy(w3, deployer_key, "ValidatorTimelock", deployer, execution_delay_s)
    ctm = _deploy(w3, deployer_key, "ChainTypeManager", bridgehub, timelock, pack_protocol_version(*PROTOCOL_VERSION))
    verifier = _deploy(w3, deployer_key, "DualVerifier")
    l1_da = _deploy(w3, deployer_key, "RollupL1DAValidator" if mode is DAMode.ROLLUP else "ValidiumL1DAValidator")
    diamond = _deploy(
        w3,
        deployer_key,
        "ZKChain",
        (
            chain_id,
            bridgehub,
            ctm,
            pack_protocol_version(*PROTOCOL_VERSION),
            deployer,
            verifier,
            l1_da,
            l2_da,
            int(mode),
            genesis.hash(),
        ),
    )
    _call(w3, deployer_key, contract_at(w3, "ZKChain", diamond), "setValidator", timelock, True)
    _call(w3, deployer_key, contract_at(w3, "Bridgehub", bridgehub), "registerChain", chain_id, ctm, diamond)
    timelock_contract = contract_at(w3, "ValidatorTimelock", timelock)
    # The committer also reverts unexecuted commits, as the server does on a restart that cannot build on them.
    for role, account in zip((COMMITTER_ROLE, PROVER_ROLE, EXECUTOR_ROLE, REVERTER_ROLE), (*accounts, accounts[0])):
        _call(w3, deployer_key, timelock_contract, "grantRole", diamond, role, account)
    return ZkOsL1Deployment(
        bridgehub=bridgehub,
        chain_type_manager=ctm,
        diamond=diamond,
        validator_timelock=timelock,
        verifier=verifier,
        l1_da_validator=l1_da,
        l2_da_validator=l2_da,
        da_mode=mode.name.lower(),
        chain_id=chain_id,
        l1_chain_id=int(w3.eth.chain_id),
        deployer=deployer,
        committer=accounts[0],
        prover=accounts[1],
        executor=accounts[2],
        execution_delay_s=execution_delay_s,
        deployed_at_block=start_block + 1,
        genesis=genesis.to_dict(),
    )


def set_execution_delay(rpc_url: str, owner_key: str, validator_timelock: str, delay_s: int) -> None:
    """Change the timelock's execution delay (owner only)."""
    w3 = connect(rpc_url)
    _call(w3, owner_key, contract_at(w3, "ValidatorTimelock", validator_timelock), "setExecutionDelay", delay_s)


def request_deposit(
    rpc_url: str,
    sender_key: str,
    diamond: str,
    *,
    to: str,
    amount_wei: int,
    l2_gas_limit: int = 300_000,
    gas_per_pubdata: int = 800,
) -> tuple[bytes, int]:
    """An L1→L2 deposit of ``amount_wei`` to ``to`` through the chain's Mailbox entry.

    Returns the priority transaction's canonical hash and the L1 block it was included in.
    """
    w3 = connect(rpc_url)
    chain = contract_at(w3, "ZKChain", diamond)
    data = chain.functions.requestL2Transaction(
        Web3.to_checksum_address(to), amount_wei, b"", l2_gas_limit, gas_per_pubdata, [], "0x" + "00" * 20
    )._encode_transaction_data()
    receipt = send_and_wait(w3, sender_key, {"to": chain.address, "data": data, "value": amount_wei}, "requestL2Transaction")
    events = chain.events.NewPriorityRequest().process_receipt(receipt)
    if len(events) != 1:
        raise OrchestratorError(f"requestL2Transaction emitted {len(events)} NewPriorityRequest events, not one")
    return bytes(events[0]["args"]["txHash"]), int(receipt["blockNumber"])


def write_deployment(path: Path, deployment: ZkOsL1Deployment) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(deployment), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_deployment(path: Path) -> ZkOsL1Deployment:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"ZKsync OS deployment file {path} does not exist; deploy the contracts first") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"ZKsync OS deployment file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        return ZkOsL1Deployment(**{name: data[name] for name in ZkOsL1Deployment.__dataclass_fields__})
    except KeyError as exc:
        raise InvalidInputError(f"ZKsync OS deployment file {path} lacks field {exc.args[0]!r}") from None
