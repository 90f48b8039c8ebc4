"""Exactly-once settlement under crashes and faulty peers, judged by the chain.

The harness starts the Starknet devnet (anvil with the core contract, the
Starknet node, the Atlantic-compatible prover), a PostgreSQL cluster of its own
(tests/production/private_postgres.py: initdb into a temporary directory, a
free loopback port, removed at the end) with a Dagster home rendered from
``deploy/dagster.postgres.yaml`` as the production tests do, and
``dagster-daemon run`` on it: the deployment path, a process per run, run
retries and run monitoring on. The node RPC, the prover and the L1 RPC are
reached through loopback fault proxies (``tests/fault_proxy.py``). While the
pipeline settles ``--batches`` batches, the harness injects ``--faults`` faults
of these classes:

- ``kill_after_broadcast``: SIGKILL of the settle run's worker the moment its
  ``settlement_tx.json`` (the recorded broadcast of ``updateStateKzgDA``)
  appears, before the worker has seen the receipt: the retry must wait for
  that transaction, not send a second one;
- ``kill_during_snos`` / ``kill_during_proof_submission``: SIGKILL of the
  prepare run's worker while ``snos_output`` (manifest written, no PIE yet) or
  ``proof_request`` (blobs written, no proof request yet) is running;
- ``kill_run_random``: SIGKILL of a random run worker at a random moment;
- ``kill_daemon`` (restarted at once) and ``kill_code_server`` (the daemon
  starts another);
- ``node_rpc`` / ``prover`` / ``l1_rpc``: a burst of HTTP 500s, connection
  resets, truncated JSON and late answers from that peer (no HTTP 500 from the
  prover: the prover client takes that as the service's verdict and the step
  fails at once, by design);
- ``l1_reorg``: once a batch's ``state_update`` is recorded, ``anvil_reorg``
  as deep as its transaction's confirmations takes the transaction back
  (benchmarks/l1_reorg.py): the pipeline must settle the batch again, once;
- ``postgres_restart``: once, ``pg_ctl restart -m immediate`` of the cluster
  while runs are in flight (every process loses its connections at once).

Where no private cluster can be made (no ``postgres`` user or server
binaries), the harness says why and falls back to a fresh ``faults_<random>``
database on the shared server on 127.0.0.1:5432, without ``postgres_restart``.

The instance is the deployment file's, unchanged: a killed worker is noticed
by the code server that launched it (the run is marked failed at once) and the
run is retried by Dagster's run retries (3 per run, hence at most
``MAX_KILLS_PER_RUN_CHAIN`` kills per batch and job). A dead code server is
replaced only when the daemon reloads its workspace (every 60 s).

Then it judges by L1, not by what the orchestrator recorded: it walks every
anvil block, finds each ``updateStateKzgDA`` transaction (calldata selector),
attributes it to a batch by the OS output's new block number in its calldata,
and counts successful ones per batch on the canonical chain
(``duplicate_state_updates``: batches with more than one; a send taken back
by ``l1_reorg`` is not on that chain, and is reported apart, in
``reorged_away``), reverted ones (with the contract's reason), batches closed
but not settled (``lost_or_stuck_batches``), and batches whose latest
``state_update`` materialization names another transaction, L1 block or block
hash than the chain (``wrong_records``). ``max_recovery_s`` is the longest
time from a fault to the next materialization of a batch it affected (for
``l1_reorg``: until every batch it took back has a new ``state_update``).

    python benchmarks/bench_faults.py [--batches 10] [--faults 30] [--seed 1] [--timeout 1200]
                                      [--classes kill_daemon,kill_after_broadcast,...]

Human-readable lines go to stdout; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, defaultdict
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from dagster import (  # noqa: E402
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventRecordsFilter,
    RunsFilter,
)

from bench_pipeline import RUNS_IN_FLIGHT, Daemon, adopt_orphans, devnet, reap_orphans, say  # noqa: E402
from orchestrator_pipelines.assets.common import DA_FELTS, KZG, MANIFEST, PIE, PROOF_REQUEST, SETTLEMENT_TX  # noqa: E402
from orchestrator_pipelines.batching import BatchManifest  # noqa: E402
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, batch_key  # noqa: E402
from orchestrator_pipelines.devnet.env import orchestrator_env  # noqa: E402
from orchestrator_pipelines.partitions import BATCHES  # noqa: E402
from orchestrator_pipelines.starknet.calldata import function_selector  # noqa: E402
from l1_reorg import new_block_number, reorg_out, rpc  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.production.postgres_instance import render_postgres_home  # noqa: E402
from tests.production.private_postgres import ClusterUnavailable, PrivateCluster  # noqa: E402

KILL_CLASSES = (
    "kill_after_broadcast", "kill_during_snos", "kill_during_proof_submission", "kill_run_random",
    "kill_daemon", "kill_code_server",
)
WORKER_CLASSES = ("kill_after_broadcast", "kill_during_snos", "kill_during_proof_submission", "kill_run_random")
PROXY_CLASSES = ("node_rpc", "prover", "l1_rpc")
FAULT_CLASSES = KILL_CLASSES + PROXY_CLASSES + ("l1_reorg", "postgres_restart")
# Faults fired when a batch reaches a point of its own, the others on a clock.
# The prover client's documented error policy retries network faults and unreadable answers, not an
# HTTP 500 (the service's own verdict: the step fails without retry and the alert goes out).
PROVER_FAULTS = ("reset", "truncated_json", "delay")
# (job, artifact written when the point is reached, artifact written when it is passed)
POINTS = {
    "kill_after_broadcast": ("settle_batch", SETTLEMENT_TX, "-never-"),
    "kill_during_snos": ("prepare_batch", DA_FELTS, PIE),
    "kill_during_proof_submission": ("prepare_batch", KZG, PROOF_REQUEST),
}
POINT_CLASSES = ("kill_after_broadcast", "kill_during_snos", "kill_during_proof_submission")
# Share of a run's retries the harness may use up: the deployment retries a crashed run 3 times.
MAX_KILLS_PER_RUN_CHAIN = 2
# Once every batch is settled and no run is in flight, how long the faults still planned are waited for.
IDLE_END_S = 30
# The deepest reorganisation injected (its settlement's confirmations, its own block counted).
REORG_MAX_DEPTH = 6
# How PostgreSQL is stopped for its restart: no shutdown checkpoint, crash recovery at start.
PG_RESTART_MODE = "immediate"
PG_HOST, PG_PORT = "127.0.0.1", 5432
WATCH_S = 0.03
REFRESH_S = 1.0
PID_MESSAGE = re.compile(r"Started process for run \(pid: (\d+)\)")
STATE_BLOCK_NUMBER = "0x" + function_selector("stateBlockNumber()").hex()


# ---- PostgreSQL -------------------------------------------------------------


def pg_connect(user: str, dbname: str):
    import psycopg2

    return psycopg2.connect(host=PG_HOST, port=PG_PORT, user=user, password=os.environ.get("ORCHESTRATOR_TEST_PG_PASSWORD", ""),
                            dbname=dbname, connect_timeout=5)


def pg_login() -> tuple[str, str]:
    """(user, maintenance database) that can create databases, tried as the production tests do."""
    import psycopg2

    users = [os.environ.get("ORCHESTRATOR_TEST_PG_USER"), "postgres", getpass.getuser()]
    databases = [os.environ.get("ORCHESTRATOR_TEST_PG_DB"), "test", "postgres"]
    errors = []
    for user in [u for u in users if u]:
        for dbname in [d for d in databases if d]:
            try:
                with closing(pg_connect(user, dbname)):
                    return user, dbname
            except psycopg2.Error as exc:
                errors.append(f"{user}@{dbname}: {str(exc).strip().splitlines()[0]}")
    raise RuntimeError(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {'; '.join(errors)}")


class FreshDatabase:
    """A database created for this run and dropped (its sessions ended first) on exit."""

    def __init__(self) -> None:
        self.user, self.maintenance = pg_login()
        self.name = f"faults_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> "FreshDatabase":
        self._admin("CREATE DATABASE \"{}\"")
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin("DROP DATABASE IF EXISTS \"{}\"", terminate=True)

    def _admin(self, sql: str, terminate: bool = False) -> None:
        connection = pg_connect(self.user, self.maintenance)
        connection.autocommit = True
        with closing(connection), connection.cursor() as cursor:
            if terminate:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                               "AND pid <> pg_backend_pid()", (self.name,))
            cursor.execute(sql.format(self.name))

    def environ(self) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": str(PG_PORT), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": os.environ.get("ORCHESTRATOR_TEST_PG_PASSWORD", ""), "DAGSTER_PG_DB": self.name}


def open_database(stack: ExitStack, classes: list[str]) -> tuple[dict[str, str], PrivateCluster | None, dict[str, Any]]:
    """(DAGSTER_PG_* variables, the cluster, what it is) of the Dagster database, closed by ``stack``.

    A private cluster (tests/production/private_postgres.py) when one can be
    made, so that ``postgres_restart`` may restart it; else a fresh database
    on the shared server, which is never restarted: ``postgres_restart`` is
    then taken out of ``classes``, and the reason reported.
    """
    name = f"faults_{uuid.uuid4().hex[:12]}"
    try:
        cluster = stack.enter_context(PrivateCluster())
        cluster.create_database(name)
        return cluster.environ(name), cluster, {"server": "private", "port": cluster.port,
                                               "data_dir": str(cluster.root), "database": name}
    except ClusterUnavailable as exc:
        if "postgres_restart" in classes:
            classes.remove("postgres_restart")
        database = stack.enter_context(FreshDatabase())
        return database.environ(), None, {"server": "shared", "port": PG_PORT, "database": database.name,
                                          "why_not_private": str(exc).splitlines()[0]}


# ---- processes -------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[3])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session_pids(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat[1] == session and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def reap() -> None:
    """Collect exited children (as subreaper, the orphans of killed daemons and code servers are ours)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


