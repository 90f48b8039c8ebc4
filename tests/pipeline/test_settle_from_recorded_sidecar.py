"""``state_update`` sends the blob transaction from what ``da_blob`` recorded in ``kzg.json``
(commitments, blob proofs and cell proofs, blob digests) without loading the KZG trusted
setup, and still never sends blobs other than the ones the OS output commits to.

Real anvil (Osaka, so the version-1 wrapper with cell proofs), real Dagster materializations;
whether the setup was loaded is read from the cache of ``kzg.trusted_setup``.
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Iterator

import pytest
from dagster import DagsterInstance, materialize
from web3 import Web3

from orchestrator_pipelines.assets.common import KZG, MANIFEST, PROGRAM_OUTPUT, SETTLEMENT_TX, blob_name, write_json
from orchestrator_pipelines.assets.state_update import state_update
from orchestrator_pipelines.batching import BatchManifest
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, batch_key
from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import DeployedContracts, deploy_settlement_contracts, register_fact
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
)
from orchestrator_pipelines.partitions import batch_partition_key, batches_partitions
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import blob_to_hex
from resources.artifacts import ArtifactStoreResource
from resources.ethereum import SettlementResource

PROGRAM_HASH, CONFIG_HASH = 0x61, 0x62
GENESIS_ROOT, GENESIS_HASH = 0x3000, 0x4000


@pytest.fixture()
def l1(tmp_path: Path) -> Iterator[tuple[AnvilProcess, DeployedContracts]]:
    with AnvilProcess(hardfork="osaka", log_file=tmp_path / "anvil.log") as anvil:
        contracts = deploy_settlement_contracts(
            anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
            genesis_root=GENESIS_ROOT, genesis_block_number=0, genesis_block_hash=GENESIS_HASH,
            operators=[SETTLEMENT_ACCOUNT.address],
        )
        yield anvil, contracts


def first_batch(anvil: AnvilProcess, contracts: DeployedContracts, blob_count: int) -> KzgSettlementInput:
    rng = random.Random(blob_count)
    sample = build_kzg_settlement_input(
        [random_blob(rng.randbytes(BLOB_SIZE)) for _ in range(blob_count)],
        prev_root=GENESIS_ROOT, new_root=GENESIS_ROOT + 1, prev_block_number=0, new_block_number=4,
        prev_block_hash=GENESIS_HASH, new_block_hash=GENESIS_HASH + 1,
        program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, contracts.fact_registry, sample.fact)
    return sample


def write_batch(store: LocalArtifactStore, sample: KzgSettlementInput, sent_blobs: list[bytes]) -> str:
    """What ``da_blob`` leaves for ``state_update`` about ``sample``'s blobs; ``sent_blobs`` are the blob files."""
    key = batch_partition_key(1)
    now = int(time.time())
    store.put_bytes(batch_key(key, MANIFEST), BatchManifest(1, 1, 4, "0.13.4", "blocks", 0, now, now).to_json())
    write_json(store, key, PROGRAM_OUTPUT, {"program_output": [hex(w) for w in sample.program_output]})
    sidecar = kzg.blob_sidecar(sample.blobs)
    write_json(store, key, KZG, {
        "proofs": ["0x" + p.hex() for p in sample.kzg_proofs],
        "blob_sha256": ["0x" + hashlib.sha256(b).hexdigest() for b in sample.blobs],
        **sidecar.to_json(),
    })
    for i, blob in enumerate(sent_blobs):
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
    return materialize(
        [state_update], partition_key=key, instance=instance, resources=resources, raise_on_error=False
    )


def test_settles_from_the_recorded_sidecar_without_loading_the_trusted_setup(
    l1: tuple[AnvilProcess, DeployedContracts], tmp_path: Path
) -> None:
    anvil, contracts = l1
    root = tmp_path / "artifacts"
    store = LocalArtifactStore(root)
    sample = first_batch(anvil, contracts, blob_count=2)
    key = write_batch(store, sample, sample.blobs)
    expected_hashes = [kzg.versioned_hash(kzg.blob_to_commitment(b)) for b in sample.blobs]

    kzg.trusted_setup.cache_clear()
    with DagsterInstance.ephemeral() as instance:
        result = settle(instance, key, anvil, contracts, root)
    assert kzg.trusted_setup.cache_info().misses == 0, "the settle step loaded the KZG trusted setup"
    assert result.success

    reader = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract)
    assert reader.state() == CoreState(block_number=4, root=GENESIS_ROOT + 1, block_hash=GENESIS_HASH + 1)
    tx_hash = result.asset_materializations_for_node("state_update")[0].metadata["tx_hash"].value
    mined = Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction(tx_hash)
    assert [bytes(h) for h in mined["blobVersionedHashes"]] == expected_hashes


def test_a_blob_that_is_not_the_recorded_one_is_never_sent(
    l1: tuple[AnvilProcess, DeployedContracts], tmp_path: Path
) -> None:
    anvil, contracts = l1
    root = tmp_path / "artifacts"
    store = LocalArtifactStore(root)
    sample = first_batch(anvil, contracts, blob_count=1)
    other = random_blob(random.Random(99).randbytes(BLOB_SIZE))
    key = write_batch(store, sample, [other])
    nonce_before = Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(SETTLEMENT_ACCOUNT.address)

    with DagsterInstance.ephemeral() as instance:
        result = settle(instance, key, anvil, contracts, root)
        failure = "\n".join(
            str(event.event_specific_data.error.message)
            for event in result.all_events
            if event.is_step_failure
        )
    assert not result.success
    assert "sha256" in failure and "recorded with its commitment" in failure
    assert not store.exists(batch_key(key, SETTLEMENT_TX))
    assert Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(SETTLEMENT_ACCOUNT.address) == nonce_before
    reader = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract)
    assert reader.state().block_number == 0
