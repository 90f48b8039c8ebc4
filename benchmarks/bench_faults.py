"""Exactly-once settlement under crashes and faulty peers, judged by the chain.

The harness starts the Starknet devnet (anvil with the core contract, the
Starknet node, the Atlantic-compatible prover), a fresh PostgreSQL database
(``faults_<random>`` on 127.0.0.1:5432, dropped at the end) with a Dagster home
rendered from ``deploy/dagster.postgres.yaml`` as the production tests do, and
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
  fails at once, by design).

The instance is the deployment file's, unchanged: a killed worker is noticed
by the code server that launched it (the run is marked failed at once) and the
run is retried by Dagster's run retries (3 per run, hence at most
``MAX_KILLS_PER_RUN_CHAIN`` kills per batch and job). A dead code server is
replaced only when the daemon reloads its workspace (every 60 s).

Then it judges by L1, not by what the orchestrator recorded: it walks every
anvil block, finds each ``updateStateKzgDA`` transaction (calldata selector),
attributes it to a batch by the OS output's new block number in its calldata,
and counts successful ones per batch (``duplicate_state_updates``: batches with
more than one), reverted ones (with the contract's reason), batches closed but
not settled (``lost_or_stuck_batches``), and batches whose latest
``state_update`` materialization names another transaction or L1 block than
the chain (``wrong_records``). ``max_recovery_s`` is the longest time from a
fault to the next materialization of a batch it affected.

    python benchmarks/bench_faults.py [--batches 10] [--faults 30] [--seed 1] [--timeout 600]
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
from dataclasses import dataclass, field
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
from orchestrator_pipelines.starknet.calldata import (  # noqa: E402
    UPDATE_STATE_KZG_DA_SELECTOR,
    decode_update_state_kzg_da,
    function_selector,
)
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.production.postgres_instance import render_postgres_home  # noqa: E402

KILL_CLASSES = (
    "kill_after_broadcast", "kill_during_snos", "kill_during_proof_submission", "kill_run_random",
    "kill_daemon", "kill_code_server",
)
WORKER_CLASSES = ("kill_after_broadcast", "kill_during_snos", "kill_during_proof_submission", "kill_run_random")
PROXY_CLASSES = ("node_rpc", "prover", "l1_rpc")
FAULT_CLASSES = KILL_CLASSES + PROXY_CLASSES
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
                   "kill_run_random": 3, "kill_daemon": 1, "kill_code_server": 1, "node_rpc": 3, "prover": 3, "l1_rpc": 3}
        pool = [kind for kind in classes for _ in range(weights[kind])]
        while sum(remaining.values()) < total:
            remaining[rng.choice(pool)] += 1
        timed = [kind for kind in classes if kind not in POINT_CLASSES for _ in range(remaining[kind])]
        rng.shuffle(timed)
        return cls(remaining, timed)


class Harness:
    def __init__(self, args: argparse.Namespace, work: Path, instance: DagsterInstance, artifacts: Path,
                 daemon_env: dict[str, str], home: Path, proxies: dict[str, FaultProxy], l1_url: str):
        self.args = args
        self.l1_url = l1_url
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
        self.burst: tuple[str, int, float] | None = None  # proxy class, injected before, started at
        self.next_timed_at = 0.0
        self.daemon_restarts = 0
        self.printed = 0

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

    # -- the loop --

    def run(self, chain_done) -> bool:
        adopt_orphans()
        self.start_daemon()
        deadline = time.monotonic() + self.args.timeout
        last_refresh = 0.0
        while True:
            now = time.time()
            if time.monotonic() - last_refresh >= REFRESH_S:
                last_refresh = time.monotonic()
                self.daemon.check_alive()
                self.refresh()
                reap()
                faults_left = sum(max(0, n) for kind, n in self.plan.remaining.items() if kind not in POINT_CLASSES)
                if len(self.keys) >= self.args.batches and not faults_left and self.burst is None and chain_done():
                    if not self.instance.get_runs_count(RunsFilter(statuses=RUNS_IN_FLIGHT)):
                        return True
                if time.monotonic() > deadline:
                    say(f"timeout after {self.args.timeout:.0f} s: {len(self.settled)}/{len(self.keys)} settled")
                    say(f"daemon log (last lines):\n{self.daemon.log_tail()}")
                    return False
            self.point_faults()
            self.timed_faults(now)
            for number, fault in enumerate(self.faults[self.printed:], start=self.printed + 1):
                previous = self.faults[number - 2] if number > 1 else None
                if previous is None or (previous.kind, previous.detail, previous.at) != (fault.kind, fault.detail, fault.at):
                    say(f"fault {number}: {fault.kind} {fault.detail}")  # a burst's faults in one line
            self.printed = len(self.faults)
            time.sleep(WATCH_S)

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

    def recoveries(self) -> None:
        """A killed worker's batch recovers at its next materialization; the pipeline (after a daemon, code
        server or peer fault) at the next materialization of any batch that was not settled yet then."""
        for fault in self.faults:
            batches = fault.batches if fault.kind in WORKER_CLASSES else list(self.progress)
            after = [t for key in batches for t in self.progress.get(key, []) if t > fault.at
                     and (fault.kind in WORKER_CLASSES or key not in fault.settled_before)]
            fault.recovered_at = min(after) if after else None


# ---- the chain's verdict ---------------------------------------------------------------------


def rpc(url: str, method: str, *params: Any) -> Any:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def revert_reason(url: str, tx: dict, block: int) -> str:
    """The contract's reason, from replaying the call at the block before the one that included it."""
    call = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, hex(block - 1)]},
                           timeout=30).json()
    error = answer.get("error")
    return str(error.get("message")) if isinstance(error, dict) else "replays without reverting (the state moved in its block)"


