"""``PROVER=mock``: no proof at all; the fact is registered directly on a mock verifier.

For chains that settle without real proofs (mocknets, staging), as the Madara
orchestrator's ``mock-service`` does: its L1 core contract points at a
verifier whose ``registerFact(bytes32)`` anyone allowed may call (Madara's
``MockGpsVerifier``; the devnet fact registry has the same interface), and the
mock prover calls it with the fact the core contract will ask for.

- Direct path: ``submit`` computes the PIE's fact and registers it; the job id
  names the fact, so ``status`` reads ``isValid`` for it.
- Aggregation: children are accepted and done at once (nothing is proven); on
  ``close_aggregation`` the caller passes the aggregator fact (it aggregates
  locally, as for SHARP), which is registered; the aggregation is done when
  ``isValid`` says so.

Registration is idempotent (``isValid`` is read first), so a retried call never
sends a second transaction. Without a verifier address nothing is registered
and every job is done at once: the core contract must then accept any fact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from orchestrator_pipelines.clients.prover_base import AggregationStatus, PieInput, ProofStatus, pie_bytes
from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError

MOCK_VERIFIER_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "isValid", "stateMutability": "view",
     "inputs": [{"name": "fact", "type": "bytes32"}], "outputs": [{"name": "", "type": "bool"}]},
    {"type": "function", "name": "registerFact", "stateMutability": "nonpayable",
     "inputs": [{"name": "factHash", "type": "bytes32"}], "outputs": []},
]
JOB_PREFIX = "mock-fact-"


def _fact_of_job(job_id: str) -> bytes:
    if not job_id.startswith(JOB_PREFIX):
        raise InvalidInputError(f"mock prover job id {job_id!r} does not name a fact")
    try:
        fact = bytes.fromhex(job_id[len(JOB_PREFIX):])
    except ValueError:
        raise InvalidInputError(f"mock prover job id {job_id!r} does not name a fact") from None
    if len(fact) != 32:
        raise InvalidInputError(f"mock prover job id {job_id!r} does not name a 32-byte fact")
    return fact


class MockVerifier:
    """``registerFact`` / ``isValid`` on the mock verifier, signed with the operator's key."""

    def __init__(self, rpc_url: str, verifier_address: str, private_key: str, *, tx_timeout_s: float = 120):
        from web3 import Web3

        if not private_key:
            raise OrchestratorError("the mock prover needs the Ethereum private key to register facts")
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        try:
            address = Web3.to_checksum_address(verifier_address)
        except ValueError:
            raise InvalidInputError(f"MOCK_VERIFIER_ADDRESS {verifier_address!r} is not an address") from None
        self.contract = self.w3.eth.contract(address=address, abi=MOCK_VERIFIER_ABI)
        self.account = self.w3.eth.account.from_key(private_key)
        self.tx_timeout_s = tx_timeout_s
        self.rpc_url = rpc_url

    def is_valid(self, fact: bytes) -> bool:
        try:
            return bool(self.contract.functions.isValid(bytes(fact)).call())
        except (OSError, ConnectionError) as exc:
            raise TransientError(f"mock verifier isValid: {type(exc).__name__} talking to {self.rpc_url}") from exc
        except Exception as exc:  # noqa: BLE001 — requests' errors are not OSError subclasses everywhere
            if type(exc).__module__.startswith(("requests", "urllib3")):
                raise TransientError(f"mock verifier isValid: {type(exc).__name__} talking to {self.rpc_url}") from exc
            raise

    def ensure_registered(self, fact: bytes) -> str | None:
        """Register ``fact`` unless it is valid already; returns the tx hash, or None when nothing was sent."""
        if len(fact) != 32:
            raise InvalidInputError(f"fact must be 32 bytes, got {len(fact)}")
        if self.is_valid(fact):
            return None
        tx = self.contract.functions.registerFact(bytes(fact)).build_transaction({
            "from": self.account.address,
            "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
            "chainId": self.w3.eth.chain_id,
        })
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.tx_timeout_s, poll_latency=0.2)
        if receipt["status"] != 1:
            raise OrchestratorError(f"registerFact(0x{fact.hex()}) reverted on the mock verifier (tx {tx_hash.to_0x_hex()})")
        return tx_hash.to_0x_hex()


class MockProverClient:
    """The mock prover, for the direct path and for aggregations (see the module docstring)."""

    kind = "mock"
    aggregates_remotely = False

    def __init__(self, verifier: MockVerifier | None = None):
        self.verifier = verifier
        self.registrations: dict[str, str | None] = {}

    def _register(self, fact: bytes) -> str:
        job_id = JOB_PREFIX + fact.hex()
        if self.verifier is not None:
            self.registrations[job_id] = self.verifier.ensure_registered(fact)
        return job_id

    def _state(self, fact: bytes) -> tuple[str, str]:
        if self.verifier is None:
            return "done", "no mock verifier configured: nothing to register"
        if self.verifier.is_valid(fact):
            return "done", f"fact 0x{fact.hex()} registered on the mock verifier"
        return "pending", f"fact 0x{fact.hex()} not yet valid on the mock verifier"

    # ---- direct path --------------------------------------------------------

    def submit(self, pie: PieInput, *, dedup_id: str, n_steps: int, layout: str) -> str:
        from orchestrator_pipelines.clients.snos import snos_result_from_pie

        data = pie_bytes(pie)
        with tempfile.TemporaryDirectory(prefix="mock-prover-") as tmp:
            path = Path(tmp) / "pie.zip"
            path.write_bytes(data)
            fact = snos_result_from_pie(path).fact
        return self._register(fact)

    def find_by_dedup_id(self, dedup_id: str) -> str | None:
        return None

    def status(self, external_id: str) -> ProofStatus:
        state, detail = self._state(_fact_of_job(external_id))
        return ProofStatus(state, detail)  # type: ignore[arg-type]

    def fetch_proof(self, external_id: str) -> bytes | None:
        return None

    # ---- AggregatingProver --------------------------------------------------

    def open_aggregation(self, *, external_id: str) -> str:
        return f"mock-aggregation-{external_id}"

    def submit_child(self, pie: PieInput, *, aggregation_id: str, index: int, dedup_id: str, n_steps: int) -> str:
        if index < 1:
            raise InvalidInputError(f"child index counts from 1, got {index}")
        return f"mock-child-{aggregation_id}-{index}"

    def child_status(self, job_id: str) -> ProofStatus:
        return ProofStatus("done", "mock prover: children are not proven")

    def close_aggregation(self, aggregation_id: str, *, aggregator_pie: bytes | None = None,
                          aggregator_fact: bytes | None = None, children_job_ids: list[str] | None = None) -> str:
        if aggregator_fact is None:
            raise InvalidInputError("the mock prover aggregates locally: close_aggregation needs the aggregator fact")
        return self._register(aggregator_fact)

    def aggregation_status(self, aggregation_id: str, *, fact: bytes | None = None) -> AggregationStatus:
        state, detail = self._state(fact if fact is not None else _fact_of_job(aggregation_id))
        return AggregationStatus(state, detail, "REGISTERED" if state == "done" else "PENDING",  # type: ignore[arg-type]
                                 aggregation_job_id=aggregation_id)

    def aggregation_artifacts(self, aggregation_id: str) -> None:
        return None

