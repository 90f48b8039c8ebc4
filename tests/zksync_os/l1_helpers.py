"""Building ZKsync OS batches for the L1 tests: a small stand-in for the batcher's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eth_hash.auto import keccak

from orchestrator_pipelines.devnet.anvil import DEV_ACCOUNTS, AnvilProcess
from orchestrator_pipelines.devnet.zksync_os.l1_deploy import ZkOsL1Deployment, deploy_zksync_os_l1
from orchestrator_pipelines.zksync_os.commitment import da_commitment, priority_operations_rolling_hash, rollup_operator_da_input
from orchestrator_pipelines.zksync_os.l1_client import ZkOsL1Client
from orchestrator_pipelines.zksync_os.l2_logs import EMPTY_BATCH_LOGS_ROOT, batch_logs_root, user_message_log
from orchestrator_pipelines.zksync_os.model import CommitBatchInfo, DAMode, StoredBatchInfo, genesis_stored_batch_info

DEPLOYER, COMMITTER, PROVER, EXECUTOR, USER = DEV_ACCOUNTS
L2_CHAIN_ID = 270


def deploy(anvil: AnvilProcess, *, mode: DAMode = DAMode.ROLLUP, delay_s: int = 0, chain_id: int = L2_CHAIN_ID):
    genesis = genesis_stored_batch_info(keccak(b"genesis state of chain %d" % chain_id))
    deployment = deploy_zksync_os_l1(
        anvil.url, DEPLOYER.private_key, chain_id=chain_id, genesis=genesis, committer=COMMITTER.address,
        prover=PROVER.address, executor=EXECUTOR.address, da_mode=mode, execution_delay_s=delay_s,
    )
    return deployment, genesis


def client(anvil: AnvilProcess, deployment: ZkOsL1Deployment, **overrides) -> ZkOsL1Client:
    keys = {"commit_key": COMMITTER.private_key, "prove_key": PROVER.private_key, "execute_key": EXECUTOR.private_key}
    keys.update(overrides)
    return ZkOsL1Client(anvil.url, deployment.bridgehub, deployment.chain_id, poll_interval_s=0.02, **keys)


@dataclass
class Recorder:
    """Stands in for the artifact a step writes each broadcast hash to."""

    hashes: list[str] = field(default_factory=list)

    def __call__(self, tx_hash: str) -> None:
        self.hashes.append(tx_hash)


def l1_time(anvil: AnvilProcess) -> int:
    return int(anvil.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def nonce(anvil: AnvilProcess, address: str) -> int:
    return int(anvil.rpc("eth_getTransactionCount", address, "latest"), 16)


def make_batch(
    previous: StoredBatchInfo,
    deployment: ZkOsL1Deployment,
    timestamp: int,
    *,
    l1_tx_hashes: tuple[bytes, ...] = (),
    pubdata: bytes | None = None,
    with_log: bool = False,
) -> CommitBatchInfo:
    n = previous.batch_number + 1
    pubdata = pubdata if pubdata is not None else b"pubdata of batch %d" % n
    logs = [user_message_log(0, b"\x42" * 20, b"withdrawal in batch %d" % n).encode()] if with_log else []
    return CommitBatchInfo(
        batch_number=n,
        new_state_commitment=keccak(b"state after batch %d" % n),
        number_of_layer1_txs=len(l1_tx_hashes),
        priority_operations_hash=priority_operations_rolling_hash(l1_tx_hashes),
        dependency_roots_rolling_hash=bytes(32),
        l2_to_l1_logs_root_hash=batch_logs_root(logs) if logs else EMPTY_BATCH_LOGS_ROOT,
        l2_da_validator=bytes(20),
        da_commitment=da_commitment(pubdata),
        first_block_timestamp=timestamp - 2,
        last_block_timestamp=timestamp,
        chain_id=deployment.chain_id,
        chain_address=bytes.fromhex(deployment.diamond[2:]),
        operator_da_input=rollup_operator_da_input(pubdata),
    )


def with_fields(info, **changes):
    return replace(info, **changes)
