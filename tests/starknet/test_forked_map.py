"""forked_map: the work runs in forked children that share what the parent loaded."""

from __future__ import annotations

import os

import pytest

from orchestrator_pipelines.starknet import kzg
from orchestrator_pipelines.starknet.forked_map import forked_map, usable_cpus


def _square_and_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def _setup_loads_and_pid(_: int) -> tuple[int, int]:
    kzg.trusted_setup()
    return kzg.trusted_setup.cache_info().misses, os.getpid()


def _fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError(f"no threes here: {value}")
    return value


def _die_in_a_child(item: tuple[int, int]) -> tuple[int, int]:
    value, parent = item
    if os.getpid() != parent:
        os._exit(3)
    return value + 1, os.getpid()


def test_results_come_back_in_order_from_child_processes():
    results = forked_map(_square_and_pid, range(8), workers=2)
    assert [square for square, _ in results] == [v * v for v in range(8)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_children_inherit_the_trusted_setup_instead_of_loading_it():
    kzg.trusted_setup()
    loads_here = kzg.trusted_setup.cache_info().misses
    results = forked_map(_setup_loads_and_pid, range(4), workers=2)
    assert all(pid != os.getpid() for _, pid in results)
    assert [loads for loads, _ in results] == [loads_here] * 4


def test_one_worker_or_one_item_stays_in_this_process():
    assert forked_map(_square_and_pid, range(3), workers=1) == [(v * v, os.getpid()) for v in range(3)]
    assert forked_map(_square_and_pid, [5], workers=4) == [(25, os.getpid())]
    assert forked_map(_square_and_pid, [], workers=4) == []


def test_an_exception_in_a_child_is_raised_here():
    with pytest.raises(ValueError, match="no threes here: 3"):
        forked_map(_fail_on_three, range(6), workers=2)


def test_a_dead_child_means_the_work_is_done_here():
    parent = os.getpid()
    results = forked_map(_die_in_a_child, [(v, parent) for v in range(4)], workers=2)
    assert results == [(v + 1, parent) for v in range(4)]


def test_usable_cpus_is_the_affinity_mask():
    assert usable_cpus() == len(os.sched_getaffinity(0)) >= 1
