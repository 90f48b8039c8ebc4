"""The devnet's Starknet OS: builds, for a block range, the output the real OS would give.

No Cairo runs here. From the node's state updates the runner derives what the
orchestrator needs from the OS, with the same formulas as the Starknet OS
0.13.3+ (``use_kzg_da = 1``, ``full_output = 0``): the squashed diff's DA felts
(compressed), split into blobs; each blob's KZG commitment; one evaluation point
``z = x_0`` for all blobs (``kzg.starknet_x0``, as the OS hashes the whole DA
segment and every commitment); each blob's ``y = p_i(x_0)``; and the header with
roots, block numbers and hashes, ``os_program_hash = 0`` (a direct OS run, as the
real OS writes it; an aggregator run writes the OS program hash there) and the
config hash; and the two message segments, as the OS fills them from the blocks
it executes: every L1 handler is a message to L2 the core contract must consume
(``from_address``, ``to_address``, nonce, selector, payload), every message a
transaction sent is a message to L1 the core contract records for
``consumeMessageFromL2``. It writes that output into a PIE-shaped zip
(``cairo_pie.write_pie_zip``) whose program is :data:`DEVNET_OS_PROGRAM`, so the
fact (``keccak(program_hash, keccak(output))``) is computed exactly as for a real
SNOS PIE, and the devnet core contract, deployed with :data:`DEVNET_OS_PROGRAM_HASH`
as its program hash and a different aggregator program hash, accepts it by the
direct-run rule.

For the aggregated pipeline it also runs a range as an aggregation child
(:meth:`DevnetSnosRunner.run_child`), as Madara's L2 runs its SNOS batches:
``full_output = 1``, ``use_kzg_da = 0``, ``os_program_hash = 0``, the state diff
with previous values in the full-output encoding, and no blobs of its own.

The same block range always gives the same bytes: nothing depends on time or
on the output directory.
"""

from __future__ import annotations

from pathlib import Path

from poseidon_py.poseidon_hash import poseidon_hash_many

from orchestrator_pipelines.clients.madara import ContractNotFoundError, MadaraClient
from orchestrator_pipelines.clients.snos import SnosResult, snos_result_from_pie
from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.aggregator import (
    DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH,
    DEVNET_AGGREGATOR_PROGRAM_HASH,
)
from orchestrator_pipelines.starknet.blob import FIELD_ELEMENTS_PER_BLOB, evaluate_at, felts_to_blobs
from orchestrator_pipelines.starknet.cairo_pie import write_pie_zip
from orchestrator_pipelines.starknet.da_encoding import SYSTEM_CONTRACTS, da_felts
from orchestrator_pipelines.starknet.kzg import LAYOUT_V0_13_3, blob_to_commitment, starknet_x0
from orchestrator_pipelines.starknet.os_output import KzgSegment, OsOutput, encode_os_output
from orchestrator_pipelines.starknet.squash import squash_state_updates


def _short_string(text: str) -> int:
    """A Cairo short string (ASCII, at most 31 characters) as a felt."""
    return int.from_bytes(text.encode("ascii"), "big")


# The devnet OS "program": a few Cairo instruction words standing for the OS
# bytecode. Only its hash matters: it is the program hash in every devnet fact
# and the ``programHash`` the devnet core contract is deployed with.
DEVNET_OS_PROGRAM: tuple[int, ...] = (
    0x40780017FFF7FFF,  # ap += 1
    0x1,
    0x480680017FFF8000,  # [ap] = 'DEVNET_OS'; ap++
    _short_string("DEVNET_OS"),
    0x480680017FFF8000,  # [ap] = 13_4 (the OS version it stands for); ap++
    0x134,
    0x208B7FFF7FFF7FFE,  # ret
)
# program_hash(DEVNET_OS_PROGRAM) (builtins: output, main: 0), checked by the tests.
DEVNET_OS_PROGRAM_HASH = 0x17F08B7F8CC6C323DB0366DEC2F9EC8A263E10F4A8E30CB534D3858AFE393C0

# The devnet aggregator program lives with the aggregator (starknet/aggregator.py).
# An aggregator run's fact is proven under pedersen("AGGREGATOR", its program hash),
# and that is the core contract's ``aggregatorProgramHash``: distinct from the OS
# program hash, so a direct OS run proven under the wrong hash is refused.
DEVNET_AGGREGATOR_FACT_PROGRAM_HASH = DEVNET_AGGREGATOR_PREFIXED_PROGRAM_HASH

