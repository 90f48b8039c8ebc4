"""The ZKsync OS L1 contracts on a real anvil, driven by the L1 client: discovery from the
Bridgehub, commit → prove (a range) → execute with deposits through the priority tree, a
validium chain, the execution delay, and recovery from recorded broadcasts without a second
transaction."""

from __future__ import annotations

import time

import pytest

from orchestrator_pipelines.devnet.anvil import AnvilProcess
from orchestrator_pipelines.devnet.zksync_os.l1_deploy import read_deployment, request_deposit, write_deployment
from orchestrator_pipelines.errors import InvalidInputError, TransientError
from orchestrator_pipelines.zksync_os.commitment import fake_proof
from orchestrator_pipelines.zksync_os.l1_client import (
    ChainNotRegisteredError,
    ExecutionDelayNotPassedError,
    L1DivergedError,
    L1OrderError,
    ZkOsL1Reader,
)
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


def test_discovery_from_the_bridgehub_and_the_chain_id(anvil: AnvilProcess, tmp_path) -> None:
    deployment, _ = deploy(anvil)
    reader = ZkOsL1Reader(anvil.url, deployment.bridgehub, deployment.chain_id)
    chain = reader.chain
    assert (chain.diamond, chain.validator_timelock) == (deployment.diamond, deployment.validator_timelock)
    assert chain.chain_type_manager == deployment.chain_type_manager
    assert chain.da_mode is DAMode.ROLLUP and chain.l1_da_validator == deployment.l1_da_validator
    assert chain.protocol_version == (0, 29, 9) and chain.l1_chain_id == 31337
    totals = reader.totals()
    assert (totals.committed, totals.verified, totals.executed) == (0, 0, 0)
    write_deployment(tmp_path / "zkos.json", deployment)
    assert read_deployment(tmp_path / "zkos.json") == deployment


def test_an_unregistered_chain_is_refused_in_one_line(anvil: AnvilProcess) -> None:
    deployment, _ = deploy(anvil)
    with pytest.raises(ChainNotRegisteredError) as caught:
        ZkOsL1Reader(anvil.url, deployment.bridgehub, 271)
    assert str(caught.value) == (
        f"chain 271 is not registered in the Bridgehub at {deployment.bridgehub}: getZKChain(271) is the zero address"
    )
    with pytest.raises(ChainNotRegisteredError, match="no contract at the Bridgehub address 0x000000000000000000000000000000000000dEaD"):
        ZkOsL1Reader(anvil.url, "0x000000000000000000000000000000000000dead", 270)


def test_the_three_keys_must_differ(anvil: AnvilProcess) -> None:
    deployment, _ = deploy(anvil)
    with pytest.raises(InvalidInputError, match="must be three different keys"):
        client(anvil, deployment, execute_key=PROVER.private_key)
    assert client(anvil, deployment).missing_roles() == []
    swapped = client(anvil, deployment, commit_key=PROVER.private_key, prove_key=COMMITTER.private_key)
    assert [line.split(" lacks ")[1].split(" ")[0] for line in swapped.missing_roles()] == ["COMMITTER_ROLE", "PROVER_ROLE"]


