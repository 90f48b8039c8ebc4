"""The ``state_update`` asset records every broadcast of its state update and, when retried,
waits for whichever one is mined: here the original was replaced with higher fees, yet it is
the original (not the latest hash on record) that ends up mined, as when a block builder
still had it. Real anvil, real Dagster materializations."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance, materialize
from web3 import Web3

from orchestrator_pipelines.assets.common import KZG, MANIFEST, PROGRAM_OUTPUT, SETTLEMENT_TX, blob_name, write_json
from orchestrator_pipelines.assets.state_update import state_update
from orchestrator_pipelines.batching import BatchManifest
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, batch_key
from orchestrator_pipelines.clients.settlement import SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import DeployedContracts, deploy_settlement_contracts, register_fact
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
)
from orchestrator_pipelines.errors import TransientError
from orchestrator_pipelines.partitions import batch_partition_key, batches_partitions
from orchestrator_pipelines.starknet.blob import blob_to_hex
from orchestrator_pipelines.starknet.kzg import blob_to_commitment
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource

PROGRAM_HASH, CONFIG_HASH = 0x51, 0x52
GENESIS_ROOT, GENESIS_HASH = 0x1000, 0x2000


@pytest.fixture()
def l1(tmp_path: Path) -> Iterator[tuple[AnvilProcess, DeployedContracts]]:
    with AnvilProcess(log_file=tmp_path / "anvil.log") as anvil:
        contracts = deploy_settlement_contracts(
            anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
            genesis_root=GENESIS_ROOT, genesis_block_number=0, genesis_block_hash=GENESIS_HASH,
            operators=[SETTLEMENT_ACCOUNT.address],
        )
        yield anvil, contracts


def settleable(anvil: AnvilProcess, contracts: DeployedContracts, seed: int, prev: tuple[int, int, int],
               last_block: int) -> KzgSettlementInput:
    prev_block, prev_root, prev_hash = prev
    blob = random_blob(random.Random(seed).randbytes(BLOB_SIZE))
    sample = build_kzg_settlement_input(
        [blob], prev_root=prev_root, new_root=prev_root + 1, prev_block_number=prev_block,
        new_block_number=last_block, prev_block_hash=prev_hash, new_block_hash=prev_hash + 1,
        program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, contracts.fact_registry, sample.fact)
    return sample


def write_batch(store: LocalArtifactStore, index: int, first_block: int, sample: KzgSettlementInput) -> str:
    """What the upstream assets leave for ``state_update``: manifest, OS output, KZG proofs, blobs."""
    key = batch_partition_key(index)
    now = int(time.time())
    last_block = sample.program_output[3]
    manifest = BatchManifest(index, first_block, last_block, "0.13.4", "blocks", 0, now, now)
    store.put_bytes(batch_key(key, MANIFEST), manifest.to_json())
    write_json(store, key, PROGRAM_OUTPUT, {"program_output": [hex(w) for w in sample.program_output]})
    write_json(store, key, KZG, {"proofs": ["0x" + p.hex() for p in sample.kzg_proofs]})
    for i, blob in enumerate(sample.blobs):
        store.put_bytes(batch_key(key, blob_name(i)), blob_to_hex(blob).encode())
    return key


def settle(instance: DagsterInstance, key: str, anvil: AnvilProcess, contracts: DeployedContracts, root: Path):
    instance.add_dynamic_partitions(batches_partitions.name, [key])
    resources = {
        "settlement": SettlementResource(
            rpc_url=anvil.url, private_key=SETTLEMENT_ACCOUNT.private_key,
            core_contract_address=contracts.core_contract, tx_timeout_s=60,
            confirmations=0,  # anvil mines a block per transaction: nothing would come on top
        ),
        "artifacts": ArtifactStoreResource(kind="local", local_dir=str(root)),
    }
    return materialize([state_update], partition_key=key, instance=instance, resources=resources)


def recorded(store: LocalArtifactStore, key: str) -> dict:
    return json.loads(store.get_bytes(batch_key(key, SETTLEMENT_TX)))


def logged(instance: DagsterInstance, text: str) -> bool:
    return any(
        text in (entry.user_message or "")
        for run in instance.get_runs()
        for entry in instance.all_logs(run.run_id)
    )


def test_retry_waits_for_whichever_recorded_broadcast_is_mined(
    l1: tuple[AnvilProcess, DeployedContracts], tmp_path: Path
) -> None:
    anvil, contracts = l1
    root = tmp_path / "artifacts"
    store = LocalArtifactStore(root)
    w3 = Web3(Web3.HTTPProvider(anvil.url))

    with DagsterInstance.ephemeral() as instance:
        # Batch 1 settles on the first broadcast: the record holds that one hash.
        first = write_batch(store, 1, 1, settleable(anvil, contracts, 1, (0, GENESIS_ROOT, GENESIS_HASH), 4))
        result = settle(instance, first, anvil, contracts, root)
        metadata = result.asset_materializations_for_node("state_update")[0].metadata
        assert metadata["already_on_chain"].value is False
        assert recorded(store, first)["tx_hashes"] == [metadata["tx_hash"].value]
        assert recorded(store, first)["tx_hash"] == metadata["tx_hash"].value

        # Batch 2: a previous attempt broadcast it, was priced out, replaced it, and ended
        # (its wait timed out) with every hash on record and the replacement still pending.
        sample = settleable(anvil, contracts, 2, (4, GENESIS_ROOT + 1, GENESIS_HASH + 1), 9)
        second = write_batch(store, 2, 5, sample)
        earlier_attempt = SettlementClient(
            anvil.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract, tx_timeout_s=2.5, replace_after_s=1
        )
        sent: list[str] = []

        def record(tx_hash: str) -> None:
            sent.append(tx_hash)
            write_json(store, second, SETTLEMENT_TX, {"tx_hash": tx_hash, "tx_hashes": list(sent), "sent_at": 0})

        anvil.rpc("evm_setAutomine", False)
        with ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(earlier_attempt.update_state_kzg_da, sample.program_output, sample.kzg_proofs,
                                  sample.blobs, record)
            deadline = time.monotonic() + 30
            while not sent and not attempt.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert sent, attempt.exception() if attempt.done() else "no broadcast within 30 s"
            original = w3.eth.get_transaction(sent[0])
            base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
            anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(4 * original["maxFeePerGas"]))
            anvil.rpc("evm_mine")
            assert isinstance(attempt.exception(timeout=60), TransientError)
        assert len(sent) >= 2
        assert recorded(store, second)["tx_hashes"] == sent

        # The original wins after all: the replacement leaves the pool, the original comes back
        # (signatures are deterministic, so it is byte for byte the first broadcast) and fees drop.
        anvil.rpc("anvil_dropTransaction", sent[-1])
        fields = {
            "type": 3, "chainId": original["chainId"], "nonce": original["nonce"], "to": original["to"],
            "value": 0, "data": original["input"], "gas": original["gas"],
            "maxFeePerGas": original["maxFeePerGas"], "maxPriorityFeePerGas": original["maxPriorityFeePerGas"],
            "maxFeePerBlobGas": original["maxFeePerBlobGas"],
        }
        raw, tx_hash = earlier_attempt._sign_blob_transaction(
            fields, sample.blobs, [blob_to_commitment(b) for b in sample.blobs]
        )
        assert tx_hash == sent[0]
        anvil.rpc("anvil_setNextBlockBaseFeePerGas", hex(base_fee))
        anvil.rpc("eth_sendRawTransaction", "0x" + raw.hex())

        # The retried step must wait for the recorded hashes; mine once it says it does.
        def mine_once_waiting() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not logged(instance, "waiting for the already broadcast"):
                time.sleep(0.05)
            anvil.rpc("evm_mine")

        miner = threading.Thread(target=mine_once_waiting, daemon=True)
        miner.start()
        result = settle(instance, second, anvil, contracts, root)
        miner.join(timeout=60)

    metadata = result.asset_materializations_for_node("state_update")[0].metadata
    assert metadata["already_on_chain"].value is False
    assert metadata["tx_hash"].value == sent[0]
    assert metadata["l1_state_block_number"].value == 9
    assert recorded(store, second)["tx_hashes"] == sent  # nothing new was broadcast
    assert w3.eth.get_transaction_count(SETTLEMENT_ACCOUNT.address) == original["nonce"] + 1
