"""A local stand-in for a Slack incoming webhook, for the alert tests and the secret-leak test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlackWebhook:
    """A tiny HTTP server recording POSTed JSON bodies; answers with a chosen status.

    ``path`` is the webhook's secret part (Slack's ``/services/T…/B…/<token>``).
    """

    def __init__(self, status: int = 200, path: str = "/services/T000/B000/XXX"):
        self.status = status
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", "0"))
                webhook.paths.append(self.path)
                webhook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(webhook.status)
                self.end_headers()
                self.wfile.write(b"ok" if webhook.status == 200 else b"invalid_token")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SlackWebhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
