"""Can the pipeline keep pace with the chain? Blocks to settled state updates, through real Dagster.

The benchmark starts the devnet (anvil with the core contract, the Starknet
node, the Atlantic-compatible prover with no proving delay), lets the node
make ``--blocks`` blocks at each of ``--rates`` blocks per second (a fresh
devnet per rate; ``--block-time`` gives a single rate; the orchestrator's
MAX_BLOCK stops batching there), and drives the real pipeline until every one
of them is settled on anvil.

Which pipeline: by default (``--aggregation``) the two-level one a Starknet
0.14 chain is settled with: the node makes 0.14.1 blocks, the code location
runs with ``ORCHESTRATOR_AGGREGATION=on``, blocks are cut into aggregator
batches of ``--batch-blocks`` (one L1 update each) made of SNOS batches of
``--snos-batch-blocks`` (one OS run and child proof each), and a block is
settled when its aggregator batch's ``aggregator_state_update`` is
materialized. ``--no-aggregation``: the direct path (the devnet's default
Starknet 0.13.4, one OS run, proof and ``state_update`` per batch).

Who drives it:

- default: the deployment path. A temporary DAGSTER_HOME with the project's
  dagster.yaml (queued run coordinator, a process per run forked by
  ``PreforkRunLauncher``), ``dagster code-server start`` serving the code
  location as in ``deploy/`` (``--no-code-server``: the daemon starts its own
  and replaces it every minute), and ``dagster-daemon run`` as a subprocess
  ticking the sensors every second;
- ``--in-process``: ``LocalRunner`` ticks the sensors and executes the runs in
  this process, as the end-to-end test does.

Then the same block ranges go through the same domain calls in a plain Python
loop, on a fresh devnet at the same block time and seed: no Dagster, no
artifact store, one stage after the other, polling the prover every 0.1 s.
Aggregated, per aggregator batch: the blocks' state updates read and squashed
(the batching sensor's work), the aggregation opened, each SNOS batch's OS run
and child submission, the aggregation closed, the aggregator PIE and DA segment
fetched and the fact checked on L1, the blobs opened against the aggregated
output (with the DA cross-check derived from the node), one updateStateKzgDA.
The ratio of the two wall times is ``dagster_overhead_ratio``; of the CPU
times (this process and its children, the devnet included in both),
``dagster_cpu_ratio``. Under the daemon, the CPU of this process's main thread
while it watches the pipeline and then reads back what the instance recorded
is the harness's, not the pipeline's (the plain loop has no such watcher): it
is left out of ``pipeline_cpu_s`` and reported as ``harness_cpu_s``.

The devnet carries bridge traffic in both phases: a deposit (``sendMessageToL2``
with its fee, to the L2 token bridge) every ``--deposit-interval`` seconds while
the blocks are made, executed by the node as L1 handlers, and a generated
withdrawal every ``--withdrawal-every`` blocks; the settled batches carry them in
their message segments and the core contract consumes and records them.

Numbers, per block: settled time of its batch (the ``state_update`` or
``aggregator_state_update`` materialization timestamp) minus the block's timestamp on the node (whole
seconds, so up to one second too high). Per stage: the median ``duration_s``
metadata of each asset and the median run wall time of each job. Per deposit:
seconds from its L1 transaction to its L2 block's timestamp, and to the
settlement of the batch holding it.

    python benchmarks/bench_pipeline.py [--aggregation | --no-aggregation] [--blocks 120]
                                        [--rates 1,2 | --block-time S] [--batch-blocks 30]
                                        [--snos-batch-blocks 10] [--in-process] [--timeout S]
                                        [--skip-plain-loop] [--deposit-interval 3] [--withdrawal-every 5]

Human-readable lines go to stdout; the last line is one JSON object: per rate
(suffix ``_1bps``, ``_2bps``) ``steady_blocks_per_minute``,
``p50_block_to_settled_s``, ``keeps_pace`` (steady >= the chain's rate) and
``dagster_cpu_ratio``; pooled over the rates ``p50_block_to_settled_s``,
``runs_per_block`` and ``dagster_cpu_ratio``; each rate's full detail under
its key (``1bps``). The defaults (120 blocks per rate, aggregator batches of
30 in SNOS batches of 10: four L1 updates per rate) take about 8 minutes on
an idle machine: the chain's 3 minutes for both rates, twice (pipeline and
plain loop), plus start-up and the last batch's latency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter  # noqa: E402

from orchestrator_pipelines.aggregation_derivation import derive_da_segment  # noqa: E402
from orchestrator_pipelines.aggregation_jobs import AGGREGATION_JOBS  # noqa: E402
from orchestrator_pipelines.aggregation_partitions import AGGREGATOR_BATCHES  # noqa: E402
from orchestrator_pipelines.assets import BATCH_ASSETS  # noqa: E402
from orchestrator_pipelines.assets.aggregation_common import load_aggregator_manifest  # noqa: E402
from orchestrator_pipelines.assets.aggregator_batch import AGGREGATOR_ASSETS  # noqa: E402
from orchestrator_pipelines.batch_work import blobs_with_point_proofs, encode_batch  # noqa: E402
from orchestrator_pipelines.batching import BatchManifest  # noqa: E402
from orchestrator_pipelines.cli.dev import prepare_dagster_home  # noqa: E402
from orchestrator_pipelines.clients.artifacts import LocalArtifactStore, batch_key  # noqa: E402
from orchestrator_pipelines.clients.l1_messaging import L1MessagingClient  # noqa: E402
from orchestrator_pipelines.clients.madara import MadaraClient  # noqa: E402
from orchestrator_pipelines.clients.prover import AtlanticClient  # noqa: E402
from orchestrator_pipelines.clients.settlement import SettlementClient  # noqa: E402
from orchestrator_pipelines.config import Settings, load_settings  # noqa: E402
from orchestrator_pipelines.definitions import build_definitions  # noqa: E402
from orchestrator_pipelines.devnet.env import orchestrator_env  # noqa: E402
from orchestrator_pipelines.devnet.snos_runner import DevnetSnosRunner  # noqa: E402
from orchestrator_pipelines.devnet.stack import DevnetConfig, DevnetStack  # noqa: E402
from orchestrator_pipelines.devnet.starknet_node.generator import (  # noqa: E402
    HANDLE_DEPOSIT_SELECTOR,
    L2_TOKEN_BRIDGE_ADDRESS,
)
from orchestrator_pipelines.jobs import ALL_JOBS  # noqa: E402
from orchestrator_pipelines.local_runner import LocalRunner  # noqa: E402
from orchestrator_pipelines.partitions import BATCHES  # noqa: E402
from orchestrator_pipelines.starknet import kzg  # noqa: E402
from orchestrator_pipelines.starknet.aggregator import AggregatorPie  # noqa: E402
from orchestrator_pipelines.starknet.da_encoding import da_felts  # noqa: E402
from orchestrator_pipelines.starknet.da_segment import open_segment_against_output  # noqa: E402
from orchestrator_pipelines.starknet.os_output import check_blobs_against_output, parse_os_output  # noqa: E402
from orchestrator_pipelines.starknet.squash import squash_state_updates  # noqa: E402

ASSET_NAMES = [asset.key.to_user_string() for asset in BATCH_ASSETS]
JOB_NAMES = [job.name for job in ALL_JOBS]
AGGREGATED_ASSET_NAMES = ["snos_batch_output", "child_proof"] + [asset.key.to_user_string() for asset in AGGREGATOR_ASSETS]
AGGREGATED_JOB_NAMES = [job.name for job in AGGREGATION_JOBS]
# The Starknet version the devnet's node stamps on its blocks when the aggregated pipeline is measured:
# 0.14 is settled by aggregation (orchestrator_pipelines.devnet.env.aggregation_for).
AGGREGATED_STARKNET_VERSION = "0.14.1"


@dataclass(frozen=True)
class Flavour:
    """Which pipeline is measured: what counts as settled, its partitions, assets and jobs."""

    aggregated: bool
    settled_asset: str
    partitions: str
    asset_names: list[str]
    job_names: list[str]
    settlement_sensor: str  # ticked until idle in-process: settlement is the critical path

    def block_range(self, store: LocalArtifactStore, key: str) -> tuple[int, int]:
        """(first block, last block) of the batch (direct) or aggregator batch (aggregated) ``key``."""
        if self.aggregated:
            manifest = load_aggregator_manifest(store, key)
        else:
            manifest = BatchManifest.from_json(store.get_bytes(batch_key(key, "manifest.json")))
        return manifest.first_block, manifest.last_block


DIRECT = Flavour(False, "state_update", BATCHES, ASSET_NAMES, JOB_NAMES, "settlement_sensor")
AGGREGATED = Flavour(
    True, "aggregator_state_update", AGGREGATOR_BATCHES, AGGREGATED_ASSET_NAMES, AGGREGATED_JOB_NAMES,
    "aggregator_settlement_sensor",
)
POLL_S = 0.2
PROVER_POLL_S = 0.1
DAEMON_STOP_S = 30
SEED = 0
GENESIS_ACCOUNTS = 8


def say(message: str) -> None:
    print(message, flush=True)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return round(ordered[rank - 1], 3)


def cpu_seconds() -> float:
    """CPU time of this process and of every child it has reaped (anvil, the daemon and its run workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Deadline:
    def __init__(self, seconds: float, what: str):
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what

    def check(self, progress: str) -> None:
        if time.monotonic() > self.at:
            raise TimeoutError(f"{self.what}: not done after {self.seconds:.0f} s ({progress})")


# ---- the devnet -------------------------------------------------------------


def devnet(state_dir: Path, block_time_s: float, withdrawal_every: int, aggregated: bool = False) -> DevnetStack:
    """Fast blocks, a proof DONE as soon as it is submitted, nothing kept on disk after the run.

    ``aggregated``: the node makes Starknet 0.14.1 blocks (settled by aggregation) and no large
    blocks, as the aggregated end-to-end tests' devnet (tests/pipeline/aggregated_e2e.py).
    """
    node_options: dict[str, Any] = {"genesis_accounts": GENESIS_ACCOUNTS, "withdrawal_every": withdrawal_every}
    if aggregated:
        node_options.update(starknet_version=AGGREGATED_STARKNET_VERSION, large_block_every=0)
    return DevnetStack(
        DevnetConfig(
            state_dir=state_dir,
            block_time_s=block_time_s,
            prover_delay_s=0.0,
            seed=SEED,
            persist=False,
            node_options=node_options,
        )
    )


DEPOSIT_WEI = 10**15
DEPOSIT_FEE_WEI = 10**13


class DepositTraffic:
    """Sends a deposit to L2 every ``interval_s`` from the devnet's depositor account, until stopped."""

    def __init__(self, stack: DevnetStack, interval_s: float, last_block: int):
        self.stack = stack
        self.interval_s = interval_s
        self.last_block = last_block
        self.sent: list[tuple[float, str]] = []  # (time sent, L1 tx hash)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-deposits", daemon=True)

    def __enter__(self) -> "DepositTraffic":
        if self.interval_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        client = L1MessagingClient(
            self.stack.l1_rpc_url, self.stack.depositor_account.private_key, self.stack.core_contract
        )
        recipient = 0x4D0E5B1A2C3F4E5D6A7B8C9D0E1F2A3B4C5D6E7F8091A2B3C4D5E6F708192A3
        while not self._stop.wait(self.interval_s):
            # Deposits sent after the last block the benchmark settles would never settle.
            if self.stack.starknet_block_number() >= self.last_block - 1:
                return
            try:
                sent_at = time.time()
                sent = client.send_message_to_l2(
                    L2_TOKEN_BRIDGE_ADDRESS, HANDLE_DEPOSIT_SELECTOR, [recipient, DEPOSIT_WEI, 0], DEPOSIT_FEE_WEI
                )
                self.sent.append((sent_at, sent.tx_hash))
            except Exception as exc:  # a failed deposit is reported, the benchmark goes on
                self.errors.append(str(exc))

    def l2_blocks(self, rpc_url: str) -> list[tuple[float, int]]:
        """(time sent, L2 block of its L1 handler) of every deposit the node executed."""
        found = []
        for sent_at, tx_hash in self.sent:
            answer = requests.post(
                rpc_url,
                json={"jsonrpc": "2.0", "id": 1, "method": "starknet_getMessagesStatus",
                      "params": {"transaction_hash": tx_hash}},
                timeout=10,
            ).json()
            for status in answer.get("result", []):
                receipt = requests.post(
                    rpc_url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "starknet_getTransactionReceipt",
                          "params": {"transaction_hash": status["transaction_hash"]}},
                    timeout=10,
                ).json()["result"]
                found.append((sent_at, int(receipt["block_number"])))
        return found


