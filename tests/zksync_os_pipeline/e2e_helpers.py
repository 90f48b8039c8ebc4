"""What the ZKsync OS end-to-end tests share: the devnet, its environment, the code location, the drive loop,
the traffic they send and the checks they make on L1 and the recorded artifacts (in-process and under the daemon)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from web3 import Web3
from web3.exceptions import TransactionNotFound

from orchestrator_pipelines.config import load_settings
from orchestrator_pipelines.definitions import build_definitions
from orchestrator_pipelines.devnet.zksync_os.l1_deploy import contract_at
from orchestrator_pipelines.devnet.zksync_os.stack import ZkOsDevnet, ZkOsDevnetConfig
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.zksync_os.batch_record import BatchRecord
from orchestrator_pipelines.zksync_os.l1_client import ZkOsL1Client
from orchestrator_pipelines.zksync_os.prover_api.fake_provers import FakeProver, FakeProverConfig
from orchestrator_pipelines.zksync_os_pipeline.partitions import ARTIFACT_PREFIX, artifact_key
from orchestrator_pipelines.zksync_os_pipeline.sensors import RANGE_END_TAG
from tests.pipeline.e2e_helpers import patched_environ

SENSORS = ("zkos_batching_sensor", "zkos_l1_sensor")
STEP_RECORDS = {"commit": "commit_tx.json", "prove": "prove_tx.json", "execute": "execute_tx.json"}
UNFINISHED = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


class ZkOsPipeline:
    def __init__(self, devnet: ZkOsDevnet, env: dict[str, str], instance: DagsterInstance):
        self.devnet = devnet
        self.env = env
        self.instance = instance
        self.settings = load_settings(env)
        self.defs = build_definitions(self.settings)
        self.runner = LocalRunner(self.defs, instance)
        self.skip_reasons: list[str] = []

    def l1(self) -> ZkOsL1Client:
        return ZkOsL1Client(
            self.env["ORCHESTRATOR_ETHEREUM_RPC_URL"],
            self.env["ORCHESTRATOR_ZKOS_BRIDGEHUB_ADDRESS"],
            int(self.env["ORCHESTRATOR_ZKOS_CHAIN_ID"]),
            commit_key=self.env["ORCHESTRATOR_ZKOS_COMMIT_PRIVATE_KEY"],
            prove_key=self.env["ORCHESTRATOR_ZKOS_PROVE_PRIVATE_KEY"],
            execute_key=self.env["ORCHESTRATOR_ZKOS_EXECUTE_PRIVATE_KEY"],
        )

    @property
    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.env["ORCHESTRATOR_ETHEREUM_RPC_URL"]))

    @property
    def artifacts(self) -> Path:
        return Path(self.env["ORCHESTRATOR_ARTIFACTS_DIR"])

    def record(self, number: int) -> BatchRecord:
        return BatchRecord.from_json((self.artifacts / artifact_key(number, "batch.json")).read_bytes())

    def tx_record(self, number: int, name: str) -> dict:
        return json.loads((self.artifacts / artifact_key(number, name)).read_text())

    def tx_records(self, step: str) -> dict[int, dict]:
        """The recorded transactions of one L1 step, by batch number (a range's first batch for prove and execute)."""
        return {int(path.parent.name): json.loads(path.read_text())
                for path in self.artifacts.glob(f"{ARTIFACT_PREFIX}/*/{STEP_RECORDS[step]}")}

    def drive(self, until: Callable[[], bool], what: str, deadline_s: float = 90.0) -> None:
        """Tick both sensors, executing their runs here, until ``until()``; every run must succeed."""
        deadline = time.monotonic() + deadline_s
        while not until():
            assert time.monotonic() < deadline, f"{what}: not reached in {deadline_s} s ({self.skip_reasons[-2:]})"
            for name in SENSORS:
                report = self.runner.tick(name)
                if report.skip_reason:
                    self.skip_reasons.append(report.skip_reason)
                for run in report.runs:
                    assert run.status == DagsterRunStatus.SUCCESS, (
                        f"{run.job_name} run {run.run_id} for {run.tags.get('dagster/partition') or run.tags} failed"
                    )
            time.sleep(0.3)


@contextmanager
def zkos_pipeline(tmp_path: Path, instance: DagsterInstance | None = None, **config: Any) -> Iterator[ZkOsPipeline]:
    devnet = ZkOsDevnet(ZkOsDevnetConfig(state_dir=tmp_path / "devnet", **config))
    with devnet:
        env = devnet.orchestrator_env(tmp_path / "artifacts")
        env.update(ORCHESTRATOR_SENSOR_INTERVAL_SECONDS="1", ORCHESTRATOR_BATCHER_BATCH_TIMEOUT="2",
                   ORCHESTRATOR_MAX_BATCHES_PER_TICK="2")
        with patched_environ(env):
            if instance is None:
                (tmp_path / "dagster").mkdir(exist_ok=True)
                with DagsterInstance.local_temp(str(tmp_path / "dagster")) as local:
                    yield ZkOsPipeline(devnet, env, local)
            else:
                yield ZkOsPipeline(devnet, env, instance)


# -- traffic ----------------------------------------------------------------------------------------


def send_deposits(devnet: ZkOsDevnet, count: int = 3) -> list[bytes]:
    """``count`` L1→L2 deposits through the chain's Mailbox entry; their canonical (priority tree) hashes."""
    return [devnet.deposit(amount_wei=10**15 * (index + 1), to=f"0x{index + 1:040x}") for index in range(count)]


def start_fri_provers(devnet: ZkOsDevnet, count: int = 2) -> list[FakeProver]:
    return [devnet._start_prover(FakeProverConfig(kind="fri", prover_id=f"fri-{i}", poll_interval_s=0.3))
            for i in range(count)]


def start_snark_prover(devnet: ZkOsDevnet) -> FakeProver:
    """The SNARK prover; started once some batches are FRI-proven, its first job aggregates all of them."""
    return devnet._start_prover(FakeProverConfig(kind="snark", prover_id="snark", poll_interval_s=0.3))


# -- checks -----------------------------------------------------------------------------------------


def _mined_block(w3: Web3, tx_hash: str) -> int | None:
    try:
        return int(w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])
    except TransactionNotFound:
        return None