def judge(l1_url: str, core: str, instance: DagsterInstance, store: LocalArtifactStore, keys: list[str]) -> dict[str, Any]:
    last_block = {key: BatchManifest.from_json(store.get_bytes(batch_key(key, MANIFEST))).last_block for key in keys}
    by_last_block = {number: key for key, number in last_block.items()}
    successes: dict[str, list[dict]] = defaultdict(list)
    reverted = []
    head = int(rpc(l1_url, "eth_blockNumber"), 16)
    for number in range(head + 1):
        block = rpc(l1_url, "eth_getBlockByNumber", hex(number), True)
        for tx in block["transactions"]:
            data = bytes.fromhex(tx["input"][2:])
            if (tx.get("to") or "").lower() != core.lower() or data[:4] != UPDATE_STATE_KZG_DA_SELECTOR:
                continue
            output, _ = decode_update_state_kzg_da(data)
            key = by_last_block.get(output[3], f"unknown(block {output[3]})")
            receipt = rpc(l1_url, "eth_getTransactionReceipt", tx["hash"])
            entry = {"tx_hash": tx["hash"], "l1_block": number, "nonce": int(tx["nonce"], 16)}
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
        on_chain = successes[key][0]
        if tx_hash is None:
            unattributed.append(key)
            observed = metadata.get("l1_observed_block")
            if observed is not None and int(observed.value) < on_chain["l1_block"]:
                wrong.append({"batch": key, "recorded": f"observed at L1 block {observed.value}", "l1": on_chain})
        elif tx_hash.lower() != on_chain["tx_hash"].lower() or int(l1_block) != on_chain["l1_block"]:
            wrong.append({"batch": key, "recorded": {"tx_hash": tx_hash, "l1_block": l1_block}, "l1": on_chain})
    return {
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
        # A fault after which nothing was left to do (the last batch settled) has nothing to recover.
        stuck = sum(1 for f in faults if f.recovered_at is None and any(k not in harness.settled for k in (
            f.batches if kind in WORKER_CLASSES else [k for k in harness.keys if k not in f.settled_before])))
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
        "lost_or_stuck_batches": len(verdict["lost"]),
        "lost_or_stuck": verdict["lost"],
        "wrong_records": len(verdict["wrong"]),
        "wrong": verdict["wrong"],
        "records_without_tx": len(verdict["unattributed"]),
        "max_recovery_s": round(max(recoveries), 1) if recoveries else None,
        "daemon_restarts": harness.daemon_restarts,
        "runs_launched": harness.instance.get_runs_count(),
        "runs_failed": harness.instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.FAILURE])),
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
    parser.add_argument("--timeout", type=float, default=600, help="seconds the pipeline may take (default 600)")
    parser.add_argument("--fault-gap", type=float, default=4.0, help="seconds between clock-driven faults (default 4)")
    parser.add_argument("--burst-rate", type=float, default=0.5, help="share of a peer's requests faulted in a burst")
    parser.add_argument("--burst-faults", type=int, default=2, help="faulty answers per peer burst (default 2)")
    parser.add_argument("--burst-s", type=float, default=10.0, help="longest peer burst in seconds (default 10)")
    parser.add_argument("--sensor-interval", type=int, default=2, help="sensor interval in seconds (default 2)")
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
            database = stack.enter_context(FreshDatabase())
            say(f"database {database.name}; devnet, {args.batches} batches of {args.batch_blocks} blocks, "
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
            home = render_postgres_home(work / "dagster_home", database.environ())
            os.environ.update(env)
            os.environ.update(database.environ())
            instance = stack.enter_context(DagsterInstance.from_config(str(home)))
            daemon_env = {**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(scratch)}
            harness = Harness(args, work, instance, artifacts, daemon_env, home, proxies, chain.l1_rpc_url)
            last = args.batches * args.batch_blocks
            core = info["l1"]["core_contract"]

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
            verdict = judge(chain.l1_rpc_url, core, instance, store, harness.keys)
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
    for entry in result["reverted"]:
        say(f"  reverted: batch {entry['batch']} {entry['tx_hash']} at L1 block {entry['l1_block']}: {entry['reason']}")
    say(f"load average (1 min) at start and at the end: {result['load_average_1m']} on {result['cpu_count']} CPUs")


if __name__ == "__main__":
    sys.exit(main())
