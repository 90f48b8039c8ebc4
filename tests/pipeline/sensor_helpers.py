"""What the sensor and asset behaviour tests share: ticking one sensor, stepping a batch, reading alerts.

The tests drive the real sensors against a devnet whose node makes blocks only
on demand, so each rule is checked on a chain whose every block the test made.
A sensor is evaluated the way the daemon does it (``evaluate_tick`` with a
cursor, then its dynamic partitions added); runs are executed in process when
a test needs their effect.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import boto3
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    build_sensor_context,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData

from orchestrator_pipelines.assets.common import KZG, PROGRAM_OUTPUT, blob_name, load_manifest, read_json
from orchestrator_pipelines.batching import BatchManifest
from orchestrator_pipelines.clients.artifacts import ArtifactStore, batch_key
from orchestrator_pipelines.clients.settlement import SettlementClient, SettlementReceipt
from orchestrator_pipelines.definitions import build_definitions
from orchestrator_pipelines.local_runner import LocalRunner
from orchestrator_pipelines.partitions import batch_partition_key, is_materialized
from orchestrator_pipelines.starknet.blob import blob_from_hex

POLL_S = 0.1


class SnsInbox:
    """An SNS topic on a moto server with an SQS queue subscribed: alerts sent to it can be read back."""

    REGION = "us-east-1"

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.sns = boto3.client("sns", endpoint_url=endpoint, region_name=self.REGION)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=self.REGION)
        name = f"alerts-{uuid.uuid4().hex[:8]}"
        self.topic_arn = self.sns.create_topic(Name=name)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def settings(self) -> dict[str, Any]:
        """Settings overrides that route the alerts resource to this topic."""
        return {"sns_topic": self.topic_arn, "s3_endpoint_url": self.endpoint}

    def receive(self, wait_s: int = 1) -> list[dict]:
        """The SNS envelopes (Subject, Message, ...) delivered since the last call."""
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        messages = answer.get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]


def definitions_with(pipeline, **overrides: Any) -> Definitions:
    """The pipeline's code location with some settings changed (policy knobs, alert topic)."""
    return build_definitions(pipeline.settings.model_copy(update=overrides))


def evaluate(defs: Definitions, instance: DagsterInstance, sensor_name: str, cursor: str | None) -> SensorExecutionData:
    """One tick as the daemon runs it, without launching runs: evaluate, then add the requested partitions."""
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        instance_ref=instance.get_ref(),
        sensor_name=sensor_name,
        resources=defs.resources,
    )
    data = defs.resolve_sensor_def(sensor_name).evaluate_tick(context)
    for request in data.dynamic_partitions_requests or []:
        keys = [k for k in request.partition_keys if not instance.has_dynamic_partition(request.partitions_def_name, k)]
        if keys:
            instance.add_dynamic_partitions(request.partitions_def_name, keys)
    return data


def produce_blocks(pipeline, count: int) -> int:
    """Make ``count`` blocks on the node now; returns the new head."""
    head = 0
    for _ in range(count):
        head = pipeline.stack.node.produce_block()
    return head


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {deadline_s} s"
        time.sleep(POLL_S)


def all_succeeded(reports) -> list:
    """The runs of some LocalRunner tick reports, each of which must have succeeded."""
    runs = [run for report in reports for run in report.runs]
    for run in runs:
        assert run.status == DagsterRunStatus.SUCCESS, f"{run.job_name} of {run.tags.get('dagster/partition')} failed"
    return runs


def prepare(runner: LocalRunner, keys: list[str]) -> None:
    """Close batches and run their preparation (batch, SNOS, blobs, proof submission)."""
    runs = all_succeeded([runner.tick("batching_sensor")])
    assert sorted(run.tags["dagster/partition"] for run in runs) == keys, runs


def prove(runner: LocalRunner, keys: list[str], deadline_s: float = 30.0) -> None:
    """Tick the proof sensor (executing what it requests) until every batch in ``keys`` has its proof."""
    instance = runner.instance

    def proven() -> bool:
        all_succeeded([runner.tick("proof_sensor")])
        return all(is_materialized(instance, "proof", key) for key in keys)

    wait_for(proven, f"proofs of {keys}", deadline_s)


def latest_metadata(instance: DagsterInstance, asset: str, key: str) -> dict[str, Any]:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    assert records, f"{asset} of batch {key} is not materialized"
    return {name: value.value for name, value in records[0].asset_materialization.metadata.items()}


def settlement_client(pipeline) -> SettlementClient:
    env = pipeline.env
    return SettlementClient(
        env["ORCHESTRATOR_ETHEREUM_RPC_URL"],
        env["ORCHESTRATOR_ETHEREUM_PRIVATE_KEY"],
        env["ORCHESTRATOR_CORE_CONTRACT_ADDRESS"],
        fact_registry_address=env["ORCHESTRATOR_FACT_REGISTRY_ADDRESS"],
    )


def mined_nonce(client: SettlementClient) -> int:
    """Transactions the settlement account has had mined: unchanged means nothing was sent."""
    return client.w3.eth.get_transaction_count(client.account.address, "latest")


def send_state_update(
    client: SettlementClient, store: ArtifactStore, key: str, on_sent: Callable[[str], None] | None = None
) -> SettlementReceipt:
    """Settle batch ``key`` straight from its artifacts, as an operator (or a crashed run) would."""
    output = [int(felt, 16) for felt in read_json(store, key, PROGRAM_OUTPUT)["program_output"]]
    proofs = [bytes.fromhex(proof[2:]) for proof in read_json(store, key, KZG)["proofs"]]
    blobs = [blob_from_hex(store.get_bytes(batch_key(key, blob_name(i))).decode()) for i in range(len(proofs))]
    return client.update_state_kzg_da(output, proofs, blobs, on_sent=on_sent)


@dataclass
class ClosedBatch:
    key: str
    run_key: str
    tags: dict[str, str]
    manifest: BatchManifest


def closed_batches(data: SensorExecutionData, store: ArtifactStore) -> list[ClosedBatch]:
    """The batches one batching tick requested, with the manifests it wrote."""
    return [
        ClosedBatch(request.partition_key, request.run_key, dict(request.tags), load_manifest(store, request.partition_key))
        for request in data.run_requests or []
    ]


def runs_of(instance: DagsterInstance, job: str, key: str, statuses: list[DagsterRunStatus] | None = None) -> int:
    return instance.get_runs_count(RunsFilter(job_name=job, tags={"dagster/partition": key}, statuses=statuses or []))


def keys(*indexes: int) -> list[str]:
    return [batch_partition_key(i) for i in indexes]
