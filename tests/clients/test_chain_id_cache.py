"""The chain id check of the peer resources: a match is trusted for a while, a mismatch is read every time."""

from __future__ import annotations

import pytest

from orchestrator_pipelines.peer_identity import ChainIdMismatchError, l1_chain_id_problem
from resources import chain_ids
from resources.chain_ids import check_chain_id

URL = "http://cache-test:8545"


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(chain_ids, "_matched", {})


def checker(answers: list[int]):
    reads: list[int] = []

    def check() -> None:
        def read() -> int:
            reads.append(answers[len(reads)])
            return reads[-1]

        check_chain_id(URL, 5, read, lambda got: l1_chain_id_problem(URL, 5, got))

    return check, reads


def test_a_match_is_trusted_for_a_while_without_reading_again():
    check, reads = checker([5, 1])
    check()
    check()
    assert reads == [5]


def test_a_mismatch_is_raised_every_time_and_the_first_read_after_healing_passes(monkeypatch):
    monkeypatch.setattr(chain_ids, "CHAIN_ID_RECHECK_S", 0.0)
    check, reads = checker([1, 1, 5])
    for _ in range(2):
        with pytest.raises(ChainIdMismatchError, match="reports chain id 1, expected 5"):
            check()
    check()
    assert reads == [1, 1, 5]
