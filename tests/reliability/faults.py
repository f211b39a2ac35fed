"""Faults of the durable-execution API, and an in-process service that injects them.

The pieces:

* :class:`Fault` -- one kind of failure (throttling, 5xx, a dropped
  connection, a read timeout, a slow answer, an invalid checkpoint token,
  a response lost after the request was applied, permanent 4xx and KMS
  errors), with what it means on the wire and how it should be classified;
* :class:`FaultPlan` -- which call numbers (counted per API operation, one
  number per HTTP attempt, so botocore's retries get numbers of their own)
  get which fault; built by hand, from a seed (:meth:`FaultPlan.seeded`), or
  by Hypothesis (:func:`bursts`, :func:`plans`);
* :class:`Ledger` -- what was injected, by kind, committed to
  :mod:`tests.reliability.report` once a test knows whether it was survived;
* :class:`FaultyLocalService` -- a ``LocalService`` whose two
  durable-execution calls go through a **real** botocore ``lambda`` client:
  the request is serialized by botocore, answered by a ``before-send`` hook
  (:class:`FaultyBackend`) that applies it to the local service or injects
  the planned fault as an HTTP answer or a transport exception, and then
  parsed, retried ("standard" mode, ``MAX_ATTEMPTS``) and classified exactly
  as on AWS. So botocore's own retry logic and ``durable.lambda_``'s error
  classification are both exercised, with no socket;
* :class:`BackoffRecorder` -- records the delays botocore's retry logic asks
  for and sleeps a scaled-down fraction of them (botocore's ``Config`` has
  no knob for the back-off base: standard mode waits ``rand * min(b * 2**i,
  20 s)`` with ``b`` = 1 s for throttling and 50 ms otherwise).

ClientToken: botocore generates one per API call and reuses it across that
call's retries. AWS documents a 15-minute idempotency window for it, and the
service emulator keeps the last accepted ``(ClientToken, CheckpointToken)``
and replays its response. ``FaultyBackend(idempotent=True)`` does the same
(single slot per execution); with ``idempotent=False`` a retried checkpoint
whose first attempt was applied meets "Invalid checkpoint token" instead.

State reads: ``GetDurableExecutionState`` is a pure read on the service (and
on the emulator: a marker can be read again), but ``LocalService`` hands each
page of a marker out only once, so a botocore retry of a read whose answer
was lost would meet "unknown or expired marker" (400, permanent). The
backend therefore answers a repeated ``(token, marker, MaxItems)`` read
with the page it already served, as the real service would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from durable.lambda_ import BotoService
from durable.lambda_._client import MAX_ATTEMPTS, USER_AGENT
from durable.model import CheckpointOutput, OperationUpdate, StatePage
from durable.testing import LocalLambdaClient, LocalService
from tests.reliability import report

__all__ = [
    "CHECKPOINT",
    "ESCAPING",
    "GET_STATE",
    "LOST_RESPONSE",
    "MAX_ATTEMPTS",
    "PERMANENT",
    "TRANSIENT",
    "BackoffRecorder",
    "Burst",
    "Fault",
    "FaultPlan",
    "FaultyBackend",
    "FaultyLocalService",
    "Injection",
    "Ledger",
    "bursts",
    "make_client",
    "plans",
]

CHECKPOINT = "CheckpointDurableExecution"
GET_STATE = "GetDurableExecutionState"
OPERATIONS = (CHECKPOINT, GET_STATE)
SHORT_NAMES = {CHECKPOINT: "checkpoint", GET_STATE: "get-state"}

#: Where the in-process client "sends" its requests; the ``before-send``
#: hook answers every one, so nothing is ever resolved or connected.
IN_PROCESS_ENDPOINT = "https://lambda.fault-injection.invalid"
#: botocore's cap on one retry delay (standard mode), in seconds.
BOTOCORE_MAX_BACKOFF = 20.0


# ---------------------------------------------------------------------------
# Fault kinds
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One kind of failure of a durable-execution API call.

    ``status``/``code``/``message`` describe an HTTP error answer; a fault
    with ``transport`` set raises that botocore exception instead (no answer
    at all). ``applied``: the service applies the request before the fault
    hides its answer (a lost response). ``botocore_retries``: botocore's
    standard retry mode retries it. ``permanent``: protocol.md §3.5 calls it
    non-retryable, so the invocation must return FAILED; a permanent fault
    hits its call number and every later call of the same operation.
    ``delay`` is how long a slow answer takes (in-process; the proxy has its
    own).
    """

    name: str
    label: str
    status: int | None = None
    code: str | None = None
    message: str = ""
    transport: Callable[..., Exception] | None = None
    applied: bool = False
    botocore_retries: bool = True
    permanent: bool = False
    delay: float = 0.0

    def __repr__(self) -> str:
        return self.name

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Short in Hypothesis's reports of falsifying examples."""
        printer.text(self.name)

    @property
    def escapes_botocore(self) -> bool:
        """A single occurrence reaches ``durable`` (botocore does not retry it)."""
        return not self.botocore_retries


