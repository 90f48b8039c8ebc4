"""The metrics exporter against a real Dagster instance and a real HTTP scrape."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    Failure,
    RetryPolicy,
    instance_for_test,
    job,
    op,
)
from prometheus_client.parser import text_string_to_metric_families

from orchestrator_pipelines.metrics.exporter import DagsterEventCollector, ExporterCursor, serve
from orchestrator_pipelines.metrics.registry import OrchestratorMetrics
from orchestrator_pipelines.devnet.ports import free_port

BATCHES = "batches"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A temporary local instance (SQLite, run-sharded event log, as in `dagster dev`)."""
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def pg_instance(pg_env: str, tmp_path: Path) -> Iterator[DagsterInstance]:
    """A production-shaped instance: deploy/dagster.postgres.yaml on a fresh database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _materialize(instance: DagsterInstance, stage: str, batch: int, **metadata) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=stage, partition=f"{batch:06d}", metadata=metadata)
    )


def _seed_two_settled_batches(instance: DagsterInstance) -> None:
    instance.add_dynamic_partitions(BATCHES, ["000000", "000001", "000002"])
    for batch, (first, last) in enumerate([(0, 9), (10, 19), (20, 29)]):
        span = {"first_block": first, "last_block": last, "n_blocks": last - first + 1}
        _materialize(instance, "batch", batch, **span, duration_s=0.4, blob_count=1)
        _materialize(instance, "snos_output", batch, **span, duration_s=12.5, fact="0x" + "ab" * 32)
        _materialize(instance, "da_blob", batch, **span, duration_s=1.5, blob_count=2 + batch)
        if batch < 2:
            _materialize(
                instance, "proof", batch, **span, duration_s=0.2, prover_duration_s=600.0 * (batch + 1),
                external_id=f"atlantic-{batch}",
            )
            _materialize(
                instance, "state_update", batch, **span, duration_s=20.0, tx_hash="0x" + "cd" * 32,
                gas_used=210_000 + batch, fee_wei=str(3 * 10**15 + batch), blob_count=2 + batch,
                block_to_settled_s=1800.0 + batch,
            )


@op(retry_policy=RetryPolicy(max_retries=2))
def flaky_submit(context) -> None:
    if context.retry_number < 2:
        raise Exception("prover answered 503")


@job
def flaky_job() -> None:
    flaky_submit()


@op
def broken_settle() -> None:
    raise Failure("updateStateKzgDA reverted")


@job
def settle_job() -> None:
    broken_settle()


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url, timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _sample(collector: DagsterEventCollector, name: str, **labels: str) -> float | None:
    return collector.metrics.registry.get_sample_value(name, labels)


def _value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def served(pg_instance: DagsterInstance) -> Iterator[tuple[DagsterEventCollector, str]]:
    """The exporter's serve() loop in a thread, on a free port, stopped after the test."""
    instance = pg_instance
    collector = DagsterEventCollector(instance)
    port = free_port()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(instance, port, 3600.0),
        kwargs={"addr": "127.0.0.1", "stop": stop, "collector": collector},
        daemon=True,
    )
    thread.start()
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 10
    while True:
        try:
            if "orchestrator_exporter_last_success_timestamp_seconds" in requests.get(url, timeout=1).text:
                if _sample(collector, "orchestrator_exporter_last_success_timestamp_seconds"):
                    break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "exporter did not start serving"
        time.sleep(0.05)
    try:
        yield collector, url
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.postgres
def test_materializations_failures_and_retries_reach_the_endpoint(served) -> None:
    collector, url = served
    instance = collector.instance
    _seed_two_settled_batches(instance)
    assert not settle_job.execute_in_process(instance=instance, raise_on_error=False).success
    assert flaky_job.execute_in_process(instance=instance).success

    processed = collector.collect_once()
    assert processed == 3 * 3 + 2 * 2 + 1 + 2

    samples = _scrape(url)
    assert _value(samples, "orchestrator_last_block", stage="da_blob") == 29
    assert _value(samples, "orchestrator_last_block", stage="state_update") == 19
    assert _value(samples, "orchestrator_last_batch", stage="snos_output") == 2
    assert _value(samples, "orchestrator_last_batch", stage="proof") == 1
    assert _value(samples, "orchestrator_materializations_total", stage="batch") == 3
    assert _value(samples, "orchestrator_stage_duration_seconds_count", stage="snos_output") == 3
    assert _value(samples, "orchestrator_stage_duration_seconds_sum", stage="snos_output") == 37.5
    assert _value(samples, "orchestrator_stage_duration_seconds_bucket", stage="batch", le="0.5") == 3
    assert _value(samples, "orchestrator_prover_duration_seconds_sum") == 1800.0
    assert _value(samples, "orchestrator_prover_duration_seconds_count") == 2
    assert _value(samples, "orchestrator_block_to_settled_seconds_count") == 2
    assert _value(samples, "orchestrator_block_to_settled_seconds_bucket", le="1800.0") == 1
    assert _value(samples, "orchestrator_l1_gas_used") == 210_001
    assert _value(samples, "orchestrator_l1_fee_wei") == 3 * 10**15 + 1
    assert _value(samples, "orchestrator_l1_fees_paid_wei_total") == 6 * 10**15 + 1
    assert _value(samples, "orchestrator_blobs_per_batch") == 3
    assert _value(samples, "orchestrator_run_failures_total", job="settle_job") == 1
    assert _value(samples, "orchestrator_step_retries_total", step="flaky_submit") == 2
    assert _value(samples, "orchestrator_exporter_errors_total") == 0

    # A second pass sees nothing new and changes nothing.
    assert collector.collect_once() == 0
    assert _scrape(url)[("orchestrator_materializations_total", (("stage", "batch"),))] == 3


