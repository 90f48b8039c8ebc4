"""Fake FRI and SNARK provers that work through the HTTP API, as a real prover binary would.

Like the server's fake provers pool (``fake_fri_provers_pool.rs``) they take a
job, spend ``compute_time_s`` on it and hand back a proof — here the stand-in
proof of :mod:`.proofs`, which the API checks. ``timeout_frequency`` drops that
share of jobs without submitting, so the API's assignment timeout and re-offer
are exercised as with the server's ``fake_fri_provers_timeout_frequency``.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.zksync_os.prover_api import proofs
from orchestrator_pipelines.zksync_os.prover_api.client import ProverClient

log = logging.getLogger(__name__)


@dataclass
class FakeProverConfig:
    kind: str  # "fri" or "snark"
    prover_id: str = "fake_prover"
    poll_interval_s: float = 1.0
    compute_time_s: float = 0.0
    timeout_frequency: float = 0.0
    seed: int = 0


class FakeProver:
    """One fake prover loop; ``run_once`` does at most one job (tests), ``run`` loops until stopped."""

    def __init__(self, base_url: str, config: FakeProverConfig):
        if config.kind not in {"fri", "snark"}:
            raise OrchestratorError(f"fake prover kind must be 'fri' or 'snark', got {config.kind!r}")
        if not 0.0 <= config.timeout_frequency <= 1.0:
            raise OrchestratorError(f"timeout frequency must be within 0..1, got {config.timeout_frequency}")
        self.config = config
        self.client = ProverClient(base_url, config.prover_id)
        self._random = random.Random(config.seed)
        self.stop_event = threading.Event()
        self.proved: list[tuple[int, int]] = []

    def run_once(self) -> tuple[int, int] | None:
        """Pick, prove and submit one job; returns the batch range proven, None if there was none."""
        if self.config.kind == "fri":
            job = self.client.pick_fri()
            if job is None:
                return None
            if self._drop(job.batch_number):
                return None
            self.client.submit_fri(job.batch_number, proofs.fake_fri_proof(job.prover_input))
            done = (job.batch_number, job.batch_number)
        else:
            snark = self.client.pick_snark()
            if snark is None:
                return None
            if self._drop(snark.batch_from):
                return None
            proof = proofs.fake_snark_proof(snark.batch_from, snark.batch_to, snark.fri_proofs)
            self.client.submit_snark(snark.batch_from, snark.batch_to, proof)
            done = (snark.batch_from, snark.batch_to)
        self.proved.append(done)
        log.info("%s prover %s proved batches %d-%d", self.config.kind.upper(), self.config.prover_id, *done)
        return done

    def _drop(self, batch_number: int) -> bool:
        if self.config.compute_time_s:
            self.stop_event.wait(self.config.compute_time_s)
        if self._random.random() < self.config.timeout_frequency:
            log.info("%s prover %s drops batch %d (simulated timeout)", self.config.kind.upper(), self.config.prover_id, batch_number)
            return True
        return False

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                done = self.run_once()
            except TransientError as exc:
                log.warning("prover API unavailable: %s", exc)
                done = None
            except OrchestratorError as exc:
                log.error("job refused: %s", exc)
                done = None
            if done is None:
                self.stop_event.wait(self.config.poll_interval_s)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"fake-{self.config.kind}-prover", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