THROTTLED = Fault(
    "THROTTLED",
    "429 TooManyRequestsException (throttled)",
    status=429,
    code="TooManyRequestsException",
    message="Rate exceeded",
)
SERVICE_ERROR = Fault(
    "SERVICE_ERROR", "500 ServiceException", status=500, code="ServiceException", message="oops"
)
UNAVAILABLE = Fault(
    "UNAVAILABLE",
    "503 Service Unavailable (no error code)",
    status=503,
    code=None,
    message="Service Unavailable",
)
CONNECT_FAILED = Fault(
    "CONNECT_FAILED",
    "connection refused or reset (no HTTP answer)",
    transport=EndpointConnectionError,
)
DROPPED = Fault(
    "DROPPED",
    "connection dropped before the service (not applied)",
    transport=ConnectionClosedError,
)
TIMED_OUT = Fault("TIMED_OUT", "read timeout, request not applied", transport=ReadTimeoutError)
SLOW = Fault("SLOW", "slow answer", delay=0.02)
LOST_AFTER_TIMEOUT = Fault(
    "LOST_AFTER_TIMEOUT",
    "applied, then read timeout (response lost)",
    transport=ReadTimeoutError,
    applied=True,
)
LOST_AFTER_DROP = Fault(
    "LOST_AFTER_DROP",
    "applied, then connection dropped (response lost)",
    transport=ConnectionClosedError,
    applied=True,
)
INVALID_TOKEN = Fault(
    "INVALID_TOKEN",
    "400 Invalid checkpoint token",
    status=400,
    code="InvalidParameterValueException",
    message="Invalid checkpoint token",
    botocore_retries=False,
)
BAD_REQUEST = Fault(
    "BAD_REQUEST",
    "400 InvalidParameterValueException (permanent)",
    status=400,
    code="InvalidParameterValueException",
    message="Invalid operation update: Payload is too large",
    botocore_retries=False,
    permanent=True,
)
ACCESS_DENIED = Fault(
    "ACCESS_DENIED",
    "403 AccessDeniedException (permanent)",
    status=403,
    code="AccessDeniedException",
    message="not authorized to perform lambda:CheckpointDurableExecution",
    botocore_retries=False,
    permanent=True,
)
KMS_ACCESS_DENIED = Fault(
    "KMS_ACCESS_DENIED",
    "502 KMSAccessDeniedException (permanent)",
    status=502,
    code="KMSAccessDeniedException",
    message="Lambda was unable to decrypt the execution state: access denied",
    botocore_retries=True,  # botocore retries every 502 before giving up
    permanent=True,
)

#: Faults botocore retries and, within its budget, hides from ``durable``
#: entirely (lost responses only when the service honours the ClientToken).
TRANSIENT: tuple[Fault, ...] = (
    THROTTLED,
    SERVICE_ERROR,
    UNAVAILABLE,
    CONNECT_FAILED,
    DROPPED,
    TIMED_OUT,
    SLOW,
    LOST_AFTER_TIMEOUT,
    LOST_AFTER_DROP,
)
#: Lost responses: survived inside botocore only by an idempotent service.
LOST_RESPONSE: tuple[Fault, ...] = (LOST_AFTER_TIMEOUT, LOST_AFTER_DROP)
#: Retryable faults that reach ``durable`` at once: the invocation raises.
ESCAPING: tuple[Fault, ...] = (INVALID_TOKEN,)
#: Non-retryable faults: the invocation returns FAILED.
PERMANENT: tuple[Fault, ...] = (BAD_REQUEST, ACCESS_DENIED, KMS_ACCESS_DENIED)
ALL: tuple[Fault, ...] = (*TRANSIENT, *ESCAPING, *PERMANENT)


