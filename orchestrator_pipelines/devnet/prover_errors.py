"""The refusal the devnet prover answers with: an HTTP status and the service's one-line message."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the service refuses: HTTP status and the one-line message the client gets."""

    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
