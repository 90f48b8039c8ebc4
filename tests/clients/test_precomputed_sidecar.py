"""``update_state_kzg_da`` with a precomputed ``BlobSidecar``: the wrapper is built from it, the
KZG trusted setup is not loaded, and a sidecar that does not fit the blobs is refused before
anything is sent. Real anvil at Prague (version-0 wrapper: blob proofs) and Osaka (version 1:
cell proofs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from web3 import Web3

from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import deploy_settlement_contracts, register_fact
from orchestrator_pipelines.devnet.settlement_sample import BLOB_SIZE, build_kzg_settlement_input, random_blob
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet import kzg

PROGRAM_HASH, CONFIG_HASH = 0x71, 0x72
GENESIS_ROOT, GENESIS_HASH = 0x5000, 0x6000


@pytest.mark.parametrize("hardfork", ["prague", "osaka"])
def test_sends_the_precomputed_sidecar_without_loading_the_trusted_setup(hardfork: str, tmp_path: Path) -> None:
    with AnvilProcess(hardfork=hardfork, log_file=tmp_path / "anvil.log") as anvil:
        contracts = deploy_settlement_contracts(
            anvil.url, DEPLOYER_ACCOUNT.private_key, program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
            genesis_root=GENESIS_ROOT, genesis_block_number=0, genesis_block_hash=GENESIS_HASH,
            operators=[SETTLEMENT_ACCOUNT.address],
        )
        rng = random.Random(7)
        sample = build_kzg_settlement_input(
            [random_blob(rng.randbytes(BLOB_SIZE)) for _ in range(2)],
            prev_root=GENESIS_ROOT, new_root=GENESIS_ROOT + 1, prev_block_number=0, new_block_number=3,
            prev_block_hash=GENESIS_HASH, new_block_hash=GENESIS_HASH + 1,
            program_hash=PROGRAM_HASH, config_hash=CONFIG_HASH,
        )
        register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, contracts.fact_registry, sample.fact)
        sidecar = kzg.blob_sidecar(sample.blobs)
        client = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract)
        assert client.sidecar_version() == (1 if hardfork == "osaka" else 0)

        with pytest.raises(InvalidInputError, match="1 commitments for 2 blobs"):
            client.update_state_kzg_da(
                sample.program_output, sample.kzg_proofs, sample.blobs,
                sidecar=kzg.BlobSidecar(commitments=sidecar.commitments[:1]),
            )

        kzg.trusted_setup.cache_clear()
        receipt = client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs, sidecar=sidecar)
        assert kzg.trusted_setup.cache_info().misses == 0, "the client loaded the KZG trusted setup"

        assert client.state() == CoreState(block_number=3, root=GENESIS_ROOT + 1, block_hash=GENESIS_HASH + 1)
        mined = Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction(receipt.tx_hash)
        assert [bytes(h) for h in mined["blobVersionedHashes"]] == [kzg.versioned_hash(c) for c in sidecar.commitments]