def test_six_batches_with_three_deposits_committed_proven_as_ranges_and_executed(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    deposits = [
        request_deposit(anvil.url, USER.private_key, deployment.diamond, to=USER.address, amount_wei=(i + 1) * 10**17)[0]
        for i in range(3)
    ]
    requests_on_l1 = l1.priority_requests(deployment.deployed_at_block)
    assert [r.tx_hash for r in requests_on_l1] == deposits and [r.tx_id for r in requests_on_l1] == [0, 1, 2]
    assert requests_on_l1[1].transaction.mint_value == 2 * 10**17
    tree = PriorityTree(r.tx_hash for r in requests_on_l1)
    assert l1.priority_tree_root() == tree.root()

    # Batch 1 takes deposit 0, batch 3 deposits 1 and 2, batch 5 has an L2→L1 log.
    l1_txs = {1: deposits[:1], 3: deposits[1:]}
    previous, stored, infos = genesis, [genesis], []
    recorder = Recorder()
    for n in range(1, 7):
        info = make_batch(previous, deployment, l1_time(anvil), l1_tx_hashes=tuple(l1_txs.get(n, ())), with_log=n == 5)
        result = l1.commit(previous, info, on_sent=recorder)
        assert not result.already_on_l1 and result.tx_hash == recorder.hashes[-1] and result.gas_used > 0
        assert l1.stored_batch_hash(n) == info.to_stored().hash()
        previous = info.to_stored()
        stored.append(previous)
        infos.append(info)
    assert l1.totals().committed == 6 and len(recorder.hashes) == 6

    proved = l1.prove(stored[0], stored[1:4], fake_proof(stored[0], stored[1:4]), on_sent=recorder)
    assert (proved.first_batch, proved.last_batch) == (1, 3)
    l1.prove(stored[3], stored[4:7], fake_proof(stored[3], stored[4:7]), on_sent=recorder)
    assert l1.totals().verified == 6

    ops, consumed = [], 0
    for info in infos:
        ops.append(tree.batch_info(consumed, info.number_of_layer1_txs))
        consumed += info.number_of_layer1_txs
    assert l1.priority_ops_for(stored[1:3], deployment.deployed_at_block) == ops[0:2]
    assert l1.executable_up_to(l1.totals()) == 6
    l1.execute(stored[1:3], ops[0:2], on_sent=recorder)
    assert l1.first_unprocessed_priority_tx() == 1
    assert l1.priority_ops_for(stored[3:7], deployment.deployed_at_block) == ops[2:6]
    l1.execute(stored[3:7], ops[2:6], on_sent=recorder)
    totals = l1.totals()
    assert (totals.committed, totals.verified, totals.executed) == (6, 6, 6)
    assert l1.first_unprocessed_priority_tx() == 3
    assert l1.l2_logs_root_hash(5) == infos[4].l2_to_l1_logs_root_hash != infos[3].l2_to_l1_logs_root_hash
    assert len(recorder.hashes) == 10

    # Judged by L1: asking again sends nothing.
    sent_before = [nonce(anvil, a.address) for a in (COMMITTER, PROVER, EXECUTOR)]
    again = Recorder()
    assert l1.commit(stored[2], infos[2], on_sent=again).already_on_l1
    assert l1.prove(stored[0], stored[1:4], fake_proof(stored[0], stored[1:4]), on_sent=again).already_on_l1
    assert l1.execute(stored[3:7], ops[2:6], on_sent=again).already_on_l1
    assert again.hashes == [] and [nonce(anvil, a.address) for a in (COMMITTER, PROVER, EXECUTOR)] == sent_before


def test_order_and_divergence_are_judged_before_sending(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    b2 = make_batch(b1.to_stored(), deployment, l1_time(anvil))
    recorder = Recorder()
    with pytest.raises(L1OrderError, match="commit batch 2: L1 is at batch 0 for commit .* batch 1 must come first"):
        l1.commit(b1.to_stored(), b2, on_sent=recorder)
    l1.commit(genesis, b1, on_sent=recorder)
    other = make_batch(genesis, deployment, l1_time(anvil), pubdata=b"another history")
    with pytest.raises(L1DivergedError, match="L1 holds batch 1 with stored hash 0x"):
        l1.commit(genesis, other, on_sent=recorder)
    assert len(recorder.hashes) == 1


def test_validium_commits_32_zero_bytes_of_da_input(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil, mode=DAMode.VALIDIUM)
    l1 = client(anvil, deployment)
    assert l1.chain.da_mode is DAMode.VALIDIUM
    b1 = make_batch(genesis, deployment, l1_time(anvil), pubdata=b"\x07" * 5000)
    result = l1.commit(genesis, b1, on_sent=Recorder())
    tx = anvil.rpc("eth_getTransactionByHash", result.tx_hash)
    assert len(tx["input"]) < 2 * 2000  # the pubdata stays off L1
    s1 = b1.to_stored()
    l1.prove(genesis, [s1], fake_proof(genesis, [s1]), on_sent=Recorder())
    l1.execute([s1], [PriorityOpsBatchInfo()], on_sent=Recorder())
    assert l1.totals().executed == 1


def test_execution_waits_for_the_timelock_delay(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil, delay_s=2)
    l1 = client(anvil, deployment)
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    l1.commit(genesis, b1, on_sent=Recorder())
    s1 = b1.to_stored()
    l1.prove(genesis, [s1], fake_proof(genesis, [s1]), on_sent=Recorder())
    ready_at = l1.execution_ready_at(1)
    assert ready_at == l1.committed_at(1) + 2
    assert l1.executable_up_to(l1.totals()) == 0
    recorder = Recorder()
    with pytest.raises(ExecutionDelayNotPassedError, match=r"execute batch 1 would revert on L1: TimeNotReached\(expectedTimestamp=") as caught:
        l1.execute([s1], [PriorityOpsBatchInfo()], on_sent=recorder)
    assert caught.value.ready_at == ready_at and isinstance(caught.value, TransientError)
    assert recorder.hashes == []
    # L1 time moves on (a block per poll, as a live chain makes them); then the same call goes through.
    deadline = time.monotonic() + 30
    while l1.l1_timestamp() < ready_at:
        assert time.monotonic() < deadline, "L1 time did not reach the end of the execution delay"
        time.sleep(0.25)
        anvil.rpc("evm_mine")
    assert l1.executable_up_to(l1.totals()) == 1
    result = l1.execute([s1], [PriorityOpsBatchInfo()], on_sent=recorder)
    assert result.tx_hash == recorder.hashes[0] and l1.totals().executed == 1


def test_a_retry_waits_for_the_recorded_broadcast_instead_of_sending_again(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    l1.tx_timeout_s = 1.0
    l1.replace_after_s = None
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    recorder = Recorder()
    start = nonce(anvil, COMMITTER.address)
    anvil.rpc("evm_setAutomine", False)
    try:
        with pytest.raises(TransientError, match="not mined within 1 s; a retry waits for 0x"):
            l1.commit(genesis, b1, on_sent=recorder)
        assert len(recorder.hashes) == 1
        anvil.rpc("evm_mine")
    finally:
        anvil.rpc("evm_setAutomine", True)
    retry = Recorder()
    result = l1.commit(genesis, b1, on_sent=retry, sent_tx_hashes=recorder.hashes)
    assert result.tx_hash == recorder.hashes[0] and retry.hashes == []
    assert nonce(anvil, COMMITTER.address) == start + 1 and l1.totals().committed == 1


def test_a_stuck_transaction_is_replaced_with_the_same_nonce(anvil: AnvilProcess) -> None:
    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    l1.replace_after_s = 0.3
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    recorder = Recorder()
    start = nonce(anvil, COMMITTER.address)
    anvil.rpc("evm_setAutomine", False)
    try:
        import threading

        outcome: dict = {}
        worker = threading.Thread(target=lambda: outcome.update(r=l1.commit(genesis, b1, on_sent=recorder)))
        worker.start()
        deadline = time.monotonic() + 20
        # Recorded before it is broadcast: wait until the node has the replacement too.
        while len(recorder.hashes) < 2 or anvil.rpc("eth_getTransactionByHash", recorder.hashes[1]) is None:
            assert time.monotonic() < deadline, "no replacement was broadcast"
            time.sleep(0.05)
        anvil.rpc("evm_mine")
        worker.join(timeout=30)
    finally:
        anvil.rpc("evm_setAutomine", True)
    assert outcome["r"].tx_hash in recorder.hashes[1:] and len(set(recorder.hashes)) >= 2
    assert nonce(anvil, COMMITTER.address) == start + 1 and l1.totals().committed == 1


def test_a_recorded_broadcast_still_pending_after_a_restart_is_replaced_not_doubled(anvil: AnvilProcess) -> None:
    import threading

    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment)
    l1.tx_timeout_s, l1.replace_after_s = 0.5, None
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    first_attempt = Recorder()
    start = nonce(anvil, COMMITTER.address)
    anvil.rpc("evm_setAutomine", False)
    try:
        with pytest.raises(TransientError):
            l1.commit(genesis, b1, on_sent=first_attempt)
        restarted = client(anvil, deployment)
        restarted.replace_after_s = 0.3
        retry = Recorder()
        outcome: dict = {}
        worker = threading.Thread(
            target=lambda: outcome.update(
                r=restarted.commit(genesis, b1, on_sent=retry, sent_tx_hashes=first_attempt.hashes)
            )
        )
        worker.start()
        deadline = time.monotonic() + 20
        while not retry.hashes or anvil.rpc("eth_getTransactionByHash", retry.hashes[0]) is None:
            assert time.monotonic() < deadline, "the pending recorded transaction was not replaced"
            time.sleep(0.05)
        anvil.rpc("evm_mine")
        worker.join(timeout=30)
    finally:
        anvil.rpc("evm_setAutomine", True)
    assert outcome["r"].tx_hash in retry.hashes
    assert nonce(anvil, COMMITTER.address) == start + 1 and l1.totals().committed == 1


def test_a_mined_transaction_waiting_for_confirmations_is_not_replaced(anvil: AnvilProcess) -> None:
    """With 3 confirmations and no other traffic, the commit is mined but stays unconfirmed: it is waited
    for, never re-sent (a replacement of a mined nonce can only be refused)."""
    import threading

    deployment, genesis = deploy(anvil)
    l1 = client(anvil, deployment, confirmations=3)
    l1.replace_after_s = 0.1
    b1 = make_batch(genesis, deployment, l1_time(anvil))
    recorder = Recorder()
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(r=l1.commit(genesis, b1, on_sent=recorder)))
    worker.start()
    deadline = time.monotonic() + 20
    while not recorder.hashes or anvil.rpc("eth_getTransactionReceipt", recorder.hashes[0]) is None:
        assert time.monotonic() < deadline, "the commit was not mined"
        time.sleep(0.05)
    # Several replacement periods pass with the receipt there and no block on top of it.
    time.sleep(1.0)
    assert worker.is_alive() and len(recorder.hashes) == 1
    anvil.rpc("evm_mine")
    anvil.rpc("evm_mine")
    worker.join(timeout=30)
    assert outcome["r"].tx_hash == recorder.hashes[0] and len(recorder.hashes) == 1
