"""Seeded block generator: the traffic of a small appchain, reproducible from a seed.

Each block is drawn from ``random.Random(f"{seed}/{number}")`` and the current
chain state, so the same seed gives the same chain, and a node restarted from its
block log makes the same next block it would have made without the restart.

What a block holds, as on a real Starknet chain:
- ERC-20 transfers: writes to ``ERC20_balances`` slots (addresses computed like
  Cairo storage variables: ``pedersen(sn_keccak("ERC20_balances"), account)``) of
  the fee token and a few other tokens, the fee paid to the sequencer, and the
  sender's nonce incremented;
- deployments (new address with a class hash and constructor writes), account
  deployments, Cairo 1 class declarations (class hash, compiled class hash), now
  and then a deprecated Cairo 0 declaration, and class replacements;
- every ``large_block_every``-th block, a bulk airdrop writing
  ``large_block_storage_writes`` balance slots with full-width random values:
  two felts per write in the DA encoding that compression cannot shrink, so the
  batch holding it needs several blobs;
- bridge traffic through the genesis token bridge (StarkGate's shape): each
  L1->L2 message the node saw on L1 becomes an ``L1_HANDLER`` at the start of
  the block (a deposit ``handle_deposit(from_address, recipient, amount_low,
  amount_high)`` credits the recipient's bridged-token balance and the supply),
  and every ``withdrawal_every``-th block an account withdraws: its balance and
  the supply go down and the receipt sends the bridge's message to L1
  ``[TRANSFER_FROM_STARKNET, l1_recipient, amount_low, amount_high]``, to be
  consumed on L1 by the L1 bridge once the block is settled.

Class hashes of the genesis contracts are fixed labels (they look like the usual
OpenZeppelin classes); no class bodies exist on this chain.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Sequence

from starknet_py.cairo.felt import encode_shortstring
from starknet_py.constants import ADDR_BOUND
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.storage import get_storage_var_address
from starknet_py.hash.transaction import TransactionHashPrefix, compute_transaction_hash
from starknet_py.hash.utils import pedersen_hash

from orchestrator_pipelines.devnet.starknet_node.config import NodeConfig
from orchestrator_pipelines.devnet.starknet_node.diff import BlockDiff
from orchestrator_pipelines.devnet.starknet_node.l1_messages import L1Message
from orchestrator_pipelines.devnet.starknet_node.state import (
    BlockContent,
    ChainState,
    GasPrices,
    ResourcePrice,
)
from orchestrator_pipelines.devnet.starknet_node.transactions import (
    DECLARE,
    DEPLOY,
    DEPLOY_ACCOUNT,
    INVOKE,
    L1_HANDLER,
    SentMessage,
    Transaction,
)
from orchestrator_pipelines.starknet.messages import l1_to_l2_message_hash

FIELD_PRIME = 2**251 + 17 * 2**192 + 1

STRK_FEE_TOKEN_ADDRESS = 0x04718F5A0FC34CC1AF16A1CDEE98FFB20C31F5CD61D6AB07201858F4287C938D
ETH_FEE_TOKEN_ADDRESS = 0x049D36570D4E46F48E99674BD3FCC84644DDD6B96F7C741B1562B82F9E004DC7
ERC20_CLASS_HASH = 0x04AD3C1DC8413453DB314497945B6903E1C766495A1E60492D44DA9C2A986E4B
ERC20_COMPILED_CLASS_HASH = 0x01CC4B13F5E1E2F5B95E1A5C8F0A1B9C3D7E6F4A2B8C0D1E3F5A7B9C2D4E6F80
ACCOUNT_CLASS_HASH = 0x061DAC032F228ABEF9C6626F995015233097AE253A7F72D68552DB02F2971B8F
ACCOUNT_COMPILED_CLASS_HASH = 0x03A8B2F5C7D9E1F3A5B7C9D1E3F5A7B9C1D3E5F7A9B1C3D5E7F9A1B3C5D7E9F1
LEGACY_PROXY_CLASS_HASH = 0x00D0E183745E9DAE3E4E78A8FFEDCCE0903FC4900BEACE4E0ABF192D4C202DA3
TOKEN_BRIDGE_CLASS_HASH = 0x0626C15D497F8EF78DA749CBE21AC3006470829EE8B5D0D166F3A139633C6A93
TOKEN_BRIDGE_COMPILED_CLASS_HASH = 0x02E4F1A6C8B0D2F4A6C8E0B2D4F6A8C0E2B4D6F8A0C2E4B6D8F0A2C4E6B8D0F2
# The L2 side of the devnet's token bridge, deployed at genesis; it bridges the ETH token.
L2_TOKEN_BRIDGE_ADDRESS = 0x073314940630FD6DCDA0D772D4C972C4E0A9946BEF9DABF4EF84EDA8EF542B82
BRIDGED_TOKEN_ADDRESS = ETH_FEE_TOKEN_ADDRESS
HANDLE_DEPOSIT_SELECTOR = get_selector_from_name("handle_deposit")
INITIATE_WITHDRAW_SELECTOR = get_selector_from_name("initiate_withdraw")
TRANSFER_SELECTOR = get_selector_from_name("transfer")
# The first payload word of a StarkGate withdrawal message (the L1 bridge's message type).
TRANSFER_FROM_STARKNET = 0

GENESIS_TOKEN_COUNT = 3
GENESIS_BALANCE = 10**24
MAX_FEE = 10**15
# A sender must be able to pay fees for a while: the generator never picks a broke account.
MIN_SENDER_BALANCE = 100 * MAX_FEE
ACCOUNT_FUNDING = 10**18


@lru_cache(maxsize=None)
def storage_var_base(name: str) -> int:
    """``sn_keccak(name)``: the base address of a Cairo storage variable (cached)."""
    return get_storage_var_address(name)


def storage_address(name: str, *keys: int) -> int:
    """The storage address of ``name[keys...]``, as Cairo computes it."""
    address = storage_var_base(name)
    for key in keys:
        address = pedersen_hash(address, key)
    return address % ADDR_BOUND


@lru_cache(maxsize=65_536)
def balance_key(account: int) -> int:
    """The ``ERC20_balances`` slot of an account (cached: a Pedersen hash costs ~0.3 ms)."""
    return storage_address("ERC20_balances", account)


UDC_ADDRESS = 0x041A78E741E5AF2FEC34B695679BC6891742439F7AFB8484ECD7766661AD02BF
DEPLOY_CONTRACT_SELECTOR = get_selector_from_name("deployContract")
UPGRADE_SELECTOR = get_selector_from_name("upgrade")
AIRDROP_SELECTOR = get_selector_from_name("airdrop")


def u256(amount: int) -> tuple[int, int]:
    """A Cairo ``u256`` as its two felts (low, high)."""
    return amount & (2**128 - 1), amount >> 128


def execute_call(to: int, selector: int, *args: int) -> tuple[int, ...]:
    """An account's ``__execute__`` calldata for one call: ``[1, to, selector, len(args), args...]``."""
    return (1, to, selector, len(args), *args)