def check_sent_once(pipeline: ZkOsPipeline, l1: ZkOsL1Client) -> dict[str, dict[int, str]]:
    """Nothing sent twice, judged at one L1 block (the pipeline may still be running).

    Every recorded step broadcast one transaction; each key's nonce at that block is the number
    of recorded transactions mined by then (none unrecorded, none twice); and every
    ``BlockCommit``, ``BlocksVerification`` and ``BlockExecution`` up to that block was emitted by
    the recorded transaction of its batch (range). A record is written before its broadcast, so
    reading the block first leaves no transaction mined by then unseen. Returns, per step, the
    mined transaction hashes by batch (a range's first batch).
    """
    w3 = pipeline.w3
    block = w3.eth.block_number
    mined: dict[str, dict[int, str]] = {}
    for step in STEP_RECORDS:
        records = pipeline.tx_records(step)
        assert all(len(r["hashes"]) == 1 for r in records.values()), f"a {step} was broadcast twice"
        mined[step] = {}
        for number, record in records.items():
            at = _mined_block(w3, record["hashes"][0])
            if at is not None and at <= block:
                mined[step][number] = record["hashes"][0].lower()
        nonce = w3.eth.get_transaction_count(l1.accounts[step].address, block)
        assert nonce == len(mined[step]), f"the {step} key sent {nonce} transactions, {len(mined[step])} recorded"
    chain = contract_at(w3, "ZKChain", l1.chain.diamond)

    def logs(event) -> list:
        return event().get_logs(from_block=0, to_block=block)

    commits = logs(chain.events.BlockCommit)
    assert sorted(int(e["args"]["batchNumber"]) for e in commits) == list(range(1, len(commits) + 1))
    assert {int(e["args"]["batchNumber"]): e["transactionHash"].to_0x_hex() for e in commits} == mined["commit"]
    proves = logs(chain.events.BlocksVerification)
    assert {int(e["args"]["previousLastVerifiedBatch"]) + 1: e["transactionHash"].to_0x_hex()
            for e in proves} == mined["prove"]
    first_executed: dict[str, int] = {}
    for e in logs(chain.events.BlockExecution):  # in L1 order: a transaction's first event is its range's first batch
        first_executed.setdefault(e["transactionHash"].to_0x_hex(), int(e["args"]["batchNumber"]))
    assert {first: tx for tx, first in first_executed.items()} == mined["execute"]
    return mined