# ---- faults ---------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: float
    batches: list[str]
    detail: str
    settled_before: frozenset = frozenset()
    recovered_at: float | None = None


@dataclass
class Plan:
    """How many faults of each class are still to inject, and the clock-driven ones in a seeded order."""

    remaining: Counter
    timed: list[str]

    @classmethod
    def make(cls, total: int, classes: list[str], rng: random.Random) -> "Plan":
        remaining = Counter({kind: 1 for kind in classes})
        # The rest: kills of run workers and peer faults first, daemon and code server kills are slow to recover.
        weights = {"kill_after_broadcast": 3, "kill_during_snos": 2, "kill_during_proof_submission": 2,
                   "kill_run_random": 3, "kill_daemon": 1, "kill_code_server": 1, "node_rpc": 3, "prover": 3, "l1_rpc": 3,
                   "l1_reorg": 2, "postgres_restart": 0}  # PostgreSQL is restarted once
        pool = [kind for kind in classes for _ in range(weights[kind])]
        while pool and sum(remaining.values()) < total:
            remaining[rng.choice(pool)] += 1
        timed = [kind for kind in classes if kind not in POINT_CLASSES for _ in range(remaining[kind])]
        rng.shuffle(timed)
        return cls(remaining, timed)


class Harness:
    def __init__(self, args: argparse.Namespace, work: Path, instance: DagsterInstance, artifacts: Path,
                 daemon_env: dict[str, str], home: Path, proxies: dict[str, FaultProxy], l1_url: str, core: str,
                 cluster: PrivateCluster | None):
        self.args = args
        self.l1_url = l1_url
        self.core = core
        self.cluster = cluster
        self.rng = random.Random(args.seed)
        self.work = work
        self.instance = instance
        self.artifacts = artifacts
        self.daemon_env = daemon_env
        self.home = home
        self.proxies = proxies
        self.plan = Plan.make(args.faults, args.classes, self.rng)
        self.faults: list[Fault] = []
        self.daemons: list[Daemon] = []
        self.daemon: Daemon | None = None
        self.sessions: list[int] = []
        self.runs: dict[str, tuple[str, str | None]] = {}  # run id -> (job, partition) of started runs
        self.pids: dict[str, int] = {}  # run id -> worker pid
        self.kills_per_chain: Counter = Counter()  # (job, partition) -> kills
        self.targeted: dict[str, set[str]] = defaultdict(set)  # point class -> batches hit or past the point
        self.looked_up: dict[tuple[str, str], float] = {}  # (job, batch) -> when its run was last looked up
        self.progress: dict[str, list[float]] = defaultdict(list)  # batch -> materialization times
        self.cursor: int | None = None
        self.keys: list[str] = []
        self.settled: set[str] = set()
        self.state_updates: dict[str, list[float]] = defaultdict(list)  # batch -> state_update materialization times
        self.recorded_tx: dict[str, str] = {}  # batch -> tx hash its latest state_update names
        self.reorged_away: list[dict] = []  # state updates the l1_reorg faults took back from L1
        self.burst: tuple[str, int, float] | None = None  # proxy class, injected before, started at
        self.next_timed_at = 0.0
        self.daemon_restarts = 0
        self.printed = 0
        self.postgres: dict[str, Any] = {}  # where the Dagster database is (see open_database)

    # -- the daemon --

    def start_daemon(self) -> None:
        daemon = Daemon(self.home, self.daemon_env, self.work / f"daemon-{len(self.daemons)}.log")
        daemon.start()
        self.daemons.append(daemon)
        self.sessions.append(daemon.process.pid)
        self.daemon = daemon

    def ours(self, pid: int) -> bool:
        stat = proc_stat(pid)
        return stat is not None and stat[1] in self.sessions and stat[0] != "Z"

    # -- what the instance says --

    def refresh(self) -> None:
        """Batches, started runs and new materializations (of every asset at once, hence the event-record query)."""
        self.keys = sorted(self.instance.get_dynamic_partitions(BATCHES))
        started = self.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        self.runs = {run.run_id: (run.job_name, run.tags.get("dagster/partition")) for run in started}
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # get_event_records is deprecated, but alone reads every asset at once
                records = self.instance.get_event_records(
                    EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, after_cursor=self.cursor),
                    limit=500, ascending=True,
                )
            for record in records:
                self.cursor = record.storage_id
                key = record.partition_key
                if key is None:
                    continue
                self.progress[key].append(record.timestamp)
                if record.asset_key.to_user_string() == "state_update":
                    self.settled.add(key)
                    self.state_updates[key].append(record.timestamp)
                    tx_hash = record.asset_materialization.metadata.get("tx_hash")
                    if tx_hash is not None:
                        self.recorded_tx[key] = str(tx_hash.value)
            if len(records) < 500:
                break

    def worker_pid(self, run_id: str) -> int | None:
        if run_id not in self.pids:
            for entry in self.instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
                found = PID_MESSAGE.search(entry.message or "")
                if found:
                    self.pids[run_id] = int(found.group(1))
                    break
        return self.pids.get(run_id)

    def run_of(self, job: str, key: str, fresh: bool = False) -> str | None:
        if fresh:
            started = self.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED], job_name=job,
                                                        tags={"dagster/partition": key}))
            for run in started:
                self.runs[run.run_id] = (run.job_name, key)
        for run_id, (run_job, partition) in self.runs.items():
            if run_job == job and partition == key:
                return run_id
        return None

    def kill_worker(self, kind: str, run_id: str, detail: str) -> bool:
        job, key = self.runs[run_id]
        pid = self.worker_pid(run_id)
        if pid is None or not self.ours(pid) or self.kills_per_chain[(job, key)] >= MAX_KILLS_PER_RUN_CHAIN:
            return False
        os.kill(pid, signal.SIGKILL)
        self.kills_per_chain[(job, key)] += 1
        self.record(kind, [key], f"{job}[{key}] pid {pid} {detail}")
        return True

    def record(self, kind: str, batches: list[str], detail: str, at: float | None = None) -> None:
        self.faults.append(Fault(kind, time.time() if at is None else at, batches, detail, frozenset(self.settled)))
        self.plan.remaining[kind] -= 1

    def unsettled(self) -> list[str]:
        return [key for key in self.keys if key not in self.settled]

    # -- point faults: a batch at a chosen stage --

    def artifact(self, key: str, name: str) -> Path:
        return self.artifacts / batch_key(key, name)

    def point_faults(self) -> None:
        """Kill the worker of a batch that is at a chosen point, once per batch and class.

        The point is read from the artifacts: the settle step has recorded its
        broadcast (``settlement_tx.json``); ``snos_output`` runs (the ``batch``
        step wrote ``da_felts.json``, no ``pie.zip`` yet); ``proof_request``
        runs (``kzg.json`` written, no ``proof_request.json`` yet).
        """
        now = time.monotonic()
        for kind in POINT_CLASSES:
            if self.plan.remaining[kind] <= 0:
                continue
            for key in self.unsettled():
                if key in self.targeted[kind]:
                    continue
                job, start, end = POINTS[kind]
                if self.artifact(key, end).exists():
                    self.targeted[kind].add(key)  # past the point: this batch can no longer be hit there
                    continue
                if not self.artifact(key, start).exists():
                    continue
                run_id = self.run_of(job, key)
                if run_id is None and now - self.looked_up.get((job, key), 0.0) > REFRESH_S / 4:
                    self.looked_up[(job, key)] = now
                    run_id = self.run_of(job, key, fresh=True)
                if run_id is None:
                    continue  # its run has not started yet
                self.targeted[kind].add(key)
                detail = "after its broadcast was recorded" if kind == "kill_after_broadcast" else "in the step"
                if not self.kill_worker(kind, run_id, detail):
                    continue
                if kind == "kill_after_broadcast":
                    # anvil mines at once: whether the worker died before or after L1 had the transaction.
                    sent = json.loads(self.artifact(key, SETTLEMENT_TX).read_text())["tx_hash"]
                    mined = rpc(self.l1_url, "eth_getTransactionReceipt", sent) is not None
                    self.faults[-1].detail += f" ({sent[:12]}… {'already mined' if mined else 'not mined yet'})"
                elif self.artifact(key, end).exists():
                    self.faults[-1].detail += " (which had just finished)"

    # -- clock faults --

    def timed_faults(self, now: float) -> None:
        if self.burst is not None:
            kind, before, started = self.burst
            proxy = self.proxies[kind]
            if proxy.injected - before >= self.args.burst_faults or now - started > self.args.burst_s:
                proxy.rate = 0.0
                self.burst = None
                injected = proxy.injected - before
                for _ in range(injected):
                    self.record(kind, self.unsettled(), f"burst of {injected} ({dict(proxy.counts)})", at=now)
                if injected == 0:
                    self.plan.timed.insert(0, kind)  # nothing asked that peer: try again later
                self.next_timed_at = now + self.args.fault_gap
            return
        if not self.plan.timed or now < self.next_timed_at or not self.keys:
            return
        kind = self.plan.timed[0]
        if kind in PROXY_CLASSES:
            if self.plan.remaining[kind] <= 0:
                self.plan.timed.pop(0)
                return
            proxy = self.proxies[kind]
            self.burst = (kind, proxy.injected, now)
            proxy.rate = self.args.burst_rate
            self.plan.timed.pop(0)
            return
        done = False
        if kind == "kill_run_random":
            candidates = [run_id for run_id, chain in self.runs.items() if self.kills_per_chain[chain] < MAX_KILLS_PER_RUN_CHAIN]
            self.rng.shuffle(candidates)
            done = any(self.kill_worker(kind, run_id, "at a random moment") for run_id in candidates)
        elif kind == "kill_daemon":
            pid = self.daemon.process.pid
            os.kill(pid, signal.SIGKILL)
            self.daemon.process.wait()
            self.daemon.process = None  # its session is ended at clean-up, with what else lives in it
            self.record(kind, self.unsettled(), f"dagster-daemon pid {pid}; restarted")
            self.start_daemon()
            self.daemon_restarts += 1
            done = True
        elif kind == "l1_reorg":
            done = self.reorg()
        elif kind == "postgres_restart":
            done = self.restart_postgres()
        elif kind == "kill_code_server":
            servers = [pid for pid in session_pids(self.daemon.process.pid) if " grpc" in cmdline(pid)]
            for pid in servers:
                os.kill(pid, signal.SIGKILL)
            if servers:
                self.record(kind, self.unsettled(), f"code server pid {servers[0]}")
                done = True
        if done:
            self.plan.timed.pop(0)
            self.next_timed_at = now + self.args.fault_gap
        else:
            # Not possible now (no run to kill, nothing recorded to reorg): the next fault goes first,
            # this one is tried again after it, so one fault waiting for its moment holds back no other.
            self.plan.timed.append(self.plan.timed.pop(0))

    def reorg(self) -> bool:
        """Take back the latest recorded settlement not taken back before (see benchmarks/l1_reorg.py)."""
        taken = {entry["tx_hash"] for entry in self.reorged_away}
        latest = [key for key in sorted(self.recorded_tx, reverse=True) if self.recorded_tx[key] not in taken][:1]
        if not latest:
            return False
        done = reorg_out(self.l1_url, self.core, self.recorded_tx[latest[0]], self.batch_of, REORG_MAX_DEPTH)
        if done is None:
            return False
        self.reorged_away.extend(done.dropped)
        batches = sorted({entry["batch"] for entry in done.dropped})
        txs = ", ".join(f"{entry['batch']}:{entry['tx_hash'][:12]}… (L1 block {entry['l1_block']})" for entry in done.dropped)
        self.record("l1_reorg", batches, f"anvil_reorg depth {done.depth} took back {txs}; "
                                         f"{done.replayed} other transactions sent again")
        return True

    def batch_of(self, new_block: int) -> str:
        """The batch whose last Starknet block is ``new_block`` (a state update's new block number)."""
        store = LocalArtifactStore(self.artifacts)
        for key in self.keys:
            if BatchManifest.from_json(store.get_bytes(batch_key(key, MANIFEST))).last_block == new_block:
                return key
        return f"unknown(block {new_block})"

    def restart_postgres(self) -> bool:
        """Restart the private PostgreSQL cluster while runs are in flight and a batch is still to settle."""
        if self.cluster is None or not self.unsettled() or not self.runs:
            return False
        in_flight = len(self.runs)
        down_s = self.cluster.restart(PG_RESTART_MODE)
        self.record("postgres_restart", self.unsettled(),
                    f"pg_ctl restart -m {PG_RESTART_MODE} with {in_flight} runs started, back after {down_s:.1f} s")
        return True

    # -- the loop --

    def run(self, chain_done) -> bool:
        adopt_orphans()
        self.start_daemon()
        deadline = time.monotonic() + self.args.timeout
        last_refresh = 0.0
        idle_since = None
        while True:
            now = time.time()
            if time.monotonic() - last_refresh >= REFRESH_S:
                last_refresh = time.monotonic()
                self.daemon.check_alive()
                self.refresh()
                reap()
                faults_left = sum(max(0, n) for kind, n in self.plan.remaining.items() if kind not in POINT_CLASSES)
                if len(self.keys) >= self.args.batches and self.burst is None and chain_done():
                    if not self.instance.get_runs_count(RunsFilter(statuses=RUNS_IN_FLIGHT)):
                        if not faults_left:
                            return True
                        # Everything settled and nothing runs: the faults left need work in flight and can
                        # no longer be injected; they are reported as not injected.
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > IDLE_END_S:
                            say(f"all settled, nothing in flight: {faults_left} faults left not injected")
                            return True
                    else:
                        idle_since = None
                if time.monotonic() > deadline:
                    say(f"timeout after {self.args.timeout:.0f} s: {len(self.settled)}/{len(self.keys)} settled")
                    say(f"daemon log (last lines):\n{self.daemon.log_tail()}")
                    self.say_stuck_runs()
                    return False
            self.point_faults()
            self.timed_faults(now)
            for number, fault in enumerate(self.faults[self.printed:], start=self.printed + 1):
                previous = self.faults[number - 2] if number > 1 else None
                if previous is None or (previous.kind, previous.detail, previous.at) != (fault.kind, fault.detail, fault.at):
                    say(f"fault {number}: {fault.kind} {fault.detail}")  # a burst's faults in one line
            self.printed = len(self.faults)
            time.sleep(WATCH_S)

    def say_stuck_runs(self) -> None:
        """The runs of each batch not settled yet, oldest first: what a stuck batch was last left with."""
        for key in self.unsettled():
            runs = self.instance.get_runs(RunsFilter(tags={"dagster/partition": key}), limit=20)
            summary = ", ".join(f"{run.job_name} {run.status.value} {run.run_id[:8]}"
                                f"{' retry of ' + run.tags['dagster/parent_run_id'][:8] if 'dagster/parent_run_id' in run.tags else ''}"
                                for run in reversed(runs))
            say(f"  batch {key}: {summary or 'no run'}")

    def failed_runs(self) -> list[dict[str, Any]]:
        """Every failed run with why it failed: its step failures' errors, else the run failure's message.

        A failed run that is not retried is what leaves a batch stuck; the reason
        (a step's own error, or the worker's death as the daemon saw it) says
        whether the retry policy or the step is to blame.
        """
        failed = []
        for run in self.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE])):
            why = []
            for entry in self.instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_FAILURE,
                                                                     DagsterEventType.RUN_FAILURE}):
                event = entry.dagster_event
                if event.event_type == DagsterEventType.STEP_FAILURE and event.step_failure_data.error is not None:
                    error = event.step_failure_data.error
                    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
                        error = error.cause
                    frames = [frame.strip().splitlines()[0] for frame in error.stack or []]
                    where = next((f for f in reversed(frames) if "/site-packages/" not in f), frames[-1] if frames else "")
                    why.append(f"{event.step_key}: {error.cls_name}: {error.message.strip().splitlines()[0][:300]}"
                               f"{' at ' + where if where else ''}")
                elif event.event_type == DagsterEventType.RUN_FAILURE:
                    why.append(f"run: {(entry.message or '').strip().splitlines()[0][:300] if entry.message else '?'}")
            failed.append({"job": run.job_name, "batch": run.tags.get("dagster/partition"), "run_id": run.run_id,
                           "retry_of": run.tags.get("dagster/parent_run_id"),
                           "retried": bool(self.instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run.run_id}),
                                                                  limit=1)),
                           "why": why})
        return failed

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.rate = 0.0
        if self.daemon is not None:
            self.daemon.stop()
        for session in self.sessions:
            try:
                os.killpg(session, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            reap_orphans(session, timeout_s=10)

    def stuck(self, fault: Fault) -> bool:
        """Not recovered, although something was left to do (a fault after the last batch settled has nothing)."""
        if fault.recovered_at is not None:
            return False
        if fault.kind == "l1_reorg":
            return True
        batches = fault.batches if fault.kind in WORKER_CLASSES else [k for k in self.keys if k not in fault.settled_before]
        return any(key not in self.settled for key in batches)

    def recoveries(self) -> None:
        """A killed worker's batch recovers at its next materialization; the batches of a reorganisation when
        each has a new ``state_update``; the pipeline (after a daemon, code server, PostgreSQL or peer fault)
        at the next materialization of any batch that was not settled yet then."""
        for fault in self.faults:
            if fault.kind == "l1_reorg":
                again = [min((t for t in self.state_updates.get(key, []) if t > fault.at), default=None)
                         for key in fault.batches]
                fault.recovered_at = None if None in again else max(again)
                continue
            batches = fault.batches if fault.kind in WORKER_CLASSES else list(self.progress)
            after = [t for key in batches for t in self.progress.get(key, []) if t > fault.at
                     and (fault.kind in WORKER_CLASSES or key not in fault.settled_before)]
            fault.recovered_at = min(after) if after else None


# ---- the chain's verdict ---------------------------------------------------------------------


def revert_reason(url: str, tx: dict, block: int) -> str:
    """The contract's reason, from replaying the call at the block before the one that included it."""
    call = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, hex(block - 1)]},
                           timeout=30).json()
    error = answer.get("error")
    return str(error.get("message")) if isinstance(error, dict) else "replays without reverting (the state moved in its block)"


