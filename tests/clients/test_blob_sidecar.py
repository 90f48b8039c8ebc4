"""The blob wrapper a settlement is sent in: version 1 (EIP-7594 cell proofs) on Osaka, version 0 before.

Each test settles a batch on a real anvil (``--hardfork osaka`` or ``prague``)
through a small JSON-RPC front that records every ``eth_sendRawTransaction``,
so the bytes that actually left the client are decoded and checked. The front
can also play a node without ``eth_config`` that refuses the version-1
wrapper, as a pre-Osaka client does, to exercise the fallback of "auto".
"""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import ckzg
import pytest
import requests
import rlp
from eth_utils import keccak
from web3 import Web3

from orchestrator_pipelines.clients.settlement import CoreState, SettlementClient
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess
from orchestrator_pipelines.devnet.l1_deploy import DeployedContracts, register_fact
from orchestrator_pipelines.devnet.settlement_sample import (
    BLOB_SIZE,
    KzgSettlementInput,
    build_kzg_settlement_input,
    random_blob,
)
from orchestrator_pipelines.errors import InvalidInputError, TransientError
from orchestrator_pipelines.starknet.kzg import (
    CELLS_PER_EXT_BLOB,
    blob_to_commitment,
    compute_cell_proofs,
    trusted_setup,
    verify_blob_proof,
    versioned_hash,
)
from tests.core_contract_setup import CONFIG_HASH, GENESIS, PROGRAM_HASH, deploy_core

GENESIS_ROOT, GENESIS_HASH = GENESIS["genesis_root"], GENESIS["genesis_block_hash"]
# What geth before Osaka answers for a transaction whose sidecar it cannot decode.
PRE_OSAKA_REFUSAL = "rlp: input list has too many elements for types.BlobTxSidecar"


def wrapper_of(raw: bytes) -> tuple[int, list[Any], list[bytes], list[bytes], list[bytes]]:
    """(version, signed body, blobs, commitments, proofs) of a type-3 network form."""
    assert raw[0] == 3
    fields = rlp.decode(raw[1:])
    if len(fields) == 4:
        body, blobs, commitments, proofs = fields
        return 0, body, blobs, commitments, proofs
    assert len(fields) == 5, f"{len(fields)} fields in the wrapper"
    body, version, blobs, commitments, proofs = fields
    return int.from_bytes(version, "big"), body, blobs, commitments, proofs


class RecordingNode:
    """A JSON-RPC front for anvil on a free 127.0.0.1 port that records raw transactions.

    ``without_eth_config`` answers ``eth_config`` with "method not found";
    ``refuse_v1`` answers a version-1 raw transaction with that error message
    instead of passing it on; ``refuse_all`` does so for every raw transaction.
    """

    def __init__(self, upstream: str, without_eth_config: bool = False, refuse_v1: str = "", refuse_all: str = ""):
        self.upstream = upstream
        self.raws: list[bytes] = []
        self.methods: list[str] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.methods.append(request["method"])
                answer = node.answer(request, without_eth_config, refuse_v1, refuse_all)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, request: dict[str, Any], without_eth_config: bool, refuse_v1: str, refuse_all: str) -> Any:
        def error(code: int, message: str) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": code, "message": message}}

        if request["method"] == "eth_config" and without_eth_config:
            return error(-32601, "the method eth_config does not exist/is not available")
        if request["method"] == "eth_sendRawTransaction":
            raw = bytes.fromhex(request["params"][0].removeprefix("0x"))
            self.raws.append(raw)
            if refuse_all:
                return error(-32000, refuse_all)
            if refuse_v1 and wrapper_of(raw)[0] == 1:
                return error(-32000, refuse_v1)
        return requests.post(self.upstream, json=request, timeout=30).json()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def osaka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    with AnvilProcess(hardfork="osaka", log_file=tmp_path_factory.mktemp("osaka") / "anvil.log") as process:
        yield process


