"""Chain ids and block hashes of peers against what the deployment expects (pure, no network, no Dagster)."""

from __future__ import annotations

from orchestrator_pipelines.l2_block_hashes import settled_mismatch, unsettled_mismatch
from orchestrator_pipelines.peer_identity import (
    l1_chain_id_problem,
    starknet_chain_id_problem,
    starknet_chain_id_text,
)

NODE = "http://node:9944"
L1 = "http://l1:8545"


def test_a_starknet_chain_id_is_compared_as_its_short_string_whichever_way_it_is_written():
    assert starknet_chain_id_text("0x534e5f5345504f4c4941") == "SN_SEPOLIA"
    assert starknet_chain_id_text("SN_MAIN") == "SN_MAIN"
    assert starknet_chain_id_problem(NODE, "SN_SEPOLIA", "0x534e5f5345504f4c4941") is None
    assert starknet_chain_id_problem(NODE, "0x534e5f5345504f4c4941", "SN_SEPOLIA") is None


def test_a_node_of_another_chain_is_one_line_naming_url_expected_and_got():
    problem = starknet_chain_id_problem(NODE, "MADARA_DEVNET", "0x534e5f4d41494e")
    assert problem == (
        "Madara node at http://node:9944 reports chain id SN_MAIN, expected MADARA_DEVNET "
        "(ORCHESTRATOR_MADARA_CHAIN_ID): nothing is batched or settled from it"
    )
    assert "\n" not in problem


def test_an_unset_chain_id_is_not_checked():
    assert starknet_chain_id_problem(NODE, "", "SN_MAIN") is None
    assert l1_chain_id_problem(L1, None, 1) is None


def test_an_l1_rpc_of_another_chain_is_refused():
    assert l1_chain_id_problem(L1, 1, 1) is None
    assert l1_chain_id_problem(L1, 1, 11155111) == (
        "Ethereum RPC at http://l1:8545 reports chain id 11155111, expected 1 (ORCHESTRATOR_L1_CHAIN_ID): "
        "nothing is settled through it"
    )


def test_an_unsettled_batch_mismatches_only_when_both_hashes_are_known_and_differ():
    assert unsettled_mismatch("batch", "000002", 8, 0xA, 0xA) is None
    assert unsettled_mismatch("batch", "000002", 8, None, 0xB) is None
    assert unsettled_mismatch("batch", "000002", 8, 0xA, None) is None
    mismatch = unsettled_mismatch("batch", "000002", 8, 0xA, 0xB)
    assert mismatch.reason == "node reports block 8 hash 0xb, batch 000002 recorded 0xa"


def test_a_settled_batch_the_node_reorganised_away_is_alerted_once_per_reported_hash():
    mismatch, alert = settled_mismatch("batch", "000002", 8, 0xA, 0xB, alerted=None)
    assert alert and mismatch.reason == (
        "node reports block 8 hash 0xb, batch 000002 recorded 0xa (L2 reorganised below the state settled on L1)"
    )
    assert settled_mismatch("batch", "000002", 8, 0xA, 0xB, alerted=mismatch.alert_id) == (mismatch, False)
    assert settled_mismatch("batch", "000002", 8, 0xA, 0xC, alerted=mismatch.alert_id)[1] is True
    assert settled_mismatch("batch", "000002", 8, 0xA, 0xA, alerted=mismatch.alert_id) == (None, False)
