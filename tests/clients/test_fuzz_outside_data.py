"""Fuzzing the parsers of outside data: node answers, prover status answers, PIE zips.

Whatever a node, a prover or a file gives, the orchestrator must answer with
its own one-line errors (``OrchestratorError``, ``TransientError``), never a
bare ``KeyError``/``ValueError``/``TypeError`` and its traceback. Inputs are
random, and mutations of real data (a mainnet state update, a devnet block, a
real PIE) so that most examples get deep into the parsers.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator_pipelines.clients.atlantic import query_status
from orchestrator_pipelines.clients.madara import MadaraClient
from orchestrator_pipelines.clients.madara_transport import RpcTransportFault, envelope_result
from orchestrator_pipelines.clients.sharp import SharpClient
from orchestrator_pipelines.devnet.starknet_node import NodeConfig, NodeServer
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet.cairo_pie import CairoPie

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
ONE_LINE_ERRORS = (OrchestratorError, TransientError)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _one_line(error: BaseException) -> None:
    assert isinstance(error, ONE_LINE_ERRORS), f"{type(error).__name__}: {error}"
    text = str(error)
    assert text and "\n" not in text, repr(text)


@st.composite
def mutations(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one node somewhere replaced by a random JSON value, or removed."""
    if isinstance(value, (dict, list)) and value and draw(st.booleans()):
        keys = sorted(value) if isinstance(value, dict) else list(range(len(value)))
        key = draw(st.sampled_from(keys))
        copy = dict(value) if isinstance(value, dict) else list(value)
        if draw(st.integers(0, 4)) == 0:
            del copy[key]
        else:
            copy[key] = draw(mutations(value[key]))
        return copy
    return draw(json_values)


# ---- the node's JSON-RPC answers ----------------------------------------------------------------


class _Answering(ThreadingHTTPServer):
    """A real HTTP server answering every JSON-RPC call with ``self.result`` (the spec version check passes)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.result: Any = None

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                result = "0.10.2" if request["method"] == "starknet_specVersion" else self.server.result  # type: ignore[attr-defined]
                body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def answering() -> Iterator[tuple[_Answering, MadaraClient]]:
    server = _Answering()
    client = MadaraClient(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=5, read_attempts=1)
    yield server, client
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def real_block() -> dict:
    with NodeServer(NodeConfig(block_time_s=0, seed=3, large_block_every=0)) as node:
        node.produce_block()
        answer = requests.post(node.url, json={
            "jsonrpc": "2.0", "id": 1, "method": "starknet_getBlockWithTxHashes", "params": {"block_id": {"block_number": 1}},
        }, timeout=10).json()
    return answer["result"]


@pytest.fixture(scope="module")
def real_state_update(vectors_dir: Path) -> dict:
    return json.loads(sorted((vectors_dir / "da_legacy" / "state_update").glob("*.json"))[0].read_text())


def _read(call) -> None:
    try:
        call()
    except Exception as error:  # noqa: BLE001 (what is raised is the point)
        _one_line(error)


@FUZZ
@given(data=st.data())
def test_state_update_answers_parse_or_fail_in_one_line(answering, real_state_update, data) -> None:
    server, client = answering
    server.result = data.draw(mutations(real_state_update) | json_values)
    _read(lambda: client.state_update(1))


@FUZZ
@given(data=st.data())
def test_block_with_tx_hashes_answers_parse_or_fail_in_one_line(answering, real_block, data) -> None:
    server, client = answering
    server.result = data.draw(mutations(real_block) | json_values)
    _read(lambda: client.block(1))


@settings(max_examples=300, deadline=500)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_json_rpc_envelopes_give_a_result_or_a_named_fault(body: bytes) -> None:
    from starknet_py.net.client_errors import ClientError

    try:
        envelope_result(body)
    except (RpcTransportFault, ClientError) as error:
        assert "\n" not in str(error)


# ---- prover status answers ----------------------------------------------------------------------

ATLANTIC_DONE = {"atlanticQuery": {"id": "q1", "status": "DONE", "step": "PROOF_VERIFICATION", "integrityFactHash": "0x1"}}
SHARP_DONE = {"status": "PROCESSED", "validation_done": True, "version": 1}


@settings(max_examples=300, deadline=500)
@given(raw=json_values | mutations(ATLANTIC_DONE))
def test_atlantic_status_answers_give_a_status_or_a_one_line_error(raw: Any) -> None:
    _read(lambda: query_status(raw, "q1"))


@settings(max_examples=300, deadline=500)
@given(raw=json_values | mutations(SHARP_DONE))
def test_sharp_status_answers_give_a_status_or_a_one_line_error(raw: Any) -> None:
    _read(lambda: SharpClient.status_of(raw, "job-1"))


# ---- PIE zips -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_pie(vectors_dir: Path) -> bytes:
    return (vectors_dir / "cairo_pie" / "fibonacci.zip").read_bytes()


@settings(max_examples=200, deadline=1000)
@given(data=st.binary(max_size=2000))
def test_random_bytes_are_not_a_pie(data: bytes) -> None:
    _read(lambda: CairoPie.from_zip(data))


@FUZZ
@given(data=st.data())
def test_a_real_pie_with_flipped_or_cut_bytes_reads_or_fails_in_one_line(real_pie: bytes, data) -> None:
    raw = bytearray(real_pie)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    _read(lambda: CairoPie.from_zip(bytes(raw)))


@FUZZ
@given(data=st.data())
def test_a_real_pie_with_a_mutated_member_reads_or_fails_in_one_line(real_pie: bytes, data) -> None:
    with zipfile.ZipFile(io.BytesIO(real_pie)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    name = data.draw(st.sampled_from(sorted(members)))
    if name.endswith(".json"):
        members[name] = json.dumps(data.draw(mutations(json.loads(members[name])))).encode()
    else:
        content = bytearray(members[name])
        cut = data.draw(st.integers(0, len(content)))
        members[name] = bytes(content[:cut]) + data.draw(st.binary(max_size=80))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    _read(lambda: CairoPie.from_zip(buffer.getvalue()))
