"""The SHARP client against the devnet prover's SHARP gateway, and the error policy of both clients."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import requests

from orchestrator_pipelines.clients.prover import AtlanticClient, ProofStatus, SharpClient, sharp_job_key
from orchestrator_pipelines.devnet.ports import free_port
from orchestrator_pipelines.devnet.prover import ProverConfig, ProverServer
from orchestrator_pipelines.errors import OrchestratorError, TransientError

FIBONACCI_FACT = "0xca15503f02f8406b599cb220879e842394f5cf2cef753f3ee430647b5981b782"


@pytest.fixture(scope="module")
def prover() -> Iterator[ProverServer]:
    with ProverServer(ProverConfig(api_key="k", proving_delay_s=1.0, received_fraction=0.4)) as server:
        yield server


def poll(client: SharpClient, key: str, deadline_s: float = 20.0) -> tuple[ProofStatus, list[str]]:
    seen: list[str] = []
    end = time.monotonic() + deadline_s
    while True:
        status = client.status(key)
        if not seen or seen[-1] != status.raw["status"]:
            seen.append(status.raw["status"])
        if status.state != "pending":
            return status, seen
        assert time.monotonic() < end, f"SHARP job {key} still pending: {seen}"
        time.sleep(0.05)


@pytest.mark.parametrize("prefix", ["", "/v1/gateway"])
def test_sharp_round_trip(prover: ProverServer, vectors_dir: Path, prefix: str) -> None:
    client = SharpClient(prover.url + prefix, customer_id="devnet-customer", timeout_s=10)
    pie = vectors_dir / "cairo_pie" / "fibonacci.zip"
    dedup = f"sharp-fib{prefix}"
    assert client.find_by_dedup_id(dedup) is None
    key = client.submit(pie, dedup_id=dedup, n_steps=1000, layout="dynamic")
    assert key == sharp_job_key(dedup)
    assert client.submit(pie.read_bytes(), dedup_id=dedup, n_steps=1000, layout="dynamic") == key
    assert client.find_by_dedup_id(dedup) == key
    assert client.fetch_proof(key) is None
    status, seen = poll(client, key)
    assert status.state == "done"
    assert seen[-1] == "PROCESSED" and "IN_PROGRESS" in seen
    proof = client.fetch_proof(key)
    assert proof is not None and json.loads(proof)["fact_hash"] == FIBONACCI_FACT


def test_sharp_unknown_job_is_failed_and_invalid_pie_is_reported(prover: ProverServer) -> None:
    client = SharpClient(prover.url, customer_id="c", timeout_s=10)
    unknown = client.status("00000000-0000-0000-0000-000000000000")
    assert unknown.state == "failed" and "does not know" in unknown.detail
    key = client.submit(b"garbage", dedup_id="junk", n_steps=10, layout="dynamic")
    status, _ = poll(client, key)
    assert status.state == "failed"
    assert status.detail.startswith("INVALID: INVALID_CAIRO_PIE_FILE_FORMAT")


def test_sharp_fail_next(prover: ProverServer, vectors_dir: Path) -> None:
    requests.post(f"{prover.url}/_devnet/fail-next?count=1", headers={"api-key": "k"}, timeout=10).raise_for_status()
    client = SharpClient(prover.url, customer_id="c", timeout_s=10)
    key = client.submit(vectors_dir / "cairo_pie" / "fibonacci.zip", dedup_id="doomed", n_steps=10, layout="dynamic")
    status, _ = poll(client, key)
    assert status.state == "failed" and "fail-next" in status.detail


def test_sharp_missing_customer_is_a_clear_client_error(prover: ProverServer) -> None:
    with pytest.raises(OrchestratorError, match="customer id is empty"):
        SharpClient(prover.url, customer_id="")
    answer = requests.get(f"{prover.url}/get_status?cairo_job_key=x", timeout=10)
    assert answer.status_code == 400 and answer.json()["message"] == "customer_id is required"


class _Scripted(BaseHTTPRequestHandler):
    """Answers every request with the server's scripted status and body, optionally after a delay."""

    server: "_ScriptedServer"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(self.rfile.read(length) if length else b"")
        self.server.paths.append(self.path)
        self.server.headers.append(dict(self.headers))
        time.sleep(self.server.delay_s)
        status, body_text = self.server.script.pop(0) if self.server.script else (self.server.status, self.server.body)
        body = body_text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _answer
    do_POST = _answer


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    status = 200
    body = "{}"
    delay_s = 0.0
    paths: list[str]
    headers: list[dict[str, str]]
    bodies: list[bytes]
    script: list[tuple[int, str]]


