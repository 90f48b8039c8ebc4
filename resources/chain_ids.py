"""The chain id check both peer resources run before handing out a client, with its cache.

A match is remembered for ``CHAIN_ID_RECHECK_S`` per URL and expected chain id
in the process (the code server evaluates every sensor tick, so a tick costs
no extra request while the peer keeps matching; a run process pays one). A
mismatch is never remembered: the first tick after the peer heals goes on.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from orchestrator_pipelines.peer_identity import ChainIdMismatchError

CHAIN_ID_RECHECK_S = 60.0
_matched: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


def check_chain_id(url: str, expected: object, read: Callable[[], object], problem: Callable[[object], str | None]) -> None:
    """Raise :class:`ChainIdMismatchError` when ``problem(read())`` names one; skip while a match is recent."""
    key = (url, str(expected))
    with _lock:
        matched_at = _matched.get(key)
    if matched_at is not None and time.monotonic() - matched_at < CHAIN_ID_RECHECK_S:
        return
    found = problem(read())
    if found:
        with _lock:
            _matched.pop(key, None)
        raise ChainIdMismatchError(found)
    with _lock:
        _matched[key] = time.monotonic()
