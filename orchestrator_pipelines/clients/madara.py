"""Reading the appchain: the Madara (Starknet) JSON-RPC node through starknet-py.

``MadaraClient`` is synchronous on purpose: Dagster ops and sensors are plain
functions, often on worker threads. Each call runs starknet-py's coroutine on a
private event loop (on a fresh thread if the caller already runs one), under a
deadline of ``timeout_s``.

Error policy, so callers can decide to retry or to stop:
- the block does not exist (yet) -> :class:`BlockNotFoundError`;
- the contract does not exist at that block -> :class:`ContractNotFoundError`;
- connection refused/reset, timeout, HTTP 5xx/429, JSON-RPC internal error,
  malformed or truncated JSON, an answer with neither ``result`` nor ``error``
  -> :class:`TransientError` naming the URL and the method;
- anything else the node answers (bad params, an answer that does not fit the
  RPC 0.10 schema, a chain id that is not a short string) -> :class:`MadaraRpcError`.

A transient fault is retried inside the client, per request (one bad answer
among the 25 state updates of a range costs one more request, not 25), up to
``read_attempts`` attempts with a doubling pause from ``retry_backoff_s``; the
error raised after the last attempt is one line, without the chained causes.

starknet-py is imported where a client is made or its answers are read, not when
this module is: importing it costs most of a CPU-second (it pulls in sympy), and
every Dagster run process imports this module through the code location, while
only the batch-preparing runs talk to the node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, TypeVar

from orchestrator_pipelines.config import setting_default
from orchestrator_pipelines.errors import OrchestratorError, TransientError
from orchestrator_pipelines.starknet.os_output import MessageToL1, MessageToL2
from orchestrator_pipelines.starknet.state_update import (
    ContractStorageDiff,
    DeclaredClass,
    DeployedContract,
    NonceUpdate,
    ReplacedClass,
    StateDiff,
    StateUpdate,
    StorageEntry,
)

if TYPE_CHECKING:
    from starknet_py.net.client_errors import ClientError
    from starknet_py.net.client_models import BlockStateUpdate, StarknetBlockWithReceipts
    from starknet_py.net.full_node_client import FullNodeClient

T = TypeVar("T")
K = TypeVar("K")

RPC_CONTRACT_NOT_FOUND = 20
RPC_BLOCK_NOT_FOUND = 24
RPC_INTERNAL_ERROR = -32603
DEFAULT_CONCURRENCY = 8
MAX_BACKOFF_S = 2.0


class MadaraRpcError(OrchestratorError):
    """The node answered, but not with what was asked for (bad request or unexpected shape)."""


class BlockNotFoundError(OrchestratorError):
    """The node has no such block (yet): the batch must wait or the range is wrong."""

    def __init__(self, block_number: int, rpc_url: str):
        self.block_number = block_number
        super().__init__(f"block {block_number} not found on the Madara node at {rpc_url}")


class ContractNotFoundError(OrchestratorError):
    """No contract is deployed at that address at that block."""

    def __init__(self, address: int, block_number: int, rpc_url: str):
        self.address = address
        self.block_number = block_number
        super().__init__(
            f"contract {hex(address)} not found at block {block_number} on the Madara node at {rpc_url}"
        )


@dataclass(frozen=True)
class BlockHeader:
    """The header fields the orchestrator uses: numbering, hashes, root, time, version."""

    number: int
    block_hash: int
    parent_hash: int
    timestamp: int
    new_root: int
    starknet_version: str


@dataclass(frozen=True)
class BlockMessages:
    """The L1<->L2 messages of a block range, in execution order (block, transaction, message).

    ``to_l2`` are the L1 handlers the blocks executed (the messages the OS reports as
    consumed on L1); ``to_l1`` the messages their successful transactions sent.
    """

    to_l1: list[MessageToL1]
    to_l2: list[MessageToL2]


def messages_from_starknet_py(blocks: Iterable[StarknetBlockWithReceipts]) -> BlockMessages:
    """Collect the messages of blocks read with ``starknet_getBlockWithReceipts``.

    An L1 handler's calldata starts with the L1 sender (``from_address``); the rest
    is the message payload, and its entry point selector is the message's selector.
    """
    from starknet_py.net.client_models import L1HandlerTransaction, TransactionExecutionStatus

    to_l1: list[MessageToL1] = []
    to_l2: list[MessageToL2] = []
    for block in blocks:
        for item in block.transactions:
            tx, receipt = item.transaction, item.receipt
            if isinstance(tx, L1HandlerTransaction):
                if not tx.calldata:
                    raise MadaraRpcError(
                        f"block {block.block_number}: L1 handler {tx.hash:#x} has no calldata (from_address missing)"
                    )
                to_l2.append(
                    MessageToL2(
                        from_address=tx.calldata[0],
                        to_address=tx.contract_address,
                        nonce=tx.nonce,
                        selector=tx.entry_point_selector,
                        payload=list(tx.calldata[1:]),
                    )
                )
            if receipt.execution_status == TransactionExecutionStatus.SUCCEEDED:
                to_l1.extend(
                    MessageToL1(from_address=m.l2_address, to_address=m.l1_address, payload=list(m.payload))
                    for m in receipt.messages_sent
                )
    return BlockMessages(to_l1=to_l1, to_l2=to_l2)


def state_update_from_starknet_py(update: BlockStateUpdate) -> StateUpdate:
    """Convert starknet-py's dataclasses to the shared formats model."""
    diff = update.state_diff
    return StateUpdate(
        block_hash=update.block_hash,
        old_root=update.old_root,
        new_root=update.new_root,
        state_diff=StateDiff(
            storage_diffs=[
                ContractStorageDiff(
                    address=item.address,
                    storage_entries=[StorageEntry(key=e.key, value=e.value) for e in item.storage_entries],
                )
                for item in diff.storage_diffs
            ],
            nonces=[NonceUpdate(contract_address=n.contract_address, nonce=n.nonce) for n in diff.nonces],
            deployed_contracts=[
                DeployedContract(address=d.address, class_hash=d.class_hash) for d in diff.deployed_contracts
            ],
            declared_classes=[
                DeclaredClass(class_hash=d.class_hash, compiled_class_hash=d.compiled_class_hash)
                for d in diff.declared_classes
            ],
            deprecated_declared_classes=list(diff.deprecated_declared_classes),
            replaced_classes=[
                ReplacedClass(contract_address=r.contract_address, class_hash=r.class_hash)
                for r in diff.replaced_classes
            ],
            # Starknet 0.14.1 nodes serve it; older ones leave it out.
            migrated_compiled_classes=[
                DeclaredClass(class_hash=m.class_hash, compiled_class_hash=m.compiled_class_hash)
                for m in (diff.migrated_compiled_classes or [])
            ],
        ),
    )


