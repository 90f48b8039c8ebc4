"""The Starknet DA encoding, checked byte for byte against blobs that L1 accepted."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import blob_from_hex, blob_to_hex, blobs_to_felts, felts_to_blobs
from orchestrator_pipelines.starknet.compression import compress
from orchestrator_pipelines.starknet.da_encoding import (
    DaContractUpdate,
    DaStateDiff,
    da_felts,
    da_state_diff,
    decode_da_felts,
    decode_state_diff,
    encode_da_state_diff,
    encode_state_diff,
    header_word,
    parse_starknet_version,
    uses_compression,
)
from orchestrator_pipelines.starknet.felt import STARK_PRIME
from orchestrator_pipelines.starknet.state_update import StateDiff

from ._vectors import ENCODED_BLOCKS, all_blob_files, legacy_blob_hex, load_nonces, load_state_update

LEGACY = "0.13.2"
NEW = "0.13.3"


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_legacy_vectors_are_reproduced_byte_for_byte(vectors_dir, block):
    update = load_state_update(vectors_dir, block)
    felts = da_felts(update.state_diff, load_nonces(vectors_dir, block), LEGACY)
    blobs = felts_to_blobs(felts)
    assert len(blobs) == 1
    assert blob_to_hex(blobs[0]) == legacy_blob_hex(vectors_dir, block)


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_legacy_nonce_source_can_be_a_function(vectors_dir, block):
    update = load_state_update(vectors_dir, block)
    nonces = load_nonces(vectors_dir, block)
    asked: list[int] = []

    def get_nonce(address: int) -> int:
        asked.append(address)
        return nonces.get(address, 0)

    assert encode_state_diff(update.state_diff, get_nonce, LEGACY) == encode_state_diff(
        update.state_diff, nonces, LEGACY
    )
    # Only contracts whose nonce did not change in the block are looked up.
    changed = {n.contract_address for n in update.state_diff.nonces}
    assert asked and not set(asked) & changed


def test_every_real_blob_decodes_as_legacy_and_re_encodes_identically(vectors_dir):
    for path in all_blob_files(vectors_dir):
        blob = blob_from_hex(path.read_text())
        decoded = decode_da_felts(blobs_to_felts([blob]), LEGACY)
        assert decoded.contracts, path
        assert [c.address for c in decoded.contracts] == sorted(c.address for c in decoded.contracts), path
        assert felts_to_blobs(encode_da_state_diff(decoded, LEGACY)) == [blob], path


@pytest.mark.parametrize(
    "class_flag, nonce, n_updates, expected",
    [
        (False, 1, 1, 18446744073709551617),
        (False, 1, 0, 18446744073709551616),
        (False, 0, 6, 6),
        (True, 1, 0, 340282366920938463481821351505477763072),
    ],
)
def test_legacy_header_word(class_flag, nonce, n_updates, expected):
    contract = DaContractUpdate(
        address=5, nonce=nonce, class_hash=7 if class_flag else None, storage=tuple((k, 1) for k in range(n_updates))
    )
    assert header_word(contract, new_layout=False) == expected


@pytest.mark.parametrize(
    "class_flag, nonce, n_updates, expected",
    [
        # ((nonce * 2**8 + n) * 2 + 1) * 2 + class_flag
        (False, 1, 1, ((256 + 1) * 2 + 1) * 2),
        (True, 0, 0, 0b11),
        (False, 0, 255, (255 * 2 + 1) * 2),
        # n_updates >= 256: 64-bit field, is_small = 0
        (True, 3, 256, ((3 * 2**64 + 256) * 2 + 0) * 2 + 1),
    ],
)
def test_new_header_word(class_flag, nonce, n_updates, expected):
    contract = DaContractUpdate(
        address=5, nonce=nonce, class_hash=7 if class_flag else None, storage=tuple((k, 1) for k in range(n_updates))
    )
    assert header_word(contract, new_layout=True) == expected


def diff_from(
    storage: dict[int, dict[int, int]],
    nonces: dict[int, int] | None = None,
    deployed: dict[int, int] | None = None,
    replaced: dict[int, int] | None = None,
    declared: dict[int, int] | None = None,
) -> StateDiff:
    return StateDiff.parse(
        {
            "storage_diffs": [
                {"address": a, "storage_entries": [{"key": k, "value": v} for k, v in slots.items()]}
                for a, slots in storage.items()
            ],
            "nonces": [{"contract_address": a, "nonce": n} for a, n in (nonces or {}).items()],
            "deployed_contracts": [{"address": a, "class_hash": h} for a, h in (deployed or {}).items()],
            "replaced_classes": [{"contract_address": a, "class_hash": h} for a, h in (replaced or {}).items()],
            "declared_classes": [{"class_hash": h, "compiled_class_hash": c} for h, c in (declared or {}).items()],
        }
    )


def test_layout_by_hand_new_version():
    diff = diff_from(
        storage={0x30: {0x9: 0x99, 0x2: 0x22}, 0x10: {}},
        nonces={0x20: 4},
        deployed={0x40: 0xC1A55},
        declared={0xB: 0xBB, 0xA: 0xAA},
    )
    felts = encode_state_diff(diff, None, NEW)
    assert felts == [
        3,
        0x20, ((4 * 256 + 0) * 2 + 1) * 2 + 0,
        0x30, ((0 * 256 + 2) * 2 + 1) * 2 + 0, 0x2, 0x22, 0x9, 0x99,
        0x40, ((0 * 256 + 0) * 2 + 1) * 2 + 1, 0xC1A55,
        2, 0xA, 0xAA, 0xB, 0xBB,
    ]
    assert da_felts(diff, None, NEW) == compress(felts)


def test_layout_by_hand_legacy_uses_current_nonces():
    diff = diff_from(storage={0x30: {0x1: 0x5}}, nonces={0x20: 4}, replaced={0x50: 0xC})
    felts = encode_state_diff(diff, {0x30: 9, 0x50: 2}, LEGACY)
    assert felts == [
        3,
        0x20, 4 << 64,
        0x30, 9 << 64 | 1, 0x1, 0x5,
        0x50, 1 << 128 | 2 << 64, 0xC,
        0,
    ]
    assert da_felts(diff, {0x30: 9, 0x50: 2}, LEGACY) == felts


def test_new_layout_publishes_only_changed_nonces():
    diff = diff_from(storage={0x30: {0x1: 0x5}}, nonces={0x20: 4})
    da = da_state_diff(diff, {0x30: 9}, NEW)
    assert {c.address: c.nonce for c in da.contracts} == {0x20: 4, 0x30: 0}


def test_missing_nonce_names_the_contract():
    diff = diff_from(storage={0x30: {0x1: 0x5}})
    with pytest.raises(InvalidInputError, match="no nonce given for contract 0x30"):
        encode_state_diff(diff, {}, LEGACY)
    with pytest.raises(InvalidInputError, match="needs the current nonce of contract 0x30"):
        encode_state_diff(diff, None, LEGACY)
    # System contracts and fresh deployments have nonce 0 without asking.
    fresh = diff_from(storage={0x1: {0x5: 0x6}, 0x77: {0x1: 0x1}}, deployed={0x77: 0x123})
    assert decode_state_diff(encode_state_diff(fresh, {}, LEGACY), LEGACY).contracts[1].nonce == 0


def test_nonce_wider_than_64_bits_is_rejected():
    diff = diff_from(storage={}, nonces={0x20: 2**64})
    with pytest.raises(InvalidInputError, match="does not fit in 64 bits"):
        encode_state_diff(diff, None, NEW)


def test_contracts_with_nothing_to_publish_are_left_out():
    diff = diff_from(storage={0x10: {}, 0x11: {0x1: 0x2}})
    assert [c.address for c in da_state_diff(diff, {0x11: 0}, LEGACY).contracts] == [0x11]


@pytest.mark.parametrize(
    "version, compressed",
    [("0.13.2", False), ("0.13.2.1", False), ("0.12.3", False), ("0.13.3", True), ("0.13.4", True), ("v0.14.0", True), ("1.0", True)],
)
def test_uses_compression(version, compressed):
    assert uses_compression(version) is compressed


def test_parse_starknet_version():
    assert parse_starknet_version("0.13.2.1") == (0, 13, 2, 1)
    assert parse_starknet_version(" v0.13.3 ") == (0, 13, 3)


@pytest.mark.parametrize("version", ["", "latest", "0.13.x", "13", "0.13.3-rc1", None])
def test_bad_version_is_rejected(version):
    with pytest.raises(InvalidInputError, match="starknet version"):
        uses_compression(version)  # type: ignore[arg-type]


addresses = st.integers(min_value=0, max_value=STARK_PRIME - 1)
felts = st.integers(min_value=0, max_value=STARK_PRIME - 1)


@st.composite
def state_diffs(draw) -> StateDiff:
    storage = draw(st.dictionaries(addresses, st.dictionaries(felts, felts, max_size=5), max_size=6))
    if draw(st.booleans()):
        # A contract with enough writes to need the 64-bit n_updates field.
        storage[draw(addresses)] = {k: k * 3 % STARK_PRIME for k in range(draw(st.integers(250, 300)))}
    nonces = draw(st.dictionaries(addresses, st.integers(0, 2**64 - 1), max_size=4))
    deployed = draw(st.dictionaries(addresses, felts, max_size=3))
    replaced = draw(st.dictionaries(addresses, felts, max_size=3))
    declared = draw(st.dictionaries(felts, felts, max_size=3))
    return diff_from(storage, nonces, deployed, replaced, declared)


@settings(max_examples=60, deadline=None)
@given(state_diffs(), st.sampled_from([LEGACY, NEW]))
def test_encoding_round_trips_through_decode(diff, version):
    expected = da_state_diff(diff, lambda address: address % 1000, version)
    felts = da_felts(diff, lambda address: address % 1000, version)
    assert decode_da_felts(felts, version) == expected
    # The same through blobs, with their zero padding.
    assert decode_da_felts(blobs_to_felts(felts_to_blobs(felts, max_blobs=20)), version) == expected


def test_decoded_diff_matches_the_diff_it_came_from():
    diff = diff_from(storage={0x30: {0x2: 0x22}}, nonces={0x30: 3}, replaced={0x30: 0xCC}, declared={0xA: 0xAA})
    decoded = decode_da_felts(da_felts(diff, None, NEW), NEW)
    assert decoded == DaStateDiff(
        contracts=(DaContractUpdate(address=0x30, nonce=3, class_hash=0xCC, storage=((0x2, 0x22),)),),
        declared_classes=((0xA, 0xAA),),
    )
    assert decoded.to_json()["contracts"][0] == {
        "address": "0x30",
        "nonce": "0x3",
        "class_hash": "0xcc",
        "storage": [{"key": "0x2", "value": "0x22"}],
    }


def test_decode_rejects_truncated_and_trailing_data():
    felts = encode_state_diff(diff_from(storage={0x30: {0x2: 0x22}}), {0x30: 1}, LEGACY)
    with pytest.raises(InvalidInputError, match="truncated"):
        decode_state_diff(felts[:-2], LEGACY)
    with pytest.raises(InvalidInputError, match="non-zero felt at offset 7"):
        decode_state_diff(felts + [0, 5], LEGACY)
    with pytest.raises(InvalidInputError, match="truncated"):
        decode_state_diff([], LEGACY)
    with pytest.raises(InvalidInputError, match="cannot fit"):
        decode_state_diff([10**6, 0], LEGACY)
    with pytest.raises(InvalidInputError, match="bits above bit 128"):
        decode_state_diff([1, 0x30, 1 << 129, 0], LEGACY)
