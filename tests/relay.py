"""The request handler and the server thread of the small HTTP servers tests put in front of the
emulator (a Lambda API front, a fault-injecting proxy): any method's body
goes to ``serve``; ``reply`` answers with the upstream's headers minus those
the server writes itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

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


class RelayServer:
    """Serves a ``ThreadingHTTPServer`` on 127.0.0.1 from a daemon thread:
    ``start``/``stop`` (or ``with``), and its ``url`` once started.
    Subclasses build the server in ``make_server``."""

    #: How the thread is called (and errors name the server).
    server_name = "relay"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.server_name} not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError(f"{self.server_name} already started")
        self._server = self.make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.server_name,
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
        server.server_close()
