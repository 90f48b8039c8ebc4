"""``orchestrator da``: turn state updates into blob files and back.

``da encode`` does offline exactly what the batch pipeline does for DA
(parse, squash, encode, compress when the version needs it, split into
blobs), so a blob that L1 rejected or that disagrees with the OS can be
reproduced from the state updates alone. ``da decode`` shows what a blob
says, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import (
    DEFAULT_MAX_BLOBS,
    blob_from_hex,
    blob_to_hex,
    blobs_to_felts,
    felts_to_blobs,
)
from orchestrator_pipelines.starknet.compression import compress, decompress
from orchestrator_pipelines.starknet.da_encoding import (
    decode_state_diff,
    encode_state_diff,
    parse_starknet_version,
    uses_compression,
)
from orchestrator_pipelines.starknet.da_derivation import derive_da_felts, uses_stateful_compression
from orchestrator_pipelines.starknet.da_segment import read_da_segment, segment_blobs
from orchestrator_pipelines.starknet.felt import parse_felt
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateUpdate


def register(subparsers: Any) -> None:
    da = subparsers.add_parser("da", help="state updates <-> EIP-4844 blob files (Starknet DA encoding)")
    da_sub = da.add_subparsers(dest="da_command", required=True, metavar="SUBCOMMAND")

    encode = da_sub.add_parser("encode", help="encode state updates of consecutive blocks into blob files")
    encode.add_argument(
        "--state-update", action="append", required=True, type=Path, metavar="SU.json",
        help="a starknet_getStateUpdate result (or a JSON list of them); repeat for consecutive blocks, in order",
    )
    encode.add_argument(
        "--nonces", type=Path, metavar="NONCES.json",
        help='current nonces: [{"address": decimal, "nonce": hex digits}] (required before 0.13.3)',
    )
    encode.add_argument("--starknet-version", required=True, help="e.g. 0.13.2, 0.13.3 or 0.14.1")
    encode.add_argument(
        "--aliases", type=Path, metavar="ALIASES.json",
        help='from 0.13.4: the alias contract (0x2) storage before the range, {"key": "alias", "0x0": counter}',
    )
    encode.add_argument(
        "--no-aliases", action="store_true",
        help="from 0.13.4: the state updates are already aliased (publish their addresses and keys as given)",
    )
    encode.add_argument(
        "--pre-state", type=Path, metavar="PRE.json",
        help='storage before the range, {"address": {"key": "value"}}: writes that end there are not published',
    )
    encode.add_argument("--compress", action="store_true", help="compress even if the version does not require it")
    encode.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for 0.hex, 1.hex, ...")
    encode.add_argument("--max-blobs", type=int, default=DEFAULT_MAX_BLOBS, help="fail if more blobs are needed")
    encode.set_defaults(func=run_encode)

    blobs = da_sub.add_parser("blobs", help="turn a prover's DA segment (da_blob.json) into blob files")
    blobs.add_argument("--segment", required=True, type=Path, metavar="DA.json", help="JSON list of felts")
    blobs.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for 0.hex, 1.hex, ...")
    blobs.add_argument("--max-blobs", type=int, default=DEFAULT_MAX_BLOBS, help="fail if more blobs are needed")
    blobs.set_defaults(func=run_blobs)

    decode = da_sub.add_parser("decode", help="print the state diff carried by blob files as JSON")
    decode.add_argument("--blob", action="append", required=True, type=Path, metavar="B.hex", help="repeat in order")
    decode.add_argument("--starknet-version", required=True, help="e.g. 0.13.2 or 0.13.3")
    decode.add_argument("--compressed", action="store_true", help="the felts are compressed even for this version")
    decode.set_defaults(func=run_decode)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def parse_nonces(obj: Any, source: str) -> dict[int, int]:
    """Parse the nonce list of the reference vectors.

    Format: ``[{"address": decimal string, "nonce": hex digits without 0x}]``
    (a "0x" prefix on the nonce is tolerated).
    """
    if not isinstance(obj, list):
        raise InvalidInputError(f"{source}: expected a JSON list of {{address, nonce}} objects")
    nonces: dict[int, int] = {}
    for index, item in enumerate(obj):
        where = f"{source}[{index}]"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where}: expected an object with address and nonce")
        if "address" not in item or "nonce" not in item:
            missing = "address" if "address" not in item else "nonce"
            raise InvalidInputError(f"{where}.{missing}: missing")
        address = parse_felt(item["address"], f"{where}.address")
        raw = item["nonce"]
        text = raw.strip().removeprefix("0x") if isinstance(raw, str) else ""
        try:
            if not text:
                raise ValueError
            nonce = int(text, 16)
        except ValueError:
            raise InvalidInputError(f"{where}.nonce: not hex digits: {raw!r}") from None
        nonces[address] = nonce
    return nonces


def _write_atomically(out: Path, files: dict[str, str]) -> list[Path]:
    """Write all files or none: build them in a temporary directory, then move them in."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out}: exists and is not a directory")
    parent = out if out.exists() else out.parent
    if not parent.is_dir():
        raise InvalidInputError(f"--out {out}: parent directory {out.parent} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=".da-encode-", dir=parent))
    try:
        for name, content in files.items():
            (staging / name).write_text(content)
        if not out.exists():
            os.rename(staging, out)
        else:
            for name in files:
                os.replace(staging / name, out / name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in files]


def run_encode(args: argparse.Namespace) -> int:
    version = args.starknet_version
    parse_starknet_version(version)
    if args.max_blobs < 1:
        raise InvalidInputError(f"--max-blobs must be at least 1, got {args.max_blobs}")
    updates: list[StateUpdate] = []
    sources: list[str] = []
    for path in args.state_update:
        obj = _read_json(path)
        items = obj if isinstance(obj, list) else [obj]
        for index, item in enumerate(items):
            where = f"{path}[{index}]" if isinstance(obj, list) else str(path)
            try:
                updates.append(StateUpdate.parse(item))
            except InvalidInputError as exc:
                message = str(exc)
                raise InvalidInputError(message if message.startswith(str(path)) else f"{where}: {message}") from None
            sources.append(where)
    if not updates:
        raise InvalidInputError(f"{args.state_update[0]}: no state updates")
    nonces = parse_nonces(_read_json(args.nonces), str(args.nonces)) if args.nonces else None
    if nonces is None and not uses_compression(version):
        raise InvalidInputError(f"--nonces is required for Starknet {version} (pre-0.13.3 DA carries every nonce)")

    for index in range(1, len(updates)):
        if updates[index].old_root != updates[index - 1].new_root:
            raise InvalidInputError(
                f"{sources[index]}: old_root {hex(updates[index].old_root)} is not the new_root "
                f"of {sources[index - 1]}: pass consecutive blocks in order"
            )
    pre_state = _pre_state(args.pre_state) if args.pre_state else None
    if uses_stateful_compression(version) and not args.no_aliases:
        if args.aliases is None:
            raise InvalidInputError(
                f"Starknet {version} publishes aliases: pass --aliases (the alias contract's storage before the "
                f"range) or --no-aliases for state updates that are already aliased"
            )
        aliases = _aliases(args.aliases)
        felts = derive_da_felts(
            updates, version, pre_state=pre_state, read_alias=lambda key: aliases.get(key, 0), nonces=nonces
        )
    else:
        diff = squash_state_updates(updates, pre_state=pre_state)
        felts = encode_state_diff(diff, nonces, version)
        if args.compress or uses_compression(version):
            felts = compress(felts)
    blobs = felts_to_blobs(felts, max_blobs=args.max_blobs)
    written = _write_atomically(args.out, {f"{i}.hex": blob_to_hex(blob) for i, blob in enumerate(blobs)})
    for path in written:
        print(path)
    return 0


def _felt_map(obj: Any, source: str) -> dict[int, int]:
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{source}: expected a JSON object of felts")
    return {parse_felt(k, f"{source} key"): parse_felt(v, f"{source}[{k!r}]") for k, v in obj.items()}


def _aliases(path: Path) -> dict[int, int]:
    """The alias contract's storage before the range: keys without an entry have no alias yet."""
    return _felt_map(_read_json(path), str(path))


def _pre_state(path: Path) -> Callable[[int, int], int | None]:
    """Storage before the range; a slot the file does not list is unknown, and its write is kept."""
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path}: expected a JSON object {{address: {{key: value}}}}")
    storage = {parse_felt(address, f"{path} address"): _felt_map(slots, f"{path}[{address!r}]") for address, slots in obj.items()}
    return lambda address, key: storage.get(address, {}).get(key)


def run_blobs(args: argparse.Namespace) -> int:
    if args.max_blobs < 1:
        raise InvalidInputError(f"--max-blobs must be at least 1, got {args.max_blobs}")
    felts = read_da_segment(args.segment)
    blobs = segment_blobs(felts, max_blobs=args.max_blobs)
    written = _write_atomically(args.out, {f"{i}.hex": blob_to_hex(blob) for i, blob in enumerate(blobs)})
    for path in written:
        print(path)
    return 0


def run_decode(args: argparse.Namespace) -> int:
    version = args.starknet_version
    parse_starknet_version(version)
    blobs = []
    for path in args.blob:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            blobs.append(blob_from_hex(text))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None
    felts = blobs_to_felts(blobs)
    if args.compressed or uses_compression(version):
        felts = decompress(felts)
    diff = decode_state_diff(felts, version)
    print(json.dumps(diff.to_json(), indent=2))
    return 0
