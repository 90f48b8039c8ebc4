"""Settings from the environment: our names, the Madara orchestrator's names, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from orchestrator_pipelines.config import (
    REFUSED_MADARA_VARIABLES,
    Settings,
    honoured_variables,
    load_settings,
    secret_env_name,
    setting_sources,
)
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
        ("MADARA_ORCHESTRATOR_L1_CORE_CONTRACT_ADDRESS", "core_contract_address", "0xabc", "0xabc"),
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


# ---- Madara's variables: each honoured with Madara's meaning, or refused with why ----

DATA = Path(__file__).resolve().parents[1] / "data"


def madara_names() -> list[str]:
    """Madara's ``orchestrator/.env.example`` and the variables its command line (``src/cli/``) reads."""
    names: list[str] = []
    for source in ("madara_env_example_names.txt", "madara_cli_env_names.txt"):
        names += [line.strip() for line in (DATA / source).read_text().splitlines() if line.strip()]
    return names


AWS_SDK_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3 itself


def test_every_madara_variable_is_honoured_or_refused_never_ignored():
    honoured = honoured_variables()
    unaccounted = [
        name for name in madara_names()
        if name not in honoured and name not in REFUSED_MADARA_VARIABLES and name not in AWS_SDK_VARIABLES
    ]
    assert not unaccounted, f"Madara variables neither honoured nor refused: {unaccounted}"
    both = [name for name in REFUSED_MADARA_VARIABLES if name in honoured]
    assert not both


