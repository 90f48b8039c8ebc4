"""Settings from the environment: our names, the Madara orchestrator's names, clear errors."""

from __future__ import annotations

import pytest

from orchestrator_pipelines.config import load_settings, secret_env_name
from orchestrator_pipelines.errors import InvalidInputError


def test_defaults_are_the_devnet_profile():
    settings = load_settings({})
    assert settings.profile == "devnet"
    assert settings.sensors_running_by_default
    assert (settings.direct_batch_blocks, settings.aggregator_batch_blocks, settings.max_blobs) == (10, 100, 6)


@pytest.mark.parametrize(
    "variable, field, value, expected",
    [
        ("MADARA_ORCHESTRATOR_MADARA_RPC_URL", "madara_rpc_url", "http://node:9944", "http://node:9944"),
        ("MADARA_ORCHESTRATOR_ETHEREUM_SETTLEMENT_RPC_URL", "ethereum_rpc_url", "http://eth:8545", "http://eth:8545"),
        ("MADARA_ORCHESTRATOR_STARKNET_CORE_CONTRACT_ADDRESS", "core_contract_address", "0xabc", "0xabc"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_SERVICE_URL", "atlantic_service_url", "https://atlantic", "https://atlantic"),
        ("MADARA_ORCHESTRATOR_MAX_BATCH_TIME_SECONDS", "max_batch_age_s", "120", 120),
        ("MADARA_ORCHESTRATOR_MAX_BATCH_SIZE", "max_batch_blocks", "25", 25),
        ("MADARA_ORCHESTRATOR_MAX_NUM_BLOBS", "max_blobs", "3", 3),
        ("MADARA_ORCHESTRATOR_MIN_BLOCK_NO_TO_PROCESS", "min_block", "100", 100),
        ("MADARA_ORCHESTRATOR_MAX_BLOCK_NO_TO_PROCESS", "max_block", "200", 200),
    ],
)
def test_madara_orchestrator_variable_names_are_accepted(variable, field, value, expected):
    assert getattr(load_settings({variable: value}), field) == expected


def test_our_name_wins_over_the_madara_name():
    settings = load_settings({"ORCHESTRATOR_MAX_BLOBS": "2", "MADARA_ORCHESTRATOR_MAX_NUM_BLOBS": "5"})
    assert settings.max_blobs == 2


def test_secret_names_follow_what_is_set():
    assert secret_env_name("ethereum_private_key", {}) == "ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"
    madara = {"MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY": "0x01"}
    assert secret_env_name("ethereum_private_key", madara) == "MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"
    both = {**madara, "ORCHESTRATOR_ETHEREUM_PRIVATE_KEY": "0x02"}
    assert secret_env_name("ethereum_private_key", both) == "ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"


def test_bad_value_is_one_line_naming_the_variable():
    with pytest.raises(InvalidInputError) as info:
        load_settings({"ORCHESTRATOR_MAX_BLOBS": "many"})
    assert "ORCHESTRATOR_MAX_BLOBS" in str(info.value) and "\n" not in str(info.value)


def test_chain_profile_names_what_is_missing():
    with pytest.raises(InvalidInputError, match="ORCHESTRATOR_CORE_CONTRACT_ADDRESS"):
        load_settings({"ORCHESTRATOR_PROFILE": "chain"})
    with pytest.raises(InvalidInputError, match="max_block .* below min_block"):
        load_settings({"ORCHESTRATOR_MIN_BLOCK": "10", "ORCHESTRATOR_MAX_BLOCK": "5"})