@pytest.fixture
def scripted() -> Iterator[_ScriptedServer]:
    server = _ScriptedServer(("127.0.0.1", 0), _Scripted)
    server.paths = []
    server.headers = []
    server.bodies = []
    server.script = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _ScriptedServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_gateway_answers_are_retried_then_transient(scripted: _ScriptedServer) -> None:
    scripted.status, scripted.body = 503, "<html>503 Service Unavailable</html>"
    with pytest.raises(TransientError, match=r"Atlantic status: HTTP 503: <html>503 Service Unavailable</html>"):
        AtlanticClient(_url(scripted), "k", attempts=3, backoff_s=0).status("q")
    assert scripted.paths == ["/atlantic-query/q"] * 3
    scripted.paths.clear()
    scripted.status, scripted.body = 404, "404 page not found"
    with pytest.raises(TransientError, match="HTTP 404: 404 page not found"):
        SharpClient(_url(scripted), "c", attempts=2, backoff_s=0).status("q")
    assert len(scripted.paths) == 2


def test_service_errors_are_surfaced_at_once(scripted: _ScriptedServer) -> None:
    scripted.status, scripted.body = 500, json.dumps({"message": "database is down"})
    with pytest.raises(OrchestratorError, match=r"SHARP get_status: HTTP 500: database is down") as caught:
        SharpClient(_url(scripted), "c", attempts=3, backoff_s=0).status("q")
    assert not isinstance(caught.value, TransientError)
    assert len(scripted.paths) == 1
    scripted.paths.clear()
    scripted.status, scripted.body = 404, json.dumps({"message": "bucket b1 not found", "statusCode": 404})
    with pytest.raises(OrchestratorError, match=r"Atlantic get bucket: HTTP 404: bucket b1 not found"):
        AtlanticClient(_url(scripted), "k", attempts=3, backoff_s=0).get_bucket("b1")
    assert scripted.paths == ["/buckets/b1"]


def test_4xx_is_permanent_with_the_server_message(scripted: _ScriptedServer) -> None:
    scripted.status, scripted.body = 400, json.dumps({"message": "declaredJobSize must be S, M or L"})
    with pytest.raises(OrchestratorError, match="HTTP 400: declaredJobSize must be S, M or L") as caught:
        AtlanticClient(_url(scripted), "k").submit(b"pie", dedup_id="d", n_steps=1, layout="dynamic")
    assert not isinstance(caught.value, TransientError)
    assert len(scripted.paths) == 1


def test_timeout_and_refused_connection_are_retried_then_transient(scripted: _ScriptedServer) -> None:
    scripted.delay_s = 1.0
    with pytest.raises(TransientError, match="timed out after 0.2s"):
        AtlanticClient(_url(scripted), "k", timeout_s=0.2, attempts=2, backoff_s=0).status("q")
    assert len(scripted.paths) == 2
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientError, match="ConnectionError"):
        SharpClient(closed, "c", timeout_s=2, backoff_s=0).status("q")


def test_a_retry_that_succeeds_returns_the_answer(scripted: _ScriptedServer) -> None:
    scripted.script = [(502, "<html>bad gateway</html>"), (200, json.dumps({"status": "PROCESSED"}))]
    assert SharpClient(_url(scripted), "c", attempts=3, backoff_s=0).status("key").state == "done"
    assert len(scripted.paths) == 2


def test_proofs_come_from_the_artifacts_store_not_the_api_host(scripted: _ScriptedServer) -> None:
    client = AtlanticClient("http://127.0.0.1:1", "k", artifacts_base_url=_url(scripted) + "/store/")
    scripted.status, scripted.body = 200, '{"proof": 1}'
    assert client.fetch_proof("q1") == b'{"proof": 1}'
    assert scripted.paths == ["/store/queries/q1/proof.json"]
    assert "api-key" not in {k.lower() for k in scripted.headers[-1]}
    scripted.status, scripted.body = 404, "<Error><Code>NoSuchKey</Code></Error>"
    assert client.fetch_proof("q2") is None
    scripted.status, scripted.body = 200, json.dumps({"code": "NO_OFFCHAIN_PROOF_FOR_JOB"})
    assert client.fetch_proof("q3") is None
    assert SharpClient(_url(scripted), "c").fetch_proof("q3") is None


