"""``orchestrator da encode`` / ``da decode`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_pipelines.cli import main
from orchestrator_pipelines.starknet.blob import blob_from_hex, blobs_to_felts
from orchestrator_pipelines.starknet.compression import decompress
from orchestrator_pipelines.starknet.da_encoding import decode_state_diff

from ._vectors import ENCODED_BLOCKS, legacy_blob_hex

REPO_ROOT = Path(__file__).resolve().parents[2]


def su_path(vectors: Path, block: int) -> Path:
    return vectors / "da_legacy" / "state_update" / f"{block}.json"


def nonces_path(vectors: Path, block: int) -> Path:
    return vectors / "da_legacy" / "nonces" / f"{block}.json"


@pytest.mark.parametrize("block", ENCODED_BLOCKS)
def test_encode_writes_the_real_blob(vectors_dir, tmp_path, capsys, block):
    out = tmp_path / "blobs"
    code = main(
        [
            "da", "encode",
            "--state-update", str(su_path(vectors_dir, block)),
            "--nonces", str(nonces_path(vectors_dir, block)),
            "--starknet-version", "0.13.2",
            "--out", str(out),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [str(out / "0.hex")]
    assert sorted(p.name for p in out.iterdir()) == ["0.hex"]
    assert (out / "0.hex").read_text() == legacy_blob_hex(vectors_dir, block)


def test_console_script_in_a_subprocess(vectors_dir, tmp_path):
    block = ENCODED_BLOCKS[0]
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, "-c", "import sys; from orchestrator_pipelines.cli import main; sys.exit(main())",
            "da", "encode",
            "--state-update", str(su_path(vectors_dir, block)),
            "--nonces", str(nonces_path(vectors_dir, block)),
            "--starknet-version", "0.13.2",
            "--out", str(out),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "0.hex").read_text() == legacy_blob_hex(vectors_dir, block)

    decoded = subprocess.run(
        [
            sys.executable, "-c", "import sys; from orchestrator_pipelines.cli import main; sys.exit(main())",
            "da", "decode", "--blob", str(out / "0.hex"), "--starknet-version", "0.13.2",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert decoded.returncode == 0, decoded.stderr
    raw = json.loads(su_path(vectors_dir, block).read_text())
    contracts = json.loads(decoded.stdout)["contracts"]
    assert len(contracts) == len(raw["state_diff"]["storage_diffs"])


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def consecutive_pair(vectors: Path, tmp_path: Path) -> tuple[Path, Path, dict]:
    """A real block and a synthetic next block that rewrites one slot and bumps one nonce."""
    first = json.loads(su_path(vectors, 631861).read_text())
    contract = first["state_diff"]["storage_diffs"][-1]
    key = contract["storage_entries"][0]["key"] if contract["storage_entries"] else "0x77"
    second = {
        "block_hash": "0x1234",
        "old_root": first["new_root"],
        "new_root": "0x5678",
        "state_diff": {
            "storage_diffs": [{"address": contract["address"], "storage_entries": [{"key": key, "value": "0xabc"}]}],
            "nonces": [{"contract_address": first["state_diff"]["nonces"][0]["contract_address"], "nonce": "0x999"}],
        },
    }
    return (
        write_json(tmp_path / "a.json", first),
        write_json(tmp_path / "b.json", second),
        {"address": int(contract["address"], 16), "key": int(key, 16)},
    )


def test_encode_squashes_consecutive_blocks(vectors_dir, tmp_path, capsys):
    first, second, slot = consecutive_pair(vectors_dir, tmp_path)
    out = tmp_path / "out"
    args = ["da", "encode", "--state-update", str(first), "--state-update", str(second)]
    args += ["--nonces", str(nonces_path(vectors_dir, 631861)), "--starknet-version", "0.13.2", "--out", str(out)]
    assert main(args) == 0
    felts = blobs_to_felts([blob_from_hex((out / "0.hex").read_text())])
    decoded = {c.address: c for c in decode_state_diff(felts, "0.13.2").contracts}
    assert dict(decoded[slot["address"]].storage)[slot["key"]] == 0xABC
    bumped = int(json.loads(first.read_text())["state_diff"]["nonces"][0]["contract_address"], 16)
    assert decoded[bumped].nonce == 0x999


def test_encode_new_version_compresses_and_decode_reads_it_back(vectors_dir, tmp_path, capsys):
    out = tmp_path / "new"
    assert main(["da", "encode", "--state-update", str(su_path(vectors_dir, 638353)), "--starknet-version", "0.13.3", "--out", str(out)]) == 0
    felts = blobs_to_felts([blob_from_hex((out / "0.hex").read_text())])
    assert decode_state_diff(decompress(felts), "0.13.3").declared_classes
    capsys.readouterr()
    assert main(["da", "decode", "--blob", str(out / "0.hex"), "--starknet-version", "0.13.3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    raw = json.loads(su_path(vectors_dir, 638353).read_text())["state_diff"]
    assert len(printed["declared_classes"]) == len(raw["declared_classes"]) == 4


def test_compress_flag_on_legacy_version(vectors_dir, tmp_path, capsys):
    out = tmp_path / "c"
    args = ["da", "encode", "--state-update", str(su_path(vectors_dir, 640641)), "--nonces", str(nonces_path(vectors_dir, 640641))]
    assert main(args + ["--starknet-version", "0.13.2", "--compress", "--out", str(out)]) == 0
    assert (out / "0.hex").read_text() != legacy_blob_hex(vectors_dir, 640641)
    capsys.readouterr()
    assert main(["da", "decode", "--blob", str(out / "0.hex"), "--starknet-version", "0.13.2", "--compressed"]) == 0
    assert json.loads(capsys.readouterr().out)["contracts"]


def run_failing(args: list[str], capsys) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("orchestrator: error: ")
    return lines[0]


def test_bad_nonce_file_fails_cleanly_and_writes_nothing(vectors_dir, tmp_path, capsys):
    nonces = write_json(tmp_path / "n.json", [{"address": "12", "nonce": "a"}, {"address": "13", "nonce": "zz"}])
    out = tmp_path / "out"
    message = run_failing(
        ["da", "encode", "--state-update", str(su_path(vectors_dir, 631861)), "--nonces", str(nonces),
         "--starknet-version", "0.13.2", "--out", str(out)],
        capsys,
    )
    assert f"{nonces}[1].nonce: not hex digits: 'zz'" in message
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.json"]


def test_nonce_file_missing_a_contract(vectors_dir, tmp_path, capsys):
    nonces = write_json(tmp_path / "n.json", [])
    message = run_failing(
        ["da", "encode", "--state-update", str(su_path(vectors_dir, 631861)), "--nonces", str(nonces),
         "--starknet-version", "0.13.2", "--out", str(tmp_path / "out")],
        capsys,
    )
    assert "no nonce given for contract 0x" in message
    assert not (tmp_path / "out").exists()


def test_bad_state_update_names_file_and_field(vectors_dir, tmp_path, capsys):
    raw = json.loads(su_path(vectors_dir, 631861).read_text())
    raw["state_diff"]["storage_diffs"][3]["storage_entries"] = [{"key": "0x1", "value": "xyz"}]
    bad = write_json(tmp_path / "bad.json", raw)
    message = run_failing(
        ["da", "encode", "--state-update", str(bad), "--starknet-version", "0.13.3", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert message.endswith(f"{bad}: state_diff.storage_diffs[3].storage_entries[0].value: not a felt: 'xyz'")
    (tmp_path / "broken.json").write_text("{not json")
    message = run_failing(
        ["da", "encode", "--state-update", str(tmp_path / "broken.json"), "--starknet-version", "0.13.3", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert "broken.json: not JSON" in message


def test_non_consecutive_blocks_are_rejected(vectors_dir, tmp_path, capsys):
    message = run_failing(
        ["da", "encode", "--state-update", str(su_path(vectors_dir, 631861)), "--state-update", str(su_path(vectors_dir, 638353)),
         "--starknet-version", "0.13.3", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert "638353.json: old_root" in message and "consecutive" in message


def test_too_many_blobs_leaves_existing_output_untouched(vectors_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "0.hex").write_text("previous")
    big = {
        "block_hash": "0x1", "old_root": "0x1", "new_root": "0x2",
        "state_diff": {"storage_diffs": [{"address": "0x5", "storage_entries": [{"key": hex(k), "value": hex(k + 2**200)} for k in range(2100)]}]},
    }
    su = write_json(tmp_path / "big.json", big)
    message = run_failing(
        ["da", "encode", "--state-update", str(su), "--nonces", str(write_json(tmp_path / "n.json", [{"address": "5", "nonce": "0"}])),
         "--starknet-version", "0.13.2", "--max-blobs", "1", "--out", str(out)],
        capsys,
    )
    assert "needs 2 blobs but at most 1" in message
    assert [p.name for p in out.iterdir()] == ["0.hex"]
    assert (out / "0.hex").read_text() == "previous"
    # With room for two blobs it writes both into the existing directory.
    assert main(["da", "encode", "--state-update", str(su), "--nonces", str(tmp_path / "n.json"),
                 "--starknet-version", "0.13.2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0.hex", "1.hex"]
    assert len((out / "1.hex").read_text()) == 2 * 131072


def test_legacy_version_needs_nonces_and_versions_are_checked(vectors_dir, tmp_path, capsys):
    message = run_failing(
        ["da", "encode", "--state-update", str(su_path(vectors_dir, 631861)), "--starknet-version", "0.13.2", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert "--nonces is required" in message
    message = run_failing(
        ["da", "encode", "--state-update", str(su_path(vectors_dir, 631861)), "--starknet-version", "latest", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert "starknet version" in message


def test_decode_rejects_a_bad_blob_file(tmp_path, capsys):
    (tmp_path / "b.hex").write_text("00" * 100)
    message = run_failing(["da", "decode", "--blob", str(tmp_path / "b.hex"), "--starknet-version", "0.13.2"], capsys)
    assert "b.hex: blob hex: expected 131072 bytes, got 100" in message
    message = run_failing(["da", "decode", "--blob", str(tmp_path / "missing.hex"), "--starknet-version", "0.13.2"], capsys)
    assert "missing.hex: cannot read" in message


def test_encode_with_pre_state_drops_a_write_back_to_its_value(tmp_path, capsys):
    def update(old_root, new_root, value):
        return {
            "block_hash": hex(new_root + 100),
            "old_root": hex(old_root),
            "new_root": hex(new_root),
            "state_diff": {
                "storage_diffs": [
                    {"address": "0x500", "storage_entries": [{"key": "0x7", "value": hex(value)}]},
                    {"address": "0x600", "storage_entries": [{"key": "0x8", "value": "0x9"}]},
                ]
            },
        }

    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps([update(1, 2, 5), update(2, 3, 4)]))
    pre = tmp_path / "pre.json"
    pre.write_text(json.dumps({"0x500": {"0x7": "0x4"}}))
    decoded = {}
    for name, extra in (("plain", []), ("pre", ["--pre-state", str(pre)])):
        out = tmp_path / name
        args = ["da", "encode", "--state-update", str(blocks), "--starknet-version", "0.13.3", "--out", str(out)]
        assert main([*args, *extra]) == 0
        capsys.readouterr()
        assert main(["da", "decode", "--blob", str(out / "0.hex"), "--starknet-version", "0.13.3"]) == 0
        decoded[name] = [c["address"] for c in json.loads(capsys.readouterr().out)["contracts"]]
    assert decoded == {"plain": ["0x500", "0x600"], "pre": ["0x600"]}