def _run_coroutine(coroutine: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code, whatever thread we are on.

    ``asyncio.run`` is called outside the ``except`` of the loop probe, so its
    errors do not carry a chained "no running event loop".
    """
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


class MadaraClient:
    """Synchronous, thread-safe reads from a Starknet JSON-RPC node (Madara or the devnet node)."""

    def __init__(
        self,
        rpc_url: str,
        timeout_s: float | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        read_attempts: int | None = None,
        retry_backoff_s: float | None = None,
    ):
        """``timeout_s`` bounds one attempt of one request; ``read_attempts`` is how many
        times a request is tried when it fails transiently before the error is raised,
        with ``retry_backoff_s`` (doubled each time, at most 2 s) between attempts.
        Unset, each comes from the settings' default."""
        timeout_s = setting_default("madara_rpc_timeout_s") if timeout_s is None else timeout_s
        read_attempts = setting_default("madara_read_attempts") if read_attempts is None else read_attempts
        retry_backoff_s = setting_default("madara_retry_backoff_s") if retry_backoff_s is None else retry_backoff_s
        if timeout_s <= 0:
            raise OrchestratorError(f"timeout_s must be positive, got {timeout_s}")
        if read_attempts < 1:
            raise OrchestratorError(f"read_attempts must be at least 1, got {read_attempts}")
        if retry_backoff_s < 0:
            raise OrchestratorError(f"retry_backoff_s must not be negative, got {retry_backoff_s}")
        self.read_attempts = read_attempts
        self.retry_backoff_s = retry_backoff_s
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s
        self.max_concurrency = max(1, max_concurrency)
        # No session: one is opened per request, which keeps the client usable from
        # any event loop (each call runs on its own).
        from starknet_py.net.full_node_client import FullNodeClient

        from orchestrator_pipelines.clients.madara_transport import StrictRpcHttpClient

        self._client = FullNodeClient(node_url=rpc_url)
        self._client._client = StrictRpcHttpClient(url=rpc_url)

    def head(self) -> int:
        """The latest block number."""
        return self._call("starknet_blockNumber", lambda c: c.get_block_number())

    def block(self, number: int) -> BlockHeader:
        from starknet_py.net.client_models import StarknetBlockWithTxHashes

        block = self._call(
            "starknet_getBlockWithTxHashes",
            lambda c: c.get_block_with_tx_hashes(block_number=number),
            block_number=number,
        )
        if not isinstance(block, StarknetBlockWithTxHashes):
            raise MadaraRpcError(f"starknet_getBlockWithTxHashes at {self.rpc_url}: block {number} is not confirmed")
        return BlockHeader(
            number=block.block_number,
            block_hash=block.block_hash,
            parent_hash=block.parent_hash,
            timestamp=block.timestamp,
            new_root=block.new_root,
            starknet_version=block.starknet_version,
        )

    def state_update(self, number: int) -> StateUpdate:
        update = self._call(
            "starknet_getStateUpdate",
            lambda c: self._get_state_update(c, number),
            block_number=number,
        )
        return self._converted("starknet_getStateUpdate", state_update_from_starknet_py, update)

    def state_updates(self, first: int, last: int) -> list[StateUpdate]:
        """State updates of blocks ``first..last`` inclusive, in order, fetched concurrently."""
        if first < 0 or last < first:
            raise OrchestratorError(f"invalid block range {first}..{last}")
        numbers = list(range(first, last + 1))
        updates = self._call_many(
            "starknet_getStateUpdate",
            numbers,
            lambda c, n: self._get_state_update(c, n),
            lambda n: {"block_number": n},
        )
        return [self._converted("starknet_getStateUpdate", state_update_from_starknet_py, u) for u in updates]

    def messages(self, first: int, last: int) -> BlockMessages:
        """The L1<->L2 messages of blocks ``first..last`` (``starknet_getBlockWithReceipts``, fetched concurrently)."""
        if first < 0 or last < first:
            raise OrchestratorError(f"invalid block range {first}..{last}")
        blocks = self._call_many(
            "starknet_getBlockWithReceipts",
            list(range(first, last + 1)),
            lambda c, n: self._get_block_with_receipts(c, n),
            lambda n: {"block_number": n},
        )
        return self._converted("starknet_getBlockWithReceipts", messages_from_starknet_py, blocks)

    async def _get_block_with_receipts(self, client: FullNodeClient, number: int) -> StarknetBlockWithReceipts:
        from starknet_py.net.client_models import StarknetBlockWithReceipts

        block = await client.get_block_with_receipts(block_number=number)
        if not isinstance(block, StarknetBlockWithReceipts):
            raise MadaraRpcError(f"starknet_getBlockWithReceipts at {self.rpc_url}: block {number} is not confirmed")
        return block

    def nonces(self, addresses: Iterable[int], block_number: int) -> dict[int, int]:
        """The nonce of each contract at one block, fetched concurrently (for DA encoding)."""
        unique = list(dict.fromkeys(addresses))
        values = self._call_many(
            "starknet_getNonce",
            unique,
            lambda c, a: c.get_contract_nonce(a, block_number=block_number),
            lambda a: {"block_number": block_number, "address": a},
        )
        return dict(zip(unique, values))

    def nonce(self, address: int, block_number: int) -> int:
        return self._call(
            "starknet_getNonce",
            lambda c: c.get_contract_nonce(address, block_number=block_number),
            block_number=block_number,
            address=address,
        )

    def storage_at(self, address: int, key: int, block_number: int) -> int:
        return self._call(
            "starknet_getStorageAt",
            lambda c: c.get_storage_at(address, key, block_number=block_number),
            block_number=block_number,
            address=address,
        )

    def class_hash_at(self, address: int, block_number: int) -> int:
        return self._call(
            "starknet_getClassHashAt",
            lambda c: c.get_class_hash_at(address, block_number=block_number),
            block_number=block_number,
            address=address,
        )

    def chain_id(self) -> str:
        """The chain id as text (e.g. "MADARA_DEVNET", "SN_SEPOLIA"); the node sends it as a felt."""
        from starknet_py.cairo.felt import decode_shortstring

        raw = self._call("starknet_chainId", lambda c: c.get_chain_id())
        try:
            return decode_shortstring(int(raw, 16))
        except (ValueError, TypeError) as exc:
            raise MadaraRpcError(f"starknet_chainId at {self.rpc_url}: not a hex short string: {raw!r}") from exc

    def spec_version(self) -> str:
        return self._call("starknet_specVersion", lambda c: c.spec_version())

    async def _get_state_update(self, client: FullNodeClient, number: int) -> BlockStateUpdate:
        from starknet_py.net.client_models import BlockStateUpdate

        update = await client.get_state_update(block_number=number)
        if not isinstance(update, BlockStateUpdate):
            raise MadaraRpcError(f"starknet_getStateUpdate at {self.rpc_url}: block {number} is not confirmed")
        return update

    def _converted(self, method: str, convert: Callable[[Any], T], value: Any) -> T:
        """``convert(value)``; a value starknet-py accepted but the formats model refuses is a MadaraRpcError."""
        try:
            return convert(value)
        except OrchestratorError:
            raise
        except (ValueError, TypeError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
            detail = _short(exc.errors(include_url=False)) if hasattr(exc, "errors") else _one_line(exc)
            error = MadaraRpcError(f"{method} at {self.rpc_url}: answer does not fit the orchestrator's model: {detail}")
        raise error

    def _call_many(
        self,
        method: str,
        items: list[K],
        request: Callable[[FullNodeClient, K], Awaitable[T]],
        context: Callable[[K], dict[str, int]],
    ) -> list[T]:
        """One request per item, at most ``max_concurrency`` in flight, each retried on its own; results in item order."""

        async def fetch_all() -> list[T]:
            limit = asyncio.Semaphore(self.max_concurrency)
            return list(await asyncio.gather(*(
                self._attempts(method, lambda c, item=item: request(c, item), limit, **context(item))
                for item in items
            )))

        return _run_coroutine(fetch_all())

    def _call(self, method: str, request: Callable[[FullNodeClient], Awaitable[T]], **kwargs: Any) -> T:
        """One read, tried up to ``read_attempts`` times while it fails transiently."""
        return _run_coroutine(self._attempts(method, request, None, **kwargs))

    def backoff_s(self, attempt: int) -> float:
        """The pause after failed attempt ``attempt`` (1-based)."""
        return min(self.retry_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)

    async def _attempts(
        self,
        method: str,
        request: Callable[[FullNodeClient], Awaitable[T]],
        limit: asyncio.Semaphore | None,
        **kwargs: Any,
    ) -> T:
        for attempt in range(1, self.read_attempts + 1):
            try:
                if limit is None:
                    return await self._once(method, request, **kwargs)
                async with limit:  # not held while pausing
                    return await self._once(method, request, **kwargs)
            except TransientError as exc:
                if attempt == self.read_attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise TransientError(f"{exc}{suffix}") from None
            await asyncio.sleep(self.backoff_s(attempt))
        raise AssertionError("unreachable")

    async def _once(
        self,
        method: str,
        request: Callable[[FullNodeClient], Awaitable[T]],
        *,
        block_number: int | None = None,
        address: int | None = None,
    ) -> T:
        """One attempt under ``timeout_s``; every failure becomes one of the client's one-line errors."""
        import aiohttp
        import marshmallow
        from starknet_py.net.client_errors import ClientError
        from starknet_py.net.http_client import ServerError

        from orchestrator_pipelines.clients.madara_transport import RpcTransportFault

        where = f"{method} at {self.rpc_url}"
        try:
            return await asyncio.wait_for(request(self._client), timeout=self.timeout_s)
        except (OrchestratorError, TransientError):
            raise
        except ClientError as exc:
            error = self._translate_client_error(exc, method, block_number, address)
        except RpcTransportFault as exc:
            error = TransientError(f"{where}: {exc}")
        except (asyncio.TimeoutError, TimeoutError):
            error = TransientError(f"{where}: no answer within {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            error = TransientError(f"{where}: {type(exc).__name__}: {_one_line(exc)}")
        except ServerError as exc:
            error = TransientError(f"{where}: answer without result or error: {_short(exc.body)}")
        except marshmallow.ValidationError as exc:
            error = MadaraRpcError(f"{where}: answer does not match the RPC 0.10 schema: {_short(exc.messages)}")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # Raised by starknet-py while reading a result whose shape it did not expect.
            error = MadaraRpcError(
                f"{where}: answer does not match the RPC 0.10 schema: {type(exc).__name__}: {_one_line(exc)}"
            )
        raise error

    def _translate_client_error(
        self, exc: ClientError, method: str, block_number: int | None = None, address: int | None = None
    ) -> OrchestratorError | TransientError:
        code = _int_code(exc.code)
        if code == RPC_BLOCK_NOT_FOUND and block_number is not None:
            return BlockNotFoundError(block_number, self.rpc_url)
        if code == RPC_CONTRACT_NOT_FOUND and address is not None and block_number is not None:
            return ContractNotFoundError(address, block_number, self.rpc_url)
        if isinstance(exc.code, str) and code is not None and (code >= 500 or code == 429):
            return TransientError(f"{method} at {self.rpc_url}: HTTP {code}")
        if code == RPC_INTERNAL_ERROR:
            return TransientError(f"{method} at {self.rpc_url}: node internal error: {exc.message}")
        return MadaraRpcError(f"{method} at {self.rpc_url}: {exc.message}")


def _int_code(code: Any) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def _short(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(exc: BaseException) -> str:
    return _short(exc) or type(exc).__name__