def test_madara_default_artifacts_store() -> None:
    assert AtlanticClient("http://api", "k").proof_url_template == (
        "https://storage.googleapis.com/hero-atlantic-bucket/queries/{id}/proof.json"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"network": "DEVNET"}, "network 'DEVNET' is not one of MAINNET, TESTNET"),
        ({"result": "PROOF"}, "result 'PROOF' is not one of"),
        ({"cairo_vm": "java"}, "cairoVm 'java' is not one of rust, python"),
        ({"sharp_prover": "plonky"}, "sharpProver 'plonky' is not one of stone, stwo"),
        ({"settlement_layer": "solana"}, "settlement layer 'solana' is not one of ethereum, starknet"),
    ],
)
def test_atlantic_settings_are_checked_before_any_request(kwargs: dict, message: str) -> None:
    with pytest.raises(OrchestratorError, match=message):
        AtlanticClient("http://api", "k", **kwargs)


def test_the_api_key_goes_only_where_the_api_wants_it(scripted: _ScriptedServer) -> None:
    client = AtlanticClient(_url(scripted), "secret-key", artifacts_base_url=_url(scripted), attempts=1)
    scripted.status, scripted.body = 200, json.dumps({"atlanticQuery": {"status": "RECEIVED"}})
    client.status("q")
    scripted.body = json.dumps({"bucket": {"id": "b", "status": "OPEN"}, "queries": []})
    client.get_bucket("b")
    scripted.body = "{}"
    client.fetch_artifact("q", "da_blob.json")
    public = [{k.lower(): v for k, v in h.items()} for h in scripted.headers]
    assert all("api-key" not in h for h in public)
    scripted.headers.clear()
    scripted.body = json.dumps({"atlanticBucket": {"id": "b", "status": "OPEN"}})
    client.create_bucket(external_id="e")
    client.close_bucket("b")
    scripted.body = json.dumps({"atlanticQueryId": "q1"})
    client.submit(b"pie", dedup_id="d", n_steps=1, layout="dynamic", bucket_id="b", bucket_job_index=1)
    scripted.body = json.dumps({"atlanticQueries": [], "total": 0})
    client.find_by_dedup_id("d")
    private = [{k.lower(): v for k, v in h.items()} for h in scripted.headers]
    assert [h.get("api-key") for h in private] == ["secret-key"] * 4
    assert "apiKey" not in "".join(scripted.paths)


def test_bucket_request_body_is_madaras(scripted: _ScriptedServer) -> None:
    from orchestrator_pipelines.clients.prover import BucketParams

    scripted.body = json.dumps({"atlanticBucket": {"id": "b1", "status": "OPEN"}})
    params = BucketParams(chain_id_hex="0x534e5f4d41494e", fee_token_address="0x4718", public_keys=("0xabc",),
                          mock_proof=True)
    assert AtlanticClient(_url(scripted), "k", bucket=params).create_bucket(external_id="agg-7") == "b1"
    assert json.loads(scripted.bodies[0]) == {
        "externalId": "agg-7",
        "nodeWidth": None,
        "aggregatorVersion": "snos_aggregator_0.14.1",
        "aggregatorParams": {"use_kzg_da": True, "full_output": False, "chain_id_hex": "0x534e5f4d41494e",
                             "fee_token_address": "0x4718", "public_keys": ["0xabc"]},
        "mockProof": True,
    }
    assert scripted.paths == ["/buckets"]


def test_da_blob_is_read_as_felts_with_a_readable_error() -> None:
    from orchestrator_pipelines.clients.prover import parse_da_blob

    assert parse_da_blob(b'["0x2", "0x0", 7]', "da_blob.json") == [2, 0, 7]
    with pytest.raises(OrchestratorError, match=r"da_blob.json of query q\[1\] is not a felt: 'zz'"):
        parse_da_blob(b'["0x1", "zz"]', "da_blob.json of query q")
    with pytest.raises(OrchestratorError, match="is not JSON"):
        parse_da_blob(b"<html>", "da_blob.json")
