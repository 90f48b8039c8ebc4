"""updateStateKzgDA calldata against the core contract ABI, and the Atlantic job size."""

from __future__ import annotations

import json

import pytest
from eth_abi import decode
from web3 import Web3

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import blob_from_hex
from orchestrator_pipelines.starknet.calldata import (
    UPDATE_STATE_KZG_DA_SELECTOR,
    UPDATE_STATE_SELECTOR,
    atlantic_job_size,
    decode_update_state_kzg_da,
    encode_update_state,
    encode_update_state_kzg_da,
    function_selector,
)
from orchestrator_pipelines.starknet.kzg import compute_point_proof
from orchestrator_pipelines.starknet.os_output import parse_os_output, read_program_output


@pytest.fixture(scope="module")
def core_abi(vectors_dir):
    return json.loads((vectors_dir / "abi" / "starknet_core_contract.json").read_text())


def _signature(abi, name):
    (item,) = [i for i in abi if i.get("type") == "function" and i.get("name") == name]
    return f"{name}({','.join(arg['type'] for arg in item['inputs'])})"


def test_selector_is_that_of_the_abi(core_abi):
    signature = _signature(core_abi, "updateStateKzgDA")
    assert signature == "updateStateKzgDA(uint256[],bytes[])"
    assert function_selector(signature) == UPDATE_STATE_KZG_DA_SELECTOR


def test_update_state_calldata_is_the_abis(core_abi):
    signature = _signature(core_abi, "updateState")
    assert function_selector(signature) == UPDATE_STATE_SELECTOR
    contract = Web3().eth.contract(address="0x" + "11" * 20, abi=core_abi)
    output = [1, 2, 3, 2**256 - 1]
    expected = contract.encode_abi("updateState", args=[output, 0xABC, 17])
    assert "0x" + encode_update_state(output, 0xABC, 17).hex() == expected
    with pytest.raises(InvalidInputError, match=r"onchainData\[1\]: -1 is not a uint256"):
        encode_update_state(output, 0, -1)


def test_calldata_of_a_real_settlement_equals_web3_encoding(vectors_dir, core_abi):
    directory = vectors_dir / "l1_blobs" / "6806848"
    output = read_program_output(directory / "program_output.txt")
    parsed = parse_os_output(output)
    assert parsed.kzg is not None
    proof, _ = compute_point_proof(blob_from_hex((directory / "blob_data.txt").read_text()), parsed.kzg.x0)
    calldata = encode_update_state_kzg_da(output, [proof])

    contract = Web3().eth.contract(address="0x" + "11" * 20, abi=core_abi)
    expected = contract.encode_abi("updateStateKzgDA", args=[output, [proof]])
    assert "0x" + calldata.hex() == expected
    assert calldata[:4] == bytes.fromhex("507ee528")
    assert decode_update_state_kzg_da(calldata) == (output, [proof])
    values, proofs = decode(["uint256[]", "bytes[]"], calldata[4:])
    assert list(values) == output and list(proofs) == [proof]


def test_bad_arguments_are_named():
    with pytest.raises(InvalidInputError, match=r"kzgProofs\[1\]: expected 48 bytes, got 47"):
        encode_update_state_kzg_da([1], [b"\x00" * 48, b"\x00" * 47])
    with pytest.raises(InvalidInputError, match=r"programOutput\[0\]: -1 is not a uint256"):
        encode_update_state_kzg_da([-1], [b"\x00" * 48])
    with pytest.raises(InvalidInputError, match="at least one proof"):
        encode_update_state_kzg_da([1], [])
    with pytest.raises(InvalidInputError, match="not updateStateKzgDA"):
        decode_update_state_kzg_da(b"\xde\xad\xbe\xef" + b"\x00" * 64)
    with pytest.raises(InvalidInputError, match="cannot decode"):
        decode_update_state_kzg_da(UPDATE_STATE_KZG_DA_SELECTOR + b"\x00" * 10)


@pytest.mark.parametrize(
    ("n_steps", "size"),
    [
        (0, "S"),
        (15_135, "S"),
        (12_000_000, "S"),
        (12_999_999, "S"),
        (13_000_000, "M"),
        (29_999_999, "M"),
        (30_000_000, "L"),
        (2**40, "L"),
    ],
)
def test_atlantic_job_size(n_steps, size):
    assert atlantic_job_size(n_steps) == size


def test_atlantic_job_size_rejects_nonsense():
    with pytest.raises(InvalidInputError, match="n_steps"):
        atlantic_job_size(-1)
