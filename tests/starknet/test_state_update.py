"""Felt parsing and the starknet_getStateUpdate models."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import BLS_MODULUS, STARK_PRIME, felt_hex, parse_felt
from orchestrator_pipelines.starknet.state_update import StateDiff, StateUpdate

from ._vectors import ENCODED_BLOCKS


def test_field_constants():
    assert STARK_PRIME == 0x800000000000011000000000000000000000000000000000000000000000001
    # The EIP-4844 root of unity of order 4096 has that exact order modulo BLS_MODULUS.
    omega = 39033254847818212395286706435128746857159659164139250548781411570340225835782
    assert pow(omega, 4096, BLS_MODULUS) == 1
    assert pow(omega, 2048, BLS_MODULUS) == BLS_MODULUS - 1


@pytest.mark.parametrize(
    "value, expected",
    [(0, 0), ("0x0", 0), ("0x1F", 31), ("0X1f", 31), ("31", 31), (" 42 ", 42), (STARK_PRIME - 1, STARK_PRIME - 1)],
)
def test_parse_felt_accepts(value, expected):
    assert parse_felt(value, "f") == expected


@pytest.mark.parametrize(
    "value, fragment",
    [
        (-1, "must not be negative"),
        (STARK_PRIME, "out of range"),
        (hex(STARK_PRIME), "out of range"),
        ("0x", "not a felt"),
        ("0xg1", "not a felt"),
        ("-5", "not a felt"),
        ("1e5", "not a felt"),
        ("", "not a felt"),
        (True, "not a felt"),
        (1.0, "not a felt"),
        (None, "not a felt"),
        ("٣", "not a felt"),
    ],
)
def test_parse_felt_rejects_with_field_name(value, fragment):
    with pytest.raises(InvalidInputError) as info:
        parse_felt(value, "block.nonce")
    message = str(info.value)
    assert message.startswith("block.nonce: ")
    assert fragment in message
    assert "\n" not in message


@given(st.integers(min_value=0, max_value=STARK_PRIME - 1))
def test_felt_hex_round_trip(x):
    text = felt_hex(x)
    assert text == text.lower() and text.startswith("0x")
    assert parse_felt(text, "x") == x
    assert parse_felt(str(x), "x") == x


def test_felt_hex_has_no_padding():
    assert felt_hex(0) == "0x0"
    assert felt_hex(255) == "0xff"


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_vector_state_updates_round_trip_to_identical_json(vectors_dir, block):
    raw = json.loads((vectors_dir / "da_legacy" / "state_update" / f"{block}.json").read_text())
    update = StateUpdate.parse(raw)
    assert update.to_rpc_json() == raw
    assert StateUpdate.parse(update.to_rpc_json()) == update
    assert StateDiff.parse(raw["state_diff"]) == update.state_diff


def _sample() -> dict:
    return {
        "block_hash": "0x10",
        "old_root": "0x1",
        "new_root": "0x2",
        "state_diff": {
            "storage_diffs": [
                {"address": "0xa", "storage_entries": [{"key": "0x1", "value": "0x2"}]},
                {"address": "0xb", "storage_entries": [{"key": "0x1", "value": "0x2"}, {"key": "0x3", "value": "7"}]},
            ],
            "nonces": [{"contract_address": "0xa", "nonce": "0x5"}],
            "deployed_contracts": [{"address": "0xc", "class_hash": "0xcc"}],
            "declared_classes": [{"class_hash": "0xd", "compiled_class_hash": "0xdd"}],
            "deprecated_declared_classes": ["0xe"],
            "replaced_classes": [{"contract_address": "0xb", "class_hash": "0xbb"}],
        },
    }


def test_parse_reads_every_field_as_int():
    update = StateUpdate.parse(_sample())
    diff = update.state_diff
    assert (update.block_hash, update.old_root, update.new_root) == (16, 1, 2)
    assert diff.storage_diffs[1].storage_entries[1].value == 7
    assert diff.nonces[0].nonce == 5
    assert diff.deployed_contracts[0].class_hash == 0xCC
    assert diff.declared_classes[0].compiled_class_hash == 0xDD
    assert diff.deprecated_declared_classes == [0xE]
    assert diff.replaced_classes[0].contract_address == 0xB


def test_missing_lists_default_to_empty_and_unknown_fields_are_ignored():
    raw = {"block_hash": "0x1", "old_root": "0x1", "new_root": "0x2", "state_diff": {"migrated_compiled_classes": []}}
    diff = StateUpdate.parse(raw).state_diff
    assert diff == StateDiff()
    assert diff.to_rpc_json()["storage_diffs"] == []


def _mutated(mutate) -> dict:
    raw = copy.deepcopy(_sample())
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda r: r["state_diff"]["storage_diffs"][1]["storage_entries"][0].__setitem__("value", "xyz"),
            "state_diff.storage_diffs[1].storage_entries[0].value: not a felt: 'xyz'",
        ),
        (
            lambda r: r["state_diff"]["nonces"][0].pop("nonce"),
            "state_diff.nonces[0].nonce: missing",
        ),
        (
            lambda r: r["state_diff"]["deprecated_declared_classes"].append(hex(STARK_PRIME)),
            "state_diff.deprecated_declared_classes[1]: felt out of range",
        ),
        (
            lambda r: r["state_diff"].__setitem__("storage_diffs", {"a": 1}),
            "state_diff.storage_diffs: expected a list",
        ),
        (
            lambda r: r["state_diff"]["replaced_classes"].__setitem__(0, 12),
            "state_diff.replaced_classes[0]: expected a JSON object",
        ),
        (lambda r: r.__setitem__("new_root", -3), "new_root: felt must not be negative"),
        (lambda r: r.pop("state_diff"), "state_diff: missing"),
    ],
)
def test_errors_name_the_field_path(mutate, expected):
    with pytest.raises(InvalidInputError) as info:
        StateUpdate.parse(_mutated(mutate))
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_pending_update_is_rejected_clearly():
    pending = _sample()
    del pending["block_hash"]
    del pending["new_root"]
    with pytest.raises(InvalidInputError, match="pending state update"):
        StateUpdate.parse(pending)
    pending["block_hash"] = None
    with pytest.raises(InvalidInputError, match="pending"):
        StateUpdate.parse(pending)


def test_non_object_input_is_rejected():
    with pytest.raises(InvalidInputError, match="expected a JSON object"):
        StateUpdate.parse([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="^state_diff: expected a JSON object"):
        StateDiff.parse("nope")  # type: ignore[arg-type]


def test_to_rpc_json_writes_minimal_lowercase_hex():
    raw = _sample()
    raw["state_diff"]["storage_diffs"][0]["storage_entries"][0]["value"] = "0x00AB"
    out = StateUpdate.parse(raw).to_rpc_json()
    assert out["state_diff"]["storage_diffs"][0]["storage_entries"][0]["value"] == "0xab"
    assert out["state_diff"]["storage_diffs"][1]["storage_entries"][1]["value"] == "0x7"
    assert set(out["state_diff"]) == {
        "storage_diffs",
        "nonces",
        "deployed_contracts",
        "declared_classes",
        "deprecated_declared_classes",
        "replaced_classes",
    }
    json.dumps(out)
