"""The committed contract artifacts are exactly what the pinned compiler makes of the sources,
and the core contract's interface matches the Starknet core contract on Ethereum."""

from __future__ import annotations

import hashlib
import json

import pytest
from eth_utils import keccak

from orchestrator_pipelines.devnet.contract_build import (
    ARTIFACTS_DIR,
    CONTRACT_NAMES,
    compile_contracts,
    load_artifact,
    source_path,
    write_artifacts,
)
from orchestrator_pipelines.errors import OrchestratorError

# The topic Madara's L1 sync filters on to follow Starknet settlements on Ethereum mainnet.
MAINNET_LOG_STATE_UPDATE_TOPIC = "0xd342ddf7a308dec111745b00315c14b7efb2bdae570a6856e088ed0c65a3576c"


@pytest.fixture(scope="module")
def recompiled() -> dict:
    return compile_contracts()


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_recompiled_bytecode_equals_committed_artifact(recompiled: dict, name: str) -> None:
    committed = load_artifact(name)
    assert len(committed["bytecode"]) > 100
    assert recompiled[name]["bytecode"] == committed["bytecode"]
    assert recompiled[name]["deployed_bytecode"] == committed["deployed_bytecode"]
    assert recompiled[name]["abi"] == committed["abi"]


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_records_source_hash_and_settings(name: str) -> None:
    artifact = load_artifact(name)
    source = source_path(name).read_bytes()
    assert artifact["source_sha256"] == hashlib.sha256(source).hexdigest()
    assert artifact["compiler_version"].startswith("0.8.28")
    assert artifact["settings"]["evmVersion"] == "cancun"
    assert artifact["settings"]["optimizer"]["enabled"] is True


def test_write_artifacts_is_byte_stable(recompiled: dict, tmp_path) -> None:
    write_artifacts(recompiled, tmp_path)
    for name in CONTRACT_NAMES:
        assert (tmp_path / f"{name}.json").read_bytes() == (ARTIFACTS_DIR / f"{name}.json").read_bytes()


def test_missing_artifact_is_one_readable_error() -> None:
    with pytest.raises(OrchestratorError, match="NoSuchContract.json is missing"):
        load_artifact("NoSuchContract")


def _signature(entry: dict) -> tuple:
    return (
        entry["type"],
        entry["name"],
        tuple((i["name"], i["type"], i.get("indexed", False)) for i in entry.get("inputs", [])),
        tuple(o["type"] for o in entry.get("outputs", [])),
    )


# What the devnet contract leaves out of the Ethereum one: the proxy entry point
# (it is initialised by initializeContractState) and governor nomination.
NOT_IMPLEMENTED = {
    "initialize", "isFrozen", "starknetNominateNewGovernor", "starknetAcceptGovernance",
    "starknetRemoveGovernor", "starknetCancelNomination", "LogNominatedGovernor",
    "LogNominationCancelled", "LogRemovedGovernor",
}


def _selector_or_topic(entry: dict) -> str:
    signature = entry["name"] + "(" + ",".join(i["type"] for i in entry.get("inputs", [])) + ")"
    digest = keccak(text=signature)
    return "0x" + (digest[:4] if entry["type"] == "function" else digest).hex()


def test_core_contract_interface_matches_mainnet_abi(vectors_dir) -> None:
    real = json.loads((vectors_dir / "abi" / "starknet_core_contract.json").read_text())
    real_by_name = {e["name"]: e for e in real if e.get("type") in ("function", "event")}
    ours = [e for e in load_artifact("StarknetCoreContract")["abi"] if e["type"] in ("function", "event")]
    ours_by_name = {e["name"]: e for e in ours}
    missing = sorted(set(real_by_name) - set(ours_by_name) - NOT_IMPLEMENTED)
    assert missing == [], f"functions/events of the Ethereum contract missing here: {missing}"
    for entry in ours:
        if entry["name"] in real_by_name:
            real_entry = real_by_name[entry["name"]]
            assert _signature(entry) == _signature(real_entry), entry["name"]
            assert _selector_or_topic(entry) == _selector_or_topic(real_entry), entry["name"]
            if entry["type"] == "function":
                assert entry["stateMutability"] == real_entry["stateMutability"], entry["name"]
    extra = sorted(set(ours_by_name) - set(real_by_name))
    assert extra == ["initializeContractState"], extra
    event = ours_by_name["LogStateUpdate"]
    assert _selector_or_topic(event) == MAINNET_LOG_STATE_UPDATE_TOPIC