# ---------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """``length`` consecutive attempts failing with ``fault``, starting at the
    ``gap``-th attempt that may fail: the first burst at call ``gap``, a later
    one ``gap`` calls after the attempt that ended the previous burst (that
    attempt always succeeds, so two bursts never merge into a longer one)."""

    gap: int
    fault: Fault
    length: int = 1


@dataclass(frozen=True)
class FaultPlan:
    """Which call numbers of each operation fail, and how.

    Calls are numbered per operation from 1, one number per HTTP attempt
    (a botocore retry is the next number). A permanent fault applies from
    its number on.
    """

    checkpoint: Mapping[int, Fault] = field(default_factory=dict)
    state: Mapping[int, Fault] = field(default_factory=dict)

    def table(self, operation: str) -> Mapping[int, Fault]:
        return self.checkpoint if operation == CHECKPOINT else self.state

    def fault_for(self, operation: str, call: int) -> Fault | None:
        """The fault planned for attempt ``call`` of ``operation``, if any."""
        table = self.table(operation)
        fault = table.get(call)
        if fault is not None:
            return fault
        permanent = [(start, f) for start, f in table.items() if f.permanent and start <= call]
        return max(permanent, key=lambda item: item[0])[1] if permanent else None

    @property
    def empty(self) -> bool:
        return not self.checkpoint and not self.state

    @classmethod
    def from_bursts(
        cls, checkpoint: Sequence[Burst] = (), state: Sequence[Burst] = ()
    ) -> FaultPlan:
        """A plan from bursts of each operation, laid out one after another."""
        return cls(checkpoint=_lay_out(checkpoint), state=_lay_out(state))

    @classmethod
    def seeded(
        cls,
        seed: int,
        *,
        kinds: Sequence[Fault] = TRANSIENT,
        checkpoint_calls: int = 20,
        state_calls: int = 0,
        rate: float = 0.3,
        max_length: int = MAX_ATTEMPTS - 1,
    ) -> FaultPlan:
        """A reproducible random plan: each of the first ``*_calls`` attempts
        starts a burst with probability ``rate`` (bursts of 1..``max_length``
        attempts of one kind drawn from ``kinds``)."""
        rng = random.Random(seed)

        def draw(calls: int) -> dict[int, Fault]:
            table: dict[int, Fault] = {}
            call = 1
            while call <= calls:
                if rng.random() < rate:
                    fault = rng.choice(list(kinds))
                    length = rng.randint(1, max_length)
                    for offset in range(length):
                        table[call + offset] = fault
                    call += length + 1  # the next attempt succeeds
                else:
                    call += 1
            return table

        return cls(checkpoint=draw(checkpoint_calls), state=draw(state_calls))

    def describe(self) -> str:
        parts = []
        for operation in OPERATIONS:
            table = self.table(operation)
            if table:
                calls = ", ".join(f"{n}:{f.name}" for n, f in sorted(table.items()))
                parts.append(f"{SHORT_NAMES[operation]} {{{calls}}}")
        return "; ".join(parts) or "no faults"


def _lay_out(items: Sequence[Burst]) -> dict[int, Fault]:
    table: dict[int, Fault] = {}
    free = 1  # the first call a burst may take
    for burst in items:
        if burst.gap < 1 or burst.length < 1:
            raise ValueError(f"{burst}: gap and length must be at least 1")
        start = free + burst.gap - 1
        for offset in range(burst.length):
            table[start + offset] = burst.fault
        free = start + burst.length + 1  # the attempt right after the burst succeeds
    return table


def bursts(
    kinds: Sequence[Fault],
    *,
    max_bursts: int = 4,
    max_gap: int = 8,
    max_length: int = MAX_ATTEMPTS - 1,
    min_length: int = 1,
) -> Any:
    """A Hypothesis strategy for a list of :class:`Burst` (imported lazily)."""
    from hypothesis import strategies as st

    return st.lists(
        st.builds(
            Burst,
            gap=st.integers(1, max_gap),
            fault=st.sampled_from(list(kinds)),
            length=st.integers(min_length, max_length),
        ),
        max_size=max_bursts,
    )


def plans(
    kinds: Sequence[Fault],
    *,
    state_kinds: Sequence[Fault] | None = None,
    max_bursts: int = 4,
    max_length: int = MAX_ATTEMPTS - 1,
    min_length: int = 1,
) -> Any:
    """A Hypothesis strategy for :class:`FaultPlan`: bursts of ``kinds`` on
    checkpoint calls and of ``state_kinds`` (default: the same) on state reads."""
    from hypothesis import strategies as st

    state_kinds = kinds if state_kinds is None else state_kinds
    options = {"max_bursts": max_bursts, "max_length": max_length, "min_length": min_length}
    return st.builds(
        FaultPlan.from_bursts,
        checkpoint=bursts(kinds, **options),
        state=bursts(state_kinds, max_gap=3, **options) if state_kinds else st.just(()),
    )


# ---------------------------------------------------------------------------
# Bookkeeping
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """One injected fault."""

    operation: str
    call: int
    fault: Fault


class Ledger:
    """The faults one test injected, on one transport ("in-process" or "proxy")."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self._lock = threading.Lock()
        self._injections: list[Injection] = []
        self._committed = False

    def record(self, operation: str, call: int, fault: Fault) -> None:
        with self._lock:
            self._injections.append(Injection(operation, call, fault))

    @property
    def injections(self) -> list[Injection]:
        with self._lock:
            return list(self._injections)

    def count(self, *faults: Fault, operation: str | None = None) -> int:
        """How many of the given kinds (all kinds if none given) were injected
        (into ``operation`` only, if given)."""
        return sum(
            1
            for i in self.injections
            if (not faults or i.fault in faults) and operation in (None, i.operation)
        )

    def by_kind(self) -> Counter[str]:
        return Counter(self.kind(i) for i in self.injections)

    def kind(self, injection: Injection) -> str:
        return f"{self.transport} {SHORT_NAMES[injection.operation]}: {injection.fault.label}"

    def commit(self, *, survived: bool) -> None:
        """Add this ledger to the session report (once)."""
        with self._lock:
            if self._committed:
                return
            self._committed = True
        for kind, n in sorted(self.by_kind().items()):
            report.count(kind, n, survived=survived)