def _verifications(pipeline: ZkOsPipeline, l1: ZkOsL1Client) -> list[tuple[int, int, int]]:
    """``(first batch, last batch, L1 block timestamp)`` of each ``BlocksVerification``, in L1 order."""
    w3 = pipeline.w3
    events = contract_at(w3, "ZKChain", l1.chain.diamond).events.BlocksVerification().get_logs(from_block=0)
    return [(int(e["args"]["previousLastVerifiedBatch"]) + 1, int(e["args"]["currentLastVerifiedBatch"]),
             int(w3.eth.get_block(e["blockNumber"])["timestamp"])) for e in events]


def proven_ranges(pipeline: ZkOsPipeline, l1: ZkOsL1Client) -> list[tuple[int, int]]:
    """The batch ranges L1 verified, one per ``BlocksVerification``, in order; checked contiguous from batch 1."""
    ranges = [(first, last) for first, last, _ in _verifications(pipeline, l1)]
    assert ranges and ranges[0][0] == 1
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start == end + 1, f"L1 verified {ranges}: not contiguous"
    return ranges


def check_deposits_executed(pipeline: ZkOsPipeline, l1: ZkOsL1Client, deposits: list[bytes], executed: int) -> int:
    """Every deposit is an L1 transaction of a batch L1 executed (its stored hash on L1), consumed from L1's priority
    tree; returns how many L1 transactions the executed batches carried."""
    records = [pipeline.record(n) for n in range(1, executed + 1)]
    for record in records:
        assert l1.stored_batch_hash(record.batch_number) == record.stored.hash()
        assert record.stored.number_of_layer1_txs == len(record.l1_tx_hashes)
    carried = [h for r in records for h in r.l1_tx_hashes]
    assert set(deposits) <= set(carried), "a deposit is not in an executed batch"
    assert l1.first_unprocessed_priority_tx() >= len(carried) >= len(deposits), "not processed in L1's priority tree"
    return len(carried)


def check_execution_delay_waited(pipeline: ZkOsPipeline, l1: ZkOsL1Client, delay_s: int) -> list[int]:
    """The timelock's delay was waited for by the sensor, not inside a run and not by a revert.

    No execute run was requested before the last batch of its range had been committed (the
    timelock's timestamp) ``delay_s`` ago, and none failed. At least one range was verified on L1
    before its delay had passed, so the sensor did have to wait (a delay shorter than proving
    would make the first check hold whatever the sensor did). Returns, per execute run, the
    seconds from its range's L1 verification to the end of its delay (> 0: it waited).
    """
    assert l1.execution_delay_s() == delay_s
    runs = pipeline.instance.get_run_records(RunsFilter(job_name="zkos_execute_batches"))
    verifications = _verifications(pipeline, l1)
    assert runs
    waits = []
    for run in runs:
        assert run.dagster_run.status == DagsterRunStatus.SUCCESS or run.dagster_run.status in UNFINISHED, (
            f"execute run {run.dagster_run.run_id} is {run.dagster_run.status}"
        )
        last = int(run.dagster_run.tags[RANGE_END_TAG])
        ready_at = l1.committed_at(last) + delay_s
        assert ready_at > delay_s, f"batch {last} was not committed through the timelock"
        assert run.create_timestamp.timestamp() >= ready_at - 1, f"execution up to batch {last} requested early"
        verified_at = next(at for _, end, at in verifications if end >= last)
        waits.append(ready_at - verified_at)
    assert max(waits) > 0, f"every range was verified after its delay had passed ({waits} s): nothing waited for it"
    return waits


def check_pubdata_off_l1(pipeline: ZkOsPipeline, l1: ZkOsL1Client, number: int = 1) -> None:
    """A validium chain: batch ``number`` had pubdata, and its commit calldata does not carry it."""
    assert l1.chain.da_mode.name == "VALIDIUM"
    commit = pipeline.tx_record(number, "commit_tx.json")
    calldata = bytes(pipeline.w3.eth.get_transaction(commit["hashes"][0])["input"])
    record = pipeline.record(number)
    assert record.pubdata_bytes > 0
    assert record.commit_info.operator_da_input[97:-32] not in calldata  # pubdata stays off L1
