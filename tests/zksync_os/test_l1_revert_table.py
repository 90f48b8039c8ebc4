"""The revert table: each rule of the ZKsync OS L1 contracts provoked by one wrong input, refused
by the contract with its real error name, surfaced by the client in one readable line before
anything is sent (no broadcast hash recorded, no nonce used)."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from orchestrator_pipelines.devnet.anvil import AnvilProcess
from orchestrator_pipelines.devnet.zksync_os.l1_deploy import request_deposit
from orchestrator_pipelines.zksync_os.commitment import (
    MAX_CALLDATA_PUBDATA_BYTES,
    da_commitment,
    da_input_header,
    fake_proof,
    rollup_operator_da_input,
)
from orchestrator_pipelines.zksync_os.encoding import (
    COMMIT_SELECTOR,
    EXECUTE_SELECTOR,
    _COMMIT_DATA,
    _outer,
    commit_calldata,
    commit_data,
    execute_data,
)
from orchestrator_pipelines.zksync_os.l1_client import L1RevertError
from orchestrator_pipelines.zksync_os.model import DAMode, PriorityOpsBatchInfo
from orchestrator_pipelines.zksync_os.priority_tree import PriorityTree
from tests.zksync_os.l1_helpers import (
    COMMITTER,
    EXECUTOR,
    PROVER,
    USER,
    Recorder,
    client,
    deploy,
    l1_time,
    make_batch,
    nonce,
)

THREE_DAYS = 3 * 24 * 3600


class Chain:
    """Batches 1-3 committed, 1-2 proven, none executed; batch 1 and 2 each carry one deposit."""

    def __init__(self, anvil: AnvilProcess) -> None:
        self.anvil = anvil
        self.deployment, genesis = deploy(anvil)
        self.l1 = client(anvil, self.deployment)
        self.deposits = [
            request_deposit(anvil.url, USER.private_key, self.deployment.diamond, to=USER.address, amount_wei=10**16)[0]
            for _ in range(2)
        ]
        self.tree = PriorityTree(self.deposits)
        self.stored = [genesis]
        for n, txs in ((1, self.deposits[:1]), (2, self.deposits[1:]), (3, ())):
            info = make_batch(self.stored[-1], self.deployment, l1_time(anvil), l1_tx_hashes=tuple(txs))
            self.l1.commit(self.stored[-1], info, on_sent=Recorder())
            self.stored.append(info.to_stored())
        self.l1.prove(self.stored[0], self.stored[1:3], fake_proof(self.stored[0], self.stored[1:3]), on_sent=Recorder())
        self.chain_address = bytes.fromhex(self.deployment.diamond[2:])

    def next_batch(self, **changes):
        return replace(make_batch(self.stored[3], self.deployment, l1_time(self.anvil)), **changes)

    def ops(self):
        return [self.tree.batch_info(0, 1), self.tree.batch_info(1, 1), PriorityOpsBatchInfo()]


@pytest.fixture(scope="module")
def chain(anvil: AnvilProcess) -> Chain:
    return Chain(anvil)


def _da_input_with_other_pubdata(c: Chain):
    committed, sent = b"pubdata the L2 committed to", b"pubdata the operator sent"
    da_input = da_input_header(committed) + b"\x00" + sent + bytes(32)
    return c.next_batch(da_commitment=da_commitment(committed), operator_da_input=da_input)


def _too_much_pubdata(c: Chain):
    pubdata = bytes(MAX_CALLDATA_PUBDATA_BYTES + 1)
    return c.next_batch(da_commitment=da_commitment(pubdata), operator_da_input=rollup_operator_da_input(pubdata))


def _commit(make: Callable[[Chain], object]):
    return lambda c, r: c.l1.commit(c.stored[3], make(c), on_sent=r)


def _raw(step: str, first: int, last: int, make: Callable[[Chain], bytes]):
    return lambda c, r: c.l1.submit_calldata(step, first, last, make(c), on_sent=r)


def _prove(proof: Callable[[Chain], list[int]], batches: Callable[[Chain], list] | None = None):
    def run(c: Chain, r):
        batch_list = batches(c) if batches else [c.stored[3]]
        return c.l1.prove(c.stored[2], batch_list, proof(c), on_sent=r)

    return run


def _execute(batches: Callable[[Chain], list], ops: Callable[[Chain], list]):
    return lambda c, r: c.l1.execute(batches(c), ops(c), on_sent=r)


def _tampered_right_path(c: Chain):
    good = c.tree.batch_info(0, 1)
    return [replace(good, right_path=(keccak(b"not a node of the tree"),))]


CASES = {
    "UnsupportedCommitBatchEncoding": (
        "commit batch 4",
        _raw("commit", 4, 4, lambda c: _outer(
            COMMIT_SELECTOR, c.chain_address, 4, 4, b"\x03" + commit_data(c.stored[3], c.next_batch(), DAMode.ROLLUP)[1:]
        )),
    ),
    "CanOnlyProcessOneBatch": (
        "commit batches 4-5",
        _raw("commit", 4, 5, lambda c: _outer(COMMIT_SELECTOR, c.chain_address, 4, 5, b"\x02" + encode(
            _COMMIT_DATA,
            [c.stored[3].abi_tuple(), [c.next_batch().abi_tuple(), replace(c.next_batch(), batch_number=5).abi_tuple()]],
        ))),
    ),
    "BatchHashMismatch": (
        "commit batch 4",
        lambda c, r: c.l1.commit(replace(c.stored[3], commitment=keccak(b"forged")), c.next_batch(), on_sent=r),
    ),
    "BatchNumberMismatch": (
        "commit batch 4",
        # Bounds say batch 5 (the calldata is self-consistent); L1 is at batch 3, so 4 must come next.
        _raw("commit", 4, 4, lambda c: _outer(
            COMMIT_SELECTOR, c.chain_address, 5, 5, commit_data(c.stored[3], c.next_batch(batch_number=5), DAMode.ROLLUP)
        )),
    ),
    "TimeNotReached": (
        "commit batch 4",
        _commit(lambda c: c.next_batch(first_block_timestamp=l1_time(c.anvil) - THREE_DAYS - 600)),
    ),
    "L2TimestampTooBig": ("commit batch 4", _commit(lambda c: c.next_batch(last_block_timestamp=l1_time(c.anvil) + 7200))),
    "IncorrectBatchChainId": ("commit batch 4", _commit(lambda c: c.next_batch(chain_id=271))),
    "MismatchL2DAValidator": ("commit batch 4", _commit(lambda c: c.next_batch(l2_da_validator=b"\x00" * 19 + b"\x01"))),
    "InvalidL2DAOutputHash": ("commit batch 4", _commit(lambda c: c.next_batch(da_commitment=keccak(b"another header")))),
    "InvalidPubdataHash": ("commit batch 4", _commit(_da_input_with_other_pubdata)),
    "PubdataLengthTooBig": ("commit batch 4", _commit(_too_much_pubdata)),
    "InvalidProof": ("prove batch 3", _prove(lambda c: [3, 0, 13, fake_proof(c.stored[2], [c.stored[3]])[3] + 1])),
    "EmptyProofLength": ("prove batch 3", _prove(lambda c: [])),
    "UnknownVerifierType": ("prove batch 3", _prove(lambda c: [5, 0, 13, 0])),
    "BatchHashMismatch (prove)": (
        "prove batch 3",
        _prove(lambda c: [3, 0, 13, 0], lambda c: [replace(c.stored[3], state_commitment=keccak(b"forged state"))]),
    ),
    "CantExecuteUnprovenBatches": ("execute batches 1-3", _execute(lambda c: c.stored[1:4], lambda c: c.ops())),
    "PriorityOperationsRollingHashMismatch": (
        "execute batch 1",
        _execute(lambda c: c.stored[1:2], lambda c: [replace(c.ops()[0], item_hashes=(keccak(b"not a deposit"),))]),
    ),
    "NotHistoricalRoot": ("execute batch 1", _execute(lambda c: c.stored[1:2], _tampered_right_path)),
    "MismatchNumberOfLayer1Txs": (
        "execute batch 1",
        _raw("execute", 1, 1, lambda c: _outer(
            EXECUTE_SELECTOR, c.chain_address, 1, 1, execute_data(c.stored[1:2], [PriorityOpsBatchInfo()])
        )),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_is_refused_with_its_name_and_nothing_is_sent(chain: Chain, case: str) -> None:
    what, attempt = CASES[case]
    name = case.split(" ")[0]
    before = [nonce(chain.anvil, a.address) for a in (COMMITTER, PROVER, EXECUTOR)]
    recorder = Recorder()
    with pytest.raises(L1RevertError) as caught:
        attempt(chain, recorder)
    message = str(caught.value)
    assert caught.value.error == name
    assert message.startswith(f"{what} would revert on L1: {name}(")
    assert "\n" not in message
    assert recorder.hashes == []
    assert [nonce(chain.anvil, a.address) for a in (COMMITTER, PROVER, EXECUTOR)] == before
    totals = chain.l1.totals()
    assert (totals.committed, totals.verified, totals.executed) == (3, 2, 0)


def test_a_key_without_its_role_is_refused_by_the_timelock(chain: Chain) -> None:
    wrong = client(chain.anvil, chain.deployment, commit_key=USER.private_key)
    recorder = Recorder()
    with pytest.raises(L1RevertError) as caught:
        wrong.commit(chain.stored[3], chain.next_batch(), on_sent=recorder)
    assert caught.value.error == "RoleAccessDenied"
    assert str(caught.value) == (
        f"commit batch 4 would revert on L1: RoleAccessDenied(chainAddress={chain.deployment.diamond}, "
        f"role=0x{keccak(b'COMMITTER_ROLE').hex()}, account={USER.address})"
    )
    assert recorder.hashes == []


def test_a_validium_refuses_pubdata_in_its_da_input(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil, mode=DAMode.VALIDIUM)
    l1 = client(anvil, deployment)
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    recorder = Recorder()
    with pytest.raises(L1RevertError, match=r"ValL1DAWrongInputLength\(inputLength=\d+, expectedLength=32\)"):
        l1.submit_calldata("commit", 1, 1, commit_calldata(genesis, b1, DAMode.ROLLUP), on_sent=recorder)
    assert recorder.hashes == [] and l1.totals().committed == 0


def test_the_development_proof_is_refused_off_development_chain_ids(tmp_path) -> None:
    with AnvilProcess(chain_id=1, log_file=tmp_path / "anvil.log") as mainnet_like:
        deployment, genesis = deploy(mainnet_like)
        l1 = client(mainnet_like, deployment)
        b1 = make_batch(genesis, deployment, l1_time(mainnet_like))
        l1.commit(genesis, b1, on_sent=Recorder())
        s1 = b1.to_stored()
        recorder = Recorder()
        with pytest.raises(L1RevertError) as caught:
            l1.prove(genesis, [s1], fake_proof(genesis, [s1]), on_sent=recorder)
        assert str(caught.value) == "prove batch 1 would revert on L1: MockVerifierNotSupported()"
        assert recorder.hashes == []


def test_verified_cannot_pass_committed_after_a_revert(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    l1.commit(genesis, b1, on_sent=Recorder())
    reverted = Recorder()
    result = l1.revert_batches(0, on_sent=reverted)
    assert result is not None and result.tx_hash == reverted.hashes[0]
    assert l1.totals().committed == 0 and l1.revert_batches(0, on_sent=reverted) is None
    # Batch 1's stored hash stays behind on L1, as on the real chain; proving it is still refused.
    s1 = b1.to_stored()
    recorder = Recorder()
    with pytest.raises(L1RevertError) as caught:
        l1.prove(genesis, [s1], fake_proof(genesis, [s1]), on_sent=recorder)
    assert str(caught.value) == "prove batch 1 would revert on L1: VerifiedBatchesExceedsCommittedBatches()"
    assert recorder.hashes == []
    # Committed again (a new commit time at the timelock), the batch settles.
    l1.commit(genesis, b1, on_sent=recorder)
    l1.prove(genesis, [s1], fake_proof(genesis, [s1]), on_sent=recorder)
    assert l1.totals().verified == 1