def pipeline_env(stack: DevnetStack, artifacts_dir: Path, args: argparse.Namespace) -> dict[str, str]:
    env = orchestrator_env(stack.info(), artifacts_dir)
    env.update(
        ORCHESTRATOR_MAX_BATCH_BLOCKS=str(args.batch_blocks),
        ORCHESTRATOR_MAX_BLOCK=str(args.blocks),
        ORCHESTRATOR_SENSOR_INTERVAL_SECONDS=str(args.sensor_interval),
    )
    if args.aggregation:
        # MAX_BATCH_BLOCKS is then the aggregator batch's size; its SNOS batches are cut from it.
        env.update(ORCHESTRATOR_MAX_BLOCKS_PER_SNOS_BATCH=str(args.snos_batch_blocks))
        if env["ORCHESTRATOR_AGGREGATION"] != "on":
            raise RuntimeError(f"the devnet's chain is not settled by aggregation: {env['ORCHESTRATOR_AGGREGATION']}")
    return env


def block_timestamps(rpc_url: str, last_block: int) -> dict[int, int]:
    client = MadaraClient(rpc_url)
    return {number: client.block(number).timestamp for number in range(1, last_block + 1)}


def settlement_client(settings: Settings, private_key: str) -> SettlementClient:
    return SettlementClient(
        settings.ethereum_rpc_url,
        private_key,
        settings.core_contract_address,
        fact_registry_address=settings.fact_registry_address,
        confirmations=settings.l1_confirmations,
        tx_timeout_s=settings.l1_tx_timeout_s,
    )


