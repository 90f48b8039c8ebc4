"""JSON cursors: sensors remember a few numbers between ticks, never lists that grow with the chain."""

from __future__ import annotations

import json
from typing import Any


def load_cursor(raw: str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def dump_cursor(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
