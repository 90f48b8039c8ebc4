"""``orchestrator config show``: the settings a deployment would run with, and where each came from.

The same loader as the code location (:func:`~orchestrator_pipelines.config.load_settings`),
so an operator checks an environment file before starting anything: a bad or
refused variable exits non-zero with the one-line reason. Secrets are shown as
set or unset with the variable that holds them, never their value; a URL's
password (``postgresql://user:password@host/db``) is shown as ``***``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="the effective settings")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    show = config_sub.add_parser(
        "show", help="effective settings and the variable each came from (secrets as set/unset)"
    )
    show.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    show.set_defaults(func=run_show)


def effective_settings(environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every setting's value and source, then every secret's variable and whether it is set."""
    from orchestrator_pipelines.config import SECRET_ENV_VARS, load_settings, secret_env_name, setting_sources

    environ = dict(os.environ) if environ is None else environ
    settings = load_settings(environ)
    sources = setting_sources(environ)
    shown: dict[str, dict[str, Any]] = {
        name: {"value": without_password(getattr(settings, name)), "source": sources[name] or "default"}
        for name in type(settings).model_fields
    }
    for name in SECRET_ENV_VARS:
        variable = secret_env_name(name, environ)
        shown[name] = {"value": "set" if environ.get(variable) else "unset", "source": variable, "secret": True}
    return shown


def without_password(value: Any) -> Any:
    """``value`` with the password of a URL in it replaced by ``***`` (the database URLs carry one)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def run_show(args: argparse.Namespace) -> int:
    shown = effective_settings()
    if args.json:
        print(json.dumps({"settings": shown}, sort_keys=True))
        return 0
    width = max(len(name) for name in shown)
    value_width = min(60, max(len(_text(entry["value"])) for entry in shown.values()))
    print(f"{'setting':<{width}}  {'value':<{value_width}}  from")
    for name, entry in shown.items():
        print(f"{name:<{width}}  {_text(entry['value']):<{value_width}}  {entry['source']}")
    return 0


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