@pytest.mark.parametrize("name", sorted(REFUSED_MADARA_VARIABLES))
def test_a_refused_madara_variable_fails_the_load_with_one_line_saying_why(name):
    with pytest.raises(InvalidInputError) as info:
        load_settings({name: "something"})
    message = str(info.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    assert message.removeprefix(f"{name}: ") == REFUSED_MADARA_VARIABLES[name]


def test_an_empty_madara_variable_counts_as_unset():
    """An .env file lists every variable, most of them empty."""
    assert load_settings({"MADARA_ORCHESTRATOR_MONGODB_CONNECTION_URL": "", "MADARA_ORCHESTRATOR_PROVER": ""}).prover == "atlantic"


def test_an_unknown_madara_variable_is_refused():
    with pytest.raises(InvalidInputError, match="MADARA_ORCHESTRATOR_MAX_BATCH_BLOCKS: not a Madara orchestrator variable"):
        load_settings({"MADARA_ORCHESTRATOR_MAX_BATCH_BLOCKS": "5"})


def test_the_old_non_madara_core_contract_alias_is_refused():
    """``..._STARKNET_CORE_CONTRACT_ADDRESS`` was never Madara's name; Madara reads L1_CORE_CONTRACT_ADDRESS."""
    with pytest.raises(InvalidInputError, match="MADARA_ORCHESTRATOR_STARKNET_CORE_CONTRACT_ADDRESS"):
        load_settings({"MADARA_ORCHESTRATOR_STARKNET_CORE_CONTRACT_ADDRESS": "0xabc"})
    assert load_settings({"MADARA_ORCHESTRATOR_L1_CORE_CONTRACT_ADDRESS": "0xabc"}).core_contract_address == "0xabc"


@pytest.mark.parametrize(
    "variable, value, field, expected",
    [
        ("MADARA_ORCHESTRATOR_PROVER", "sharp", "prover", "sharp"),
        ("MADARA_ORCHESTRATOR_PROVER", "Mock", "prover", "mock"),
        ("MADARA_ORCHESTRATOR_LAYER", "L2", "layer", "l2"),
        ("MADARA_ORCHESTRATOR_GPS_VERIFIER_CONTRACT_ADDRESS", "0x11", "gps_verifier_contract_address", "0x11"),
        ("MADARA_ORCHESTRATOR_MOCK_VERIFIER_ADDRESS", "0x22", "mock_verifier_address", "0x22"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_VERIFIER_CONTRACT_ADDRESS", "0x33", "fact_registry_address", "0x33"),
        ("MADARA_ORCHESTRATOR_STARKNET_OPERATOR_ADDRESS", "0x44", "operator_address", "0x44"),
        ("MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER", "alerts", "sns_topic", "alerts"),
        ("MADARA_ORCHESTRATOR_AWS_SNS_ARN", "arn:aws:sns:us-east-1:1:t", "sns_topic", "arn:aws:sns:us-east-1:1:t"),
        ("MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER", "mo-bucket", "s3_bucket", "mo-bucket"),
        ("MADARA_ORCHESTRATOR_AWS_PREFIX", "karnot", "aws_prefix", "karnot"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_API_KEY_FILE", "/run/secrets/atlantic", "atlantic_api_key_file", "/run/secrets/atlantic"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_RESULT", "proof-verification", "atlantic_result", "PROOF_VERIFICATION"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_CAIRO_VM", "python", "atlantic_cairo_vm", "python"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_SHARP_PROVER", "stwo", "atlantic_sharp_prover", "stwo"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_ARTIFACTS_BASE_URL", "https://a.example", "atlantic_artifacts_base_url", "https://a.example"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_MOCK_FACT_HASH", "true", "atlantic_mock_fact_hash", True),
        ("MADARA_ORCHESTRATOR_ATLANTIC_NETWORK", "MAINNET", "atlantic_network", "MAINNET"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_RPC_NODE_URL", "http://eth", "atlantic_rpc_node_url", "http://eth"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_SETTLEMENT_LAYER", "ethereum", "atlantic_settlement_layer", "ethereum"),
        ("MADARA_ORCHESTRATOR_ATLANTIC_PROVER_TYPE", "starkware", "atlantic_prover_type", "starkware"),
        ("MADARA_ORCHESTRATOR_SHARP_USER_CRT", "/certs/user.crt", "sharp_user_crt", "/certs/user.crt"),
        ("MADARA_ORCHESTRATOR_SHARP_SERVER_CRT", "/certs/ca.crt", "sharp_server_crt", "/certs/ca.crt"),
        ("MADARA_ORCHESTRATOR_SHARP_OFFCHAIN_PROOF", "true", "sharp_offchain_proof", True),
        ("MADARA_ORCHESTRATOR_ETHEREUM_FINALITY_RETRY_WAIT_IN_SECS", "5", "l1_poll_interval_s", 5.0),
        ("MADARA_ORCHESTRATOR_ETHEREUM_REQUIRED_BLOCK_CONFIRMATIONS", "6", "l1_confirmations", 6),
        ("MADARA_ORCHESTRATOR_ETHEREUM_TX_CONFIRMATION_TIMEOUT_SECS", "300", "l1_replace_after_s", 300),
        ("MADARA_ORCHESTRATOR_ETHEREUM_MAX_FEE_BUMPS", "4", "l1_max_fee_bumps", 4),
        ("MADARA_ORCHESTRATOR_ETHEREUM_L2_STATE_UPDATE_MAX_FEE_WEI", "50000000000000000", "l1_state_update_max_fee_wei", 5 * 10**16),
        ("MADARA_ORCHESTRATOR_ETHEREUM_DISABLE_PEERDAS", "true", "effective_blob_sidecar", "v0"),
        ("MADARA_ORCHESTRATOR_EIP1559_MAX_GAS_MUL_FACTOR", "1.5", "l1_base_fee_multiplier", 1.5),
        ("MADARA_ORCHESTRATOR_STORE_AUDIT_ARTIFACTS", "true", "store_audit_artifacts", True),
        ("MADARA_ORCHESTRATOR_STORAGE_EXPIRATION_DAYS", "30", "storage_expiration_days", 30),
        ("MADARA_ORCHESTRATOR_RPC_FOR_SNOS", "http://snos:9944", "snos_rpc", "http://snos:9944"),
        ("MADARA_ORCHESTRATOR_RPC_FOR_SNOS_BACKUP", "http://backup:9944", "snos_rpc_on_retry", "http://backup:9944"),
        ("MADARA_ORCHESTRATOR_SNOS_LAYOUT_NAME", "all_cairo", "snos_layout", "all_cairo"),
        ("MADARA_ORCHESTRATOR_PROVER_LAYOUT_NAME", "dynamic", "prover_layout", "dynamic"),
        ("MADARA_ORCHESTRATOR_MAX_BLOCKS_PER_SNOS_BATCH", "4", "max_blocks_per_snos_batch", 4),
        ("MADARA_ORCHESTRATOR_FIXED_BLOCKS_PER_SNOS_BATCH", "2", "fixed_blocks_per_snos_batch", 2),
        ("MADARA_ORCHESTRATOR_MAX_SNOS_BATCHES_PER_AGGREGATOR_BATCH", "8", "max_snos_batches_per_batch", 8),
        ("MADARA_ORCHESTRATOR_MAX_BLOCKS_TO_BATCH_AT_ONCE", "20", "max_blocks_per_tick", 20),
        ("MADARA_ORCHESTRATOR_UPSTREAM_READ_MAX_ATTEMPTS", "7", "madara_read_attempts", 7),
        ("MADARA_ORCHESTRATOR_UPSTREAM_READ_TIMEOUT_SECS", "45", "madara_rpc_timeout_s", 45.0),
    ],
)
def test_madara_variables_mean_what_they_mean_in_madara(variable, value, field, expected):
    assert getattr(load_settings({variable: value}), field) == expected


def test_the_madara_l1_safety_defaults_hold():
    settings = load_settings({})
    assert settings.l1_confirmations == 3
    assert (settings.l1_max_fee_bumps, settings.l1_state_update_max_fee_wei) == (2, 10**16)


def test_zero_confirmations_is_valid_in_settings_and_in_the_client():
    """The settings allowed 0 and the client refused it; both now count blocks on top of the inclusion block."""
    from orchestrator_pipelines.clients.settlement import SettlementClient

    settings = load_settings({"ORCHESTRATOR_L1_CONFIRMATIONS": "0"})
    client = SettlementClient(
        "http://127.0.0.1:1", "0x" + "11" * 32, "0x" + "22" * 20, confirmations=settings.l1_confirmations
    )
    assert client.confirmations == 0


@pytest.mark.parametrize(
    "environ, bucket, topic",
    [
        ({"MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER": "mo-bucket", "MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER": "alerts"},
         "mo-bucket", "alerts"),
        ({"MADARA_ORCHESTRATOR_AWS_PREFIX": "karnot", "MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER": "mo-bucket",
          "MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER": "alerts"}, "karnot-mo-bucket", "karnot_alerts"),
        ({"MADARA_ORCHESTRATOR_AWS_PREFIX": "karnot", "MADARA_ORCHESTRATOR_AWS_S3_BUCKET_IDENTIFIER": "arn:aws:s3:::exact",
          "MADARA_ORCHESTRATOR_AWS_SNS_TOPIC_IDENTIFIER": "arn:aws:sns:us-east-1:123456789012:exact-topic"},
         "exact", "exact-topic"),
    ],
)
def test_bucket_and_topic_identifiers_are_names_or_arns_with_madaras_prefix_rule(environ, bucket, topic):
    settings = load_settings(environ)
    assert (settings.s3_bucket_name, settings.sns_topic_name) == (bucket, topic)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"MADARA_ORCHESTRATOR_LAYER": "l3"}, "MADARA_ORCHESTRATOR_LAYER: l3 (settling on Starknet) is not supported"),
        ({"MADARA_ORCHESTRATOR_SNOS_FULL_OUTPUT": "true"}, "MADARA_ORCHESTRATOR_SNOS_FULL_OUTPUT: true is not supported"),
        ({"MADARA_ORCHESTRATOR_PROVER": "stone"}, "MADARA_ORCHESTRATOR_PROVER"),
        ({"MADARA_ORCHESTRATOR_ETHEREUM_DA_RPC_URL": "http://other:8545"}, "ETHEREUM_DA_RPC_URL differs"),
        ({"ORCHESTRATOR_L1_CONFIRMATIONS": "-1"}, "ORCHESTRATOR_L1_CONFIRMATIONS"),
    ],
)
def test_values_madara_accepts_but_that_mean_nothing_here_are_refused(environ, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
        load_settings(environ)
    assert "\n" not in str(info.value)


def test_the_prover_verifier_is_the_fact_registry_the_proof_check_reads():
    base = {"ORCHESTRATOR_FACT_REGISTRY_ADDRESS": "0xaa", "MADARA_ORCHESTRATOR_GPS_VERIFIER_CONTRACT_ADDRESS": "0xbb",
            "MADARA_ORCHESTRATOR_MOCK_VERIFIER_ADDRESS": "0xcc"}
    assert load_settings(base).effective_fact_registry_address == "0xaa"
    assert load_settings({**base, "MADARA_ORCHESTRATOR_PROVER": "sharp"}).effective_fact_registry_address == "0xbb"
    assert load_settings({**base, "MADARA_ORCHESTRATOR_PROVER": "mock"}).effective_fact_registry_address == "0xcc"


def test_sources_name_the_variable_each_value_came_from():
    environ = {"MADARA_ORCHESTRATOR_MAX_NUM_BLOBS": "3", "ORCHESTRATOR_MAX_BATCH_BLOCKS": "4"}
    sources = setting_sources(environ)
    assert sources["max_blobs"] == "MADARA_ORCHESTRATOR_MAX_NUM_BLOBS"
    assert sources["max_batch_blocks"] == "ORCHESTRATOR_MAX_BATCH_BLOCKS"
    assert sources["profile"] is None
    assert set(sources) == set(Settings.model_fields)


# ---- orchestrator config show ----


@pytest.fixture
def clean_environ(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("ORCHESTRATOR_", "MADARA_ORCHESTRATOR_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_config_show_prints_values_and_sources_and_secrets_only_as_set(clean_environ, capsys):
    import json

    from orchestrator_pipelines.cli import main

    clean_environ.setenv("MADARA_ORCHESTRATOR_MAX_NUM_BLOBS", "3")
    clean_environ.setenv("MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY", "0x" + "ab" * 32)
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)["settings"]
    assert shown["max_blobs"] == {"value": 3, "source": "MADARA_ORCHESTRATOR_MAX_NUM_BLOBS"}
    assert shown["l1_confirmations"] == {"value": 3, "source": "default"}
    assert shown["ethereum_private_key"] == {
        "value": "set", "source": "MADARA_ORCHESTRATOR_ETHEREUM_PRIVATE_KEY", "secret": True
    }
    assert shown["atlantic_api_key"]["value"] == "unset"
    assert "ab" * 32 not in out

    assert main(["config", "show"]) == 0
    table = capsys.readouterr().out
    assert any(line.split() == ["max_blobs", "3", "MADARA_ORCHESTRATOR_MAX_NUM_BLOBS"] for line in table.splitlines())
    assert "ab" * 32 not in table


def test_config_show_exits_non_zero_with_the_reason_of_a_refused_variable(clean_environ, capsys):
    from orchestrator_pipelines.cli import main

    clean_environ.setenv("MADARA_ORCHESTRATOR_MONGODB_CONNECTION_URL", "mongodb://localhost:27017")
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "orchestrator: error: MADARA_ORCHESTRATOR_MONGODB_CONNECTION_URL: not used — the Dagster instance "
        "stores the state (PostgreSQL in production); see deploy/\n"
    )
    clean_environ.delenv("MADARA_ORCHESTRATOR_MONGODB_CONNECTION_URL")
    clean_environ.setenv("ORCHESTRATOR_L1_CONFIRMATIONS", "-1")
    assert main(["config", "show"]) == 2
    assert capsys.readouterr().err.startswith("orchestrator: error: invalid orchestrator setting ORCHESTRATOR_L1_CONFIRMATIONS")


def test_the_sensors_limits_are_settings_passed_to_the_policy_resource():
    """Settle attempts and the proof timeout were constants inside the sensors."""
    from orchestrator_pipelines.definitions import build_resources

    settings = load_settings({
        "ORCHESTRATOR_MAX_SETTLE_ATTEMPTS": "5", "ORCHESTRATOR_PROOF_TIMEOUT_SECONDS": "600",
        "ORCHESTRATOR_SETTLE_SKIP_AHEAD_PER_TICK": "7", "MADARA_ORCHESTRATOR_MAX_BLOCKS_TO_BATCH_AT_ONCE": "12",
        "MADARA_ORCHESTRATOR_MIN_BLOCK_NO_TO_PROCESS": "40", "MADARA_ORCHESTRATOR_MAX_BLOCK_NO_TO_PROCESS": "90",
    })
    policy = build_resources(settings)["policy"]
    assert (policy.max_settle_attempts, policy.proof_timeout_s, policy.settle_skip_ahead_per_tick) == (5, 600, 7)
    assert policy.max_blocks_per_tick == 12
    rules = policy.batch_policy()
    assert (rules.first_block_to_process, rules.last_block_to_process) == (40, 90)


def test_resources_take_the_settings_values_and_default_to_the_settings_defaults():
    from orchestrator_pipelines.definitions import build_resources
    from resources import SettlementResource

    settings = load_settings({"MADARA_ORCHESTRATOR_ETHEREUM_REQUIRED_BLOCK_CONFIRMATIONS": "0",
                              "MADARA_ORCHESTRATOR_ETHEREUM_DISABLE_PEERDAS": "true",
                              "MADARA_ORCHESTRATOR_RPC_FOR_SNOS": "http://snos:1",
                              "MADARA_ORCHESTRATOR_RPC_FOR_SNOS_BACKUP": "http://backup:1"})
    built = build_resources(settings)
    assert (built["settlement"].confirmations, built["settlement"].blob_sidecar) == (0, "v0")
    assert (built["snos"].rpc_for(False), built["snos"].rpc_for(True)) == ("http://snos:1", "http://backup:1")
    bare = SettlementResource(rpc_url="http://x", private_key="k", core_contract_address="0x1")
    defaults = Settings.model_fields
    assert bare.confirmations == defaults["l1_confirmations"].default == 3
    assert bare.max_fee_bumps == defaults["l1_max_fee_bumps"].default
    assert bare.state_update_max_fee_wei == defaults["l1_state_update_max_fee_wei"].default


def test_config_show_prints_no_spelling_of_any_secret(clean_environ, capsys):
    """Every secret set to a value of its own, and a database URL with a password: neither output holds one."""
    import secrets

    from orchestrator_pipelines.cli import main
    from orchestrator_pipelines.config import SECRET_ENV_VARS
    from tests.production.secret_scan import SecretScan

    known = {name: "0x" + secrets.token_hex(32) for name in SECRET_ENV_VARS}
    for name, value in known.items():
        clean_environ.setenv(SECRET_ENV_VARS[name][0], value)
    password = f"pw-{secrets.token_hex(8)}/+="
    known["prover API database password"] = password
    clean_environ.setenv(
        "ORCHESTRATOR_PROVER_API_DATABASE_URL", f"postgresql://prover:{quote(password, safe='')}@db.internal:5432/prover"
    )
    scan = SecretScan(known)
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    scan.text("config show --json", out)
    shown = json.loads(out)["settings"]
    assert all(shown[name]["value"] == "set" for name in SECRET_ENV_VARS)
    assert shown["prover_api_database_url"]["value"] == "postgresql://prover:***@db.internal:5432/prover"
    assert main(["config", "show"]) == 0
    scan.text("config show", capsys.readouterr().out)
    assert not scan.leaks, "; ".join(scan.leaks)