# StarknetOsConfig2 of the devnet chain: poseidon(version, chain id, fee token).
DEVNET_CHAIN_ID = "MADARA_DEVNET"
DEVNET_FEE_TOKEN_ADDRESS = 0x04718F5A0FC34CC1AF16A1CDEE98FFB20C31F5CD61D6AB07201858F4287C938D
DEVNET_OS_CONFIG_HASH = poseidon_hash_many(
    [_short_string("StarknetOsConfig2"), _short_string(DEVNET_CHAIN_ID), DEVNET_FEE_TOKEN_ADDRESS]
)

# Step count model: a fixed cost per run and per block, plus a cost per DA felt
# (hashing, compression and the KZG evaluation all scale with the DA size).
BASE_STEPS = 250_000
STEPS_PER_BLOCK = 20_000
STEPS_PER_DA_FELT = 1_200


def devnet_n_steps(n_blocks: int, n_da_felts: int) -> int:
    return BASE_STEPS + STEPS_PER_BLOCK * n_blocks + STEPS_PER_DA_FELT * n_da_felts


class DevnetSnosRunner:
    """:class:`~orchestrator_pipelines.clients.snos.SnosRunner` for the devnet chain."""

    def __init__(self, rpc_url: str, max_blobs: int = 6):
        self.rpc_url = rpc_url
        self.max_blobs = max_blobs
        self.client = MadaraClient(rpc_url)

    def _nonce(self, address: int, block_number: int) -> int:
        # The system contracts (0x1, 0x2) have no account nonce; the OS writes 0.
        return 0 if address in SYSTEM_CONTRACTS else self.client.nonce(address, block_number)

    def os_output(self, first_block: int, last_block: int) -> tuple[OsOutput, list[int]]:
        """The OS output for the range and the DA felts it commits to."""
        if first_block > last_block:
            raise InvalidInputError(f"devnet SNOS: empty block range {first_block}..{last_block}")
        if first_block < 1:
            raise InvalidInputError(
                f"devnet SNOS: block range {first_block}..{last_block} starts before block 1; "
                "block 0 is the genesis the core contract is deployed with"
            )
        updates = self.client.state_updates(first_block, last_block)
        first = self.client.block(first_block)
        last = self.client.block(last_block)
        messages = self.client.messages(first_block, last_block)
        diff = squash_state_updates(updates)
        felts = da_felts(diff, lambda address: self._nonce(address, last_block), last.starknet_version)
        blobs = felts_to_blobs(felts, max_blobs=self.max_blobs)
        commitments = [blob_to_commitment(blob) for blob in blobs]
        x0 = starknet_x0(felts, commitments)
        ys = [
            evaluate_at(felts[i * FIELD_ELEMENTS_PER_BLOB:(i + 1) * FIELD_ELEMENTS_PER_BLOB], x0)
            for i in range(len(blobs))
        ]
        output = OsOutput(
            initial_root=updates[0].old_root,
            final_root=updates[-1].new_root,
            prev_block_number=first_block - 1,
            new_block_number=last_block,
            prev_block_hash=first.parent_hash,
            new_block_hash=last.block_hash,
            # 0 marks a direct OS run (not an aggregator's): the fact is under programHash.
            os_program_hash=0,
            starknet_os_config_hash=DEVNET_OS_CONFIG_HASH,
            use_kzg_da=True,
            full_output=False,
            kzg=KzgSegment(x0=x0, commitments=commitments, y_values=ys),
            messages_to_l1=messages.to_l1,
            messages_to_l2=messages.to_l2,
            layout=LAYOUT_V0_13_3,
        )
        return output, felts

    def _at_or_zero(self, read, address: int, block_number: int) -> int:
        """A contract's nonce or class hash at a block; 0 before it is deployed and for system contracts."""
        if address in SYSTEM_CONTRACTS or block_number < 0:
            return 0
        try:
            return read(address, block_number)
        except ContractNotFoundError:
            return 0

    def _storage_before(self, address: int, key: int, block_number: int) -> int:
        """A storage value at a block; 0 for a contract deployed later (its slots were never written)."""
        try:
            return self.client.storage_at(address, key, block_number)
        except ContractNotFoundError:
            return 0

    def child_output(self, first_block: int, last_block: int):
        """The range as an aggregation child: ``full_output = 1``, ``use_kzg_da = 0``, ``os_program_hash = 0``.

        Its message segments are the range's, as in a direct run; the aggregator
        concatenates its children's.

        The state diff carries each value before the range (read at
        ``first_block - 1``) and after it, as the OS writes it with full output:
        every contract the range touched with its previous and new nonce and
        class hash, every storage write with its previous value, every declared
        class (previous compiled class hash 0).
        """
        from orchestrator_pipelines.starknet.os_state_diff import (
            ClassChange,
            ContractChange,
            OsStateDiff,
            StorageChange,
        )

        self._check_range(first_block, last_block)
        updates = self.client.state_updates(first_block, last_block)
        first = self.client.block(first_block)
        last = self.client.block(last_block)
        messages = self.client.messages(first_block, last_block)
        diff = squash_state_updates(updates)
        before = first_block - 1
        storage = {d.address: d.storage_entries for d in diff.storage_diffs}
        addresses = set(storage) | {n.contract_address for n in diff.nonces}
        addresses |= {d.address for d in diff.deployed_contracts} | {r.contract_address for r in diff.replaced_classes}
        contracts = []
        for address in sorted(addresses):
            contracts.append(ContractChange(
                address=address,
                prev_nonce=self._at_or_zero(self.client.nonce, address, before),
                new_nonce=self._at_or_zero(self.client.nonce, address, last_block),
                prev_class_hash=self._at_or_zero(self.client.class_hash_at, address, before),
                new_class_hash=self._at_or_zero(self.client.class_hash_at, address, last_block),
                storage=tuple(
                    StorageChange(
                        key=e.key,
                        prev_value=self._storage_before(address, e.key, before),
                        new_value=e.value,
                    )
                    for e in sorted(storage.get(address, ()), key=lambda e: e.key)
                ),
            ))
        classes = tuple(
            ClassChange(class_hash=c.class_hash, prev_compiled_class_hash=0, new_compiled_class_hash=c.compiled_class_hash)
            for c in sorted(diff.declared_classes, key=lambda c: c.class_hash)
        )
        output = OsOutput(
            initial_root=updates[0].old_root,
            final_root=updates[-1].new_root,
            prev_block_number=before,
            new_block_number=last_block,
            prev_block_hash=first.parent_hash,
            new_block_hash=last.block_hash,
            os_program_hash=0,
            starknet_os_config_hash=DEVNET_OS_CONFIG_HASH,
            use_kzg_da=False,
            full_output=True,
            kzg=None,
            messages_to_l1=messages.to_l1,
            messages_to_l2=messages.to_l2,
            layout=LAYOUT_V0_13_3,
        )
        return output, OsStateDiff(contracts=tuple(contracts), classes=classes)

    def run_child(self, first_block: int, last_block: int, out_dir: Path) -> SnosResult:
        """Run the range as an aggregation child and write its PIE (same program, so the same program hash)."""
        from orchestrator_pipelines.starknet.aggregator import encode_full_output

        output, state_diff = self.child_output(first_block, last_block)
        words = encode_full_output(output, state_diff)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pie_path = out_dir / f"child_pie_{first_block}_{last_block}.zip"
        n_steps = devnet_n_steps(last_block - first_block + 1, len(words))
        write_pie_zip(pie_path, list(DEVNET_OS_PROGRAM), words, n_steps)
        return snos_result_from_pie(pie_path)

    def _check_range(self, first_block: int, last_block: int) -> None:
        if first_block > last_block:
            raise InvalidInputError(f"devnet SNOS: empty block range {first_block}..{last_block}")
        if first_block < 1:
            raise InvalidInputError(
                f"devnet SNOS: block range {first_block}..{last_block} starts before block 1; "
                "block 0 is the genesis the core contract is deployed with"
            )

    def run(self, first_block: int, last_block: int, out_dir: Path) -> SnosResult:
        output, felts = self.os_output(first_block, last_block)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pie_path = out_dir / f"pie_{first_block}_{last_block}.zip"
        n_steps = devnet_n_steps(last_block - first_block + 1, len(felts))
        write_pie_zip(pie_path, list(DEVNET_OS_PROGRAM), encode_os_output(output), n_steps)
        return snos_result_from_pie(pie_path)