def l1_handler_hash(contract_address: int, selector: int, calldata: tuple[int, ...], chain_id: int, nonce: int) -> int:
    """The hash of an L1 handler transaction, as Starknet computes it (version 0, no max fee, the nonce)."""
    return compute_transaction_hash(
        tx_hash_prefix=TransactionHashPrefix.L1_HANDLER,
        version=0,
        contract_address=contract_address,
        entry_point_selector=selector,
        calldata=list(calldata),
        max_fee=0,
        chain_id=chain_id,
        additional_data=[nonce],
    )


class _BlockBuilder:
    """One block in the making: reads see the block's own earlier writes."""

    def __init__(self, state: ChainState, rng: random.Random, sequencer: int):
        self.state = state
        self.rng = rng
        self.sequencer = sequencer
        self.diff = BlockDiff()
        self.transactions: list[Transaction] = []
        # Sorted, not in deployment order: a chain replayed from the block log must
        # offer the generator the same choices as the chain that made the blocks.
        contracts = sorted(state.contracts().items())
        self.accounts = [a for a, c in contracts if c == ACCOUNT_CLASS_HASH]
        self.tokens = [a for a, c in contracts if c == ERC20_CLASS_HASH]
        system = (ACCOUNT_CLASS_HASH, ERC20_CLASS_HASH, TOKEN_BRIDGE_CLASS_HASH)
        self.apps = [a for a, c in contracts if c not in system]
        self.app_classes = sorted(c for c in state.declared_classes() if c not in system)

    def storage(self, address: int, key: int) -> int:
        pending = self.diff.storage.get(address, {}).get(key)
        return pending if pending is not None else self.state.latest_storage(address, key)

    def new_felt(self) -> int:
        return self.rng.randrange(1, FIELD_PRIME)

    def new_address(self) -> int:
        return self.rng.randrange(2**128, ADDR_BOUND)

    def move_balance(self, token: int, sender: int, recipient: int, amount: int) -> int:
        """Move up to ``amount`` (no more than the sender has); returns what moved."""
        sender_key, recipient_key = balance_key(sender), balance_key(recipient)
        sender_balance = self.storage(token, sender_key)
        amount = min(amount, sender_balance)
        self.diff.write(token, sender_key, sender_balance - amount)
        self.diff.write(token, recipient_key, self.storage(token, recipient_key) + amount)
        return amount

    def add_supply(self, token: int, account: int, amount: int) -> None:
        """Mint (``amount`` > 0) or burn (< 0) bridged tokens: the balance and the total supply."""
        key = balance_key(account)
        self.diff.write(token, key, self.storage(token, key) + amount)
        supply_key = storage_address("ERC20_total_supply")
        self.diff.write(token, supply_key, self.storage(token, supply_key) + amount)

    def sender(self) -> int:
        """A random account that can pay fees (the richest one if a few draws find none)."""
        for _ in range(16):
            account = self.rng.choice(self.accounts)
            if self.storage(STRK_FEE_TOKEN_ADDRESS, balance_key(account)) >= MIN_SENDER_BALANCE:
                return account
        return max(self.accounts, key=lambda a: self.storage(STRK_FEE_TOKEN_ADDRESS, balance_key(a)))

    def pay_fee(
        self,
        sender: int,
        kind: str = INVOKE,
        calldata: tuple[int, ...] = (),
        messages_sent: tuple[SentMessage, ...] = (),
        **fields: int,
    ) -> Transaction:
        """A transaction: fee to the sequencer in STRK, nonce + 1, a transaction hash."""
        fee = self.move_balance(STRK_FEE_TOKEN_ADDRESS, sender, self.sequencer, self.rng.randrange(10**12, MAX_FEE))
        current = self.diff.nonces.get(sender, self.state.latest_nonce(sender))
        self.diff.nonces[sender] = current + 1
        tx = Transaction(
            kind=kind,
            transaction_hash=self.new_felt(),
            sender_address=sender,
            nonce=current,
            calldata=calldata,
            actual_fee=fee,
            messages_sent=messages_sent,
            execution_resources=(0, 128 + 32 * len(calldata), 40_000 + 2_000 * len(calldata)),
            **fields,
        )
        self.transactions.append(tx)
        return tx

    def transfer(self) -> None:
        sender = self.sender()
        token = self.rng.choice(self.tokens)
        if self.rng.random() < 0.7:
            recipient = self.rng.choice(self.accounts)
        else:
            recipient = self.new_address()
        balance = self.storage(token, balance_key(sender))
        amount = self.move_balance(token, sender, recipient, self.rng.randrange(1, max(2, balance // 20)))
        self.pay_fee(sender, calldata=execute_call(token, TRANSFER_SELECTOR, recipient, *u256(amount)))

    def deploy(self) -> None:
        sender = self.sender()
        class_hash = self.rng.choice(self.app_classes) if self.app_classes else ERC20_CLASS_HASH
        address = self.new_address()
        self.diff.deployed[address] = class_hash
        self.diff.write(address, storage_address("owner"), sender)
        for name in self.rng.sample(["counter", "config", "paused", "fee_bps", "admin"], self.rng.randint(1, 3)):
            self.diff.write(address, storage_address(name), self.rng.randrange(1, 2**64))
        self.apps.append(address)
        self.pay_fee(sender, calldata=execute_call(UDC_ADDRESS, DEPLOY_CONTRACT_SELECTOR, class_hash, address, 0, 0))

    def deploy_account(self) -> None:
        address = self.new_address()
        funder = self.sender()
        funding = min(ACCOUNT_FUNDING, self.storage(STRK_FEE_TOKEN_ADDRESS, balance_key(funder)) // 4)
        funding = self.move_balance(STRK_FEE_TOKEN_ADDRESS, funder, address, funding)
        self.pay_fee(funder, calldata=execute_call(STRK_FEE_TOKEN_ADDRESS, TRANSFER_SELECTOR, address, *u256(funding)))
        self.diff.deployed[address] = ACCOUNT_CLASS_HASH
        public_key = self.new_felt()
        self.diff.write(address, storage_address("Account_public_key"), public_key)
        self.pay_fee(
            address, DEPLOY_ACCOUNT, calldata=(public_key,), class_hash=ACCOUNT_CLASS_HASH, contract_address_salt=public_key
        )
        self.accounts.append(address)

    def declare(self) -> None:
        sender = self.sender()
        class_hash = self.new_felt()
        if self.rng.random() < 0.2:
            self.diff.deprecated_declared.append(class_hash)
            self.pay_fee(sender, DECLARE, class_hash=class_hash)
        else:
            compiled = self.diff.declared[class_hash] = self.new_felt()
            self.pay_fee(sender, DECLARE, class_hash=class_hash, compiled_class_hash=compiled)

    def replace_class(self) -> bool:
        candidates = [a for a in self.apps if a not in self.diff.deployed]
        if not candidates or len(self.app_classes) < 2:
            return False
        address = self.rng.choice(candidates)
        current = self.state.contracts().get(address)
        new_class = self.rng.choice([c for c in self.app_classes if c != current])
        self.diff.replaced[address] = new_class
        self.pay_fee(self.sender(), calldata=execute_call(address, UPGRADE_SELECTOR, new_class))
        return True

    def airdrop(self, writes: int) -> None:
        """The large-block transaction: many fresh balance slots, full-width random values.

        The balance slot of a random recipient is a uniformly random storage
        address, so the slot is drawn directly: hashing thousands of random
        recipients with Pedersen would cost over a second per large block.
        """
        sender = self.sender()
        token = self.rng.choice([t for t in self.tokens if t != STRK_FEE_TOKEN_ADDRESS])
        entries = self.diff.storage.setdefault(token, {})
        for _ in range(writes):
            entries[self.rng.randrange(2**128, ADDR_BOUND)] = self.rng.randrange(2**250, FIELD_PRIME)
        self.pay_fee(sender, calldata=execute_call(token, AIRDROP_SELECTOR, writes))

    def withdraw(self, l1_bridge: int) -> None:
        """An account withdraws bridged tokens to an L1 recipient: burn on L2, a message to the L1 bridge."""
        sender = self.sender()
        balance = self.storage(BRIDGED_TOKEN_ADDRESS, balance_key(sender))
        if balance == 0:
            return
        amount = self.rng.randrange(1, max(2, balance // 10))
        l1_recipient = self.rng.randrange(1, 2**160)
        self.add_supply(BRIDGED_TOKEN_ADDRESS, sender, -amount)
        message = SentMessage(
            from_address=L2_TOKEN_BRIDGE_ADDRESS,
            to_address=l1_bridge,
            payload=(TRANSFER_FROM_STARKNET, l1_recipient, *u256(amount)),
        )
        self.pay_fee(
            sender,
            calldata=execute_call(L2_TOKEN_BRIDGE_ADDRESS, INITIATE_WITHDRAW_SELECTOR, l1_recipient, *u256(amount)),
            messages_sent=(message,),
        )

    def l1_handler(self, message: L1Message, chain_id: int) -> bool:
        """Execute one L1->L2 message; False when L2 has no contract at its ``to_address`` (not included).

        A deposit (``handle_deposit`` on the token bridge with a payload
        ``[recipient, amount_low, amount_high]``) mints the bridged token to the
        recipient; a message to any other deployed contract is executed without
        a state change this generator could know. A message whose words are not
        all felts cannot be executed on L2 and is not included either.
        """
        to_address = message.to_address
        if any(word >= FIELD_PRIME for word in (to_address, message.selector, *message.payload)):
            return False
        if to_address not in self.diff.deployed and self.state.class_hash_at(to_address, self.state.head) is None:
            return False
        if (
            to_address == L2_TOKEN_BRIDGE_ADDRESS
            and message.selector == HANDLE_DEPOSIT_SELECTOR
            and len(message.payload) == 3
            and message.payload[1] < 2**128
            and message.payload[2] < 2**123
        ):
            recipient, low, high = message.payload
            self.add_supply(BRIDGED_TOKEN_ADDRESS, recipient, low + (high << 128))
        calldata = (message.from_address, *message.payload)
        self.transactions.append(
            Transaction(
                kind=L1_HANDLER,
                transaction_hash=l1_handler_hash(to_address, message.selector, calldata, chain_id, message.nonce),
                sender_address=to_address,
                nonce=message.nonce,
                calldata=calldata,
                entry_point_selector=message.selector,
                actual_fee=message.fee,
                l1_transaction_hash=message.l1_transaction_hash,
                l1_block_number=message.l1_block_number,
                message_hash=int.from_bytes(
                    l1_to_l2_message_hash(
                        message.from_address, to_address, message.nonce, message.selector, list(message.payload)
                    ),
                    "big",
                ),
                execution_resources=(0, 256, 60_000),
            )
        )
        return True

    def gas_prices(self) -> GasPrices:
        l1_wei = self.rng.randrange(5 * 10**9, 40 * 10**9)
        data_wei = self.rng.randrange(1, 10**6)
        strk_per_eth = self.rng.randrange(2_000, 4_000)
        return GasPrices(
            l1_gas=ResourcePrice(wei=l1_wei, fri=l1_wei * strk_per_eth),
            l1_data_gas=ResourcePrice(wei=data_wei, fri=data_wei * strk_per_eth),
            l2_gas=ResourcePrice(wei=self.rng.randrange(10**4, 10**6), fri=self.rng.randrange(10**7, 10**9)),
        )

    def content(self) -> BlockContent:
        return BlockContent(diff=self.diff, transactions=tuple(self.transactions), gas_prices=self.gas_prices())


class BlockGenerator:
    """Makes the genesis block and each following block from the seed and the chain state."""

    def __init__(self, config: NodeConfig):
        self.config = config

    def rng(self, number: int) -> random.Random:
        return random.Random(f"{self.config.seed}/{number}")

    def is_large(self, number: int) -> bool:
        every = self.config.large_block_every
        return every > 0 and number > 0 and number % every == 0

    def is_withdrawal_block(self, number: int) -> bool:
        every = self.config.withdrawal_every
        return every > 0 and number > 0 and number % every == 0

    def genesis(self) -> BlockContent:
        """Declare the token, account and bridge classes; deploy the tokens, the funded accounts and the bridge."""
        rng = self.rng(0)
        diff = BlockDiff()
        diff.declared[ERC20_CLASS_HASH] = ERC20_COMPILED_CLASS_HASH
        diff.declared[ACCOUNT_CLASS_HASH] = ACCOUNT_COMPILED_CLASS_HASH
        diff.declared[TOKEN_BRIDGE_CLASS_HASH] = TOKEN_BRIDGE_COMPILED_CLASS_HASH
        diff.deprecated_declared.append(LEGACY_PROXY_CLASS_HASH)
        tokens = [STRK_FEE_TOKEN_ADDRESS, ETH_FEE_TOKEN_ADDRESS]
        tokens += [rng.randrange(2**128, ADDR_BOUND) for _ in range(GENESIS_TOKEN_COUNT)]
        accounts = [rng.randrange(2**128, ADDR_BOUND) for _ in range(self.config.genesis_accounts)]
        for token in tokens:
            diff.deployed[token] = ERC20_CLASS_HASH
            diff.write(token, storage_address("ERC20_decimals"), 18)
            diff.write(token, storage_address("ERC20_total_supply"), GENESIS_BALANCE * len(accounts))
            for account in accounts:
                diff.write(token, balance_key(account), GENESIS_BALANCE)
        public_keys = {}
        for account in accounts:
            diff.deployed[account] = ACCOUNT_CLASS_HASH
            public_keys[account] = rng.randrange(1, FIELD_PRIME)
            diff.write(account, storage_address("Account_public_key"), public_keys[account])
        hashes = [rng.randrange(1, FIELD_PRIME) for _ in range(len(tokens) + len(accounts) + 1)]
        diff.deployed[L2_TOKEN_BRIDGE_ADDRESS] = TOKEN_BRIDGE_CLASS_HASH
        diff.write(L2_TOKEN_BRIDGE_ADDRESS, storage_address("l2_token"), BRIDGED_TOKEN_ADDRESS)
        diff.write(L2_TOKEN_BRIDGE_ADDRESS, storage_address("l1_bridge"), self.config.l1_bridge_address)
        deployments = [(t, ERC20_CLASS_HASH, ()) for t in tokens]
        deployments += [(a, ACCOUNT_CLASS_HASH, (public_keys[a],)) for a in accounts]
        deployments.append(
            (L2_TOKEN_BRIDGE_ADDRESS, TOKEN_BRIDGE_CLASS_HASH, (BRIDGED_TOKEN_ADDRESS, self.config.l1_bridge_address))
        )
        transactions = tuple(
            Transaction(
                kind=DEPLOY,
                transaction_hash=tx_hash,
                sender_address=address,
                class_hash=class_hash,
                calldata=constructor,
                contract_address_salt=address % 2**128,
            )
            for tx_hash, (address, class_hash, constructor) in zip(hashes, deployments)
        )
        builder = _BlockBuilder(ChainState(), rng, self.config.sequencer_address)
        return BlockContent(diff=diff, transactions=transactions, gas_prices=builder.gas_prices())

    def next_block(self, state: ChainState, number: int, l1_messages: Sequence[L1Message] = ()) -> BlockContent:
        """The block after ``state``'s head; ``l1_messages`` (in nonce order) are executed first."""
        rng = self.rng(number)
        builder = _BlockBuilder(state, rng, self.config.sequencer_address)
        chain_id = encode_shortstring(self.config.chain_id)
        for message in l1_messages:
            builder.l1_handler(message, chain_id)
        for _ in range(rng.randint(1, self.config.max_transactions_per_block)):
            roll = rng.random()
            if roll < 0.70:
                builder.transfer()
            elif roll < 0.80:
                builder.deploy()
            elif roll < 0.88:
                builder.declare()
            elif roll < 0.94:
                builder.deploy_account()
            elif not builder.replace_class():
                builder.transfer()
        if self.is_withdrawal_block(number):
            builder.withdraw(self.config.l1_bridge_address)
        if self.is_large(number) and self.config.large_block_storage_writes:
            builder.airdrop(self.config.large_block_storage_writes)
        return builder.content()
