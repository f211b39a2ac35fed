"""A loopback HTTP proxy that injects faults into the durable-execution API.

:class:`FaultProxy` listens on 127.0.0.1 and forwards every request to a
target (the service emulator). Requests of the two calls a durable function
makes -- ``CheckpointDurableExecution`` (``POST .../checkpoint``) and
``GetDurableExecutionState`` (``GET .../state``) -- are numbered per
operation, one number per HTTP attempt, and the :class:`FaultPlan` of
:mod:`tests.reliability.faults` decides what happens to each, at the HTTP
level:

==========================  ==================================================
fault                       what the client sees
==========================  ==================================================
error statuses (429, 500,   the error answer, shaped like the Lambda API's;
503, 400, 403, 502)         not forwarded
``DROPPED``                 the connection closes without an answer (the
                            request was never forwarded)
``CONNECT_FAILED``          the connection is reset (TCP RST, not forwarded)
``TIMED_OUT``               no answer until after ``stall`` seconds, then a
                            close; never forwarded
``SLOW``                    forwarded, answered after ``slow`` seconds
``LOST_AFTER_TIMEOUT``      forwarded (the service applies it), then the
                            answer is held past the client's read timeout
                            and the connection closed
``LOST_AFTER_DROP``         forwarded, then the connection closes without
                            the answer
==========================  ==================================================

``stall`` must exceed the client's ``read_timeout`` and ``slow`` stay below
it. Every forwarded checkpoint is kept in :attr:`FaultProxy.forwarded`
with its ``ClientToken``, ``CheckpointToken`` and the service's answer, so a
test can see what the service did with a retried ClientToken
(:meth:`FaultProxy.repeated_client_tokens`).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from tests.relay import RelayHandler, RelayServer
from tests.reliability.faults import (
    CHECKPOINT,
    CONNECT_FAILED,
    DROPPED,
    GET_STATE,
    LOST_AFTER_DROP,
    LOST_AFTER_TIMEOUT,
    SLOW,
    TIMED_OUT,
    Fault,
    FaultPlan,
    Ledger,
    error_answer,
)

__all__ = ["FaultProxy", "Forwarded"]

logger = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
_API_PATH = re.compile(r"^/2025-12-01/durable-executions/[^/]+/(?P<call>checkpoint|state)$")
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "date", "server", "transfer-encoding", "keep-alive", "host"}
)


@dataclass(frozen=True)
class Forwarded:
    """One checkpoint attempt the proxy passed on, and the service's answer."""

    call: int
    client_token: str | None
    checkpoint_token: str | None
    status: int
    body: bytes
    answered: bool  # False: the answer was withheld from the client (a lost response)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__((LOCALHOST, 0), _Handler)


class _Handler(RelayHandler):
    server: _Server
    not_relayed = _HOP_BY_HOP
    log_name = "fault proxy"

    def serve(self, body: bytes) -> None:
        try:
            self.server.proxy._serve(self, body)
        except Exception:  # answer, never leave the client hanging
            logger.exception("fault proxy failed")
            self.reply(500, {"X-Amzn-ErrorType": "ServiceException"}, b'{"message": "proxy"}')

    def drop(self) -> None:
        """Close without an answer (the client reads EOF)."""
        self.close_connection = True

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class FaultProxy(RelayServer):
    """Forward to ``target_url``, injecting ``plan``'s faults (recorded in ``ledger``)."""

    def __init__(
        self,
        target_url: str,
        plan: FaultPlan,
        ledger: Ledger | None = None,
        *,
        stall: float = 1.5,
        slow: float = 0.2,
        http_timeout: float = 10.0,
    ) -> None:
        target = urllib.parse.urlsplit(target_url)
        if target.hostname != LOCALHOST or target.port is None:
            raise ValueError(f"FaultProxy forwards to {LOCALHOST} only, not {target_url!r}")
        self.target_port = target.port
        self.plan = plan
        self.ledger = ledger if ledger is not None else Ledger("proxy")
        self.stall = stall
        self.slow = slow
        self.http_timeout = http_timeout
        self.calls: dict[str, int] = {CHECKPOINT: 0, GET_STATE: 0}
        self.forwarded: list[Forwarded] = []
        self._lock = threading.Lock()
        super().__init__()

    # -- lifecycle (start, stop, url: RelayServer) ---------------------------

    server_name = "fault-proxy"

    def make_server(self) -> _Server:
        return _Server(self)

    # -- what the service did with retried ClientTokens ---------------------

    def repeated_client_tokens(self) -> list[tuple[Forwarded, Forwarded]]:
        """Pairs of forwarded checkpoints sharing ``(ClientToken, CheckpointToken)``:
        the first attempt and a botocore retry of the same call."""
        with self._lock:
            forwarded = list(self.forwarded)
        first: dict[tuple[str | None, str | None], Forwarded] = {}
        pairs = []
        for item in forwarded:
            key = (item.client_token, item.checkpoint_token)
            if item.client_token is not None and key in first:
                pairs.append((first[key], item))
            else:
                first.setdefault(key, item)
        return pairs

    # -- serving -------------------------------------------------------------

    def _serve(self, request: _Handler, body: bytes) -> None:
        path = urllib.parse.urlsplit(request.path).path
        match = _API_PATH.match(path)
        if match is None:
            status, headers, answer = self._forward(request, body)
            request.reply(status, headers, answer)
            return
        operation = CHECKPOINT if match.group("call") == "checkpoint" else GET_STATE
        with self._lock:
            self.calls[operation] += 1
            call = self.calls[operation]
        fault = self.plan.fault_for(operation, call)
        if fault is not None:
            self.ledger.record(operation, call, fault)
        if fault is None or fault is SLOW:
            if fault is SLOW:
                time.sleep(self.slow)
            status, headers, answer = self._forward(request, body)
            self._remember(operation, call, body, status, answer, answered=True)
            request.reply(status, headers, answer)
            return
        self._inject(request, operation, call, body, fault)

    def _inject(
        self, request: _Handler, operation: str, call: int, body: bytes, fault: Fault
    ) -> None:
        if fault in (LOST_AFTER_TIMEOUT, LOST_AFTER_DROP):
            status, _, answer = self._forward(request, body)
            self._remember(operation, call, body, status, answer, answered=False)
            if fault is LOST_AFTER_TIMEOUT:
                time.sleep(self.stall)
            request.drop()
        elif fault is TIMED_OUT:
            time.sleep(self.stall)
            request.drop()
        elif fault is DROPPED:
            request.drop()
        elif fault is CONNECT_FAILED:
            request.reset()
        elif fault.status is not None:
            error = error_answer(fault.status, fault.code, fault.message)
            request.reply(error.status, error.headers, error.body)
        else:
            raise AssertionError(f"the proxy cannot inject {fault!r}")

    def _remember(
        self, operation: str, call: int, body: bytes, status: int, answer: bytes, *, answered: bool
    ) -> None:
        if operation != CHECKPOINT:
            return
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        with self._lock:
            self.forwarded.append(
                Forwarded(
                    call=call,
                    client_token=params.get("ClientToken"),
                    checkpoint_token=params.get("CheckpointToken"),
                    status=status,
                    body=answer,
                    answered=answered,
                )
            )

    def _forward(self, request: _Handler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in _HOP_BY_HOP
        }
        connection = http.client.HTTPConnection(
            LOCALHOST, self.target_port, timeout=self.http_timeout
        )
        try:
            connection.request(request.command, request.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()
