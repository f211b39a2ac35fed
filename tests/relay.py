"""The request handler of the small HTTP servers tests put in front of the
emulator (a Lambda API front, a fault-injecting proxy): any method's body
goes to ``serve``; ``reply`` answers with the upstream's headers minus those
the server writes itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

logger = logging.getLogger(__name__)


class RelayHandler(BaseHTTPRequestHandler):
    # One request per connection: a dropped or reset connection never takes
    # a pooled keep-alive connection of another request with it.
    protocol_version = "HTTP/1.0"
    #: Upstream headers never copied into a reply.
    not_relayed: frozenset[str] = frozenset(
        {"connection", "content-length", "date", "server", "transfer-encoding"}
    )
    #: How the debug log names this server.
    log_name = "relay"

    def serve(self, body: bytes) -> None:
        raise NotImplementedError

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.serve(self.rfile.read(length) if length > 0 else b"")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(f"{self.log_name}: " + format, *args)

    def reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in self.not_relayed:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
