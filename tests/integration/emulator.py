"""A harness that runs Lambda handlers against the service emulator over HTTP.

The reference SDK's testing package ships an emulator of the durable-execution
service (``WebRunner``). It does not host functions: to run one it calls the
Lambda ``Invoke`` API at a configurable endpoint. This module provides that
endpoint and everything around it, so an interoperability test can:

* start an emulator on 127.0.0.1 (a free port, time skipping configurable) and
  stop it again, bounded, with the serving threads joined and both ports
  released (the emulator's own invocation pool is left to its daemon threads);
* register Lambda handlers by function name -- any callable
  ``(event, lambda_context) -> dict``, whichever SDK produced it;
* hand those handlers a real boto3 ``lambda`` client pointed at the emulator,
  whose checkpoint and state calls are recorded through botocore's event
  hooks (so the recording works for any SDK given that client);
* start executions, wait for them (bounded), and inspect what crossed the wire:
  invocation events and outputs, checkpoint requests and responses, the
  reconstructed final operation log, and the service's history.

Every wait is bounded. Servers bind 127.0.0.1 only.

The emulator signs its ``Invoke`` calls with the default boto3 credential
chain, so dummy credentials must be in the environment before ``start()``;
:func:`dummy_aws_environment` (or the ``aws_dummy_env`` pytest fixture) sets
them.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import os
import re
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
from botocore.config import Config

__all__ = [
    "DUMMY_ACCOUNT_ID",
    "DUMMY_AWS_ENVIRONMENT",
    "ApiCall",
    "EmulatorHarness",
    "ExecutionResult",
    "FakeLambdaContext",
    "FrontStart",
    "Handler",
    "InvocationRecord",
    "UNSET_AWS_ENVIRONMENT",
    "LambdaApiFront",
    "LambdaEndpoint",
    "WireRecorder",
    "dummy_aws_environment",
    "split_function_name",
    "to_jsonable",
]

from tests.relay import RelayHandler, RelayServer

logger = logging.getLogger(__name__)

#: A Lambda handler: ``handler(event, lambda_context) -> dict``.
Handler = Callable[[Any, Any], Any]

DUMMY_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
LOCALHOST = "127.0.0.1"

#: Environment the emulator's own boto3 client needs (it signs its Invoke
#: calls) and that keeps botocore from reading a developer's AWS setup or
#: probing the instance-metadata service for credentials.
DUMMY_AWS_ENVIRONMENT: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
    "AWS_REGION": DEFAULT_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
#: Variables removed from the environment for the same reasons.
UNSET_AWS_ENVIRONMENT: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)

CHECKPOINT = "CheckpointDurableExecution"
GET_STATE = "GetDurableExecutionState"
RECORDED_OPERATIONS: tuple[str, ...] = (CHECKPOINT, GET_STATE)

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
_CONTEXT_KEY = "durable_harness_call"


@contextlib.contextmanager
def dummy_aws_environment() -> Iterator[None]:
    """Set :data:`DUMMY_AWS_ENVIRONMENT` (and unset the rest) for the block.

    For scripts; pytest tests use the ``aws_dummy_env`` fixture instead.
    """
    saved = {
        name: os.environ.get(name) for name in (*DUMMY_AWS_ENVIRONMENT, *UNSET_AWS_ENVIRONMENT)
    }
    try:
        for name in UNSET_AWS_ENVIRONMENT:
            os.environ.pop(name, None)
        os.environ.update(DUMMY_AWS_ENVIRONMENT)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------


def epoch_millis(value: dt.datetime) -> int:
    """A datetime as integer milliseconds since the epoch, as invocation events carry them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def to_jsonable(value: Any) -> Any:
    """A deep copy of a botocore-parsed structure that ``json.dumps`` accepts.

    Datetimes become epoch milliseconds (the shape of an invocation event's
    operations), bytes become UTF-8 text, and botocore's ``ResponseMetadata``
    is dropped.
    """
    if isinstance(value, dt.datetime):
        return epoch_millis(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {
            str(key): to_jsonable(item) for key, item in value.items() if key != "ResponseMetadata"
        }
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def split_function_name(identifier: str) -> tuple[str, str | None]:
    """``(name, qualifier)`` from any form the Invoke API accepts.

    Accepts ``name``, ``name:qualifier``, ``account:function:name[:qualifier]``
    and ``arn:aws:lambda:region:account:function:name[:qualifier]``.
    """
    parts = urllib.parse.unquote(identifier).split(":")
    if "function" in parts:
        index = parts.index("function")
        rest = parts[index + 1 :]
    else:
        rest = parts
    if not rest or not rest[0]:
        return identifier, None
    qualifier = rest[1] if len(rest) > 1 and rest[1] else None
    return rest[0], qualifier


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------


@dataclass
class InvocationRecord:
    """One Invoke the Lambda endpoint served."""

    seq: int
    function_name: str
    qualifier: str | None
    request_id: str
    event: Any
    handler_invoke: bool  # the emulator's X-Dex-Handler-Invoke marker was present
    output: Any = None
    function_error: dict[str, Any] | None = None  # the Lambda error body, if it raised
    started: float = 0.0
    finished: float | None = None

    @property
    def arn(self) -> str | None:
        if isinstance(self.event, Mapping):
            arn = self.event.get("DurableExecutionArn")
            return arn if isinstance(arn, str) else None
        return None

    @property
    def initial_operations(self) -> list[dict[str, Any]]:
        """The operations of the event's first state page."""
        if not isinstance(self.event, Mapping):
            return []
        state = self.event.get("InitialExecutionState") or {}
        return list(state.get("Operations") or [])

    @property
    def output_status(self) -> str | None:
        if isinstance(self.output, Mapping):
            status = self.output.get("Status")
            return status if isinstance(status, str) else None
        return None


@dataclass
class ApiCall:
    """One durable-execution API call made through the harness's boto3 client."""

    seq: int
    operation: str  # "CheckpointDurableExecution" or "GetDurableExecutionState"
    arn: str
    request: dict[str, Any]
    response: dict[str, Any] | None  # JSON form, timestamps as epoch ms
    http_status: int | None
    error: str | None
    invocation: int | None  # index of the invocation whose token chain it used

    @property
    def updates(self) -> list[dict[str, Any]]:
        return list(self.request.get("Updates") or [])

    @property
    def returned_operations(self) -> list[dict[str, Any]]:
        if self.response is None:
            return []
        if self.operation == CHECKPOINT:
            state = self.response.get("NewExecutionState") or {}
            return list(state.get("Operations") or [])
        return list(self.response.get("Operations") or [])


@dataclass
class _ExecutionLog:
    invocations: list[InvocationRecord] = field(default_factory=list)
    calls: list[ApiCall] = field(default_factory=list)
    token_owner: dict[str, int] = field(default_factory=dict)


class WireRecorder:
    """Thread-safe, per-execution record of what crossed the wire on the handler side."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._logs: dict[str, _ExecutionLog] = {}
        self._other: list[InvocationRecord] = []

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _log(self, arn: str) -> _ExecutionLog:
        log = self._logs.get(arn)
        if log is None:
            log = self._logs[arn] = _ExecutionLog()
        return log

    # -- writers -----------------------------------------------------------

    def begin_invocation(
        self,
        function_name: str,
        qualifier: str | None,
        request_id: str,
        event: Any,
        *,
        handler_invoke: bool,
    ) -> InvocationRecord:
        with self._lock:
            record = InvocationRecord(
                seq=self._next_seq(),
                function_name=function_name,
                qualifier=qualifier,
                request_id=request_id,
                event=copy.deepcopy(event),
                handler_invoke=handler_invoke,
                started=time.monotonic(),
            )
            arn = record.arn
            if arn is None:
                self._other.append(record)
            else:
                log = self._log(arn)
                token = event.get("CheckpointToken")
                if isinstance(token, str):
                    log.token_owner[token] = len(log.invocations)
                log.invocations.append(record)
            return record

    def end_invocation(
        self,
        record: InvocationRecord,
        *,
        output: Any = None,
        function_error: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            record.output = copy.deepcopy(output)
            record.function_error = function_error
            record.finished = time.monotonic()

    def record_call(
        self,
        operation: str,
        request: Mapping[str, Any],
        response: Mapping[str, Any] | None,
        http_status: int | None,
        error: str | None,
    ) -> None:
        arn = request.get("DurableExecutionArn")
        if not isinstance(arn, str):
            return
        with self._lock:
            log = self._log(arn)
            token = request.get("CheckpointToken")
            owner = log.token_owner.get(token) if isinstance(token, str) else None
            json_response = to_jsonable(response) if response is not None else None
            if operation == CHECKPOINT and owner is not None and json_response is not None:
                new_token = json_response.get("CheckpointToken")
                if isinstance(new_token, str):
                    log.token_owner[new_token] = owner
            log.calls.append(
                ApiCall(
                    seq=self._next_seq(),
                    operation=operation,
                    arn=arn,
                    request=to_jsonable(request),
                    response=json_response,
                    http_status=http_status,
                    error=error,
                    invocation=owner,
                )
            )

    # -- readers -----------------------------------------------------------

    def arns(self) -> list[str]:
        with self._lock:
            return list(self._logs)

    def invocations(self, arn: str) -> list[InvocationRecord]:
        with self._lock:
            log = self._logs.get(arn)
            return list(log.invocations) if log else []

    def other_invocations(self) -> list[InvocationRecord]:
        """Invocations whose event was not a durable invocation event (plain targets)."""
        with self._lock:
            return list(self._other)

    def calls(self, arn: str, operation: str | None = None) -> list[ApiCall]:
        with self._lock:
            log = self._logs.get(arn)
            calls = list(log.calls) if log else []
        return [c for c in calls if operation is None or c.operation == operation]

    def final_operations(self, arn: str) -> list[dict[str, Any]]:
        """The execution's final operation log, in wire (invocation-event) form.

        Starts from the last invocation event's operations, then upserts (by
        ``Id``, in arrival order) every operation that a later
        ``GetDurableExecutionState`` page or checkpoint response returned.
        """
        with self._lock:
            log = self._logs.get(arn)
            if log is None or not log.invocations:
                msg = f"no invocation recorded for {arn}"
                raise LookupError(msg)
            last = log.invocations[-1]
            calls = [c for c in log.calls if c.seq > last.seq]
            operations: dict[str, dict[str, Any]] = {}
            for op in last.initial_operations:
                operations[op["Id"]] = copy.deepcopy(op)
            for call in calls:
                for op in call.returned_operations:
                    operations[op["Id"]] = copy.deepcopy(op)
            return list(operations.values())

    def install(self, client: Any) -> None:
        """Record every checkpoint and state call made through ``client``."""
        events = client.meta.events
        for operation in RECORDED_OPERATIONS:
            events.register(f"before-parameter-build.lambda.{operation}", self._on_params)
            events.register(f"after-call.lambda.{operation}", self._on_after_call)
            events.register(f"after-call-error.lambda.{operation}", self._on_after_call_error)

    # botocore event handlers. ``context`` is one dict per API call; the
    # parameter dict is kept by reference and copied once the call is done,
    # after every parameter handler (e.g. the ClientToken one) has run.

    def _on_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = params

    def _on_after_call(
        self,
        http_response: Any,
        parsed: Mapping[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        params = context.get(_CONTEXT_KEY) or {}
        status = getattr(http_response, "status_code", None)
        if status is not None and status >= 300:
            error = json.dumps(to_jsonable(parsed.get("Error") or {}))
            self.record_call(model.name, params, None, status, error)
        else:
            self.record_call(model.name, params, parsed, status, None)

    def _on_after_call_error(
        self, exception: BaseException, context: dict[str, Any], event_name: str, **_: Any
    ) -> None:
        name = event_name.rsplit(".", 1)[-1]
        params = context.get(_CONTEXT_KEY) or {}
        self.record_call(name, params, None, None, repr(exception))


# ---------------------------------------------------------------------------
# The Lambda Invoke endpoint
# ---------------------------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The parts of the Lambda runtime's context object handlers use."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = "128"
    log_group_name: str = ""
    log_stream_name: str = ""
    tenant_id: str | None = None
    client_context: Any = None
    identity: Any = None
    timeout_seconds: float = 60.0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            self.log_stream_name = f"2025/01/01/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))

    def log(self, msg: str) -> None:
        logger.info("[%s] %s", self.function_name, msg)


@dataclass
class _Registration:
    handler: Handler
    delay: float | None


class _InvokeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # the endpoint joins its own threads, with a timeout

    def __init__(self, endpoint: LambdaEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__((LOCALHOST, 0), _InvokeRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="lambda-endpoint-request",
            daemon=True,
        )
        self.endpoint._track(thread)
        thread.start()


class _InvokeRequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no thread idles on keep-alive.
    protocol_version = "HTTP/1.0"
    server: _InvokeServer

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        match = _INVOKE_PATH.match(path)
        if match is None:
            self._send_error(404, "UnknownOperationException", f"Unknown operation {path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.endpoint._serve_invoke(self, match.group("name"), body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("lambda endpoint: " + format, *args)

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode("utf-8") if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _send_error(self, status: int, error_type: str, message: str) -> None:
        # The shape of the Lambda API's own errors: botocore reads the code
        # from X-Amzn-ErrorType.
        self._send_json(
            status,
            {"Type": "User", "message": message},
            {"X-Amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
        )


class LambdaEndpoint:
    """A tiny Lambda ``Invoke`` API on 127.0.0.1, serving registered handlers by name.

    ``POST /2015-03-31/functions/{name}/invocations`` JSON-decodes the body,
    calls ``handler(event, FakeLambdaContext)`` and answers 200 with the
    output as JSON. A handler that raises yields what Lambda returns for an
    unhandled error: 200, ``X-Amz-Function-Error: Unhandled`` and
    ``{"errorMessage", "errorType", "requestId", "stackTrace"}``. An unknown
    function is a 404 ``ResourceNotFoundException``.

    ``delay`` (seconds, default for every handler; overridable per
    registration) is slept before the handler runs: real functions take a
    moment to start, and targets that start instantly can race their caller.
    """

    def __init__(
        self,
        recorder: WireRecorder | None = None,
        *,
        delay: float = 0.0,
        region: str = DEFAULT_REGION,
        account_id: str = DUMMY_ACCOUNT_ID,
        function_timeout_seconds: float = 60.0,
    ) -> None:
        self.recorder = recorder if recorder is not None else WireRecorder()
        self.delay = delay
        self.region = region
        self.account_id = account_id
        self.function_timeout_seconds = function_timeout_seconds
        self._handlers: dict[str, _Registration] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._server: _InvokeServer | None = None
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            msg = "endpoint not started"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            msg = "endpoint already started"
            raise RuntimeError(msg)
        self._server = _InvokeServer(self)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lambda-endpoint-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests, wait (bounded) for running handlers, release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + timeout
        server.shutdown()
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        with self._lock:
            threads = list(self._threads)
        stuck = []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        if stuck:
            msg = f"Lambda endpoint handlers still running after {timeout}s: {stuck}"
            raise TimeoutError(msg)

    def _track(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no handler is running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"{self._active} handler invocation(s) still running after {timeout}s"
                    raise TimeoutError(msg)
                self._idle.wait(remaining)

    # -- registration ------------------------------------------------------

    def register(self, name: str, handler: Handler, *, delay: float | None = None) -> None:
        """Serve ``handler`` as function ``name`` (``name:qualifier`` registers one qualifier)."""
        with self._lock:
            self._handlers[name] = _Registration(handler, delay)

    def _lookup(self, name: str, qualifier: str | None) -> _Registration | None:
        with self._lock:
            if qualifier is not None and f"{name}:{qualifier}" in self._handlers:
                return self._handlers[f"{name}:{qualifier}"]
            return self._handlers.get(name)

    # -- serving -----------------------------------------------------------

    def _serve_invoke(self, request: _InvokeRequestHandler, raw_name: str, body: bytes) -> None:
        name, qualifier = split_function_name(raw_name)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        if qualifier is None and query.get("Qualifier"):
            qualifier = query["Qualifier"][0]
        registration = self._lookup(name, qualifier)
        if registration is None:
            arn = self._function_arn(name, qualifier)
            request._send_error(404, "ResourceNotFoundException", f"Function not found: {arn}")
            return
        try:
            event: Any = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError as exc:
            request._send_error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            )
            return

        invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "DryRun":
            request._send_json(204, None)
            return
        handler_invoke = (request.headers.get("X-Dex-Handler-Invoke") or "").lower() == "true"
        request_id = str(uuid.uuid4())
        context = FakeLambdaContext(
            function_name=name,
            aws_request_id=request_id,
            invoked_function_arn=self._function_arn(name, qualifier),
            function_version=qualifier or "$LATEST",
            tenant_id=request.headers.get("X-Amz-Tenant-Id"),
            timeout_seconds=self.function_timeout_seconds,
        )
        record = self.recorder.begin_invocation(
            name, qualifier, request_id, event, handler_invoke=handler_invoke
        )
        if invocation_type == "Event":
            # Asynchronous invoke: accepted now, run on a tracked thread.
            request._send_json(202, None, {"x-amzn-RequestId": request_id})
            thread = threading.Thread(
                target=self._run_handler,
                args=(registration, event, context, record),
                name="lambda-endpoint-async",
                daemon=True,
            )
            self._track(thread)
            thread.start()
            return
        status_headers, payload = self._run_handler(registration, event, context, record)
        request._send_json(
            200,
            payload,
            {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST", **status_headers},
        )

    def _run_handler(
        self,
        registration: _Registration,
        event: Any,
        context: FakeLambdaContext,
        record: InvocationRecord,
    ) -> tuple[dict[str, str], Any]:
        with self._lock:
            self._active += 1
        try:
            delay = self.delay if registration.delay is None else registration.delay
            if delay > 0:
                time.sleep(delay)
            try:
                output = registration.handler(event, context)
                json.dumps(output)  # the runtime marshals the output
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                self.recorder.end_invocation(record, function_error=error)
                return {"X-Amz-Function-Error": "Unhandled"}, error
            self.recorder.end_invocation(record, output=output)
            return {}, output
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _function_arn(self, name: str, qualifier: str | None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn


# ---------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------


@dataclass
class ExecutionResult:
    """A finished (or no longer RUNNING) execution, as GetDurableExecution reports it."""

    arn: str
    status: str
    result: Any  # the JSON-decoded Result, None if absent
    error: dict[str, Any] | None
    response: dict[str, Any]  # the whole GetDurableExecution response, JSON form
    harness: EmulatorHarness = field(repr=False)

    def history(self) -> list[dict[str, Any]]:
        """Every history event (all pages, execution data included), JSON form."""
        return self.harness.history(self.arn)

    def event_types(self) -> list[str]:
        return [event["EventType"] for event in self.history()]

    def final_operations(self) -> list[dict[str, Any]]:
        return self.harness.final_operations(self.arn)

    def checkpoint_calls(self) -> list[ApiCall]:
        return self.harness.checkpoint_calls(self.arn)

    def invocations(self) -> list[InvocationRecord]:
        return self.harness.invocations(self.arn)


class EmulatorHarness:
    """One emulator (``WebRunner``), one Lambda endpoint and a recorded boto3 client.

    Use as a context manager or call :meth:`start` / :meth:`stop`. One harness
    per test or scenario: with ``skip_time`` the emulator's clock is shared by
    all its executions.

    Options:

    * ``skip_time``: durable timers (waits, step retry delays) fire on the
      emulator's next turn instead of in real time. Beware the timer quirk
      (emulator.md): a wait may fire before the invocation that started it
      has returned, which reorders history events.
    * ``max_invocation_page_bytes``: the emulator's page budget for the
      invocation event and ``GetDurableExecutionState``, counted in payload
      bytes (results, errors, input) -- set it small to force state paging.
    * ``invoke_delay``: seconds the Invoke endpoint sleeps before every
      handler (per-function override in :meth:`register`).
    * ``invocation_timeout_seconds``: the emulated function timeout; also
      what ``get_remaining_time_in_millis`` counts down from.
    * ``function_configs``: the emulator's chained-invoke targets,
      ``{name: {} | {"DurableConfig": {...}}}``.
    * ``function_error_retry_delay``: after a function error the emulator
      re-invokes after 5 real seconds (time skipping does not apply); set a
      small value to exercise crash-and-retry paths quickly.
    * ``stop_timeout``: bound on everything :meth:`stop` waits for.
    """

    #: botocore settings for the handler-side client: fail fast in tests.
    CLIENT_CONFIG: ClassVar[Config] = Config(
        connect_timeout=2,
        read_timeout=15,
        retries={"mode": "standard", "total_max_attempts": 2},
        user_agent_extra="durable-tests-harness",
    )

    def __init__(
        self,
        *,
        skip_time: bool = True,
        max_invocation_page_bytes: int | None = None,
        invoke_delay: float = 0.0,
        invocation_timeout_seconds: int = 60,
        function_configs: Mapping[str, Any] | None = None,
        function_error_retry_delay: float | None = None,
        region: str = DEFAULT_REGION,
        stop_timeout: float = 10.0,
    ) -> None:
        self.skip_time = skip_time
        #: Re-invocations the harness asked for, by execution (``_nudge_if_stalled``).
        self.nudges: dict[str, int] = {}
        self._nudged: dict[str, float] = {}
        self.function_error_retry_delay = function_error_retry_delay
        self.max_invocation_page_bytes = max_invocation_page_bytes
        self.invocation_timeout_seconds = invocation_timeout_seconds
        self.function_configs = function_configs
        self.region = region
        self.stop_timeout = stop_timeout
        self.recorder = WireRecorder()
        self.lambda_endpoint = LambdaEndpoint(
            self.recorder,
            delay=invoke_delay,
            region=region,
            function_timeout_seconds=invocation_timeout_seconds,
        )
        self._runner: Any = None
        self._web_server: Any = None
        self._serve_thread: threading.Thread | None = None
        self._port: int | None = None
        self._client: Any = None
        self._control: Any = None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> EmulatorHarness:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def started(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        # Imported here so that collecting tests never needs the testing package.
        from aws_durable_execution_sdk_python_testing.child_dispatcher import FunctionConfigs
        from aws_durable_execution_sdk_python_testing.runner import WebRunner, WebRunnerConfig
        from aws_durable_execution_sdk_python_testing.web.server import WebServiceConfig

        if self._runner is not None:
            msg = "harness already started"
            raise RuntimeError(msg)
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            msg = (
                "the emulator signs its Invoke calls: set dummy AWS credentials first "
                "(the aws_dummy_env fixture or dummy_aws_environment())"
            )
            raise RuntimeError(msg)
        self.lambda_endpoint.start()
        try:
            config = WebRunnerConfig(
                web_service=WebServiceConfig(host=LOCALHOST, port=0, log_level=logging.WARNING),
                lambda_endpoint=self.lambda_endpoint.url,
                local_runner_region=self.region,
                invocation_timeout_seconds=self.invocation_timeout_seconds,
                skip_time=self.skip_time,
                max_invocation_page_bytes=self.max_invocation_page_bytes,
                function_configs=(
                    FunctionConfigs.from_dict(self.function_configs)
                    if self.function_configs is not None
                    else None
                ),
            )
            runner: Any = WebRunner(config)
            runner.start()
            self._runner = runner
            if self.function_error_retry_delay is not None:
                # The emulator re-invokes after a function error (a raised
                # handler, a crash) following a fixed real-time backoff of
                # 5 s, which time skipping does not shorten.
                runner._executor.RETRY_BACKOFF_SECONDS = self.function_error_retry_delay
            # WebRunner keeps its HTTP server private; it is needed for the
            # bound port (port=0 lets the OS pick a free one) and to stop
            # serve_forever (WebRunner.stop only closes the socket).
            self._web_server = runner._server
            self._port = int(self._web_server.server_address[1])
            self._serve_thread = threading.Thread(
                target=self._web_server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"emulator-{self._port}",
                daemon=True,
            )
            self._serve_thread.start()
            self._client = self.make_client(record=True)
            self._control = self.make_client(record=False)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the emulator, then the Lambda endpoint; every wait bounded by ``stop_timeout``."""
        errors: list[str] = []
        deadline = time.monotonic() + self.stop_timeout
        if self._web_server is not None:
            self._web_server.shutdown()
            if self._serve_thread is not None:
                self._serve_thread.join(max(0.0, deadline - time.monotonic()))
                if self._serve_thread.is_alive():
                    errors.append("emulator HTTP thread did not stop")
        runner, self._runner = self._runner, None
        if runner is not None:
            # WebRunner.stop closes the socket and joins the scheduler thread;
            # run it aside so a wedged scheduler cannot hang the test run.
            stopper = threading.Thread(target=runner.stop, name="emulator-stop", daemon=True)
            stopper.start()
            stopper.join(max(0.0, deadline - time.monotonic()))
            if stopper.is_alive():
                errors.append("WebRunner.stop did not return")
        self._web_server = None
        self._serve_thread = None
        for client in (self._client, self._control):
            if client is not None:
                client.close()
        self._client = self._control = None
        try:
            self.lambda_endpoint.stop(max(0.1, deadline - time.monotonic()))
        except TimeoutError as exc:
            errors.append(str(exc))
        if errors:
            raise TimeoutError("; ".join(errors))

    # -- clients -----------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The emulator's API endpoint (what boto3's ``endpoint_url`` should be)."""
        if self._port is None:
            msg = "harness not started"
            raise RuntimeError(msg)
        return f"http://{LOCALHOST}:{self._port}"

    @property
    def client(self) -> Any:
        """The recorded boto3 ``lambda`` client to hand to handlers."""
        if self._client is None:
            msg = "harness not started"
            raise RuntimeError(msg)
        return self._client

    @property
    def control_client(self) -> Any:
        """An unrecorded client for the test's own calls (status, history, callbacks)."""
        if self._control is None:
            msg = "harness not started"
            raise RuntimeError(msg)
        return self._control

    def make_client(self, *, record: bool = True, config: Config | None = None) -> Any:
        """A new boto3 ``lambda`` client on the emulator, recorded unless ``record=False``."""
        client = boto3.session.Session().client(
            "lambda",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=self.CLIENT_CONFIG.merge(config) if config is not None else self.CLIENT_CONFIG,
        )
        if record:
            self.recorder.install(client)
        return client

    # -- functions ---------------------------------------------------------

    def register(self, name: str, handler: Handler, *, delay: float | None = None) -> None:
        """Serve ``handler(event, lambda_context) -> dict`` as Lambda function ``name``."""
        self.lambda_endpoint.register(name, handler, delay=delay)

    # -- executions --------------------------------------------------------

    def start_execution(
        self,
        function_name: str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        execution_timeout_seconds: int = 300,
        raw_input: str | None = None,
        http_timeout: float = 10.0,
    ) -> str:
        """Start an execution through the emulator's ``POST /start-durable-execution``.

        ``input`` is JSON-encoded; ``raw_input`` sends text as is instead.
        Returns the execution ARN.
        """
        body = {
            "AccountId": DUMMY_ACCOUNT_ID,
            "FunctionName": function_name,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": execution_name or f"{function_name}-{uuid.uuid4().hex[:12]}",
            "ExecutionTimeoutSeconds": execution_timeout_seconds,
            "ExecutionRetentionPeriodDays": 1,
            "Input": raw_input if raw_input is not None else json.dumps(input),
        }
        request = urllib.request.Request(
            f"{self.endpoint_url}/start-durable-execution",
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=http_timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")
            msg = f"start-durable-execution failed: {exc.code} {detail}"
            raise RuntimeError(msg) from exc
        arn = answer.get("ExecutionArn")
        if not isinstance(arn, str):
            msg = f"start-durable-execution returned no ExecutionArn: {answer}"
            raise RuntimeError(msg)
        return arn

    #: Seconds with nothing running and nothing scheduled before a skipped-time
    #: execution counts as stalled (see ``_nudge_if_stalled``).
    STALL_SECONDS = 2.0
    #: At most this many re-invocations per execution.
    MAX_NUDGES = 3

    def _nudge_if_stalled(self, arn: str) -> None:
        """Re-invoke a skipped-time execution the emulator has lost track of.

        With ``skip_time`` a timer fires at once, and it can fire while the
        invocation that armed it is still returning; now and then (seen in
        CI, a few times per thousand executions) the emulator then neither
        re-invokes nor keeps a wake-up, and the execution stays RUNNING
        with a completed wait that no invocation will ever see.  The real
        service re-invokes in that state, so the harness does the same:
        when no handler runs, the last invocation ended ``STALL_SECONDS``
        ago and the emulator holds no pending wake-up for the execution, it
        asks the emulator to invoke it once more (counted in ``nudges``, at
        most ``MAX_NUDGES`` times)."""
        if not self.skip_time or self._runner is None:
            return
        executor = self._runner._executor
        if self.lambda_endpoint._active:
            return
        records = self.invocations(arn)
        if not records or records[-1].finished is None:
            return
        if time.monotonic() - records[-1].finished < self.STALL_SECONDS:
            return
        if self._nudged.get(arn, 0.0) > records[-1].finished:
            return  # one nudge per stall
        if self.nudges.get(arn, 0) >= self.MAX_NUDGES:
            return
        with executor._pending_wakeup_lock:
            wakeup = executor._pending_wakeup.get(arn)
        if wakeup is not None and not wakeup.done():
            return
        logger.warning("emulator lost the wake-up of %s; invoking it again", arn)
        self._nudged[arn] = time.monotonic()
        self.nudges[arn] = self.nudges.get(arn, 0) + 1
        executor._invoke_execution(arn)

    def describe(self, arn: str) -> dict[str, Any]:
        """``GetDurableExecution``, JSON form."""
        return dict(to_jsonable(self.control_client.get_durable_execution(DurableExecutionArn=arn)))

    def wait(
        self, arn: str, *, timeout: float = 15.0, poll_interval: float = 0.02
    ) -> ExecutionResult:
        """Poll until the execution is no longer RUNNING (bounded), then let handlers finish."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.describe(arn)
            if response.get("Status") in _TERMINAL_STATUSES:
                break
            self._nudge_if_stalled(arn)
            if time.monotonic() >= deadline:
                msg = (
                    f"execution still {response.get('Status')} after {timeout}s; "
                    f"{self.summary(arn)}"
                )
                raise TimeoutError(msg)
            time.sleep(poll_interval)
        # The service may record the end before the last handler has returned
        # (a checkpointed result); let it finish so the records are complete.
        self.lambda_endpoint.wait_idle(max(1.0, deadline - time.monotonic()))
        raw_result = response.get("Result")
        return ExecutionResult(
            arn=arn,
            status=str(response["Status"]),
            result=json.loads(raw_result) if raw_result else None,
            error=response.get("Error"),
            response=response,
            harness=self,
        )

    def run(
        self,
        function_name: str,
        input: Any = None,
        *,
        execution_name: str | None = None,
        timeout: float = 15.0,
        **start_options: Any,
    ) -> ExecutionResult:
        """:meth:`start_execution` then :meth:`wait`."""
        arn = self.start_execution(
            function_name, input, execution_name=execution_name, **start_options
        )
        return self.wait(arn, timeout=timeout)

    def history(self, arn: str, *, page_size: int = 100) -> list[dict[str, Any]]:
        """``GetDurableExecutionHistory`` with execution data, every page, JSON form."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "DurableExecutionArn": arn,
            "IncludeExecutionData": True,
            "MaxItems": page_size,
        }
        for _ in range(10_000):  # bounded: a marker that never ends is a bug
            page = to_jsonable(self.control_client.get_durable_execution_history(**kwargs))
            events.extend(page.get("Events") or [])
            marker = page.get("NextMarker")
            if not marker:
                return events
            kwargs["Marker"] = marker
        msg = f"history of {arn} did not end"
        raise RuntimeError(msg)

    # -- what crossed the wire ---------------------------------------------

    def invocations(self, arn: str) -> list[InvocationRecord]:
        """Every invocation of the execution's handler, in order."""
        return self.recorder.invocations(arn)

    def invocation_events(self, arn: str) -> list[Any]:
        return [record.event for record in self.invocations(arn)]

    def outputs(self, arn: str) -> list[Any]:
        """Each invocation's output dict (None where the handler raised)."""
        return [record.output for record in self.invocations(arn)]

    def checkpoint_calls(self, arn: str) -> list[ApiCall]:
        return self.recorder.calls(arn, CHECKPOINT)

    def checkpoint_count(self, arn: str) -> int:
        return len(self.checkpoint_calls(arn))

    def checkpoint_counts_per_invocation(self, arn: str) -> list[int]:
        """Checkpoint calls made by each invocation (following its token chain)."""
        counts = [0] * len(self.invocations(arn))
        for call in self.checkpoint_calls(arn):
            if call.invocation is not None and call.invocation < len(counts):
                counts[call.invocation] += 1
        return counts

    def checkpoint_updates(self, arn: str) -> list[list[dict[str, Any]]]:
        """The ``Updates`` list of every checkpoint call, in order."""
        return [call.updates for call in self.checkpoint_calls(arn)]

    def state_calls(self, arn: str) -> list[ApiCall]:
        return self.recorder.calls(arn, GET_STATE)

    def final_operations(self, arn: str) -> list[dict[str, Any]]:
        return self.recorder.final_operations(arn)

    def summary(self, arn: str) -> str:
        """A short description of the recorded traffic, for failure messages."""
        invocations = self.invocations(arn)
        outputs = [
            r.output_status or (r.function_error or {}).get("errorType") for r in invocations
        ]
        return (
            f"{len(invocations)} invocation(s) with outcomes {outputs}, "
            f"{self.checkpoint_count(arn)} checkpoint call(s), "
            f"{len(self.state_calls(arn))} state call(s)"
        )


