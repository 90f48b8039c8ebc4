"""The JSON-RPC transport under starknet-py, strict about what comes back from the node.

starknet-py's ``RpcHttpClient`` trusts the wire: a truncated body raises a bare
``JSONDecodeError``, an answer without ``result`` a ``KeyError`` (on the spec
version check) or a ``ServerError``, a JSON array a ``TypeError``; none of them
names the method or the node. This transport reads the body itself and turns
each such fault into a :class:`RpcTransportFault` saying what was wrong, so
:class:`~orchestrator_pipelines.clients.madara.MadaraClient` can call it
transient (worth another attempt) and name the method and URL, while a
well-formed JSON-RPC error (bad params, block not found) stays a ``ClientError``
and an answer that does not fit the schema stays a schema error.

starknet-py is imported at the top: import this module only where a client is made.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from aiohttp import ClientSession
from starknet_py.constants import EXPECTED_RPC_VERSION
from starknet_py.net.client_errors import ClientError
from starknet_py.net.http_client import IncompatibleRPCVersionWarning, RpcHttpClient

PREVIEW_BYTES = 60


class RpcTransportFault(Exception):
    """The node's answer is not a usable JSON-RPC response (malformed or truncated JSON, no result)."""


def envelope_result(body: bytes) -> Any:
    """The ``result`` of a JSON-RPC answer body; a well-formed ``error`` raises ``ClientError``.

    Anything else (not JSON, not an object, neither result nor a proper error)
    raises :class:`RpcTransportFault` with a one-line description.
    """
    try:
        answer = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise RpcTransportFault(
            f"malformed or truncated JSON ({len(body)} bytes: {body[:PREVIEW_BYTES]!r})"
        ) from None
    except RecursionError:
        raise RpcTransportFault(f"JSON nested too deeply ({len(body)} bytes)") from None
    if not isinstance(answer, dict):
        raise RpcTransportFault(f"answer is a JSON {type(answer).__name__}, not an object")
    if "result" in answer:
        return answer["result"]
    error = answer.get("error")
    if isinstance(error, dict) and isinstance(error.get("code"), int) and not isinstance(error.get("code"), bool):
        message = error.get("message")
        data = error.get("data")
        raise ClientError(
            code=error["code"],
            message=message if isinstance(message, str) else json.dumps(message)[:200],
            data=None if data is None else json.dumps(data)[:200],
        )
    raise RpcTransportFault(f"answer has no result and no JSON-RPC error: {json.dumps(answer)[:200]}")


class StrictRpcHttpClient(RpcHttpClient):
    """``RpcHttpClient`` whose answers go through :func:`envelope_result`; one HTTP session per request."""

    async def call(self, method_name: str, params: Any = None) -> Any:
        await self._check_spec_version()
        return await self._rpc(f"{self.method_prefix}_{method_name}", params if params else [])

    async def _check_spec_version(self) -> None:
        if self._is_spec_version_verified:
            return
        version = await self._rpc("starknet_specVersion", [])
        if version != EXPECTED_RPC_VERSION:
            warnings.warn(
                f"RPC node with the url {self.url} uses incompatible version {version}. "
                f"Expected version: {EXPECTED_RPC_VERSION}",
                IncompatibleRPCVersionWarning,
                stacklevel=2,
            )
        self._is_spec_version_verified = True

    async def _rpc(self, method: str, params: Any) -> Any:
        payload = {"jsonrpc": "2.0", "method": method, "id": 0, "params": params}
        async with ClientSession() as session:
            async with session.post(self.url, json=payload) as response:
                if response.status >= 300:
                    text = (await response.read())[:200].decode("utf-8", errors="replace")
                    raise ClientError(code=str(response.status), message=" ".join(text.split()))
                body = await response.read()
        return envelope_result(body)