def judge(l1_url: str, core: str, instance: DagsterInstance, store: LocalArtifactStore, keys: list[str],
          reorged_away: list[dict]) -> dict[str, Any]:
    """What the canonical chain holds (eth_getBlockByNumber walks it), against what the orchestrator recorded.

    A state update an ``l1_reorg`` fault took back is not on it, so it counts
    for nothing; it is reported in ``reorged_away``, with whether the same
    transaction is back on chain (sent again byte for byte).
    """
    last_block = {key: BatchManifest.from_json(store.get_bytes(batch_key(key, MANIFEST))).last_block for key in keys}
    by_last_block = {number: key for key, number in last_block.items()}
    successes: dict[str, list[dict]] = defaultdict(list)
    reverted = []
    head = int(rpc(l1_url, "eth_blockNumber"), 16)
    for number in range(head + 1):
        block = rpc(l1_url, "eth_getBlockByNumber", hex(number), True)
        for tx in block["transactions"]:
            new_block = new_block_number(tx, core)
            if new_block is None:
                continue
            key = by_last_block.get(new_block, f"unknown(block {new_block})")
            receipt = rpc(l1_url, "eth_getTransactionReceipt", tx["hash"])
            entry = {"tx_hash": tx["hash"], "l1_block": number, "l1_block_hash": block["hash"], "nonce": int(tx["nonce"], 16)}
            if int(receipt["status"], 16) == 1:
                successes[key].append(entry)
            else:
                reverted.append({**entry, "batch": key, "reason": revert_reason(l1_url, tx, number)})
    duplicates = {key: found for key, found in successes.items() if len(found) > 1}
    lost = [key for key in keys if not successes.get(key)]
    wrong, unattributed = [], []
    for key in keys:
        record = latest_state_update(instance, key)
        if record is None or not successes.get(key):
            continue
        metadata = record.asset_materialization.metadata
        tx_hash = metadata["tx_hash"].value if "tx_hash" in metadata else None
        l1_block = metadata["l1_block"].value if "l1_block" in metadata else None
        block_hash = str(metadata["l1_block_hash"].value) if "l1_block_hash" in metadata else None
        on_chain = successes[key][0]
        if tx_hash is None:
            unattributed.append(key)
            observed = metadata.get("l1_observed_block")
            if observed is not None and int(observed.value) < on_chain["l1_block"]:
                wrong.append({"batch": key, "recorded": f"observed at L1 block {observed.value}", "l1": on_chain})
        elif tx_hash.lower() != on_chain["tx_hash"].lower() or int(l1_block) != on_chain["l1_block"] or (
                block_hash is not None and block_hash.lower() != on_chain["l1_block_hash"].lower()):
            wrong.append({"batch": key, "recorded": {"tx_hash": tx_hash, "l1_block": l1_block, "l1_block_hash": block_hash},
                          "l1": on_chain})
    on_chain_txs = {entry["tx_hash"].lower() for found in successes.values() for entry in found}
    away = [{key: entry[key] for key in ("batch", "tx_hash", "l1_block")}
            | {"back_on_chain": entry["tx_hash"].lower() in on_chain_txs} for entry in reorged_away]
    return {
        "reorged_away": away,
        "successes": successes, "duplicates": duplicates, "reverted": reverted, "lost": lost, "wrong": wrong,
        "unattributed": unattributed, "unknown": [key for key in successes if key not in last_block],
    }


