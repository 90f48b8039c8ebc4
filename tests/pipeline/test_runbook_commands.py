"""The operator's runbook commands on a settled devnet: status of a block and of batches, retry, close the open batch.

One devnet (``manual_pipeline``: blocks only when the test makes them) is
settled through the real sensors and jobs, then the commands are run against
its Dagster instance as an operator would, with ``$DAGSTER_HOME`` and the
deployment's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_pipelines.assets.common import MANIFEST
from orchestrator_pipelines.cli import main
from orchestrator_pipelines.clients.artifacts import batch_key
from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.local_runner import LocalRunner
from tests.pipeline.e2e_helpers import latest_metadata
from tests.pipeline.sensor_helpers import all_succeeded, definitions_with, keys, produce_blocks, prepare, prove

pytestmark = pytest.mark.e2e
NO_AGE_LIMIT = 3600


def command(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runbook_commands_on_a_settled_devnet(manual_pipeline, monkeypatch, capsys):
    pipeline = manual_pipeline
    instance = pipeline.instance
    monkeypatch.setenv("DAGSTER_HOME", str(Path(instance.root_directory)))
    defs = definitions_with(pipeline, max_batch_blocks=4, max_batch_age_s=NO_AGE_LIMIT)
    runner = LocalRunner(defs, instance)
    store = defs.resources["artifacts"].store()

    produce_blocks(pipeline, 5)  # batch 000000 (1..4); block 5 stays open
    prepare(runner, keys(0))
    prove(runner, keys(0))
    all_succeeded(runner.tick_until_idle("settlement_sensor"))

    block = command(capsys, "status", "block", "3")
    settled_tx = latest_metadata(instance, "state_update", "000000")["tx_hash"]
    assert (block["batch"], block["first_block"], block["last_block"]) == ("000000", 1, 4)
    assert (block["stage"], block["settled"], block["l1_tx"]) == ("settled", True, settled_tx)
    assert command(capsys, "status", "block", "5") == {"block": 5, "batch": None, "stage": "not batched yet"}

    # The open batch (block 9, far younger than its age limit) closes on request, at the sensor's next tick.
    assert command(capsys, "batches", "close-open")["closes"] == "at the batching sensor's next tick"
    report = runner.tick("batching_sensor")
    closed = json.loads(store.get_bytes(batch_key("000001", MANIFEST)))
    assert (closed["first_block"], closed["last_block"], closed["close_reason"]) == (5, 5, "operator")
    assert [run.status.value for run in report.runs] == ["SUCCESS"]
    produce_blocks(pipeline, 1)
    assert not runner.tick("batching_sensor").runs  # the request was for one batch, not every tick

    batches = command(capsys, "status", "batches")["batches"]
    assert [(b["batch"], b["stage"], b["failed_runs"]) for b in batches] == [
        ("000000", "settled", []), ("000001", "proof_request", []),
    ]
    assert main(["status", "batches"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["batch", "first_block", "last_block", "starknet_version", "stage", "l1_tx", "failed_runs"]
    assert table[1].split() == ["000000", "1", "4", "0.13.4", "settled", settled_tx, "—"]

    # A failed run: the next batch's preparation fails (its manifest is gone), is listed, then retried from failure.
    produce_blocks(pipeline, 3)  # batch 000002: blocks 6..9

    def unreadable(store, key):
        raise OrchestratorError(f"artifact not found: manifest of batch {key}")

    with monkeypatch.context() as patch:
        patch.setattr(sys.modules["orchestrator_pipelines.assets.batch"], "load_manifest", unreadable)
        failing = runner.tick("batching_sensor")
    assert [run.status.value for run in failing.runs] == ["FAILURE"]

    failed = command(capsys, "status", "batches", "--failed")["batches"]
    assert [(b["batch"], [r["job"] for r in b["failed_runs"]]) for b in failed] == [("000002", ["prepare_batch"])]

    env = {**os.environ, **pipeline.env, "DAGSTER_HOME": str(Path(instance.root_directory))}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "orchestrator"), "retry", "failed", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    retried = json.loads(done.stdout)["retried"]
    assert [(r["batch"], r["job"], r["status"]) for r in retried] == [("000002", "prepare_batch", "SUCCESS")]
    assert retried[0]["failed_run_id"] == failing.runs[0].run_id
    new_run = instance.get_run_by_id(retried[0]["new_run_id"])
    assert new_run.parent_run_id == failing.runs[0].run_id
    assert command(capsys, "status", "batches", "--failed")["batches"] == []
    after = command(capsys, "status", "block", "8")
    assert (after["batch"], after["stage"], after["failed_runs"]) == ("000002", "proof_request", [])