# ---------------------------------------------------------------------------
# botocore's retry sleeps
# ---------------------------------------------------------------------------


class BackoffRecorder:
    """Records the retry delays botocore computes and sleeps ``scale`` of each.

    botocore's endpoint sleeps ``time.sleep(delay)`` between attempts; while
    :meth:`installed` is active, that module's ``time`` is replaced by a
    shim whose ``sleep`` is this recorder's.
    """

    def __init__(self, scale: float = 0.001) -> None:
        self.scale = scale
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(float(seconds))
        time.sleep(seconds * self.scale)

    def clear(self) -> None:
        with self._lock:
            self.delays.clear()

    @contextlib.contextmanager
    def installed(self) -> Iterator[BackoffRecorder]:
        recorder = self

        class _Time:
            def __getattr__(self, name: str) -> Any:
                return getattr(time, name)

            def sleep(self, seconds: float) -> None:
                recorder.sleep(seconds)

        module = cast(Any, botocore.endpoint)
        saved = module.time
        module.time = _Time()
        try:
            yield self
        finally:
            module.time = saved


# ---------------------------------------------------------------------------
# The in-process faulty service
# ---------------------------------------------------------------------------


class _DirectApi:
    """The local service's own checkpoint/state methods, bypassing any override."""

    def __init__(self, service: LocalService) -> None:
        self._service = service

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        return LocalService.checkpoint(self._service, execution_arn, checkpoint_token, updates)

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        return LocalService.get_execution_state(
            self._service, execution_arn, checkpoint_token, marker, max_items
        )