# ---- driving the pipeline -------------------------------------------------------------


def batches_settled(instance: DagsterInstance, flavour: Flavour = DIRECT) -> tuple[int, int]:
    """(batch partitions, those settled: state_update, or aggregator_state_update when aggregated)."""
    keys = instance.get_dynamic_partitions(flavour.partitions)
    settled = {record.partition_key for record in materializations(instance, flavour.settled_asset)}
    return len(keys), len(settled & set(keys))


def all_settled(
    instance: DagsterInstance, chain: SettlementClient, last_block: int, flavour: Flavour = DIRECT
) -> tuple[bool, str]:
    total, settled = batches_settled(instance, flavour)
    l1_block = chain.state().block_number
    progress = f"{settled}/{total} batches settled, L1 at block {l1_block}/{last_block}"
    return (l1_block >= last_block and total > 0 and settled == total), progress


def failed_runs(instance: DagsterInstance) -> list[str]:
    """Each failed run with the first line of its step's error, so a failure is readable from the JSON line."""
    described = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.FAILURE])):
        run = record.dagster_run
        reason = "no step failed (the run itself failed)"
        for entry in instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
            data = entry.dagster_event.event_specific_data
            error = getattr(data, "error", None)
            if error is not None:
                reason = error.message.strip().splitlines()[0]
                break
            if entry.dagster_event.event_type == DagsterEventType.RUN_FAILURE and entry.message:
                reason = f"run failed: {entry.message.strip().splitlines()[0]}"
        described.append(f"{run.job_name}[{run.tags.get('dagster/partition')}] {run.run_id}: {reason}")
    return described


def drive_in_process(settings: Settings, instance: DagsterInstance, chain: SettlementClient, args) -> None:
    runner = LocalRunner(build_definitions(settings), instance)
    deadline = Deadline(args.timeout, "in-process pipeline")
    while True:
        reports = runner.tick_all() + runner.tick_until_idle(args.flavour.settlement_sensor)
        done, progress = all_settled(instance, chain, args.blocks, args.flavour)
        if done:
            return
        deadline.check(progress)
        if not any(report.runs for report in reports):
            time.sleep(POLL_S)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_kind(cmdline: str) -> str:
    if "dagster-daemon" in cmdline:
        return "daemon"
    if "multiprocessing" in cmdline or "execute_run" in cmdline or "run_worker_server" in cmdline:
        return "run_workers"
    if " grpc" in cmdline or "code-server" in cmdline or "code_server" in cmdline:
        return "code_server"
    return "other"


