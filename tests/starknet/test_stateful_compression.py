"""Starknet 0.14.1 state diff -> blobs, step by step, on a real Sepolia settlement (compression/9662264).

The vectors hold the blocks' state updates and each intermediate result, but not the
state before the range that two steps read through the RPC: the storage values before
the range (to drop writes that end where they started) and the aliases allocated
before it. The stand-ins for those two reads are recovered from the vectors below;
everything else (squash, the per-block alias allocation that must reproduce the 57
aliases the range wrote to contract 0x2, replacement, encoding, compression, blobs)
is computed.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.blob import blob_to_hex, felts_to_blobs
from orchestrator_pipelines.starknet.compression import compress
from orchestrator_pipelines.starknet.da_derivation import (
    cross_check_segment,
    derive_da_felts,
    published_state_diff,
)
from orchestrator_pipelines.starknet.da_encoding import encode_state_diff
from orchestrator_pipelines.starknet.squash import squash_state_updates
from orchestrator_pipelines.starknet.state_update import StateDiff, StateUpdate
from orchestrator_pipelines.starknet.stateful_compression import (
    ALIAS_CONTRACT_ADDRESS,
    INITIAL_AVAILABLE_ALIAS,
    allocate_range,
    check_alias_writes,
    stateful_compress,
)


@pytest.fixture(scope="module")
def chain(vectors_dir):
    folder = vectors_dir / "compression" / "9662264"
    load = lambda name: json.loads((folder / name).read_text())  # noqa: E731
    return {
        "updates": [StateUpdate.parse(u) for u in load("state_updates.json")],
        "squashed": StateUpdate.parse(load("squashed_state_update.json")).state_diff,
        "stateful": StateUpdate.parse(load("stateful_compressed_state_update.json")).state_diff,
        "stateless": [int(v, 16) for v in load("stateless_compressed_state_update.json")],
        "blobs": [(folder / "blobs" / f"{i}.txt").read_text().strip() for i in (1, 2)],
    }


def _pre_state_stand_in(chain):
    """Storage before the range: a slot written in the range but not published ended where it started."""
    final = {}
    for update in chain["updates"]:
        for contract in update.state_diff.storage_diffs:
            for entry in contract.storage_entries:
                final[(contract.address, entry.key)] = entry.value
    published = {(c.address, e.key) for c in chain["squashed"].storage_diffs for e in c.storage_entries}
    return lambda address, key: None if (address, key) in published else final[(address, key)]


def _aliases_before_stand_in(chain):
    before = aliases_before(chain)
    return lambda key: before.get(key, 0)


def aliases_before(chain) -> dict[int, int]:
    """The alias contract's storage before the range, recovered by pairing the squashed and aliased diffs.

    Values are never aliased: a contract is recognised by its storage values, nonce and
    class, and a key by its value within the contract. Only keys that did *not* get a new
    alias in the range are taken (those are what the RPC would return); the counter before
    the range is the first alias the range allocated.
    """

    def contracts(diff: StateDiff):
        out = defaultdict(lambda: {"storage": {}, "nonce": None, "class": None})
        for c in diff.storage_diffs:
            out[c.address]["storage"] = {e.key: e.value for e in c.storage_entries}
        for n in diff.nonces:
            out[n.contract_address]["nonce"] = n.nonce
        for d in diff.deployed_contracts:
            out[d.address]["class"] = d.class_hash
        return out

    plain, aliased = contracts(chain["squashed"]), contracts(chain["stateful"])
    signature = lambda c: (tuple(sorted(c["storage"].values())), c["nonce"], c["class"])  # noqa: E731
    by_signature = defaultdict(list)
    for alias, contract in aliased.items():
        by_signature[signature(contract)].append(alias)
    written = {
        e.key: e.value
        for c in chain["squashed"].storage_diffs
        if c.address == ALIAS_CONTRACT_ADDRESS
        for e in c.storage_entries
    }
    before = {0: min(v for k, v in written.items() if k != 0)}
    for address, contract in plain.items():
        candidates = by_signature[signature(contract)]
        if address <= 15 or len(candidates) != 1:
            continue
        if address >= 128 and address not in written:
            before[address] = candidates[0]
        by_value = defaultdict(list)
        for key, value in aliased[candidates[0]]["storage"].items():
            by_value[value].append(key)
        for key, value in contract["storage"].items():
            if key >= 128 and key not in written and len(by_value[value]) == 1:
                before[key] = by_value[value][0]
    return before


def test_squash_against_the_state_before_the_range(chain):
    squashed = squash_state_updates(chain["updates"], pre_state=_pre_state_stand_in(chain))
    assert squashed == chain["squashed"]
    assert len(squashed.migrated_compiled_classes) == 1844


def test_the_range_has_no_write_that_returned_to_its_pre_range_value(chain):
    # So the squash against the state before the range keeps every last write here;
    # tests/starknet/test_squash.py covers the writes it drops.
    assert squash_state_updates(chain["updates"]) == chain["squashed"]


def test_per_block_allocation_reproduces_the_aliases_the_range_wrote(chain):
    table = allocate_range([u.state_diff for u in chain["updates"]], _aliases_before_stand_in(chain))
    assert len(table.allocated) == 57
    check_alias_writes(chain["squashed"], table)


def test_stateful_compression_gives_the_aliased_diff(chain):
    aliased = stateful_compress(
        chain["squashed"], [u.state_diff for u in chain["updates"]], _aliases_before_stand_in(chain)
    )
    assert aliased == chain["stateful"]


def test_stateless_compression_of_the_aliased_diff(chain):
    felts = compress(encode_state_diff(chain["stateful"], None, "0.14.1"))
    assert felts == chain["stateless"]


def test_blobs_byte_for_byte(chain):
    blobs = felts_to_blobs(chain["stateless"])
    assert [blob_to_hex(b) for b in blobs] == chain["blobs"]


def test_whole_derivation_from_the_blocks(chain):
    felts = derive_da_felts(
        chain["updates"],
        "0.14.1",
        pre_state=_pre_state_stand_in(chain),
        read_alias=_aliases_before_stand_in(chain),
    )
    check = cross_check_segment(chain["stateless"], felts)
    assert check.status == "match", check.message


def test_cross_check_names_the_first_differing_felt(chain):
    aliases = _aliases_before_stand_in(chain)
    felts = derive_da_felts(chain["updates"], "0.14.1", pre_state=_pre_state_stand_in(chain), read_alias=aliases)
    tampered = list(felts)
    tampered[100] ^= 1
    check = cross_check_segment(chain["stateless"], tampered)
    assert (check.status, check.first_difference) == ("mismatch", 100)
    assert "DA felt 100 differs" in check.message
    shorter = cross_check_segment(chain["stateless"], felts[:-1])
    assert shorter.first_difference == len(felts) - 1 and "nothing" in shorter.message


def test_aliases_that_disagree_with_the_diffs_writes_are_refused(chain):
    wrong = lambda key: 0 if key != 0 else INITIAL_AVAILABLE_ALIAS  # noqa: E731
    with pytest.raises(InvalidInputError, match="alias contract key"):
        published_state_diff(chain["updates"], "0.14.1", pre_state=_pre_state_stand_in(chain), read_alias=wrong)


def test_0_14_needs_the_alias_reader(chain):
    with pytest.raises(InvalidInputError, match="publishes aliases"):
        derive_da_felts(chain["updates"][:1], "0.14.1")


def test_encrypted_da_is_not_rebuildable():
    check = cross_check_segment([1, 2, 3], [1, 2], encrypted_da=True)
    assert check.status == "not_rebuildable" and check.ok
    assert "cannot be rebuilt" in check.message


def _diff(storage=None, nonces=None, deployed=None):
    return StateDiff.parse(
        {
            "storage_diffs": [
                {"address": hex(a), "storage_entries": [{"key": hex(k), "value": hex(v)} for k, v in entries.items()]}
                for a, entries in (storage or {}).items()
            ],
            "nonces": [{"contract_address": hex(a), "nonce": hex(n)} for a, n in (nonces or {}).items()],
            "deployed_contracts": [{"address": hex(a), "class_hash": hex(h)} for a, h in (deployed or {}).items()],
        }
    )


def test_allocation_rules_on_a_fresh_chain():
    big, bigger, account = 10**30, 10**40, 10**50
    block_1 = _diff(storage={1: {big: 5}, 100: {3: 4, big: 6}, bigger: {big: 7, 5: 1}}, nonces={account: 1})
    block_2 = _diff(storage={bigger: {account: 9}}, deployed={10**60: 77})
    out = stateful_compress(
        _diff(storage={1: {big: 5}, 100: {3: 4, big: 6}, bigger: {big: 7, 5: 1, account: 9}}, nonces={account: 1},
              deployed={10**60: 77}),
        [block_1, block_2],
        lambda key: 0,
    )
    # Block 1, by address: contract 1 is skipped (<= 15); contract 100 keeps its address
    # (< 128) and key 3, `big` gets 128; contract `bigger`: key `big` has 128 already,
    # the address gets 129; `account` (nonce only) gets 130. Block 2: `account` as a key
    # reuses 130, the deployed contract gets 131. The counter starts at 128 and ends at 132.
    storage = {d.address: {e.key: e.value for e in d.storage_entries} for d in out.storage_diffs}
    assert storage == {
        1: {big: 5},
        2: {0: 132, big: 128, bigger: 129, account: 130, 10**60: 131},
        100: {3: 4, 128: 6},
        129: {5: 1, 128: 7, 130: 9},
    }
    assert [(n.contract_address, n.nonce) for n in out.nonces] == [(130, 1)]
    assert [(d.address, d.class_hash) for d in out.deployed_contracts] == [(131, 77)]


def test_existing_aliases_are_read_not_allocated():
    key = 10**30
    existing = {0: 500, key: 300}
    out = stateful_compress(
        _diff(storage={10**40: {key: 1}}), [_diff(storage={10**40: {key: 1}})], lambda k: existing.get(k, 0)
    )
    storage = {d.address: {e.key: e.value for e in d.storage_entries} for d in out.storage_diffs}
    assert storage == {2: {0: 501, 10**40: 500}, 500: {300: 1}}


def test_cli_da_encode_0_14_1_from_the_blocks(chain, vectors_dir, tmp_path, capsys):
    from orchestrator_pipelines.cli import main

    aliases = tmp_path / "aliases.json"
    aliases.write_text(json.dumps({hex(k): hex(v) for k, v in aliases_before(chain).items()}))
    out = tmp_path / "blobs"
    folder = vectors_dir / "compression" / "9662264"
    code = main(
        [
            "da", "encode", "--starknet-version", "0.14.1",
            "--state-update", str(folder / "state_updates.json"),
            "--aliases", str(aliases),
            "--out", str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert [(out / f"{i}.hex").read_text() for i in (0, 1)] == chain["blobs"]


def test_cli_da_encode_0_14_1_of_an_aliased_diff(chain, vectors_dir, tmp_path, capsys):
    from orchestrator_pipelines.cli import main

    folder = vectors_dir / "compression" / "9662264"
    out = tmp_path / "blobs"
    args = ["da", "encode", "--starknet-version", "0.14.1", "--out", str(out)]
    args += ["--state-update", str(folder / "stateful_compressed_state_update.json")]
    assert main(args) == 2
    assert "pass --aliases" in capsys.readouterr().err
    assert main([*args, "--no-aliases"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0.hex", "1.hex"]
    assert [(out / f"{i}.hex").read_text() for i in (0, 1)] == chain["blobs"]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_addresses = st.one_of(st.integers(1, 20), st.integers(100, 140), st.integers(2**200, 2**200 + 50))
_keys = st.one_of(st.integers(0, 200), st.integers(2**120, 2**120 + 30))
_blocks = st.lists(
    st.dictionaries(
        _addresses.filter(lambda a: a != ALIAS_CONTRACT_ADDRESS),
        st.dictionaries(_keys, st.integers(1, 2**64), min_size=1, max_size=4),
        max_size=4,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(blocks=_blocks)
def test_aliases_are_consecutive_distinct_and_invertible(blocks):
    diffs = [_diff(storage=block) for block in blocks]
    squashed = squash_state_updates(
        [
            StateUpdate(block_hash=i + 1, old_root=i, new_root=i + 1, state_diff=d)
            for i, d in enumerate(diffs)
        ]
    )
    table = allocate_range(diffs, lambda key: 0)
    allocated = sorted(table.allocated.values())
    assert allocated == list(range(INITIAL_AVAILABLE_ALIAS, INITIAL_AVAILABLE_ALIAS + len(allocated)))
    assert all(key >= 128 for key in table.allocated)
    out = stateful_compress(squashed, diffs, lambda key: 0)
    inverse = {alias: key for key, alias in table.known.items()}
    original = {(d.address, e.key): e.value for d in squashed.storage_diffs for e in d.storage_entries}
    rebuilt = {}
    for d in out.storage_diffs:
        if d.address == ALIAS_CONTRACT_ADDRESS:
            assert {e.key: e.value for e in d.storage_entries} == {**table.allocated, 0: table.next_alias}
            continue
        address = d.address if d.address < 128 else inverse[d.address]
        for e in d.storage_entries:
            key = e.key if address <= 15 or e.key < 128 else inverse[e.key]
            rebuilt[(address, key)] = e.value
    assert rebuilt == original