class _Body:
    """The ``raw`` of an ``AWSResponse``: botocore only calls ``stream()``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _jsonable(value: Any) -> Any:
    """A botocore-shaped answer as rest-json: datetimes as epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def error_answer(status: int, code: str | None, message: str) -> _Answer:
    """An error answer shaped like the Lambda API's (botocore reads the code
    from ``X-Amzn-ErrorType``); without a code, a bare HTML page."""
    if code is None:
        return _Answer(status, {"Content-Type": "text/html"}, f"<html>{message}</html>".encode())
    body = {"Type": "User" if status < 500 else "Service", "message": message}
    if code == "TooManyRequestsException":
        body.update({"Reason": "CallerRateLimitExceeded", "retryAfterSeconds": "1"})
    return _Answer(
        status,
        {"Content-Type": "application/json", "X-Amzn-ErrorType": code},
        json.dumps(body).encode(),
    )


class FaultyBackend:
    """A botocore ``before-send`` handler serving the durable-execution API
    from a ``LocalService`` and injecting the faults of a plan.

    ``calls`` counts the attempts of each operation; ``replayed`` the
    checkpoint attempts answered from the ClientToken cache (idempotent
    mode); ``reread`` the state reads answered again from the pages already
    served; ``attempts`` lists ``(operation, call, ClientToken, outcome)``.
    """

    def __init__(
        self,
        service: LocalService,
        plan: FaultPlan,
        ledger: Ledger,
        *,
        idempotent: bool = True,
    ) -> None:
        self.plan = plan
        self.ledger = ledger
        self.idempotent = idempotent
        self.calls: dict[str, int] = {CHECKPOINT: 0, GET_STATE: 0}
        self.replayed = 0
        self.attempts: list[tuple[str, int, str | None, str]] = []
        self._api = LocalLambdaClient(cast(LocalService, _DirectApi(service)))
        self._lock = threading.Lock()
        #: execution ARN -> (ClientToken, CheckpointToken, answer) of the last
        #: accepted checkpoint, as the emulator keeps it.
        self._last: dict[str, tuple[str, str, _Answer]] = {}
        #: (ARN, token, marker, max items) -> the state page answered.
        self._pages: dict[tuple[str, str, str, int], _Answer] = {}
        self.reread = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        with self._lock:  # one call at a time, as the token chain requires anyway
            operation, arn, params = _parse(request)
            self.calls[operation] += 1
            call = self.calls[operation]
            fault = self.plan.fault_for(operation, call)
            client_token = params.get("ClientToken")
            if fault is not None:
                self.ledger.record(operation, call, fault)
            if fault is not None and not fault.applied and fault.delay == 0:
                self.attempts.append((operation, call, client_token, fault.name))
                if fault.transport is not None:
                    raise fault.transport(endpoint_url=request.url)
                assert fault.status is not None
                return _response(request, error_answer(fault.status, fault.code, fault.message))
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            answer = self._serve(operation, arn, params)
            outcome = "ok" if answer.status < 300 else f"error {answer.status}"
            if fault is not None and fault.applied:
                self.attempts.append((operation, call, client_token, f"{fault.name} ({outcome})"))
                assert fault.transport is not None
                raise fault.transport(endpoint_url=request.url)
            self.attempts.append((operation, call, client_token, outcome))
            return _response(request, answer)

    def _serve(self, operation: str, arn: str, params: dict[str, Any]) -> _Answer:
        try:
            if operation == CHECKPOINT:
                token = params.get("CheckpointToken", "")
                client_token = params.get("ClientToken")
                last = self._last.get(arn)
                if (
                    self.idempotent
                    and client_token
                    and last is not None
                    and last[:2] == (client_token, token)
                ):
                    self.replayed += 1
                    return last[2]
                response = self._api.checkpoint_durable_execution(
                    DurableExecutionArn=arn,
                    CheckpointToken=token,
                    Updates=params.get("Updates") or [],
                    ClientToken=client_token,
                )
                answer = _Answer(200, {"Content-Type": "application/json"}, _dump(response))
                if client_token and response.get("CheckpointToken"):
                    self._last[arn] = (client_token, token, answer)
                return answer
            key = (
                arn,
                params.get("CheckpointToken", ""),
                params.get("Marker", ""),
                int(params.get("MaxItems") or 1000),
            )
            if key in self._pages:
                # A read is a read: the service answers a repeated one again.
                # (LocalService hands each page out once; see the module doc.)
                self.reread += 1
                return self._pages[key]
            response = self._api.get_durable_execution_state(
                DurableExecutionArn=key[0], CheckpointToken=key[1], Marker=key[2], MaxItems=key[3]
            )
            answer = _Answer(200, {"Content-Type": "application/json"}, _dump(response))
            self._pages[key] = answer
            return answer
        except ClientError as exc:
            error = exc.response.get("Error") or {}
            status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 500))
            return error_answer(status, error.get("Code"), str(error.get("Message") or ""))