# ---------------------------------------------------------------------------
# The Lambda API as a deployed function's caller sees it
# ---------------------------------------------------------------------------


#: Response headers not relayed by the front (hop-by-hop, or set by its own server).
class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, front: LambdaApiFront) -> None:
        self.front = front
        super().__init__((LOCALHOST, 0), _FrontRequestHandler)


class _FrontRequestHandler(RelayHandler):
    server: _FrontServer
    log_name = "lambda api front"

    def serve(self, body: bytes) -> None:
        self.server.front._serve(self, body)


@dataclass
class FrontStart:
    """One execution the front started for an ``Invoke``."""

    function_name: str
    execution_name: str
    arn: str
    payload: str


class LambdaApiFront(RelayServer):
    """The Lambda API of a deployed durable function, on 127.0.0.1, in front of a harness.

    The emulator has no ``Invoke`` that starts an execution; the real
    service starts one when a durable function is invoked. This front
    answers an asynchronous ``Invoke`` (``X-Amz-Invocation-Type: Event``)
    that names a ``DurableExecutionName`` by starting that execution on the
    harness (``POST /start-durable-execution``) and answering 202 with its
    ARN in ``X-Amz-Durable-Execution-Arn``, as Lambda does. Every other
    request (``GetDurableExecution``, the history, callbacks, ...) is
    forwarded to the emulator unchanged, its answer relayed back. Point a
    test's boto3 client (or ``AWS_ENDPOINT_URL_LAMBDA``) at :attr:`url`.
    """

    def __init__(self, harness: EmulatorHarness, *, http_timeout: float = 10.0) -> None:
        self.harness = harness
        self.http_timeout = http_timeout
        self.starts: list[FrontStart] = []
        self._lock = threading.Lock()
        super().__init__()

    server_name = "lambda-api-front"

    def make_server(self) -> _FrontServer:
        return _FrontServer(self)

    def _serve(self, request: _FrontRequestHandler, body: bytes) -> None:
        try:
            path = urllib.parse.urlsplit(request.path).path
            match = _INVOKE_PATH.match(path)
            if request.command == "POST" and match is not None:
                self._invoke(request, match.group("name"), body)
            else:
                self._forward(request, body)
        except Exception as exc:  # answer, never leave the client hanging
            logger.exception("lambda api front failed")
            message = json.dumps({"Type": "Service", "message": repr(exc)}).encode("utf-8")
            request.reply(
                500,
                {"Content-Type": "application/json", "X-Amzn-ErrorType": "ServiceException"},
                message,
            )

    def _invoke(self, request: _FrontRequestHandler, raw_name: str, body: bytes) -> None:
        kind = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        execution_name = request.headers.get("X-Amz-Durable-Execution-Name")
        if kind != "Event" or not execution_name:
            message = (
                "this front only starts durable executions: an Invoke with "
                f"InvocationType=Event and a DurableExecutionName (got {kind}, {execution_name})"
            )
            request.reply(
                400,
                {
                    "Content-Type": "application/json",
                    "X-Amzn-ErrorType": "InvalidParameterValueException",
                },
                json.dumps({"Type": "User", "message": message}).encode("utf-8"),
            )
            return
        function_name, _ = split_function_name(raw_name)
        payload = body.decode("utf-8") if body else "null"
        arn = self.harness.start_execution(
            function_name,
            raw_input=payload,
            execution_name=execution_name,
            http_timeout=self.http_timeout,
        )
        with self._lock:
            self.starts.append(FrontStart(function_name, execution_name, arn, payload))
        request.reply(
            202,
            {"X-Amz-Durable-Execution-Arn": arn, "X-Amz-Executed-Version": "$LATEST"},
            b"",
        )

    def _forward(self, request: _FrontRequestHandler, body: bytes) -> None:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in {"host", "content-length", "connection"}
        }
        forwarded = urllib.request.Request(
            self.harness.endpoint_url + request.path,
            data=body if body or request.command in ("POST", "PUT") else None,
            headers=headers,
            method=request.command,
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=self.http_timeout) as response:
                request.reply(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            request.reply(exc.code, dict(exc.headers.items()), exc.read())
