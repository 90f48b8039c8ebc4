"""Reproducible build of the devnet settlement contracts.

The compiled artifacts are committed under ``contracts_build/`` so that running
the devnet never needs a compiler; this module rebuilds them from
``contracts/*.sol`` with the pinned solc (npm ``solc``, via ``solcjs
--standard-json``) and fixed settings, and a test checks that a rebuild gives
byte-identical bytecode, so the committed artifacts cannot drift from the
sources.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from orchestrator_pipelines.devnet.tools import REPO_ROOT, find_node_tool
from orchestrator_pipelines.errors import OrchestratorError

CONTRACTS_DIR = REPO_ROOT / "contracts"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "contracts_build"
# Contract name → its source under contracts/ (the Starknet core contract and fact registry, then the
# ZKsync OS settlement contracts, whose shared types live in contracts/zksync_os/ZKsyncOSTypes.sol).
CONTRACT_SOURCES: dict[str, str] = {
    "FactRegistry": "FactRegistry.sol",
    "StarknetCoreContract": "StarknetCoreContract.sol",
    "Bridgehub": "zksync_os/Bridgehub.sol",
    "ChainTypeManager": "zksync_os/ChainTypeManager.sol",
    "ZKChain": "zksync_os/ZKChain.sol",
    "ValidatorTimelock": "zksync_os/ValidatorTimelock.sol",
    "DualVerifier": "zksync_os/DualVerifier.sol",
    "RollupL1DAValidator": "zksync_os/RollupL1DAValidator.sol",
    "ValidiumL1DAValidator": "zksync_os/ValidiumL1DAValidator.sol",
}
CONTRACT_NAMES = tuple(CONTRACT_SOURCES)
LIBRARY_SOURCES = ("zksync_os/ZKsyncOSTypes.sol", "zksync_os/PriorityTree.sol")
COMPILER_VERSION = "0.8.28+commit.7893614a"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def _source_key(name: str) -> str:
    return f"contracts/{CONTRACT_SOURCES[name]}"


def source_path(name: str) -> Path:
    """The Solidity file that defines contract ``name``."""
    return CONTRACTS_DIR / CONTRACT_SOURCES[name]


def _run_solcjs(standard_input: dict[str, Any]) -> dict[str, Any]:
    solcjs = find_node_tool("solcjs", "ORCHESTRATOR_SOLCJS_BIN")
    version = subprocess.run([str(solcjs), "--version"], capture_output=True, text=True, check=True).stdout
    if not version.strip().startswith(COMPILER_VERSION):
        raise OrchestratorError(f"solcjs at {solcjs} is {version.strip()!r}, the build needs {COMPILER_VERSION}")
    # Output goes to a file, not a pipe: node writes to pipes asynchronously and solcjs exits
    # before a large JSON is flushed, which truncates it.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        completed = subprocess.run(
            [str(solcjs), "--standard-json"],
            input=json.dumps(standard_input, sort_keys=True),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            timeout=300,
        )
        out.seek(0)
        text = out.read()
    if completed.returncode != 0:
        raise OrchestratorError(f"solcjs failed (exit {completed.returncode}): {completed.stderr.strip()[:500]}")
    # solcjs prints a license banner or warnings before the JSON on some versions.
    return json.loads(text[text.index("{") :])


def compile_sources(sources: dict[str, str], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Compile Solidity ``sources`` (``{"contracts/<file>.sol": text}``) with the pinned compiler
    and settings; returns one artifact dict per contract in ``names``."""
    output = _run_solcjs(
        {
            "language": "Solidity",
            "sources": {key: {"content": content} for key, content in sources.items()},
            "settings": SETTINGS,
        }
    )
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        first = errors[0].get("formattedMessage") or errors[0].get("message", "")
        raise OrchestratorError(f"solc reported {len(errors)} error(s): {first.strip().splitlines()[0]}")

    artifacts: dict[str, dict[str, Any]] = {}
    for name in names:
        keys = [key for key, contracts in output.get("contracts", {}).items() if name in contracts]
        if len(keys) != 1:
            raise OrchestratorError(f"solc output: contract {name} is defined in {len(keys)} sources, expected 1")
        key = keys[0]
        compiled = output["contracts"][key][name]
        artifacts[name] = {
            "contract_name": name,
            "source_path": key,
            "source_sha256": hashlib.sha256(sources[key].encode("utf-8")).hexdigest(),
            "compiler_version": COMPILER_VERSION,
            "settings": SETTINGS,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployed_bytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        }
    return artifacts


def compile_contracts() -> dict[str, dict[str, Any]]:
    """Compile ``contracts/*.sol`` and return one artifact dict per contract name."""
    sources: dict[str, str] = {}
    for relative in (*CONTRACT_SOURCES.values(), *LIBRARY_SOURCES):
        path = CONTRACTS_DIR / relative
        if not path.is_file():
            raise OrchestratorError(f"contract source {path} is missing")
        sources[f"contracts/{relative}"] = path.read_text(encoding="utf-8")
    return compile_sources(sources, CONTRACT_NAMES)


def write_artifacts(artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACTS_DIR) -> list[Path]:
    """Write each artifact as ``<directory>/<Name>.json`` (stable formatting for clean diffs)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, artifact in sorted(artifacts.items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def load_artifact(name: str) -> dict[str, Any]:
    """Read the committed artifact of contract ``name`` (e.g. ``"StarknetCoreContract"``)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OrchestratorError(
            f"contract artifact {path} is missing; run `orchestrator devnet build-contracts`"
        ) from None