def _dump(response: Mapping[str, Any]) -> bytes:
    return json.dumps(_jsonable(response)).encode()


def _response(request: Any, answer: _Answer) -> AWSResponse:
    headers = {**answer.headers, "x-amzn-RequestId": "00000000-fault-injection"}
    headers["Content-Length"] = str(len(answer.body))
    return AWSResponse(request.url, answer.status, headers, _Body(answer.body))


def _parse(request: Any) -> tuple[str, str, dict[str, Any]]:
    """``(operation, execution ARN, parameters)`` of a prepared botocore request."""
    url = urllib.parse.urlsplit(request.url)
    segments = url.path.split("/")
    # /2025-12-01/durable-executions/{arn}/checkpoint | /state
    if len(segments) != 5 or segments[2] != "durable-executions":
        raise AssertionError(f"unexpected request to the fault-injecting backend: {request.url}")
    arn = urllib.parse.unquote(segments[3])
    if segments[4] == "checkpoint":
        body = request.body or b"{}"
        if isinstance(body, str):
            body = body.encode()
        return CHECKPOINT, arn, json.loads(body)
    if segments[4] == "state":
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        return GET_STATE, arn, query
    raise AssertionError(f"unexpected request to the fault-injecting backend: {request.url}")


_session_lock = threading.Lock()
_session: Any = None


def make_client(
    backend: Any,
    *,
    endpoint_url: str = IN_PROCESS_ENDPOINT,
    max_attempts: int = MAX_ATTEMPTS,
    read_timeout: float = 50,
) -> Any:
    """A boto3 ``lambda`` client configured like ``durable``'s default one
    (standard retry mode, ``MAX_ATTEMPTS``), whose requests ``backend``
    (a ``before-send`` handler; ``None`` for a real endpoint) answers."""
    global _session
    import boto3
    from botocore.config import Config

    with _session_lock:
        if _session is None:
            _session = boto3.session.Session(
                aws_access_key_id="test",
                aws_secret_access_key="test",
                region_name="us-east-1",
            )
        client = _session.client(
            "lambda",
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=5,
                read_timeout=read_timeout,
                user_agent_extra=USER_AGENT,
                retries={"mode": "standard", "total_max_attempts": max_attempts},
            ),
        )
    if backend is not None:
        client.meta.events.register("before-send.lambda", backend)
    return client


class FaultyLocalService(LocalService):
    """A ``LocalService`` reached through a real botocore client with faults.

    Its ``checkpoint`` and ``get_execution_state`` (what the runtime calls)
    go through ``durable.lambda_.BotoService`` over :attr:`client`, whose
    requests :attr:`backend` answers from this service's own state or fails
    as ``plan`` says. Everything else (the runner's side) is the plain local
    service. ``invocation_errors`` collects what each failed invocation
    raised (the runner reports them with ``fail_invocation``).
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        ledger: Ledger | None = None,
        idempotent: bool = True,
        page_size: int = 1000,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__(page_size=page_size)
        self.plan = plan if plan is not None else FaultPlan()
        self.ledger = ledger if ledger is not None else Ledger("in-process")
        self.backend = FaultyBackend(self, self.plan, self.ledger, idempotent=idempotent)
        self.client = make_client(self.backend, max_attempts=max_attempts)
        self.api = BotoService(self.client)
        self.invocation_errors: list[BaseException] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        return self.api.checkpoint(execution_arn, checkpoint_token, updates)

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        return self.api.get_execution_state(execution_arn, checkpoint_token, marker, max_items)

    def fail_invocation(self, arn: str, error: BaseException) -> None:
        self.invocation_errors.append(error)
        super().fail_invocation(arn, error)
