"""How the sensors and queries behave with 100,000 batches in a PostgreSQL instance.

Dagster advises at most ~100,000 partitions per asset; this measures the
pipeline at that size with the production instance file
(deploy/dagster.postgres.yaml) on a database created for the run and dropped
afterwards:

1. seed ``--partitions`` batch partitions (added in chunks) and the
   materializations a long-running chain would have: every stage for the first
   ``--settled`` batches, and a staggered tail (later stages missing for the
   newest batches, nothing settled), with the metadata the assets record;
2. start anvil with the core contract at the state after the last settled batch;
3. time one tick of each pipeline sensor, called directly with
   ``build_sensor_context(instance=..., cursor=..., definitions=defs)`` and a
   steady-state cursor (plus a cold, cursor-less tick), the query "which batches
   are not yet settled" (``partitions.unsettled_batch_keys``), one metrics
   exporter pass, and the database size.

Materializations are written with the event log's batch insert (the same
EventLogEntry ``report_runless_asset_event`` writes, 5,000 per INSERT): one
event at a time costs ~15 ms on PostgreSQL, 2.5 hours for 600,000 events.

The last line printed is one JSON object with the numbers.

    python benchmarks/bench_scale.py [--partitions 100000] [--settled 99900]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
from dagster import AssetMaterialization, DagsterEvent, DagsterEventType, DagsterInstance  # noqa: E402
from dagster import build_sensor_context  # noqa: E402
from dagster._core.events import StepMaterializationData  # noqa: E402
from dagster._core.events.log import EventLogEntry  # noqa: E402

from orchestrator_pipelines.batching import BatchManifest  # noqa: E402
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, batch_key  # noqa: E402
from orchestrator_pipelines.devnet.anvil import DEPLOYER_ACCOUNT, SETTLEMENT_ACCOUNT, AnvilProcess  # noqa: E402
from orchestrator_pipelines.devnet.l1_deploy import deploy_settlement_contracts  # noqa: E402

BLOCKS_PER_BATCH = 10
PARTITION_CHUNK = 10_000
EVENT_CHUNK = 5_000
REPEATS = 5
BLOCK_TIME_S = 6
GENESIS_TIMESTAMP = 1_700_000_000
# How far into the unsettled tail each stage got (the newest batches are the least advanced).
# No proof is left in flight: polling one costs a prover HTTP call per pending batch,
# whatever the number of partitions, so the proof tick measures the instance side only.
TAIL_SHARE = {
    "batch": 1.0,
    "snos_output": 0.8,
    "da_blob": 0.7,
    "proof_request": 0.5,
    "proof": 0.5,
    "state_update": 0.0,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def key(index: int) -> str:
    return f"{index:06d}"


def block_range(index: int) -> tuple[int, int]:
    first = index * BLOCKS_PER_BATCH + 1
    return first, first + BLOCKS_PER_BATCH - 1


def stage_metadata(stage: str, index: int) -> dict[str, Any]:
    """What the asset of ``stage`` records for batch ``index`` (same keys, plausible values)."""
    first, last = block_range(index)
    meta: dict[str, Any] = {
        "first_block": first,
        "last_block": last,
        "n_blocks": last - first + 1,
        "duration_s": round(0.2 + (index % 17) * 0.05, 3),
    }
    fact = f"0x{(index * 0x9E3779B97F4A7C15) % (1 << 256):064x}"
    if stage == "batch":
        meta["blob_count"] = 1 + index % 3
    elif stage == "snos_output":
        meta.update(fact=fact, n_steps=1_500_000 + index % 100_000)
    elif stage == "da_blob":
        meta["blob_count"] = 1 + index % 3
    elif stage == "proof_request":
        meta.update(external_id=f"01J{index:012d}", attempt=1, fact=fact, dedup_id=fact)
    elif stage == "proof":
        meta.update(external_id=f"01J{index:012d}", fact=fact, prover_duration_s=900.0 + index % 600)
    elif stage == "state_update":
        meta.update(
            tx_hash=f"0x{(index * 0xC2B2AE3D27D4EB4F) % (1 << 256):064x}",
            gas_used=180_000 + index % 5_000,
            fee_wei=str(2 * 10**15 + index),
            blob_count=1 + index % 3,
            block_to_settled_s=3600.0 + index % 1800,
        )
    return meta


def materialization_entry(stage: str, index: int, timestamp: float) -> EventLogEntry:
    """The event log entry ``report_runless_asset_event`` would write for this materialization."""
    materialization = AssetMaterialization(asset_key=stage, partition=key(index), metadata=stage_metadata(stage, index))
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        event_specific_data=StepMaterializationData(materialization),
        job_name="",
    )
    return EventLogEntry(
        user_message="", level=20, job_name="", run_id="", error_info=None,
        timestamp=timestamp, step_key=None, dagster_event=event,
    )


def stage_indexes(stage: str, partitions: int, settled: int) -> range:
    tail = partitions - settled
    return range(0, settled + int(tail * TAIL_SHARE[stage]))


def seed(instance: DagsterInstance, partitions: int, settled: int) -> dict[str, float]:
    started = time.monotonic()
    for start in range(0, partitions, PARTITION_CHUNK):
        instance.add_dynamic_partitions("batches", [key(i) for i in range(start, min(start + PARTITION_CHUNK, partitions))])
    partitions_s = time.monotonic() - started
    log(f"added {partitions} partitions in {partitions_s:.1f} s")

    started = time.monotonic()
    events = 0
    now = time.time()
    for stage in TAIL_SHARE:
        indexes = stage_indexes(stage, partitions, settled)
        for start in range(indexes.start, indexes.stop, EVENT_CHUNK):
            chunk = range(start, min(start + EVENT_CHUNK, indexes.stop))
            entries = [materialization_entry(stage, i, now - (partitions - i) * 60) for i in chunk]
            instance.event_log_storage.store_event_batch(entries)
            events += len(entries)
        log(f"  {stage}: {len(indexes)} materializations")
    events_s = time.monotonic() - started
    log(f"wrote {events} materializations in {events_s:.1f} s")
    return {"seed_partitions_s": partitions_s, "seed_events_s": events_s, "events": events}


def write_manifests(store: LocalArtifactStore, indexes: range) -> None:
    for index in indexes:
        first, last = block_range(index)
        manifest = BatchManifest(
            index=index, first_block=first, last_block=last, starknet_version="0.13.4",
            close_reason="max_blocks", da_felts_bound=4000,
            first_block_timestamp=GENESIS_TIMESTAMP + first * BLOCK_TIME_S,
            last_block_timestamp=GENESIS_TIMESTAMP + last * BLOCK_TIME_S,
        )
        store.put_bytes(batch_key(key(index), "manifest.json"), manifest.to_json())


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, float, Any]:
    """(first call seconds, median seconds over ``repeats`` calls, last result)."""
    durations, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        durations.append(time.perf_counter() - started)
    return durations[0], statistics.median(durations), result


def pg_connect(user: str, dbname: str):
    return psycopg2.connect(
        host=os.environ.get("ORCHESTRATOR_BENCH_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("ORCHESTRATOR_BENCH_PG_PORT", "5432")),
        user=user,
        password=os.environ.get("ORCHESTRATOR_BENCH_PG_PASSWORD", ""),
        dbname=dbname,
        connect_timeout=5,
    )


def pg_user() -> str:
    errors = []
    for user in [os.environ.get("ORCHESTRATOR_BENCH_PG_USER"), "postgres", getpass.getuser()]:
        if not user:
            continue
        try:
            with closing(pg_connect(user, os.environ.get("ORCHESTRATOR_BENCH_PG_DB", "test"))):
                return user
        except psycopg2.Error as exc:
            errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    raise SystemExit(f"bench_scale: PostgreSQL not reachable ({'; '.join(errors)}); set ORCHESTRATOR_BENCH_PG_*")


@contextmanager
def fresh_database(user: str) -> Iterator[str]:
    name = f"orch_bench_{uuid.uuid4().hex[:10]}"
    admin = pg_connect(user, os.environ.get("ORCHESTRATOR_BENCH_PG_DB", "test"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def database_size_mb(user: str, name: str) -> float:
    with closing(pg_connect(user, name)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(%s)", (name,))
        return round(cursor.fetchone()[0] / 1e6, 1)


def sensor_tick(defs, instance: DagsterInstance, name: str, cursor: str | None):
    sensor_def = defs.resolve_sensor_def(name)
    context = build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, sensor_name=name, resources=defs.resources
    )
    return sensor_def(context)


def describe(result: Any) -> str:
    requests = getattr(result, "run_requests", None) or []
    if requests:
        return "run requests for " + ", ".join(r.partition_key or "-" for r in requests)
    skip = getattr(result, "skip_reason", None)
    return f"skip: {getattr(skip, 'skip_message', skip)}"


def run(partitions: int, settled: int) -> dict[str, Any]:
    user = pg_user()
    work = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    results: dict[str, Any] = {"partitions": partitions, "settled": settled}
    try:
        with fresh_database(user) as db, AnvilProcess() as anvil:
            os.environ.update(
                DAGSTER_PG_HOST=os.environ.get("ORCHESTRATOR_BENCH_PG_HOST", "127.0.0.1"),
                DAGSTER_PG_PORT=os.environ.get("ORCHESTRATOR_BENCH_PG_PORT", "5432"),
                DAGSTER_PG_USER=user,
                DAGSTER_PG_PASSWORD=os.environ.get("ORCHESTRATOR_BENCH_PG_PASSWORD", ""),
                DAGSTER_PG_DB=db,
            )
            home = work / "dagster_home"
            home.mkdir()
            shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")

            settled_block = block_range(settled - 1)[1] if settled else 0
            contracts = deploy_settlement_contracts(
                anvil.url, DEPLOYER_ACCOUNT.private_key,
                program_hash=1, config_hash=2, genesis_root=3,
                genesis_block_number=settled_block, genesis_block_hash=4,
            )
            os.environ.update(
                ORCHESTRATOR_PROFILE="devnet",
                ORCHESTRATOR_ETHEREUM_RPC_URL=anvil.url,
                ORCHESTRATOR_CORE_CONTRACT_ADDRESS=contracts.core_contract,
                ORCHESTRATOR_FACT_REGISTRY_ADDRESS=contracts.fact_registry,
                ORCHESTRATOR_ETHEREUM_PRIVATE_KEY=SETTLEMENT_ACCOUNT.private_key,
                ORCHESTRATOR_ATLANTIC_API_KEY="bench-not-used",
                ORCHESTRATOR_ARTIFACT_STORE="local",
                ORCHESTRATOR_ARTIFACTS_DIR=str(work / "artifacts"),
            )
            from orchestrator_pipelines.config import load_settings
            from orchestrator_pipelines.definitions import build_definitions
            from orchestrator_pipelines.partitions import unsettled_batch_keys

            defs = build_definitions(load_settings())
            store = LocalArtifactStore(work / "artifacts")
            write_manifests(store, range(max(0, settled - 200), partitions))

            with DagsterInstance.from_config(str(home)) as instance:
                results.update(seed(instance, partitions, settled))

                first, median, result = timed(lambda: sensor_tick(defs, instance, "batching_sensor", None))
                results.update(batching_tick_s=round(median, 4), batching_tick_first_s=round(first, 4))
                results["batching_tick_result"] = describe(result)

                steady = json.dumps({"next": settled, "chain_block": settled_block, "chain_changed_at": time.time()})
                first, median, result = timed(lambda: sensor_tick(defs, instance, "settlement_sensor", steady))
                results.update(settlement_tick_s=round(median, 4), settlement_tick_first_s=round(first, 4))
                results["settlement_tick_result"] = describe(result)

                behind = json.dumps({"next": max(0, settled - 100), "chain_block": settled_block, "chain_changed_at": time.time()})
                _, median, result = timed(lambda: sensor_tick(defs, instance, "settlement_sensor", behind), repeats=3)
                results["settlement_catchup_tick_s"] = round(median, 4)
                results["settlement_catchup_tick_result"] = describe(result)

                first, median, result = timed(lambda: sensor_tick(defs, instance, "proof_sensor", None), repeats=3)
                results.update(proof_cold_tick_s=round(median, 4))
                caught_up = result.cursor
                for _ in range(partitions // 500 + 2):
                    caught_up = sensor_tick(defs, instance, "proof_sensor", caught_up).cursor
                first, median, result = timed(lambda: sensor_tick(defs, instance, "proof_sensor", caught_up))
                results.update(proof_tick_s=round(median, 4), proof_tick_result=describe(result))

                first, median, unsettled = timed(lambda: unsettled_batch_keys(instance, limit=100))
                results.update(unsettled_query_s=round(median, 4), unsettled_query_first_s=round(first, 4))
                results["unsettled_first_last"] = [unsettled[0], unsettled[-1]] if unsettled else []

                from orchestrator_pipelines.metrics.exporter import DagsterEventCollector

                collector = DagsterEventCollector(instance)
                started = time.perf_counter()
                processed = collector.collect_once()
                results["exporter_pass_s"] = round(time.perf_counter() - started, 3)
                results["exporter_pass_events"] = processed

            results["db_size_mb"] = database_size_mb(user, db)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=100_000)
    parser.add_argument("--settled", type=int, default=None, help="settled batches (default: all but the last 100)")
    args = parser.parse_args(argv)
    settled = args.settled if args.settled is not None else max(0, args.partitions - 100)
    if not 0 < settled < args.partitions:
        parser.error("--settled must be between 1 and --partitions - 1")
    started = time.monotonic()
    results = run(args.partitions, settled)
    results["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