@dataclass
class SessionCpu:
    """CPU seconds per process of one session, sampled from /proc (a process's last moments are missed)."""

    session: int
    seen: dict[int, tuple[str, float]] = field(default_factory=dict)
    extra_sessions: tuple[int, ...] = ()

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[3]) != self.session and int(fields[3]) not in self.extra_sessions:  # field 6: session
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            # The kind of the latest command line: a process first seen between fork and exec still
            # shows its parent's, and would otherwise be counted as "other" for good.
            pid = int(entry.name)
            kind = process_kind(cmdline) if cmdline else self.seen.get(pid, ("other", 0.0))[0]
            self.seen[pid] = (kind, cpu)

    def by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for kind, cpu in self.seen.values():
            totals[kind] += cpu
        return {kind: round(value, 1) for kind, value in sorted(totals.items())}

    def of(self, pid: int) -> float | None:
        """CPU seconds last sampled for ``pid`` (None: never seen, e.g. it lived less than a sample)."""
        seen = self.seen.get(pid)
        return None if seen is None else seen[1]


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the parent of orphaned descendants (Linux), so their CPU time is counted when reaped here.

    The daemon's code server and run workers outlive it for a moment when it
    stops; without this they would be reparented to init and their CPU lost.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def session_alive(session: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
            except (OSError, ValueError):
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                return True
    return False


def reap_orphans(session: int, timeout_s: float = 10.0) -> None:
    """Wait (up to ``timeout_s``) for the daemon's session to end, collecting the zombies it leaves to this process."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        if not session_alive(session):
            try:
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                pass
            return
        time.sleep(0.1)


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 120.0) -> None:
    """Until 127.0.0.1:``port`` accepts connections (``process`` serving it must not exit meanwhile)."""
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening on port {port}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not listening on port {port} after {timeout_s:.0f} s")


@dataclass
class Daemon:
    """``dagster-daemon run`` in its own session, so that it and its run workers stop together.

    ``code_server``: the production topology of ``deploy/`` (``workspace.grpc.yaml``): the code
    location is served by a long-lived ``dagster code-server start`` (its own session, sampled and
    stopped with the daemon's) instead of one the daemon starts itself and replaces every minute.
    """

    home: Path
    env: dict[str, str]
    log_path: Path
    code_server: bool = False
    process: subprocess.Popen | None = None
    server: subprocess.Popen | None = None
    cpu: SessionCpu | None = None

    def start(self) -> None:
        target = ["-m", "orchestrator_pipelines.definitions"]
        if self.code_server:
            from orchestrator_pipelines.devnet.ports import free_port

            port = free_port()
            server_command = [str(Path(sys.executable).with_name("dagster")), "code-server", "start",
                              "-h", "127.0.0.1", "-p", str(port), *target]
            server_log = self.log_path.with_name(self.log_path.stem + "-code-server.log").open("wb")
            self.server = subprocess.Popen(server_command, env=self.env, cwd=self.home, stdout=server_log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            server_log.close()
            wait_for_port(port, self.server, "dagster code-server")
            workspace = self.home / "workspace.yaml"
            workspace.write_text(
                "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
                f"      port: {port}\n      location_name: madara_settlement\n"
            )
            target = ["-w", str(workspace)]
        command = [str(Path(sys.executable).with_name("dagster-daemon")), "run", *target]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.cpu = SessionCpu(self.process.pid, extra_sessions=(self.server.pid,) if self.server else ())

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGINT to the whole session for a clean shutdown; whatever is left after that is killed."""
        process, self.process = self.process, None
        if process is None:
            return
        self._stop_session(process)
        server, self.server = self.server, None
        if server is not None:
            self._stop_session(server)

    @staticmethod
    def _stop_session(process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGINT)  # the daemon, its code server and any run worker
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=DAEMON_STOP_S)
        except subprocess.TimeoutExpired:
            pass
        reap_orphans(process.pid, timeout_s=DAEMON_STOP_S)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        reap_orphans(process.pid)


RUNS_IN_FLIGHT = [
    DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
]


def drive_daemon(
    home: Path, env: dict[str, str], instance: DagsterInstance, chain: SettlementClient, args
) -> SessionCpu:
    adopt_orphans()
    # The code server's socket and whatever else the daemon leaves in TMPDIR; short, as a socket path must be.
    scratch = Path(tempfile.mkdtemp(prefix="bp-"))
    daemon_env = {**os.environ, **env, "DAGSTER_HOME": str(home), "TMPDIR": str(scratch)}
    daemon = Daemon(home, daemon_env, home / "daemon.log", code_server=args.code_server)
    deadline = Deadline(args.timeout, "pipeline under dagster-daemon")
    daemon.start()
    try:
        while True:
            daemon.check_alive()
            daemon.cpu.sample()
            done, progress = all_settled(instance, chain, args.blocks, args.flavour)
            # A settle run goes on after its materialization (checks, events): stopping the daemon
            # then would interrupt it and count it as failed.
            in_flight = instance.get_runs_count(RunsFilter(statuses=RUNS_IN_FLIGHT))
            if done and not in_flight:
                break
            if done:
                progress += f", waiting for {in_flight} runs to finish"
            try:
                deadline.check(progress)
            except TimeoutError:
                say(f"daemon log (last lines):\n{daemon.log_tail()}")
                raise
            time.sleep(1.0)
    finally:
        daemon.cpu.sample()
        daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return daemon.cpu


# ---- what the instance recorded -------------------------------------------------------------


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event "Started process for run (pid: N)" the worker writes."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            return int(pid.value)
    return None


def run_cpu_by_job(instance: DagsterInstance, cpu: SessionCpu, job_names: list[str]) -> dict[str, dict[str, float]]:
    """Per job: runs whose worker was sampled, and their median and total CPU seconds.

    Where a run's CPU goes: each worker pays Python, Dagster and the code location's load before
    its steps, so a job's median minus the step work (the plain loop's stage times) is that fixed cost.
    """
    per_job: dict[str, list[float]] = defaultdict(list)
    for record in instance.get_run_records(RunsFilter()):
        pid = run_worker_pid(instance, record.dagster_run.run_id)
        seconds = cpu.of(pid) if pid is not None else None
        if seconds is not None:
            per_job[record.dagster_run.job_name].append(seconds)
    return {
        job: {"runs": len(per_job[job]), "median_s": median(per_job[job]), "total_s": round(sum(per_job[job]), 1)}
        for job in job_names if per_job.get(job)
    }


def materializations(instance: DagsterInstance, asset: str) -> list[Any]:
    records, cursor = [], None
    while True:
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1000, cursor=cursor, ascending=True
        )
        records.extend(page.records)
        if not page.has_more:
            return records
        cursor = page.cursor


def first_per_partition(records: list[Any]) -> dict[str, Any]:
    first: dict[str, Any] = {}
    for record in records:
        first.setdefault(record.partition_key, record)
    return first


def pipeline_numbers(
    instance: DagsterInstance, store: LocalArtifactStore, timestamps: dict[int, int], flavour: Flavour = DIRECT
) -> dict[str, Any]:
    settled = first_per_partition(materializations(instance, flavour.settled_asset))
    if not settled:
        raise RuntimeError("no batch settled: nothing to report")
    ranges = {key: flavour.block_range(store, key) for key in settled}
    latencies, batch_lags = [], []
    for key in sorted(settled):
        (first, last), settled_at = ranges[key], settled[key].timestamp
        latencies.extend(settled_at - timestamps[n] for n in range(first, last + 1))
        batch_lags.append(settled_at - timestamps[last])
    settle_times = sorted(record.timestamp for record in settled.values())
    wall = settle_times[-1] - timestamps[1]
    # Blocks settled per minute from the first settlement to the last: the steady rate, without start-up.
    first, last = ranges[min(settled)]
    after_first = len(latencies) - (last - first + 1)
    steady = after_first / (settle_times[-1] - settle_times[0]) * 60 if len(settle_times) > 1 else None

    durations = {
        asset: median([r.asset_materialization.metadata["duration_s"].value for r in materializations(instance, asset)])
        for asset in flavour.asset_names
    }
    runs = instance.get_run_records(RunsFilter())
    run_walls: dict[str, list[float]] = defaultdict(list)
    queue_waits: dict[str, list[float]] = defaultdict(list)
    for record in runs:
        if record.start_time and record.end_time:
            run_walls[record.dagster_run.job_name].append(record.end_time - record.start_time)
            queue_waits[record.dagster_run.job_name].append(record.start_time - record.create_timestamp.timestamp())
    return {
        "batches": len(settled),
        "blocks_settled": len(latencies),
        "wall_s": round(wall, 3),
        "blocks_per_minute": round(len(latencies) / wall * 60, 2),
        "p50_block_to_settled_s": percentile(latencies, 0.5),
        "p95_block_to_settled_s": percentile(latencies, 0.95),
        "max_block_to_settled_s": percentile(latencies, 1.0),
        "steady_blocks_per_minute": None if steady is None else round(steady, 2),
        "first_batch_lag_s": round(batch_lags[0], 3),
        "last_batch_lag_s": round(batch_lags[-1], 3),
        "asset_duration_s": durations,
        "job_run_wall_s": {job: median(run_walls.get(job, [])) for job in flavour.job_names},
        "job_run_start_delay_s": {job: median(queue_waits.get(job, [])) for job in flavour.job_names},
        "runs_launched": len(runs),
        "runs_by_job": {job: sum(1 for r in runs if r.dagster_run.job_name == job) for job in flavour.job_names},
        "runs_failed": sum(1 for r in runs if r.dagster_run.status == DagsterRunStatus.FAILURE),
        "run_wall_total_s": round(sum(sum(v) for v in run_walls.values()), 3),
        "latencies": latencies,  # per block, pooled over the rates by the summary; not in the JSON line
    }


