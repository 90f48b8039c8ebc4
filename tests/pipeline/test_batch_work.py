"""The stage work shared by the assets and the pipeline benchmark, against a real devnet node."""

from __future__ import annotations

import random

from orchestrator_pipelines.batch_work import blobs_with_point_proofs, contracts_in, encode_batch
from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.devnet.snos_runner import DevnetSnosRunner, evaluate_at
from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.blob import FIELD_ELEMENTS_PER_BLOB
from orchestrator_pipelines.starknet.felt import BLS_MODULUS


def test_encoded_batch_carries_the_felts_the_os_output_commits_to():
    config = NodeConfig(block_time_s=0, large_block_every=3, large_block_storage_writes=300, genesis_accounts=4)
    with NodeServer(config) as node:
        for _ in range(4):
            node.produce_block()
        client = MadaraClient(node.url)
        encoded = encode_batch(client, 1, 4, config.starknet_version)
        output, felts = DevnetSnosRunner(node.url).os_output(1, 4)

    assert encoded.felts == felts
    assert sorted(encoded.nonces) == contracts_in(encoded.diff)
    assert any(nonce > 0 for nonce in encoded.nonces.values())
    built = blobs_with_point_proofs(encoded.felts, output.kzg.x0, max_blobs=6)
    assert built.commitments == output.kzg.commitments
    assert built.y_values == output.kzg.y_values


def test_blob_openings_verify_at_x0_for_a_multi_blob_batch():
    rng = random.Random(7)
    felts = [rng.randrange(BLS_MODULUS) for _ in range(FIELD_ELEMENTS_PER_BLOB + 100)]
    x0 = rng.randrange(BLS_MODULUS)
    built = blobs_with_point_proofs(felts, x0, max_blobs=2)

    assert len(built.blobs) == len(built.commitments) == len(built.proofs) == len(built.y_values) == 2
    for index, (commitment, proof, y) in enumerate(zip(built.commitments, built.proofs, built.y_values)):
        chunk = felts[index * FIELD_ELEMENTS_PER_BLOB:(index + 1) * FIELD_ELEMENTS_PER_BLOB]
        assert y == evaluate_at(chunk, x0)
        assert kzg.verify_point_proof(commitment, x0, y, proof)
    assert not kzg.verify_point_proof(built.commitments[0], x0, built.y_values[1], built.proofs[0])
