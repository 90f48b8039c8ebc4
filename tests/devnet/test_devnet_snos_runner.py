"""DevnetSnosRunner against a real node stand-in over JSON-RPC."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from eth_utils import keccak
from starknet_py.net.full_node_client import FullNodeClient

from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.devnet.snos_runner import (
    DEVNET_AGGREGATOR_FACT_PROGRAM_HASH,
    DEVNET_AGGREGATOR_PROGRAM_HASH,
    DEVNET_OS_CONFIG_HASH,
    DEVNET_OS_PROGRAM,
    DEVNET_OS_PROGRAM_HASH,
    DevnetSnosRunner,
)
from orchestrator_pipelines.devnet.starknet_node.config import NodeConfig
from orchestrator_pipelines.devnet.starknet_node.server import NodeServer
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TooManyBlobsError
from orchestrator_pipelines.starknet.blob import felts_to_blobs
from orchestrator_pipelines.starknet.cairo_pie import CairoPie
from orchestrator_pipelines.starknet.da_encoding import da_felts
from orchestrator_pipelines.starknet.facts import pie_fact, program_hash
from orchestrator_pipelines.starknet.kzg import blob_to_commitment, starknet_x0
from orchestrator_pipelines.starknet.os_output import MessageToL1, check_blobs_against_output, parse_os_output
from orchestrator_pipelines.starknet.squash import squash_state_updates

LARGE_EVERY = 4  # block 4 carries thousands of storage writes: several blobs


@pytest.fixture(scope="module")
def node() -> Iterator[NodeServer]:
    config = NodeConfig(block_time_s=0, seed=7, genesis_timestamp=1_700_000_000,
                        large_block_every=LARGE_EVERY, large_block_storage_writes=5_000)
    with NodeServer(config) as server:
        for _ in range(LARGE_EVERY + 1):
            server.produce_block()
        yield server


@pytest.fixture(scope="module")
def madara(node: NodeServer) -> MadaraClient:
    return MadaraClient(node.url)


def blobs_for_range(madara: MadaraClient, first: int, last: int) -> tuple[list[int], list[bytes]]:
    """The blobs the DA side builds for the range, independently of the runner."""
    diff = squash_state_updates(madara.state_updates(first, last))
    felts = da_felts(diff, lambda address: madara.nonce(address, last), madara.block(last).starknet_version)
    return felts, felts_to_blobs(felts)


def test_program_hash_constant_matches_the_program() -> None:
    assert program_hash(list(DEVNET_OS_PROGRAM)) == DEVNET_OS_PROGRAM_HASH
    assert DEVNET_OS_CONFIG_HASH != 0


def test_aggregator_fact_program_hash_is_the_aggregator_prefix_and_not_the_os() -> None:
    from starknet_py.hash.utils import pedersen_hash

    aggregator = int.from_bytes(b"AGGREGATOR", "big")
    assert pedersen_hash(aggregator, DEVNET_AGGREGATOR_PROGRAM_HASH) == DEVNET_AGGREGATOR_FACT_PROGRAM_HASH
    assert DEVNET_AGGREGATOR_FACT_PROGRAM_HASH != DEVNET_OS_PROGRAM_HASH


def test_output_header_describes_the_range(node: NodeServer, madara: MadaraClient, tmp_path: Path) -> None:
    result = DevnetSnosRunner(node.url).run(1, 3, tmp_path)
    out = parse_os_output(result.program_output)
    assert out.layout == "v0_13_3"
    assert out.initial_root == madara.state_update(1).old_root
    assert out.final_root == madara.block(3).new_root
    assert (out.prev_block_number, out.new_block_number) == (0, 3)
    assert out.prev_block_hash == madara.block(0).block_hash == madara.block(1).parent_hash
    assert out.new_block_hash == madara.block(3).block_hash
    # A direct OS run: word 6 is 0, and the fact's program is the OS.
    assert out.os_program_hash == 0
    assert result.program_hash == DEVNET_OS_PROGRAM_HASH
    assert out.starknet_os_config_hash == DEVNET_OS_CONFIG_HASH
    assert out.use_kzg_da and not out.full_output
    assert out.messages_to_l1 == [] and out.messages_to_l2 == []


@pytest.mark.parametrize("first,last", [(1, 3), (2, LARGE_EVERY + 1)])
def test_kzg_segment_matches_blobs_built_from_the_same_range(
    node: NodeServer, madara: MadaraClient, tmp_path: Path, first: int, last: int
) -> None:
    result = DevnetSnosRunner(node.url).run(first, last, tmp_path)
    out = parse_os_output(result.program_output)
    felts, blobs = blobs_for_range(madara, first, last)
    if last > LARGE_EVERY:
        assert len(blobs) > 1  # the large block needs several blobs: one x_0 for all of them
    check_blobs_against_output(out, blobs)
    assert out.kzg is not None
    assert out.kzg.commitments == [blob_to_commitment(b) for b in blobs]
    assert out.kzg.x0 == starknet_x0(felts, out.kzg.commitments)
    _, other_blobs = blobs_for_range(madara, first, first)
    with pytest.raises(OrchestratorError):
        check_blobs_against_output(out, other_blobs)


def test_fact_is_the_core_contract_fact_and_the_run_is_deterministic(node: NodeServer, tmp_path: Path) -> None:
    runner = DevnetSnosRunner(node.url)
    first = runner.run(1, 2, tmp_path / "a")
    second = runner.run(1, 2, tmp_path / "b")
    assert first.pie_path.read_bytes() == second.pie_path.read_bytes()
    assert first.fact == second.fact
    pie = CairoPie.from_zip(first.pie_path)
    assert pie_fact(pie) == first.fact
    # What StarknetCoreContract.updateStateKzgDA checks: keccak(programHash, keccak(programOutput)).
    output_hash = keccak(b"".join(x.to_bytes(32, "big") for x in first.program_output))
    assert first.fact == keccak(DEVNET_OS_PROGRAM_HASH.to_bytes(32, "big") + output_hash)
    assert first.n_steps > 0
    bigger = runner.run(1, 3, tmp_path / "c")
    assert bigger.n_steps > first.n_steps


def test_limits_and_bad_ranges(node: NodeServer, tmp_path: Path) -> None:
    with pytest.raises(TooManyBlobsError):
        DevnetSnosRunner(node.url, max_blobs=1).run(LARGE_EVERY, LARGE_EVERY, tmp_path)
    with pytest.raises(InvalidInputError, match="block 0 is the genesis"):
        DevnetSnosRunner(node.url).run(0, 2, tmp_path)
    with pytest.raises(InvalidInputError, match="empty block range 3..2"):
        DevnetSnosRunner(node.url).run(3, 2, tmp_path)


def test_message_segments_carry_the_blocks_withdrawals_in_order(node: NodeServer, tmp_path: Path) -> None:
    client = FullNodeClient(node_url=node.url)
    sent = [
        MessageToL1(from_address=m.l2_address, to_address=m.l1_address, payload=list(m.payload))
        for n in range(1, LARGE_EVERY + 2)
        for item in client.get_block_with_receipts_sync(block_number=n).transactions
        for m in item.receipt.messages_sent
    ]
    assert len(sent) == (LARGE_EVERY + 1) // node.config.withdrawal_every >= 1
    result = DevnetSnosRunner(node.url).run(1, LARGE_EVERY + 1, tmp_path)
    out = parse_os_output(result.program_output)
    assert out.messages_to_l1 == sent and out.messages_to_l2 == []
    # The real layout: the segments follow the KZG segment, messages to L1 first, each length-prefixed.
    words = result.program_output[out.messages_offset :]
    m = sent[0]
    assert words[:4 + len(m.payload)] == [3 + len(m.payload), m.from_address, m.to_address, len(m.payload)] + m.payload
    assert words[-1] == 0  # an empty messages-to-L2 segment ends the output
    child, _ = DevnetSnosRunner(node.url).child_output(1, LARGE_EVERY + 1)
    assert child.messages_to_l1 == sent and child.messages_to_l2 == []  # an aggregation child carries the same