def message_numbers(
    instance: DagsterInstance, store: LocalArtifactStore, deposits: DepositTraffic, rpc_url: str,
    timestamps: dict[int, int], flavour: Flavour = DIRECT,
) -> dict[str, Any]:
    """What the settled batches carried, and how long deposits took to reach L2 and to settle."""
    settled = first_per_partition(materializations(instance, flavour.settled_asset))
    settled_at_block: dict[int, float] = {}
    for key, record in settled.items():
        first, last = flavour.block_range(store, key)
        for number in range(first, last + 1):
            settled_at_block[number] = record.timestamp
    to_l2 = deposits.l2_blocks(rpc_url)
    metadata = [record.asset_materialization.metadata for record in settled.values()]
    return {
        "deposits_sent": len(deposits.sent),
        "deposit_errors": len(deposits.errors),
        "messages_to_l2_settled": sum(m["messages_to_l2"].value for m in metadata if "messages_to_l2" in m),
        "messages_to_l1_settled": sum(m["messages_to_l1"].value for m in metadata if "messages_to_l1" in m),
        "p50_deposit_to_l2_s": percentile([timestamps[b] - at for at, b in to_l2 if b in timestamps], 0.5),
        "p50_deposit_to_settled_s": percentile(
            [settled_at_block[b] - at for at, b in to_l2 if b in settled_at_block], 0.5
        ),
    }


def run_pipeline(work: Path, args: argparse.Namespace) -> tuple[dict[str, Any], list[tuple]]:
    """The pipeline on a fresh devnet; with what it reported, the block ranges it cut, for the plain loop.

    A range is (first, last) per batch, or (first, last, [(first, last) per SNOS batch]) per aggregator batch.
    """
    mode = "in-process (LocalRunner)" if args.in_process else "dagster-daemon, a process per run"
    cut = (f"aggregator batches of {args.batch_blocks} in SNOS batches of {args.snos_batch_blocks}"
           if args.aggregation else f"batches of {args.batch_blocks}")
    say(f"pipeline: {args.blocks} blocks at {args.block_time} s, {cut}, {mode}")
    cpu_before = cpu_seconds()
    with devnet(work / "devnet", args.block_time, args.withdrawal_every, args.aggregation) as stack:
        env = pipeline_env(stack, work / "artifacts", args)
        os.environ.update(env)
        settings = load_settings(env)
        chain = settlement_client(settings, env["ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"])
        home = prepare_dagster_home(work / "dagster_home")
        with DagsterInstance.from_config(str(home)) as instance, DepositTraffic(
            stack, args.deposit_interval, args.blocks
        ) as deposits:
            complete, session_cpu = True, None
            # The harness's own CPU (this thread watching the daemon, then reading back what the instance
            # recorded) is not the pipeline's, and the plain loop has none: it is reported, not counted.
            # In process the pipeline itself runs in this thread, and only the read-back is the harness's.
            drive_before = time.thread_time()
            try:
                if args.in_process:
                    drive_in_process(settings, instance, chain, args)
                else:
                    session_cpu = drive_daemon(home, env, instance, chain, args)
            except TimeoutError as exc:
                complete = False
                say(f"pipeline: {exc}; reporting what settled")
            analysis_before = time.thread_time()
            harness_cpu = 0.0 if args.in_process else analysis_before - drive_before
            say(f"pipeline: L1 at block {chain.state().block_number} of {args.blocks}")
            timestamps = block_timestamps(stack.starknet_rpc_url, args.blocks)
            store = LocalArtifactStore(settings.artifacts_dir)
            numbers = pipeline_numbers(instance, store, timestamps, args.flavour)
            numbers.update(message_numbers(instance, store, deposits, stack.starknet_rpc_url, timestamps, args.flavour))
            ranges: list[tuple] = []
            for key in sorted(instance.get_dynamic_partitions(args.flavour.partitions)):
                if args.aggregation:
                    manifest = load_aggregator_manifest(store, key)
                    children = [(child.first_block, child.last_block) for child in manifest.snos_batches]
                    ranges.append((manifest.first_block, manifest.last_block, children))
                else:
                    manifest = BatchManifest.from_json(store.get_bytes(batch_key(key, "manifest.json")))
                    ranges.append((manifest.first_block, manifest.last_block))
            numbers["run_cpu_by_job"] = (
                run_cpu_by_job(instance, session_cpu, args.flavour.job_names) if session_cpu is not None else None
            )
            failures = failed_runs(instance)
            numbers["failed_runs"] = failures
            if failures:
                say("failed runs: " + "; ".join(failures))
            harness_cpu += time.thread_time() - analysis_before
    numbers["cpu_s"] = round(cpu_seconds() - cpu_before - harness_cpu, 1)
    numbers["harness_cpu_s"] = round(harness_cpu, 1)
    numbers["complete"] = complete
    numbers["cpu_by_process_s"] = session_cpu.by_kind() if session_cpu is not None else None
    return numbers, ranges


# ---- the same work in a plain loop -------------------------------------------------------------