def latest_state_update(instance: DagsterInstance, key: str):
    page = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("state_update"), asset_partitions=[key]), limit=1, ascending=False
    )
    return page.records[0] if page.records else None


# ---- main -------------------------------------------------------------


def report(harness: Harness, verdict: dict[str, Any], complete: bool, args: argparse.Namespace,
           load: list[float], wall_s: float) -> dict[str, Any]:
    per_class: dict[str, dict[str, Any]] = {}
    recoveries = []
    for kind in args.classes:
        faults = [f for f in harness.faults if f.kind == kind]
        times = [f.recovered_at - f.at for f in faults if f.recovered_at is not None]
        recoveries.extend(times)
        stuck = sum(1 for f in faults if harness.stuck(f))
        per_class[kind] = {
            "count": len(faults),
            "outcome": "recovered" if faults and not stuck else ("not injected" if not faults else f"{stuck} not recovered"),
            "max_recovery_s": round(max(times), 1) if times else None,
        }
    keys = harness.keys
    started = harness.faults[0].at if harness.faults else 0.0
    log = [{"kind": f.kind, "at_s": round(f.at - started, 1), "detail": f.detail,
            "recovery_s": None if f.recovered_at is None else round(f.recovered_at - f.at, 1)} for f in harness.faults]
    return {
        "fault_log": log,
        "batches": len(keys),
        "batches_settled": sum(1 for key in keys if verdict["successes"].get(key)),
        "complete": complete,
        "faults_injected": len(harness.faults),
        "faults_by_class": per_class,
        "duplicate_state_updates": len(verdict["duplicates"]),
        "duplicates": verdict["duplicates"],
        "reverted_state_updates": len(verdict["reverted"]),
        "reverted": verdict["reverted"],
        # Sends an l1_reorg fault took back from L1: not on the canonical chain, so not counted per batch above.
        "reorged_state_updates": len(verdict["reorged_away"]),
        "reorged_away": verdict["reorged_away"],
        "postgres": harness.postgres,
        "lost_or_stuck_batches": len(verdict["lost"]),
        "lost_or_stuck": verdict["lost"],
        "wrong_records": len(verdict["wrong"]),
        "wrong": verdict["wrong"],
        "records_without_tx": len(verdict["unattributed"]),
        "max_recovery_s": round(max(recoveries), 1) if recoveries else None,
        "daemon_restarts": harness.daemon_restarts,
        "runs_launched": harness.instance.get_runs_count(),
        "runs_failed": harness.instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.FAILURE])),
        "failed_runs": harness.failed_runs(),
        "seed": args.seed,
        "wall_s": round(wall_s, 1),
        "load_average_1m": load + [round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10, help="batches to settle (default 10)")
    parser.add_argument("--batch-blocks", type=int, default=3, help="blocks per batch (default 3)")
    parser.add_argument("--block-time", type=float, default=1.0, help="Starknet block time in seconds (default 1)")
    parser.add_argument("--faults", type=int, default=30, help="faults to inject in all (default 30; at least one per class)")
    parser.add_argument("--classes", default=",".join(FAULT_CLASSES), help="comma-separated fault classes (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    # A bound, not a target: on a loaded 2-core machine the 10 prepare runs (and their retries) queue for the
    # two prover-submission slots for minutes, and each l1_reorg adds a re-settlement.
    parser.add_argument("--timeout", type=float, default=1200, help="seconds the pipeline may take (default 1200)")
    parser.add_argument("--fault-gap", type=float, default=2.0, help="seconds between clock-driven faults (default 2)")
    parser.add_argument("--burst-rate", type=float, default=0.5, help="share of a peer's requests faulted in a burst")
    parser.add_argument("--burst-faults", type=int, default=2, help="faulty answers per peer burst (default 2)")
    parser.add_argument("--burst-s", type=float, default=10.0, help="longest peer burst in seconds (default 10)")
    parser.add_argument("--sensor-interval", type=int, default=2, help="sensor interval in seconds (default 2)")
    parser.add_argument("--keep-logs", type=Path, default=None,
                        help="copy the daemons' and code servers' logs into this directory before cleaning up")
    args = parser.parse_args(argv)
    args.classes = [kind.strip() for kind in args.classes.split(",") if kind.strip()]
    unknown = set(args.classes) - set(FAULT_CLASSES)
    if unknown or not args.classes:
        parser.error(f"unknown fault classes {sorted(unknown)}; known: {', '.join(FAULT_CLASSES)}")
    if min(args.batches, args.batch_blocks) < 1 or args.timeout <= 0:
        parser.error("--batches, --batch-blocks and --timeout must be positive")
    args.faults = max(args.faults, len(args.classes))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    load = [round(os.getloadavg()[0], 2)]
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    scratch = Path(tempfile.mkdtemp(prefix="bf-"))  # the code server's socket: a short path
    saved_env = dict(os.environ)
    started = time.monotonic()
    harness = None
    try:
        with ExitStack() as stack:
            pg_env, cluster, postgres = open_database(stack, args.classes)
            say(f"database {postgres['database']} on the {postgres['server']} PostgreSQL server (port {postgres['port']}"
                f"{', ' + postgres['data_dir'] if cluster else '; ' + postgres['why_not_private']}); devnet, {args.batches} batches of {args.batch_blocks} blocks, "
                f"{args.faults} faults of {', '.join(args.classes)}, seed {args.seed}")
            chain = stack.enter_context(devnet(work / "devnet", args.block_time, withdrawal_every=2))
            info = chain.info()
            proxies = {
                "node_rpc": FaultProxy(chain.starknet_rpc_url, rate=0.0, seed=args.seed, delay_s=1.0),
                # Not HTTP 500: the prover's own error answer is its verdict, and fails the step at once (by design).
                "prover": FaultProxy(info["prover"]["url"], rate=0.0, seed=args.seed + 1, delay_s=1.0,
                                     faults=PROVER_FAULTS),
                "l1_rpc": FaultProxy(chain.l1_rpc_url, rate=0.0, seed=args.seed + 2, delay_s=1.0),
            }
            for proxy in proxies.values():
                stack.enter_context(proxy)
            artifacts = work / "artifacts"
            env = orchestrator_env(info, artifacts)
            env.update(
                ORCHESTRATOR_MADARA_RPC_URL=proxies["node_rpc"].url,
                ORCHESTRATOR_ATLANTIC_SERVICE_URL=proxies["prover"].url,
                ORCHESTRATOR_ATLANTIC_ARTIFACTS_BASE_URL=proxies["prover"].url,
                ORCHESTRATOR_ETHEREUM_RPC_URL=proxies["l1_rpc"].url,
                ORCHESTRATOR_MAX_BATCH_BLOCKS=str(args.batch_blocks),
                ORCHESTRATOR_MAX_BLOCK=str(args.batches * args.batch_blocks),
                ORCHESTRATOR_SENSOR_INTERVAL_SECONDS=str(args.sensor_interval),
            )
            home = render_postgres_home(work / "dagster_home", pg_env)
            os.environ.update(env)
            os.environ.update(pg_env)
            instance = stack.enter_context(DagsterInstance.from_config(str(home)))
            daemon_env = {**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(scratch)}
            core = info["l1"]["core_contract"]
            harness = Harness(args, work, instance, artifacts, daemon_env, home, proxies, chain.l1_rpc_url, core, cluster)
            harness.postgres = postgres
            last = args.batches * args.batch_blocks

            def chain_done() -> bool:
                answer = rpc(chain.l1_rpc_url, "eth_call", {"to": core, "data": STATE_BLOCK_NUMBER}, "latest")
                return int(answer, 16) >= last

            try:
                complete = harness.run(chain_done)
            finally:
                harness.stop()
            harness.refresh()
            harness.recoveries()
            store = LocalArtifactStore(artifacts)
            verdict = judge(chain.l1_rpc_url, core, instance, store, harness.keys, harness.reorged_away)
            result = report(harness, verdict, complete, args, load, time.monotonic() - started)
        print_readable(result)
        print(json.dumps(result, sort_keys=True), flush=True)
        ok = complete and not (result["duplicate_state_updates"] or result["lost_or_stuck_batches"] or result["wrong_records"])
        return 0 if ok else 1
    finally:
        if harness is not None:
            harness.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in work.glob("*.log"):
                shutil.copy(log, args.keep_logs / log.name)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def print_readable(result: dict[str, Any]) -> None:
    say(f"{result['batches_settled']}/{result['batches']} batches settled on L1 through {result['faults_injected']} faults "
        f"in {result['wall_s']} s ({result['daemon_restarts']} daemon restarts, {result['runs_launched']} runs, "
        f"{result['runs_failed']} failed)")
    for kind, entry in result["faults_by_class"].items():
        say(f"  {kind}: {entry['count']} -> {entry['outcome']}, longest recovery {entry['max_recovery_s']} s")
    say(f"duplicate state updates {result['duplicate_state_updates']}, reverted {result['reverted_state_updates']}, "
        f"lost or stuck batches {result['lost_or_stuck_batches']}, wrong records {result['wrong_records']}, "
        f"records without a tx {result['records_without_tx']}, max recovery {result['max_recovery_s']} s")
    for run in result["failed_runs"]:
        retried = "retried" if run["retried"] else "not retried"
        say(f"  failed run {run['job']}[{run['batch']}] {run['run_id'][:8]} ({retried}): {'; '.join(run['why']) or '?'}")
    for entry in result["reorged_away"]:
        back = "the same transaction is back on chain" if entry["back_on_chain"] else "not on the canonical chain"
        say(f"  taken back by a reorg: batch {entry['batch']} {entry['tx_hash']} from L1 block {entry['l1_block']}: {back}")
    for entry in result["reverted"]:
        say(f"  reverted: batch {entry['batch']} {entry['tx_hash']} at L1 block {entry['l1_block']}: {entry['reason']}")
    say(f"load average (1 min) at start and at the end: {result['load_average_1m']} on {result['cpu_count']} CPUs")


if __name__ == "__main__":
    sys.exit(main())
