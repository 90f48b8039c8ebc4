"""The prover API's production store: PostgreSQL, shared by API processes, no job handed out twice."""

from __future__ import annotations

import threading

from orchestrator_pipelines.zksync_os.prover_api import proofs
from orchestrator_pipelines.zksync_os.prover_api.store import ProverApiLimits, ProverJobStore
from tests.production.conftest import PG_HOST, PG_PORT


def test_jobs_survive_a_restart_and_concurrent_picks_never_share_a_job(pg_user, fresh_pg_database):
    url = f"postgresql://{pg_user}@{PG_HOST}:{PG_PORT}/{fresh_pg_database}"
    limits = ProverApiLimits(max_assigned_batch_range=100, max_fris_per_snark=4)
    store = ProverJobStore(url, limits)
    inputs = {n: proofs.encode_words([n, 42]) for n in range(1, 21)}
    for batch, prover_input in inputs.items():
        assert store.offer_fri(batch, prover_input) is True

    picked: list[int] = []
    lock = threading.Lock()

    def pick_all(prover: str) -> None:
        worker = ProverJobStore(url, limits)
        while (job := worker.pick_fri(prover)) is not None:
            with lock:
                picked.append(job.batch_number)
        worker.close()

    threads = [threading.Thread(target=pick_all, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(picked) == list(range(1, 21))

    for batch in (1, 2, 3, 4, 5):
        assert store.submit_fri(batch, proofs.fake_fri_proof(inputs[batch]), "p0") is True
    store.close()

    restarted = ProverJobStore(url, limits)  # a new API process on the same database
    assert restarted.offer_fri(1, inputs[1]) is False
    assert restarted.fri_result(3)["proof"] == proofs.fake_fri_proof(inputs[3])
    snark = restarted.pick_snark("s")
    assert (snark.batch_from, snark.batch_to) == (1, 4)
    assert restarted.submit_snark(1, 4, proofs.fake_snark_proof(1, 4, snark.fri_proofs), "s") is True
    assert restarted.snark_result(4)["batch_from"] == 1
    assert restarted.pick_snark("s").batch_from == 5
    restarted.close()