@dataclass
class StageClock:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def timed(self, stage: str, work: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return work()
        finally:
            self.seconds[stage].append(time.monotonic() - started)

    def busy_s(self) -> float:
        return sum(sum(values) for values in self.seconds.values())


def settle_one_batch(
    first: int,
    last: int,
    *,
    madara: MadaraClient,
    snos: DevnetSnosRunner,
    prover: AtlanticClient,
    chain: SettlementClient,
    settings: Settings,
    scratch: Path,
    clock: StageClock,
) -> None:
    """One batch through every stage, with the calls the assets make, minus Dagster and the artifact store."""
    version = madara.block(last).starknet_version
    encoded = clock.timed("batch", lambda: encode_batch(madara, first, last, version))
    result = clock.timed("snos_output", lambda: snos.run(first, last, scratch))
    output = parse_os_output(result.program_output)

    def build_blobs():
        built = blobs_with_point_proofs(encoded.felts, output.kzg.x0, settings.max_blobs)
        check_blobs_against_output(output, built.blobs)
        return built

    blobs = clock.timed("da_blob", build_blobs)
    fact = "0x" + result.fact.hex()

    def submit() -> str:
        existing = prover.find_by_dedup_id(fact)
        if existing is not None:
            return existing
        return prover.submit(result.pie_path.read_bytes(), dedup_id=fact, n_steps=result.n_steps, layout=settings.prover_layout)

    query = clock.timed("proof_request", submit)

    def prove() -> None:
        while (status := prover.status(query)).state == "pending":
            time.sleep(PROVER_POLL_S)
        if status.state != "done":
            raise RuntimeError(f"prover query {query} ended {status.state}: {status.detail}")
        prover.fetch_proof(query)
        if not chain.is_fact_valid(result.fact):
            raise RuntimeError(f"fact {fact} is not valid on L1")

    clock.timed("proof", prove)

    def settle() -> None:
        before = chain.state()
        if before.block_number != first - 1:
            raise RuntimeError(f"L1 at block {before.block_number}, batch starts at {first}")
        chain.update_state_kzg_da(result.program_output, blobs.proofs, blobs.blobs)
        if chain.state().block_number != last:
            raise RuntimeError(f"L1 did not reach block {last}")

    clock.timed("state_update", settle)


def settle_one_aggregator_batch(
    first: int,
    last: int,
    children: list[tuple[int, int]],
    *,
    index: int,
    madara: MadaraClient,
    snos: DevnetSnosRunner,
    prover: AtlanticClient,
    chain: SettlementClient,
    settings: Settings,
    scratch: Path,
    clock: StageClock,
) -> None:
    """One aggregator batch through every stage, with the calls its sensors and assets make, minus Dagster.

    The stages are named after the assets doing that work: reading the blocks and squashing their
    state diffs to size the batch (the aggregator batching sensor), the aggregation (bucket) opened,
    each SNOS batch's OS run and child submission, the bucket closed, the aggregator PIE and DA
    segment fetched once the bucket is DONE and its fact checked on L1, the blobs opened against the
    aggregated output (and the DA cross-check derived from the node), one updateStateKzgDA.
    """
    def read_blocks() -> None:
        updates = [madara.state_update(n) for n in range(first, last + 1)]
        headers = [madara.block(n) for n in range(first, last + 1)]
        da_felts(squash_state_updates(updates), None, headers[-1].starknet_version)

    clock.timed("aggregator_batching", read_blocks)
    version = madara.block(last).starknet_version
    aggregation_id = clock.timed("aggregation", lambda: prover.open_aggregation(external_id=f"loop-{index}-1"))
    jobs = []
    for position, (child_first, child_last) in enumerate(children, start=1):
        result = clock.timed("snos_batch_output", lambda: snos.run_child(child_first, child_last, scratch))
        jobs.append(clock.timed("child_proof", lambda: prover.submit_child(
            result.pie_path.read_bytes(), aggregation_id=aggregation_id, index=position,
            dedup_id=f"0x{result.fact.hex()}-1", n_steps=result.n_steps,
        )))
    poll_id = clock.timed("aggregator_batch", lambda: prover.close_aggregation(aggregation_id, children_job_ids=jobs))

    def prove() -> tuple[AggregatorPie, list[int]]:
        while (status := prover.aggregation_status(poll_id)).state == "pending":
            time.sleep(PROVER_POLL_S)
        if status.state != "done":
            raise RuntimeError(f"aggregation {poll_id} ended {status.state}: {status.detail}")
        received = prover.aggregation_artifacts(poll_id)
        pie = AggregatorPie.from_zip(received.cairo_pie)
        if not chain.is_fact_valid(pie.fact()):
            raise RuntimeError(f"aggregator fact 0x{pie.fact().hex()} is not valid on L1")
        return pie, received.da_segment

    pie, segment = clock.timed("aggregator_proof", prove)
    output = parse_os_output(pie.aggregated_words)

    def build_blobs():
        opening = open_segment_against_output(output, segment, max_blobs=settings.max_blobs)
        proofs = [kzg.compute_point_proof(blob, opening.x0)[0] for blob in opening.blobs]
        kzg.blob_sidecar(opening.blobs, opening.commitments)
        derive_da_segment(madara, first, last, version)
        return opening.blobs, proofs

    blobs, proofs = clock.timed("aggregator_da_blob", build_blobs)

    def settle() -> None:
        before = chain.state()
        if before.block_number != first - 1:
            raise RuntimeError(f"L1 at block {before.block_number}, aggregator batch starts at {first}")
        chain.update_state_kzg_da(pie.aggregated_words, proofs, blobs)
        if chain.state().block_number != last:
            raise RuntimeError(f"L1 did not reach block {last}")

    clock.timed("aggregator_state_update", settle)


def run_plain_loop(work: Path, ranges: list[tuple], args: argparse.Namespace) -> dict[str, Any]:
    say(f"plain loop: the same {len(ranges)} block ranges on a fresh devnet, no Dagster")
    cpu_before = cpu_seconds()
    with devnet(work / "devnet_loop", args.block_time, args.withdrawal_every, args.aggregation) as stack, DepositTraffic(
        stack, args.deposit_interval, ranges[-1][1]
    ):
        env = pipeline_env(stack, work / "artifacts_loop", args)
        settings = load_settings(env)
        madara = MadaraClient(settings.madara_rpc_url)
        snos = DevnetSnosRunner(settings.madara_rpc_url, max_blobs=settings.max_blobs)
        prover = AtlanticClient(settings.atlantic_service_url, env["ORCHESTRATOR_ATLANTIC_API_KEY"], network=settings.atlantic_network,
                                artifacts_base_url=settings.atlantic_artifacts_base_url)
        chain = settlement_client(settings, env["ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"])
        clock = StageClock()
        settled_at: dict[tuple[int, int], float] = {}
        deadline = Deadline(args.timeout, "plain loop")
        scratch = work / "snos_loop"
        for index, (first, last, *children) in enumerate(ranges):
            while madara.head() < last:
                deadline.check(f"waiting for block {last}")
                time.sleep(POLL_S / 4)
            if args.aggregation:
                settle_one_aggregator_batch(first, last, children[0], index=index, madara=madara, snos=snos,
                                            prover=prover, chain=chain, settings=settings, scratch=scratch, clock=clock)
            else:
                settle_one_batch(first, last, madara=madara, snos=snos, prover=prover, chain=chain,
                                 settings=settings, scratch=scratch, clock=clock)
            settled_at[(first, last)] = time.time()
        timestamps = block_timestamps(settings.madara_rpc_url, ranges[-1][1])
    latencies = [at - timestamps[n] for (first, last), at in settled_at.items() for n in range(first, last + 1)]
    wall = max(settled_at.values()) - timestamps[1]
    busy = clock.busy_s()
    return {
        "cpu_s": round(cpu_seconds() - cpu_before, 1),
        "wall_s": round(wall, 3),
        "busy_s": round(busy, 3),
        "blocks_per_minute": round(len(latencies) / wall * 60, 2),
        "capacity_blocks_per_minute": round(len(latencies) / busy * 60, 1),
        "p50_block_to_settled_s": percentile(latencies, 0.5),
        "p95_block_to_settled_s": percentile(latencies, 0.95),
        "stage_s": {stage: median(values) for stage, values in clock.seconds.items()},
    }


# ---- main -------------------------------------------------------------


def report(pipeline: dict[str, Any], loop: dict[str, Any] | None, args: argparse.Namespace) -> dict[str, Any]:
    chain_rate = 60.0 / args.block_time
    result = {
        "mode": "in_process" if args.in_process else "daemon",
        "aggregation": args.aggregation,
        "complete": pipeline["complete"],
        "blocks": args.blocks,
        "block_time_s": args.block_time,
        "batch_blocks": args.batch_blocks,
        "snos_batch_blocks": args.snos_batch_blocks if args.aggregation else None,
        "sensor_interval_s": args.sensor_interval,
        "code_server": "dagster code-server start" if args.code_server else "started by the daemon",
        "chain_blocks_per_minute": round(chain_rate, 2),
        **{k: pipeline[k] for k in ("blocks_per_minute", "steady_blocks_per_minute", "p50_block_to_settled_s", "p95_block_to_settled_s",
                                     "max_block_to_settled_s", "first_batch_lag_s", "last_batch_lag_s",
                                     "runs_launched", "runs_by_job", "runs_failed", "batches", "blocks_settled",
                                     "deposits_sent", "deposit_errors", "messages_to_l2_settled",
                                     "messages_to_l1_settled", "p50_deposit_to_l2_s", "p50_deposit_to_settled_s")},
        "failed_runs": pipeline["failed_runs"],
        "deposit_interval_s": args.deposit_interval,
        "withdrawal_every_blocks": args.withdrawal_every,
        "pipeline_wall_s": pipeline["wall_s"],
        "asset_duration_s": pipeline["asset_duration_s"],
        "job_run_wall_s": pipeline["job_run_wall_s"],
        "job_run_start_delay_s": pipeline["job_run_start_delay_s"],
        "run_wall_total_s": pipeline["run_wall_total_s"],
        "pipeline_cpu_s": pipeline["cpu_s"],
        "harness_cpu_s": pipeline["harness_cpu_s"],
        "daemon_cpu_by_process_s": pipeline["cpu_by_process_s"],
        "run_cpu_by_job_s": pipeline["run_cpu_by_job"],
        "load_average_1m": [round(value, 2) for value in args.load_average] + [round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
        # Once running, settling as fast as the chain makes blocks (within 10 %) is keeping pace.
        "keeps_pace": pipeline["steady_blocks_per_minute"] is not None
        and pipeline["steady_blocks_per_minute"] >= 0.9 * chain_rate,
    }
    if loop is not None:
        result.update(
            plain_loop_wall_s=loop["wall_s"],
            plain_loop_busy_s=loop["busy_s"],
            plain_loop_blocks_per_minute=loop["blocks_per_minute"],
            plain_loop_capacity_blocks_per_minute=loop["capacity_blocks_per_minute"],
            plain_loop_p50_block_to_settled_s=loop["p50_block_to_settled_s"],
            plain_loop_p95_block_to_settled_s=loop["p95_block_to_settled_s"],
            plain_loop_stage_s=loop["stage_s"],
            dagster_overhead_ratio=round(pipeline["wall_s"] / loop["wall_s"], 3),
            dagster_cost_ratio=round(pipeline["run_wall_total_s"] / loop["busy_s"], 2),
            plain_loop_cpu_s=loop["cpu_s"],
            dagster_cpu_ratio=round(pipeline["cpu_s"] / loop["cpu_s"], 2),
        )
    return result


def rate_label(rate: float) -> str:
    """``1bps``, ``2bps``, ``0_5bps``: the suffix of a rate's keys in the JSON line."""
    return f"{rate:g}bps".replace(".", "_")


def summary(details: dict[float, dict[str, Any]], latencies: list[float], args: argparse.Namespace) -> dict[str, Any]:
    """The JSON line: per rate its steady rate, p50 and whether it keeps pace, the pooled figures, the detail.

    ``keeps_pace_<rate>`` is the issue's target: settling, once running, at least as many blocks a
    minute as the chain makes (120 at 2 blocks/s). ``runs_per_block`` and ``dagster_cpu_ratio`` pool the
    rates: all runs over all settled blocks, all pipeline CPU over all plain-loop CPU.
    """
    result: dict[str, Any] = {
        "mode": "in_process" if args.in_process else "daemon",
        "aggregation": args.aggregation,
        "blocks": args.blocks,
        "batch_blocks": args.batch_blocks,
        "snos_batch_blocks": args.snos_batch_blocks if args.aggregation else None,
        "rates_bps": [float(f"{rate:g}") for rate in details],
        "complete": all(detail["complete"] for detail in details.values()),
        "p50_block_to_settled_s": percentile(latencies, 0.5),
        "load_average_1m": [round(args.load_average[0], 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }
    blocks = sum(detail["blocks_settled"] for detail in details.values())
    result["runs_per_block"] = round(sum(d["runs_launched"] for d in details.values()) / blocks, 3) if blocks else None
    loop_cpu = [d.get("plain_loop_cpu_s") for d in details.values()]
    if all(loop_cpu):
        result["dagster_cpu_ratio"] = round(sum(d["pipeline_cpu_s"] for d in details.values()) / sum(loop_cpu), 2)
    for rate, detail in details.items():
        label = rate_label(rate)
        steady = detail["steady_blocks_per_minute"]
        result[f"steady_blocks_per_minute_{label}"] = steady
        result[f"p50_block_to_settled_s_{label}"] = detail["p50_block_to_settled_s"]
        result[f"keeps_pace_{label}"] = steady is not None and steady >= 60.0 * rate
        if "dagster_cpu_ratio" in detail:
            result[f"dagster_cpu_ratio_{label}"] = detail["dagster_cpu_ratio"]
        result[label] = detail
    return result


def print_readable(result: dict[str, Any]) -> None:
    say(f"settled {result['blocks_settled']} of {result['blocks']} blocks in {result['batches']} batches: {result['blocks_per_minute']} blocks/min, "
        f"{result['steady_blocks_per_minute']} after the first settlement (chain makes {result['chain_blocks_per_minute']}), "
        f"block to settled p50 {result['p50_block_to_settled_s']} s, "
        f"p95 {result['p95_block_to_settled_s']} s; lag first batch {result['first_batch_lag_s']} s, "
        f"last {result['last_batch_lag_s']} s -> {'keeps pace' if result['keeps_pace'] else 'FALLS BEHIND'}")
    say(f"messages settled: {result['messages_to_l2_settled']} to L2 (of {result['deposits_sent']} deposits sent, "
        f"{result['deposit_errors']} failed), {result['messages_to_l1_settled']} to L1; deposit to L2 p50 "
        f"{result['p50_deposit_to_l2_s']} s, to settled p50 {result['p50_deposit_to_settled_s']} s")
    say("asset duration_s (median): " + ", ".join(f"{k} {v}" for k, v in result["asset_duration_s"].items()))
    say("job run wall s (median): " + ", ".join(f"{k} {v}" for k, v in result["job_run_wall_s"].items()))
    say("job run start delay s (median): " + ", ".join(f"{k} {v}" for k, v in result["job_run_start_delay_s"].items()))
    if result["daemon_cpu_by_process_s"]:
        say("CPU s by process under the daemon: " + ", ".join(f"{k} {v}" for k, v in result["daemon_cpu_by_process_s"].items()))
    if result["run_cpu_by_job_s"]:
        say("run worker CPU s by job (runs, median per run): " + ", ".join(
            f"{job} {v['runs']} x {v['median_s']}" for job, v in result["run_cpu_by_job_s"].items()))
    say(f"runs launched {result['runs_launched']} ({result['runs_failed']} failed), run wall total {result['run_wall_total_s']} s")
    if "dagster_overhead_ratio" in result:
        say("plain loop stage s (median): " + ", ".join(f"{k} {v:.3f}" for k, v in result["plain_loop_stage_s"].items()))
        say(f"plain loop: wall {result['plain_loop_wall_s']} s, busy {result['plain_loop_busy_s']} s, "
            f"p50 {result['plain_loop_p50_block_to_settled_s']} s, capacity {result['plain_loop_capacity_blocks_per_minute']} blocks/min")
        say(f"dagster overhead: wall ratio {result['dagster_overhead_ratio']}, run time / loop busy time "
            f"{result['dagster_cost_ratio']}, CPU {result['pipeline_cpu_s']} s / {result['plain_loop_cpu_s']} s "
            f"= {result['dagster_cpu_ratio']}")
    say(f"load average (1 min) at start, after the pipeline, at the end: {result['load_average_1m']} on {result['cpu_count']} CPUs")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregation", action=argparse.BooleanOptionalAction, default=True,
                        help="the two-level (aggregated) pipeline on Starknet 0.14.1 blocks (default); "
                        "--no-aggregation: the direct one-level path on the devnet's default version")
    parser.add_argument("--blocks", type=int, default=120, help="blocks to settle per rate (default 120)")
    parser.add_argument("--rates", default=None,
                        help="block rates (blocks/s), comma-separated, a fresh devnet each (default 1,2)")
    parser.add_argument("--block-time", type=float, default=None,
                        help="one rate given as a Starknet block time in seconds (instead of --rates)")
    parser.add_argument("--batch-blocks", type=int, default=None,
                        help="blocks per batch, or per aggregator batch when aggregated (default 10 direct, 30 aggregated)")
    parser.add_argument("--snos-batch-blocks", type=int, default=10,
                        help="blocks per SNOS batch (aggregated; default 10)")
    parser.add_argument("--sensor-interval", type=int, default=5,
                        help="sensor interval in seconds (default 5, the deployment default)")
    parser.add_argument("--in-process", action="store_true", help="LocalRunner in this process instead of dagster-daemon")
    parser.add_argument("--code-server", action=argparse.BooleanOptionalAction, default=True,
                        help="serve the code location from a long-lived `dagster code-server start`, as deploy/ does "
                        "(default); --no-code-server: the daemon starts its own and replaces it every minute")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds each phase may take (default: the chain's time for the blocks + 900)")
    parser.add_argument("--skip-plain-loop", action="store_true", help="measure the pipeline only (no overhead ratio)")
    parser.add_argument("--deposit-interval", type=float, default=3.0,
                        help="seconds between deposits sent on L1 during the run (default 3; 0: none)")
    parser.add_argument("--withdrawal-every", type=int, default=5,
                        help="a generated L2 withdrawal every N blocks (default 5; 0: none)")
    args = parser.parse_args(argv)
    if args.rates is not None and args.block_time is not None:
        parser.error("--rates and --block-time are two ways of giving the rate: give one")
    try:
        args.rate_list = ([1.0 / args.block_time] if args.block_time is not None
                          else [float(rate) for rate in (args.rates or "1,2").split(",")])
    except (ValueError, ZeroDivisionError):
        parser.error("--rates: comma-separated positive numbers; --block-time: a positive number")
    if args.batch_blocks is None:
        args.batch_blocks = 30 if args.aggregation else 10
    args.flavour = AGGREGATED if args.aggregation else DIRECT
    if min(args.blocks, args.batch_blocks, args.snos_batch_blocks, args.sensor_interval) < 1 or min(args.rate_list) <= 0 \
            or (args.timeout is not None and args.timeout <= 0):
        parser.error("--blocks, --batch-blocks, --snos-batch-blocks, --rates, --sensor-interval and --timeout must be positive")
    if args.deposit_interval < 0 or args.withdrawal_every < 0:
        parser.error("--deposit-interval and --withdrawal-every must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    args.load_average = [os.getloadavg()[0]]
    details: dict[float, dict[str, Any]] = {}
    latencies: list[float] = []
    for rate in args.rate_list:
        # A fresh devnet per rate (and per phase): nothing of one rate's chain is left to the next.
        one = argparse.Namespace(**vars(args))
        one.block_time = 1.0 / rate
        one.timeout = args.timeout if args.timeout is not None else args.blocks * one.block_time + 900
        one.load_average = [os.getloadavg()[0]]
        say(f"== {rate:g} block(s)/s ==")
        work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        saved_env = dict(os.environ)
        try:
            pipeline, ranges = run_pipeline(work, one)
            latencies.extend(pipeline.pop("latencies"))
            one.load_average.append(os.getloadavg()[0])
            run_loop = pipeline["complete"] and not args.skip_plain_loop
            loop = run_plain_loop(work, ranges, one) if run_loop else None
            details[rate] = report(pipeline, loop, one)
            print_readable(details[rate])
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            shutil.rmtree(work, ignore_errors=True)
    result = summary(details, latencies, args)
    say(" ".join(f"{key} {result[key]}" for key in sorted(result) if key.startswith(("steady_", "keeps_pace_")))
        + f"; runs per block {result['runs_per_block']}, dagster CPU ratio {result.get('dagster_cpu_ratio')}")
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
