"""The prover API over HTTP: the server's routes, statuses and job rules, with the fake provers attached."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from orchestrator_pipelines.errors import OrchestratorError
from orchestrator_pipelines.zksync_os.prover_api import proofs
from orchestrator_pipelines.zksync_os.prover_api.client import OrchestratorProverApi, ProverClient
from orchestrator_pipelines.zksync_os.prover_api.fake_provers import FakeProver, FakeProverConfig
from orchestrator_pipelines.zksync_os.prover_api.server import ProverApiServer
from orchestrator_pipelines.zksync_os.prover_api.store import ProverApiLimits, ProverJobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def prover_input(batch: int) -> str:
    return proofs.encode_words([batch, 0xDEADBEEF, batch * 7])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(tmp_path, clock):
    def start(**limits):
        store = ProverJobStore(str(tmp_path / f"jobs-{len(servers)}.sqlite"), ProverApiLimits(**limits), clock=clock)
        server = ProverApiServer(store)
        server.start()
        servers.append(server)
        return server.url

    servers: list[ProverApiServer] = []
    yield start
    for server in servers:
        server.stop()


def test_fri_pick_returns_the_job_then_204_when_none(api):
    url = api()
    orchestrator = OrchestratorProverApi(url)
    assert requests.post(f"{url}/prover-jobs/FRI/pick").status_code == 204
    assert orchestrator.offer_fri(1, prover_input(1)) is True
    assert orchestrator.offer_fri(1, prover_input(1)) is False  # idempotent
    response = requests.post(f"{url}/prover-jobs/FRI/pick?id=p1")
    assert response.status_code == 200
    assert response.json() == {"block_number": 1, "prover_input": prover_input(1)}
    assert proofs.decode_words(response.json()["prover_input"]) == [1, 0xDEADBEEF, 7]
    assert requests.post(f"{url}/prover-jobs/FRI/pick").status_code == 204
    assert requests.get(f"{url}/prover-jobs/status").json() == [{"batch_number": 1, "assigned_seconds_ago": 0}]
    assert requests.get(f"{url}/prover-jobs/FRI/1/peek").json()["prover_input"] == prover_input(1)
    assert requests.get(f"{url}/prover-jobs/FRI/2/peek").status_code == 204


def test_offering_another_input_for_the_same_batch_is_refused(api):
    url = api()
    OrchestratorProverApi(url).offer_fri(3, prover_input(3))
    response = requests.put(f"{url}/orchestrator/FRI/3", json={"prover_input": prover_input(4)})
    assert response.status_code == 409
    assert "already offered" in response.text
    with pytest.raises(OrchestratorError, match="HTTP 409"):
        OrchestratorProverApi(url).offer_fri(3, prover_input(4))


def test_fri_submit_rules_unknown_bad_base64_wrong_proof_then_accepted_once(api):
    url = api()
    orchestrator = OrchestratorProverApi(url)
    orchestrator.offer_fri(1, prover_input(1))
    good = proofs.fake_fri_proof(prover_input(1))
    # not assigned yet: the server knows only assigned jobs
    unknown = requests.post(f"{url}/prover-jobs/FRI/submit?id=p", json={"block_number": 1, "proof": good})
    assert (unknown.status_code, unknown.text) == (404, "unknown block")
    requests.post(f"{url}/prover-jobs/FRI/pick?id=p")
    bad_b64 = requests.post(f"{url}/prover-jobs/FRI/submit", json={"block_number": 1, "proof": "!!"})
    assert bad_b64.status_code == 400 and "invalid base64" in bad_b64.text
    wrong = proofs.fake_fri_proof(prover_input(2))
    rejected = requests.post(f"{url}/prover-jobs/FRI/submit", json={"block_number": 1, "proof": wrong})
    assert rejected.status_code == 400 and "verification failed" in rejected.text
    assert orchestrator.fri_result(1).proof is None
    accepted = requests.post(f"{url}/prover-jobs/FRI/submit?id=p", json={"block_number": 1, "proof": good})
    assert accepted.status_code == 204
    again = requests.post(f"{url}/prover-jobs/FRI/submit?id=q", json={"block_number": 1, "proof": good})
    assert again.status_code == 204
    result = orchestrator.fri_result(1)
    assert (result.proof, result.proved_by, result.attempts) == (good, "p", 1)
    assert requests.get(f"{url}/prover-jobs/status").json() == []
    missing = requests.post(f"{url}/prover-jobs/FRI/submit", json={"block_number": -1, "proof": good})
    assert missing.status_code == 422


def test_a_timed_out_assignment_is_offered_again_first(api, clock):
    url = api(fri_job_timeout_s=60)
    orchestrator = OrchestratorProverApi(url)
    for batch in (1, 2):
        orchestrator.offer_fri(batch, prover_input(batch))
    first, second = ProverClient(url, "slow"), ProverClient(url, "fast")
    assert first.pick_fri().batch_number == 1
    clock.now += 59
    assert second.pick_fri().batch_number == 2
    assert second.pick_fri() is None
    clock.now += 2  # batch 1 assigned 61 s ago
    job = second.pick_fri()
    assert job.batch_number == 1
    result = orchestrator.fri_result(1)
    assert (result.attempts, result.assigned_to) == (2, "fast")
    second.submit_fri(1, proofs.fake_fri_proof(job.prover_input))
    assert orchestrator.fri_result(1).proved_by == "fast"


def test_new_jobs_stop_when_the_assigned_range_is_at_its_bound(api):
    url = api(max_assigned_batch_range=2)
    orchestrator = OrchestratorProverApi(url)
    for batch in range(1, 6):
        orchestrator.offer_fri(batch, prover_input(batch))
    prover = ProverClient(url, "p")
    assert [prover.pick_fri().batch_number for _ in range(3)] == [1, 2, 3]
    assert prover.pick_fri() is None  # assigned 1..3 spans the bound of 2
    prover.submit_fri(2, proofs.fake_fri_proof(prover_input(2)))
    assert prover.pick_fri() is None  # 1 still assigned: 1..3 still spans 2
    prover.submit_fri(1, proofs.fake_fri_proof(prover_input(1)))
    assert prover.pick_fri().batch_number == 4


def _prove_fri(url: str, batches: list[int]) -> None:
    prover = ProverClient(url, "fri")
    while prover.pick_fri() is not None:
        pass
    for batch in batches:
        prover.submit_fri(batch, proofs.fake_fri_proof(prover_input(batch)))


def test_snark_takes_consecutive_fri_proofs_from_the_first_uncovered_batch(api):
    url = api(max_fris_per_snark=3)
    orchestrator = OrchestratorProverApi(url)
    for batch in range(1, 7):
        orchestrator.offer_fri(batch, prover_input(batch))
    snark = ProverClient(url, "snark")
    assert requests.post(f"{url}/prover-jobs/SNARK/pick").status_code == 204
    _prove_fri(url, [2, 3])
    assert snark.pick_snark() is None  # batch 1 has no FRI proof: no gap is ever skipped
    _prove_fri(url, [1, 4, 5, 6])
    job = snark.pick_snark()
    assert (job.batch_from, job.batch_to) == (1, 3)  # max_fris_per_snark
    fri = [orchestrator.fri_result(n).proof for n in (1, 2, 3)]
    assert job.fri_proofs == fri
    nxt = ProverClient(url, "snark-2").pick_snark()
    assert (nxt.batch_from, nxt.batch_to) == (4, 6)
    wrong = requests.post(
        f"{url}/prover-jobs/SNARK/submit",
        json={"block_number_from": 1, "block_number_to": 3, "proof": proofs.fake_snark_proof(1, 2, fri[:2])},
    )
    assert wrong.status_code == 400 and wrong.text.startswith("proof rejected")
    not_assigned = requests.post(
        f"{url}/prover-jobs/SNARK/submit",
        json={"block_number_from": 1, "block_number_to": 2, "proof": proofs.fake_snark_proof(1, 2, fri[:2])},
    )
    assert not_assigned.status_code == 400
    assert orchestrator.snark_result(2) is None
    snark.submit_snark(1, 3, proofs.fake_snark_proof(1, 3, fri))
    result = orchestrator.snark_result(2)
    assert (result.batch_from, result.batch_to) == (1, 3)
    assert orchestrator.snark_result(4) is None


def test_snark_peek_and_timeout(api, clock):
    url = api(snark_job_timeout_s=30)
    orchestrator = OrchestratorProverApi(url)
    for batch in (1, 2, 3):
        orchestrator.offer_fri(batch, prover_input(batch))
    _prove_fri(url, [1, 3])
    peek = requests.get(f"{url}/prover-jobs/SNARK/1/3/peek")
    assert (peek.status_code, peek.text) == (404, "No FRI proof found for batch 2")
    assert requests.get(f"{url}/prover-jobs/SNARK/3/1/peek").status_code == 400
    ok = requests.get(f"{url}/prover-jobs/SNARK/3/3/peek").json()
    assert ok == {"block_number_from": 3, "block_number_to": 3, "fri_proofs": [orchestrator.fri_result(3).proof]}
    first = ProverClient(url, "a").pick_snark()
    assert (first.batch_from, first.batch_to) == (1, 1)
    assert ProverClient(url, "b").pick_snark() is None  # batch 2 still unproven
    clock.now += 31
    again = ProverClient(url, "b").pick_snark()
    assert (again.batch_from, again.batch_to) == (1, 1)


def test_fake_provers_prove_through_the_http_api(api):
    url = api(max_fris_per_snark=10)
    orchestrator = OrchestratorProverApi(url)
    for batch in range(1, 5):
        orchestrator.offer_fri(batch, prover_input(batch))
    fri = FakeProver(url, FakeProverConfig(kind="fri", prover_id="fake-fri"))
    while fri.run_once() is not None:
        pass
    assert fri.proved == [(1, 1), (2, 2), (3, 3), (4, 4)]
    snark = FakeProver(url, FakeProverConfig(kind="snark", prover_id="fake-snark"))
    assert snark.run_once() == (1, 4)
    assert snark.run_once() is None
    assert orchestrator.snark_result(3).proof == proofs.fake_snark_proof(
        1, 4, [orchestrator.fri_result(n).proof for n in range(1, 5)]
    )


def test_a_fake_prover_dropping_every_job_leaves_it_to_the_timeout(api, clock):
    url = api(fri_job_timeout_s=10)
    OrchestratorProverApi(url).offer_fri(1, prover_input(1))
    dropper = FakeProver(url, FakeProverConfig(kind="fri", prover_id="dropper", timeout_frequency=1.0))
    assert dropper.run_once() is None
    assert requests.get(f"{url}/prover-jobs/status").json()[0]["batch_number"] == 1
    clock.now += 11
    assert FakeProver(url, FakeProverConfig(kind="fri", prover_id="ok")).run_once() == (1, 1)


def test_the_prover_api_command_serves_until_terminated(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ORCHESTRATOR_PROVER_API_DATABASE_URL": str(tmp_path / "jobs.sqlite")}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "orchestrator"), "prover-api", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/health").json() == {"status": "ok"}
        assert requests.post(f"{url}/prover-jobs/FRI/pick").status_code == 204
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_bad_command_line_is_one_line(tmp_path, capsys):
    from orchestrator_pipelines.cli import main

    assert main(["fake-prover", "fri", "--url", "http://127.0.0.1:9", "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "orchestrator: error: --workers must be at least 1, got 0"


def test_stand_in_proofs_are_bound_to_what_they_prove():
    a, b = prover_input(1), prover_input(2)
    assert proofs.fri_proof_verifies(a, proofs.fake_fri_proof(a))
    assert not proofs.fri_proof_verifies(b, proofs.fake_fri_proof(a))
    fri = [proofs.fake_fri_proof(a), proofs.fake_fri_proof(b)]
    snark = proofs.fake_snark_proof(1, 2, fri)
    assert proofs.snark_proof_verifies(1, 2, fri, snark)
    assert not proofs.snark_proof_verifies(1, 2, fri[::-1], snark)
    assert base64.b64decode(snark).startswith(proofs.FAKE_SNARK_TAG)