@pytest.fixture(scope="module")
def prague(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    with AnvilProcess(hardfork="prague", log_file=tmp_path_factory.mktemp("prague") / "anvil.log") as process:
        yield process


def deploy(anvil: AnvilProcess) -> DeployedContracts:
    return deploy_core(anvil)


def next_batch(anvil: AnvilProcess, contracts: DeployedContracts, blob_count: int, seed: int) -> KzgSettlementInput:
    """A batch on top of genesis whose SHARP fact is registered, ready to settle."""
    rng = random.Random(seed)
    sample = build_kzg_settlement_input(
        [random_blob(rng.randbytes(BLOB_SIZE)) for _ in range(blob_count)],
        prev_root=GENESIS_ROOT,
        new_root=GENESIS_ROOT + 1,
        prev_block_number=0,
        new_block_number=4,
        prev_block_hash=GENESIS_HASH,
        new_block_hash=GENESIS_HASH + 1,
        program_hash=PROGRAM_HASH,
        config_hash=CONFIG_HASH,
    )
    register_fact(anvil.url, DEPLOYER_ACCOUNT.private_key, contracts.fact_registry, sample.fact)
    return sample


def settle_through(node: RecordingNode, anvil: AnvilProcess, blob_count: int, mode: str = "auto", seed: int = 1):
    contracts = deploy(anvil)
    sample = next_batch(anvil, contracts, blob_count, seed)
    client = SettlementClient(node.url, SETTLEMENT_ACCOUNT.private_key, contracts.core_contract, blob_sidecar=mode)
    receipt = client.update_state_kzg_da(sample.program_output, sample.kzg_proofs, sample.blobs)
    return client, sample, receipt


def assert_settled_on_chain(anvil: AnvilProcess, client: SettlementClient, sample: KzgSettlementInput, tx_hash: str):
    reader = SettlementClient(anvil.url, SETTLEMENT_ACCOUNT.private_key, client.core_contract.address)
    assert reader.state() == CoreState(block_number=4, root=GENESIS_ROOT + 1, block_hash=GENESIS_HASH + 1)
    mined = Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction(tx_hash)
    assert mined["type"] == 3
    assert [bytes(h) for h in mined["blobVersionedHashes"]] == [
        versioned_hash(blob_to_commitment(b)) for b in sample.blobs
    ]


def assert_v1_wrapper(raw: bytes, sample: KzgSettlementInput, tx_hash: str) -> None:
    """Version 1 with the blobs, their commitments and 128 valid cell proofs per blob, in blob order."""
    version, body, blobs, commitments, proofs = wrapper_of(raw)
    assert version == 1
    assert "0x" + keccak(b"\x03" + rlp.encode(body)).hex() == tx_hash
    assert blobs == sample.blobs
    assert commitments == [blob_to_commitment(b) for b in sample.blobs]
    assert len(proofs) == CELLS_PER_EXT_BLOB * len(blobs)
    cells = [cell for blob in blobs for cell in ckzg.compute_cells(blob, trusted_setup())]
    cell_commitments = [c for c in commitments for _ in range(CELLS_PER_EXT_BLOB)]
    indices = list(range(CELLS_PER_EXT_BLOB)) * len(blobs)
    assert ckzg.verify_cell_kzg_proof_batch(cell_commitments, indices, cells, proofs, trusted_setup())
    # The same proofs against the blobs in the other order do not verify: the order matters.
    if len(blobs) > 1:
        swapped = cell_commitments[CELLS_PER_EXT_BLOB:] + cell_commitments[:CELLS_PER_EXT_BLOB]
        assert not ckzg.verify_cell_kzg_proof_batch(swapped, indices, cells, proofs, trusted_setup())


def assert_v0_wrapper(raw: bytes, sample: KzgSettlementInput, tx_hash: str) -> None:
    version, body, blobs, commitments, proofs = wrapper_of(raw)
    assert version == 0
    assert "0x" + keccak(b"\x03" + rlp.encode(body)).hex() == tx_hash
    assert blobs == sample.blobs
    assert len(proofs) == len(blobs)
    assert all(verify_blob_proof(b, c, p) for b, c, p in zip(blobs, commitments, proofs))


def test_osaka_chain_gets_cell_proofs(osaka: AnvilProcess) -> None:
    node = RecordingNode(osaka.url)
    try:
        client, sample, receipt = settle_through(node, osaka, blob_count=2)
        assert client.sidecar_version() == 1
    finally:
        node.close()
    assert len(node.raws) == 1
    assert_v1_wrapper(node.raws[0], sample, receipt.tx_hash)
    assert_settled_on_chain(osaka, client, sample, receipt.tx_hash)
    assert receipt.blob_gas_used == 2 * 131072


def test_prague_chain_gets_blob_proofs(prague: AnvilProcess) -> None:
    node = RecordingNode(prague.url)
    try:
        client, sample, receipt = settle_through(node, prague, blob_count=1)
        assert client.sidecar_version() == 0
    finally:
        node.close()
    assert len(node.raws) == 1
    assert_v0_wrapper(node.raws[0], sample, receipt.tx_hash)
    assert_settled_on_chain(prague, client, sample, receipt.tx_hash)


@pytest.mark.parametrize("mode", ["v0", "v1"])
def test_a_fixed_wrapper_is_sent_as_configured_without_asking_the_node(osaka: AnvilProcess, mode: str) -> None:
    node = RecordingNode(osaka.url)
    try:
        client, sample, receipt = settle_through(node, osaka, blob_count=1, mode=mode)
    finally:
        node.close()
    assert "eth_config" not in node.methods
    (raw,) = node.raws
    (assert_v1_wrapper if mode == "v1" else assert_v0_wrapper)(raw, sample, receipt.tx_hash)
    assert_settled_on_chain(osaka, client, sample, receipt.tx_hash)


def test_node_without_eth_config_refusing_v1_gets_v0_for_the_same_transaction(prague: AnvilProcess) -> None:
    node = RecordingNode(prague.url, without_eth_config=True, refuse_v1=PRE_OSAKA_REFUSAL)
    try:
        client, sample, receipt = settle_through(node, prague, blob_count=1)
        assert client.sidecar_version() is None
    finally:
        node.close()
    assert [wrapper_of(raw)[0] for raw in node.raws] == [1, 0]
    assert_v1_wrapper(node.raws[0], sample, receipt.tx_hash)
    assert_v0_wrapper(node.raws[1], sample, receipt.tx_hash)
    assert_settled_on_chain(prague, client, sample, receipt.tx_hash)


def test_node_without_eth_config_taking_v1_gets_only_v1(osaka: AnvilProcess) -> None:
    node = RecordingNode(osaka.url, without_eth_config=True)
    try:
        client, sample, receipt = settle_through(node, osaka, blob_count=1)
    finally:
        node.close()
    assert [wrapper_of(raw)[0] for raw in node.raws] == [1]
    assert_settled_on_chain(osaka, client, sample, receipt.tx_hash)


def test_refusal_unrelated_to_the_wrapper_is_not_retried_as_v0(prague: AnvilProcess) -> None:
    node = RecordingNode(prague.url, without_eth_config=True, refuse_all="replacement transaction underpriced")
    try:
        with pytest.raises(TransientError, match="underpriced"):
            settle_through(node, prague, blob_count=1)
    finally:
        node.close()
    assert [wrapper_of(raw)[0] for raw in node.raws] == [1]


def test_unknown_wrapper_setting_is_rejected(osaka: AnvilProcess) -> None:
    with pytest.raises(InvalidInputError, match="blob_sidecar"):
        SettlementClient(osaka.url, SETTLEMENT_ACCOUNT.private_key, DEPLOYER_ACCOUNT.address, blob_sidecar="v2")


def test_devnet_anvil_is_at_osaka_like_mainnet() -> None:
    with AnvilProcess() as default:
        assert default.hardfork == "osaka"
        client = SettlementClient(default.url, SETTLEMENT_ACCOUNT.private_key, DEPLOYER_ACCOUNT.address)
        assert client.sidecar_version() == 1


def test_cell_proofs_of_a_non_canonical_blob_are_bad_input() -> None:
    """A field element at or above the BLS12-381 modulus is refused before anything is sent."""
    with pytest.raises(InvalidInputError, match="modulus"):
        compute_cell_proofs(b"\xff" * BLOB_SIZE)
    with pytest.raises(InvalidInputError, match="expected 131072 bytes"):
        compute_cell_proofs(bytes(100))