def test_rematerializing_an_old_batch_does_not_lower_the_gauges(instance: DagsterInstance) -> None:
    _seed_two_settled_batches(instance)
    collector = DagsterEventCollector(instance)
    collector.collect_once()
    _materialize(instance, "batch", 0, first_block=0, last_block=9, duration_s=0.3)
    assert collector.collect_once() == 1
    assert _sample(collector, "orchestrator_last_block", stage="batch") == 29
    assert _sample(collector, "orchestrator_last_batch", stage="batch") == 2
    assert _sample(collector, "orchestrator_materializations_total", stage="batch") == 4


def test_backlog_is_consumed_in_bounded_pages_across_passes(instance: DagsterInstance) -> None:
    keys = [f"{index:06d}" for index in range(25)]
    instance.add_dynamic_partitions(BATCHES, keys)
    for index in range(25):
        _materialize(instance, "batch", index, first_block=index * 10, last_block=index * 10 + 9)
    collector = DagsterEventCollector(
        instance, OrchestratorMetrics(), stages=["batch"], page_size=4, max_pages_per_pass=2
    )
    passes = []
    while (count := collector.collect_once()) > 0:
        passes.append(count)
    assert passes == [8, 8, 8, 1]
    assert _sample(collector, "orchestrator_last_block", stage="batch") == 249


def test_cursor_round_trips_and_resumes_without_double_counting(instance: DagsterInstance) -> None:
    _seed_two_settled_batches(instance)
    first = DagsterEventCollector(instance)
    first.collect_once()
    saved = ExporterCursor.from_json(first.cursor.to_json())
    assert saved == first.cursor
    _materialize(instance, "state_update", 2, first_block=20, last_block=29, fee_wei=5, gas_used=1)
    resumed = DagsterEventCollector(instance, cursor=saved)
    assert resumed.collect_once() == 1
    assert _sample(resumed, "orchestrator_l1_fees_paid_wei_total") == 5


def test_a_failing_pass_is_counted_not_raised(instance: DagsterInstance) -> None:
    collector = DagsterEventCollector(instance, stages=["batch"])
    collector.instance = None  # type: ignore[assignment]  # every storage call now fails
    assert collector.collect_safely() == 0
    assert _sample(collector, "orchestrator_exporter_errors_total") == 1


def test_sharded_sqlite_log_counts_materializations_and_failures_but_not_retries(
    instance: DagsterInstance, caplog: pytest.LogCaptureFixture
) -> None:
    _seed_two_settled_batches(instance)
    assert flaky_job.execute_in_process(instance=instance).success
    assert not settle_job.execute_in_process(instance=instance, raise_on_error=False).success
    collector = DagsterEventCollector(instance)
    assert collector.collect_once() == 3 * 3 + 2 * 2 + 1
    assert _sample(collector, "orchestrator_run_failures_total", job="settle_job") == 1
    assert _sample(collector, "orchestrator_exporter_errors_total") == 0
    assert "run-sharded" in caplog.text
