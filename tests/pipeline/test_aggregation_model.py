"""The two-level Dagster model: which pipeline a setting builds, partitions and their lineage."""

from __future__ import annotations

from dagster import AssetKey, MultiPartitionKey

from orchestrator_pipelines.aggregation_partitions import (
    TO_AGGREGATOR_BATCH,
    position_key,
    snos_batches_partitions,
    snos_partition_key,
    split_snos_key,
)
from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_definitions, max_snos_batches
from orchestrator_pipelines.devnet.env import aggregation_for

DIRECT = {"batch", "snos_output", "da_blob", "proof_request", "proof", "state_update"}
AGGREGATED = {
    "aggregation", "snos_batch_output", "child_proof", "aggregator_batch", "aggregator_proof",
    "aggregator_da_blob", "aggregator_state_update",
}


def asset_names(env):
    defs = build_definitions(load_settings(env))
    return {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}, {s.name for s in defs.sensors}


def test_off_is_exactly_the_direct_pipeline():
    assets, sensors = asset_names({"ORCHESTRATOR_AGGREGATION": "off"})
    assert assets == DIRECT
    assert sensors == {"batching_sensor", "proof_sensor", "settlement_sensor", "run_failure_alert_sensor"}


def test_on_is_the_aggregated_pipeline_and_auto_holds_both():
    assets, sensors = asset_names({"ORCHESTRATOR_AGGREGATION": "on"})
    assert assets == AGGREGATED
    assert {"aggregator_batching_sensor", "aggregation_sensor", "aggregator_settlement_sensor"} <= sensors
    assets, _ = asset_names({})
    assert assets == DIRECT | AGGREGATED


def test_the_devnet_aggregates_from_starknet_0_14():
    assert aggregation_for("0.13.4") == "off" and aggregation_for("0.14.0") == "on" and aggregation_for("0.14.1") == "on"


def test_snos_level_assets_map_to_their_aggregator_batch():
    defs = build_definitions(load_settings({"ORCHESTRATOR_AGGREGATION": "on"}))
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey("aggregator_batch"))
    assert AssetKey("child_proof") in node.parent_keys
    mapping = graph.get_partition_mapping(AssetKey("aggregator_batch"), AssetKey("child_proof"))
    assert mapping == TO_AGGREGATOR_BATCH
    child = graph.get(AssetKey("snos_batch_output"))
    assert child.partitions_def.partition_dimension_names == ["aggregator_batch", "snos_batch"]


def test_the_child_dimension_has_as_many_positions_as_an_aggregator_batch_can_hold():
    assert max_snos_batches(load_settings({})) == 10
    settings = load_settings({"ORCHESTRATOR_MAX_BATCH_BLOCKS": "4", "ORCHESTRATOR_MAX_BLOCKS_PER_SNOS_BATCH": "2"})
    assert max_snos_batches(settings) == 2
    partitions = snos_batches_partitions(10)
    assert partitions.get_partitions_def_for_dimension("snos_batch").get_partition_keys() == [
        position_key(p, 10) for p in range(1, 11)
    ]
    key = snos_partition_key("000004", 3, 10)
    assert key == MultiPartitionKey({"aggregator_batch": "000004", "snos_batch": "03"})
    assert split_snos_key(key) == ("000004", 3) and split_snos_key("000004|03") == ("000004", 3)
