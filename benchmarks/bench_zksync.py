"""Can the ZKsync OS pipeline keep pace? Node blocks to executed batches on L1, under dagster-daemon.

Starts the ZKsync OS devnet (anvil with the chain's contracts, the node stand-in,
the prover API with fake FRI and SNARK provers over HTTP), a temporary
DAGSTER_HOME with the project's dagster.yaml, and ``dagster-daemon run`` ticking
the sensors every second, until ``--batches`` batches are executed on L1.

Then the same work — the same block ranges, batch records, prover inputs,
prover API jobs and the commit / prove / execute transactions — runs in a plain
Python loop against a fresh devnet, one step after the other. CPU is compared:
the daemon's whole session (daemon, code server, run workers) against the loop
thread's own CPU time, so the devnet's threads count in neither.

Numbers: ``batches_executed``; ``batches_per_minute`` (from the first batch
sealed to the last executed); ``p50_block_to_executed_s`` (per batch, the L1
block timestamp of its execute transaction minus its last L2 block's timestamp);
``runs_per_batch``; ``dagster_cpu_ratio``.

    python benchmarks/bench_zksync.py [--batches 12] [--block-time 1.0] [--timeout 600]

Human-readable lines go to stdout; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_pipeline import Daemon, adopt_orphans, failed_runs, reap_orphans  # noqa: E402,F401
from dagster import DagsterInstance, RunsFilter  # noqa: E402

from orchestrator_pipelines.cli.dev import prepare_dagster_home  # noqa: E402
from orchestrator_pipelines.devnet.zksync_os.stack import ZkOsDevnet, ZkOsDevnetConfig  # noqa: E402
from orchestrator_pipelines.zksync_os.batch_record import (  # noqa: E402
    BatchRecord,
    batch_prover_input,
    build_batch_record,
    genesis_record,
)
from orchestrator_pipelines.zksync_os.commitment import fake_proof  # noqa: E402
from orchestrator_pipelines.zksync_os.node_client import ZkOsNodeClient  # noqa: E402
from orchestrator_pipelines.zksync_os.prover_api.client import OrchestratorProverApi  # noqa: E402
from orchestrator_pipelines.zksync_os_pipeline.jobs import ZKOS_JOBS  # noqa: E402
from orchestrator_pipelines.zksync_os.l1_client import ZkOsL1Client  # noqa: E402
from web3 import Web3  # noqa: E402
from orchestrator_pipelines.zksync_os_pipeline.partitions import artifact_key  # noqa: E402

POLL_S = 0.2


def say(message: str) -> None:
    print(message, flush=True)


def l1_for(env: dict[str, str]) -> ZkOsL1Client:
    return ZkOsL1Client(
        env["ORCHESTRATOR_ETHEREUM_RPC_URL"], env["ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS"],
        int(env["ORCHESTRATOR_ZKOS_CHAIN_ID"]), commit_key=env["ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY"],
        prove_key=env["ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY"], execute_key=env["ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY"],
    )


def run_pipeline(work: Path, args: argparse.Namespace) -> dict:
    devnet = ZkOsDevnet(ZkOsDevnetConfig(state_dir=work / "devnet", block_time_s=args.block_time))
    with devnet:
        artifacts = work / "artifacts"
        env = devnet.orchestrator_env(artifacts)
        env.update(ORCHESTRATOR_SENSOR_INTERVAL_SECONDS="1", ORCHESTRATOR_BATCHER_BATCH_TIMEOUT=str(args.batch_timeout))
        home = prepare_dagster_home(work / "dagster_home")
        adopt_orphans()
        scratch = Path(tempfile.mkdtemp(prefix="bz-"))
        import os

        daemon = Daemon(home, {**os.environ, **env, "DAGSTER_HOME": str(home), "TMPDIR": str(scratch)}, home / "daemon.log")
        l1 = l1_for(env)
        started = time.monotonic()
        daemon.start()
        try:
            while l1.totals().executed < args.batches:
                daemon.check_alive()
                daemon.cpu.sample()
                if time.monotonic() - started > args.timeout:
                    say(daemon.log_tail())
                    with DagsterInstance.from_config(str(home)) as instance:
                        say("failed runs: " + ("; ".join(failed_runs(instance)) or "none"))
                    raise TimeoutError(f"only {l1.totals().executed} batches executed in {args.timeout} s")
                time.sleep(1.0)
            wall = time.monotonic() - started
        finally:
            daemon.cpu.sample()
            daemon.stop()
            shutil.rmtree(scratch, ignore_errors=True)
        executed = l1.totals().executed
        latencies, ranges, first_sealed = [], [], None
        for number in range(1, executed + 1):
            record = BatchRecord.from_json((artifacts / artifact_key(number, "batch.json")).read_bytes())
            ranges.append((record.first_block, record.last_block))
            first_sealed = first_sealed or record.last_block_timestamp
        for path in sorted(artifacts.glob("zksync_os/batches/*/execute_tx.json")):
            mined = json.loads(path.read_text())["mined"]
            block_ts = Web3(Web3.HTTPProvider(env['ORCHESTRATOR_ETHEREUM_RPC_URL'])).eth.get_block(mined["block"])["timestamp"]
            tx = Web3(Web3.HTTPProvider(env['ORCHESTRATOR_ETHEREUM_RPC_URL'])).eth.get_transaction(mined["tx_hash"])
            from orchestrator_pipelines.zksync_os.encoding import decode_call

            call = decode_call(bytes(tx["input"]))
            for number in range(call.process_from, call.process_to + 1):
                record = BatchRecord.from_json((artifacts / artifact_key(number, "batch.json")).read_bytes())
                latencies.append(block_ts - record.last_block_timestamp)
        with DagsterInstance.from_config(str(home)) as instance:
            runs = sum(instance.get_runs_count(RunsFilter(job_name=job.name)) for job in ZKOS_JOBS)
            described = failed_runs(instance)
        # Blocks keep coming, so runs are still going when the daemon is stopped: those end interrupted.
        interrupted = [f for f in described if f.endswith("DagsterExecutionInterruptedError")]
        failures = [f for f in described if f not in interrupted]
        if failures:
            say("failed runs: " + "; ".join(failures))
        if interrupted:
            say(f"{len(interrupted)} runs interrupted when the daemon was stopped")
        cpu = daemon.cpu.by_kind()
        return {"executed": executed, "failed_runs": failures, "interrupted_at_stop": len(interrupted), "wall_s": wall, "latencies": latencies, "ranges": ranges, "runs": runs,
                "cpu": cpu, "minutes": wall / 60}


def run_plain_loop(work: Path, ranges: list[tuple[int, int]], args: argparse.Namespace) -> float:
    """The same batches through the same domain calls, no Dagster; returns the loop thread's CPU seconds."""
    devnet = ZkOsDevnet(ZkOsDevnetConfig(state_dir=work / "plain", block_time_s=args.block_time))
    with devnet:
        env = devnet.orchestrator_env(work / "plain_artifacts")
        l1, node = l1_for(env), ZkOsNodeClient(env["ORCHESTRATOR_ZKOS_RPC_URL"])
        api = OrchestratorProverApi(env["ORCHESTRATOR_PROVER_API_URL"])
        cpu = 0.0

        def measured(fn):
            nonlocal cpu
            before = time.thread_time()
            value = fn()
            cpu += time.thread_time() - before
            return value

        found = l1.chain
        diamond = bytes.fromhex(found.diamond[2:])
        previous = measured(lambda: genesis_record(node.block_for_batch(0)))
        records: list[BatchRecord] = []
        for number, (first, last) in enumerate(ranges, start=1):
            while node.head() < last:
                time.sleep(POLL_S)
            blocks = measured(lambda: [node.block_for_batch(n) for n in range(first, last + 1)])
            record = measured(lambda: build_batch_record(
                batch_number=number, blocks=blocks, previous=previous, chain_id=devnet.config.l2_chain_id,
                chain_address=diamond, l2_da_validator=bytes.fromhex(found.l2_da_validator[2:]), seal_reason="replay"))
            measured(lambda: api.offer_fri(number, batch_prover_input(record, blocks)))
            while (api.fri_result(number) or None) is None or api.fri_result(number).proof is None:
                time.sleep(POLL_S)
            measured(lambda: l1.commit(record.previous, record.commit_info, on_sent=lambda h: None))
            records.append(record)
            previous = record
        proven = 0
        while proven < len(records):
            snark = api.snark_result(proven + 1)
            if snark is None:
                time.sleep(POLL_S)
                continue
            batch = records[snark.batch_from - 1:snark.batch_to]
            stored = [r.stored for r in batch]
            measured(lambda: l1.prove(batch[0].previous, stored, fake_proof(batch[0].previous, stored), on_sent=lambda h: None))
            proven = snark.batch_to
        while l1.executable_up_to(l1.totals()) < len(records):
            time.sleep(POLL_S)
        ops = measured(lambda: l1.priority_ops_for([r.stored for r in records]))
        measured(lambda: l1.execute([r.stored for r in records], ops, on_sent=lambda h: None))
        return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--batch-timeout", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--skip-plain-loop", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-zksync-"))
    try:
        say(f"pipeline under dagster-daemon until {args.batches} batches are executed on L1 …")
        pipeline = run_pipeline(work, args)
        pipeline_cpu = sum(pipeline["cpu"].values())
        loop_cpu = None if args.skip_plain_loop else run_plain_loop(work, pipeline["ranges"], args)
        result = {
            "batches_executed": pipeline["executed"],
            "batches_per_minute": round(pipeline["executed"] / pipeline["minutes"], 2),
            "p50_block_to_executed_s": statistics.median(pipeline["latencies"]) if pipeline["latencies"] else None,
            "runs_per_batch": round(pipeline["runs"] / max(1, pipeline["executed"]), 2),
            "dagster_cpu_ratio": None if not loop_cpu else round(pipeline_cpu / loop_cpu, 1),
            "pipeline_cpu_s": round(pipeline_cpu, 1),
            "plain_loop_cpu_s": None if loop_cpu is None else round(loop_cpu, 2),
            "cpu_by_process": pipeline["cpu"],
            "failed_runs": pipeline["failed_runs"],
            "runs_interrupted_at_stop": pipeline["interrupted_at_stop"],
        }
        say(f"executed {result['batches_executed']} batches at {result['batches_per_minute']}/min, "
            f"p50 block→executed {result['p50_block_to_executed_s']} s, {result['runs_per_batch']} runs/batch")
        print(json.dumps(result), flush=True)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
