"""The cloud runner: run a deployed durable function and describe the execution.

Responsibility: play the test's part against the real Lambda API through
boto3.  Start an execution with an asynchronous ``Invoke`` that names it
(``DurableExecutionName``), poll ``GetDurableExecution`` until it ends, read
its history (``GetDurableExecutionHistory``, every page, with payloads) and
rebuild from the events the same ``ExecutionResult`` the local runner gives:
every operation with its type, status, parent, attempts, result and error.
Callbacks are answered through ``SendDurableExecutionCallback*``.

boto3 is imported when a runner is created, never by importing this module.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import attrs

from durable import wire
from durable.errors import ServiceApiError, ValidationError
from durable.model import (
    ErrorObject,
    ExecutionStatus,
    InvocationStatus,
    Operation,
    OperationType,
    timestamp,
)
from durable.testing._interface import (
    DEFAULT_TIMEOUT,
    DurableTestRunner,
    _callbacks_seen,
    _open_callbacks,
    check_timeout,
)
from durable.testing._runner import ExecutionResult, RunnerError, _callback_body, _tree

__all__ = [
    "CloudExecutionResult",
    "CloudRunnerError",
    "DurableFunctionCloudTestRunner",
    "operations_from_history",
    "result_from_history",
]

#: What ``DurableExecutionName`` accepts (the Invoke API's own constraint).
_EXECUTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
#: First pause between two polls; it doubles up to ``poll_interval``.
_FIRST_POLL = 0.05
#: Bound on history pages (a marker that never ends is a service bug).
_MAX_PAGES = 100_000


class CloudRunnerError(RunnerError):
    """The cloud runner could not start or follow an execution (the function
    could not be invoked, it is not durable, no region is configured...)."""


@attrs.frozen(kw_only=True)
class CloudExecutionResult(ExecutionResult):
    """An ``ExecutionResult`` rebuilt from a deployed execution's history.

    What only the local service sees is empty here: ``checkpoint_calls`` is
    0 and ``requests`` is ``()``.  ``invocations`` counts the history's
    ``InvocationCompleted`` events.  ``history`` holds the events themselves,
    as boto3 returned them.
    """

    history: tuple[Mapping[str, Any], ...] = ()


# ---------------------------------------------------------------------------
# History -> operations
# ---------------------------------------------------------------------------

#: Event type -> (operation type, status it leaves the operation in).  Steps
#: are refined by their RetryDetails (a retry leaves the step PENDING).
_EVENTS: Mapping[str, tuple[OperationType, str]] = {
    "ExecutionStarted": (OperationType.EXECUTION, "STARTED"),
    "ExecutionSucceeded": (OperationType.EXECUTION, "SUCCEEDED"),
    "ExecutionFailed": (OperationType.EXECUTION, "FAILED"),
    "ExecutionTimedOut": (OperationType.EXECUTION, "TIMED_OUT"),
    "ExecutionStopped": (OperationType.EXECUTION, "STOPPED"),
    "ContextStarted": (OperationType.CONTEXT, "STARTED"),
    "ContextSucceeded": (OperationType.CONTEXT, "SUCCEEDED"),
    "ContextFailed": (OperationType.CONTEXT, "FAILED"),
    "StepStarted": (OperationType.STEP, "STARTED"),
    "StepSucceeded": (OperationType.STEP, "SUCCEEDED"),
    "StepFailed": (OperationType.STEP, "FAILED"),
    "WaitStarted": (OperationType.WAIT, "STARTED"),
    "WaitSucceeded": (OperationType.WAIT, "SUCCEEDED"),
    "WaitCancelled": (OperationType.WAIT, "CANCELLED"),
    "CallbackStarted": (OperationType.CALLBACK, "STARTED"),
    "CallbackSucceeded": (OperationType.CALLBACK, "SUCCEEDED"),
    "CallbackFailed": (OperationType.CALLBACK, "FAILED"),
    "CallbackTimedOut": (OperationType.CALLBACK, "TIMED_OUT"),
    "ChainedInvokeStarted": (OperationType.CHAINED_INVOKE, "STARTED"),
    "ChainedInvokeSucceeded": (OperationType.CHAINED_INVOKE, "SUCCEEDED"),
    "ChainedInvokeFailed": (OperationType.CHAINED_INVOKE, "FAILED"),
    "ChainedInvokeTimedOut": (OperationType.CHAINED_INVOKE, "TIMED_OUT"),
    "ChainedInvokeStopped": (OperationType.CHAINED_INVOKE, "STOPPED"),
}
_DETAILS_KEY: Mapping[OperationType, str] = {
    OperationType.EXECUTION: "ExecutionDetails",
    OperationType.CONTEXT: "ContextDetails",
    OperationType.STEP: "StepDetails",
    OperationType.WAIT: "WaitDetails",
    OperationType.CALLBACK: "CallbackDetails",
    OperationType.CHAINED_INVOKE: "ChainedInvokeDetails",
}
_EXECUTION_ENDS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionStopped"}
)


def _millis(value: Any) -> int:
    """An event timestamp (a ``datetime`` from boto3, or epoch ms / s) in ms."""
    if isinstance(value, datetime):
        return int(timestamp(value))
    number = float(value)
    return int(number if number >= wire.MILLISECONDS_THRESHOLD else number * 1000)


def _payload(details: Mapping[str, Any], key: str) -> Any:
    member = details.get(key)
    return member.get("Payload") if isinstance(member, Mapping) else None


def operations_from_history(events: Iterable[Mapping[str, Any]]) -> list[Operation]:
    """The operations a history describes, in start order, as the service
    would return them from ``GetDurableExecutionState``.

    ``events`` are the ``Events`` of ``GetDurableExecutionHistory`` (fetched
    with ``IncludeExecutionData=True`` for results and errors), oldest first,
    with boto3's ``datetime`` or epoch timestamps.  A step's ``attempts`` is
    the ``RetryDetails.CurrentAttempt`` of its last finished attempt, or
    else the number of attempts the history shows finished; a step whose
    last attempt is to be retried (``NextAttemptDelaySeconds`` of at least
    1) is PENDING.
    Events that belong to no operation (``InvocationCompleted``, pauses) are
    skipped.  Raises ``ServiceProtocolError`` naming the bad member if a
    rebuilt operation is malformed (a timestamp that is not one, say).
    """
    records: dict[str, dict[str, Any]] = {}
    finished: dict[str, int] = {}
    for event in events:
        kind = event.get("EventType")
        known = _EVENTS.get(kind) if isinstance(kind, str) else None
        op_id = event.get("Id")
        if known is None or not isinstance(op_id, str):
            continue
        op_type, status = known
        details = event.get(f"{kind}Details") or {}
        when = event.get("EventTimestamp")
        record = records.get(op_id)
        if record is None:
            record = records[op_id] = {"Id": op_id, "Type": op_type.value}
            if when is not None:
                record["StartTimestamp"] = when
        for key in ("Name", "ParentId", "SubType"):
            if event.get(key) is not None:
                record[key] = event[key]
        section: dict[str, Any] = record.setdefault(_DETAILS_KEY[op_type], {})
        result = _payload(details, "Result")
        error = _payload(details, "Error")
        if op_type is OperationType.STEP:
            if status == "STARTED":
                section.clear()
                section["Attempt"] = finished.get(op_id, 0)
                record.pop("EndTimestamp", None)
            else:
                retry = details.get("RetryDetails") or {}
                count = retry.get("CurrentAttempt")
                attempts = count if isinstance(count, int) else finished.get(op_id, 0) + 1
                finished[op_id] = attempts
                section.clear()
                section["Attempt"] = attempts
                delay = retry.get("NextAttemptDelaySeconds")
                # A retry is at least 1 s away; 0 (the emulator's FAIL) is no retry.
                if isinstance(delay, int) and delay >= 1:
                    status = "PENDING"
                    if when is not None:
                        section["NextAttemptTimestamp"] = _millis(when) + delay * 1000
        elif op_type is OperationType.EXECUTION and _payload(details, "Input") is not None:
            section["InputPayload"] = _payload(details, "Input")
        elif op_type is OperationType.WAIT and details.get("ScheduledEndTimestamp") is not None:
            section["ScheduledEndTimestamp"] = details["ScheduledEndTimestamp"]
        elif op_type is OperationType.CALLBACK and details.get("CallbackId") is not None:
            section["CallbackId"] = details["CallbackId"]
        if result is not None:
            section["Result"] = result
        if error is not None:
            section["Error"] = error
        record["Status"] = status
        if status not in ("STARTED", "PENDING") and when is not None:
            record["EndTimestamp"] = when
    operations = []
    for record in records.values():
        cleaned = {key: value for key, value in record.items() if value != {}}
        operations.append(wire.operation_from_dict(cleaned))
    return operations


def result_from_history(
    arn: str,
    execution: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
) -> CloudExecutionResult:
    """The ``ExecutionResult`` of an execution from its ``GetDurableExecution``
    response (``execution``) and its history events.

    The outcome comes from ``execution`` (``Status``, ``Result``, ``Error``),
    falling back on the history's end event for a result or error it lacks.
    ``result`` is the JSON value of the result text (the text itself if it is
    not JSON).  ``status`` is ``PENDING`` while the execution runs.
    """
    history = tuple(events)
    status_text = execution.get("Status")
    execution_status = next(
        (status for status in ExecutionStatus if status.value == status_text),
        ExecutionStatus.RUNNING,  # also PAUSED, PAUSING: not over yet
    )
    end = next((e for e in reversed(history) if e.get("EventType") in _EXECUTION_ENDS), None)
    end_details: Mapping[str, Any] = {}
    if end is not None:
        end_details = end.get(f"{end['EventType']}Details") or {}
    raw_result = execution.get("Result")
    if raw_result is None:
        raw_result = _payload(end_details, "Result")
    raw_error = execution.get("Error") or _payload(end_details, "Error")
    error = wire.error_from_dict(raw_error) if raw_error else None
    result: Any = None
    if raw_result:
        try:
            result = json.loads(raw_result)
        except ValueError:
            result = raw_result
    operations = operations_from_history(history)
    return CloudExecutionResult(
        arn=arn,
        status={
            ExecutionStatus.SUCCEEDED: InvocationStatus.SUCCEEDED,
            ExecutionStatus.RUNNING: InvocationStatus.PENDING,
        }.get(execution_status, InvocationStatus.FAILED),
        execution_status=execution_status,
        result=result,
        raw_result=raw_result,
        error=error,
        operations=_tree(operations),
        invocations=sum(1 for e in history if e.get("EventType") == "InvocationCompleted"),
        checkpoint_calls=0,
        requests=(),
        log=tuple(operations),
        history=history,
    )


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------


def _new_execution_name() -> str:
    return f"durable-test-{uuid.uuid4().hex}"


class DurableFunctionCloudTestRunner(DurableTestRunner):
    """Runs executions of a deployed durable function through the Lambda API.

    Args:
        function_name: the function to invoke, qualified with a version or
            alias as durable functions require (``"orders:$LATEST"``,
            ``"orders:live"``, or a full ARN).
        region: the AWS region; by default ``AWS_REGION``, else boto3's own
            resolution (``AWS_DEFAULT_REGION``, the config file).
        endpoint_url: another Lambda endpoint; by default boto3's own
            (which honours ``AWS_ENDPOINT_URL_LAMBDA``).
        client: a boto3 ``lambda`` client to use instead of creating one
            (``region`` and ``endpoint_url`` are then ignored).
        poll_interval: the longest pause, in seconds, between two polls of
            the execution; polling starts faster and slows down to it.

    ``timeout`` arguments bound the real time spent waiting; ``run``'s
    covers starting and waiting.  API failures are raised as
    ``ServiceApiError`` (with the service's error code), a function that
    answers without a durable execution as ``CloudRunnerError``.
    """

    mode: ClassVar[Literal["local", "cloud"]] = "cloud"

    def __init__(
        self,
        function_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(function_name, str) or not function_name:
            raise ValueError(f"function_name must be a non-empty string, got {function_name!r}")
        self.function_name = function_name
        self.poll_interval = check_timeout(poll_interval, "poll_interval")
        self._owns_client = client is None
        self._client: Any = client if client is not None else _make_client(region, endpoint_url)

    @property
    def client(self) -> Any:
        """The boto3 ``lambda`` client the runner calls."""
        if self._client is None:
            raise CloudRunnerError(f"the cloud runner of {self.function_name} is closed")
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()

    # -- starting ----------------------------------------------------------

    def run_async(
        self,
        input: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        execution_name: str | None = None,
    ) -> str:
        """Invoke the function asynchronously (``InvocationType="Event"``) as
        a new durable execution called ``execution_name`` (a unique name by
        default) and return the execution's ARN."""
        check_timeout(timeout)
        name = execution_name if execution_name is not None else _new_execution_name()
        if not isinstance(name, str) or _EXECUTION_NAME.fullmatch(name) is None:
            raise ValueError(
                f"execution_name {name!r} is not a valid DurableExecutionName "
                "(1-64 characters: letters, digits, '-' and '_')"
            )
        try:
            payload = json.dumps(input)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"the workflow input must be JSON-serializable: {exc}") from exc
        response = self._call(
            f"Invoke of {self.function_name}",
            self.client.invoke,
            FunctionName=self.function_name,
            InvocationType="Event",
            DurableExecutionName=name,
            Payload=payload.encode("utf-8"),
        )
        body = response.get("Payload")
        text = body.read().decode("utf-8", errors="replace") if body is not None else ""
        status = response.get("StatusCode")
        if status != 202:
            raise CloudRunnerError(
                f"Invoke of {self.function_name} answered {status}, not 202 (Accepted): {text}"
            )
        arn = response.get("DurableExecutionArn")
        if not arn:
            raise CloudRunnerError(
                f"Invoke of {self.function_name} started no durable execution (no "
                "DurableExecutionArn in the response): is durable execution enabled for the "
                "function, and is the name qualified with a version or alias "
                f"(for example {self.function_name.split(':')[0]}:$LATEST)?"
            )
        return str(arn)

    def run(
        self,
        input: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        execution_name: str | None = None,
    ) -> ExecutionResult:
        """Start an execution and wait, at most ``timeout`` seconds in all,
        until it ends (see ``DurableTestRunner.run``)."""
        timeout = check_timeout(timeout)
        deadline = time.monotonic() + timeout
        arn = self.run_async(input, timeout, execution_name=execution_name)
        return self.wait_for_result(arn, max(deadline - time.monotonic(), 1e-3))

    # -- following ---------------------------------------------------------

    def get_execution(self, execution_arn: str) -> dict[str, Any]:
        """The ``GetDurableExecution`` response (with execution data)."""
        return dict(
            self._call(
                f"GetDurableExecution of {execution_arn}",
                self.client.get_durable_execution,
                DurableExecutionArn=execution_arn,
                IncludeExecutionData=True,
            )
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of the execution's history, oldest first, with payloads."""
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "DurableExecutionArn": execution_arn,
            "IncludeExecutionData": True,
            "MaxItems": 1000,
        }
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self._call(
                f"GetDurableExecutionHistory of {execution_arn}",
                self.client.get_durable_execution_history,
                **request,
            )
            events.extend(page.get("Events") or [])
            marker = page.get("NextMarker")
            if not marker:
                return events
            if marker in seen:
                raise CloudRunnerError(
                    f"the history of {execution_arn} repeats the page marker {marker!r}"
                )
            seen.add(marker)
            request["Marker"] = marker
        raise CloudRunnerError(f"the history of {execution_arn} has more than {_MAX_PAGES} pages")

    def describe(self, execution_arn: str) -> CloudExecutionResult:
        execution = self.get_execution(execution_arn)
        return result_from_history(execution_arn, execution, self.history(execution_arn))

    def wait_for_result(
        self, execution_arn: str, timeout: float = DEFAULT_TIMEOUT
    ) -> CloudExecutionResult:
        """Poll ``GetDurableExecution`` until the execution has ended, then
        read its history; ``TimeoutError`` naming the ARN and the last status
        if it is still running after ``timeout`` seconds."""
        timeout = check_timeout(timeout)
        deadline = time.monotonic() + timeout
        last = "not visible yet"
        for pause in self._pauses(deadline):
            execution = self._execution_if_visible(execution_arn)
            if execution is not None:
                last = str(execution.get("Status"))
                if last in _TERMINAL:
                    return result_from_history(
                        execution_arn, execution, self.history(execution_arn)
                    )
            if pause is None:
                break
            time.sleep(pause)
        raise TimeoutError(
            f"execution {execution_arn} of {self.function_name} did not end within "
            f"{timeout:g} s (last status: {last})"
        )

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> str:
        """Poll the history until the execution has an open callback (called
        ``name``, if given) and return its callback id."""
        timeout = check_timeout(timeout)
        deadline = time.monotonic() + timeout
        named = f" named {name!r}" if name is not None else ""
        seen = "none"
        for pause in self._pauses(deadline):
            if self._execution_if_visible(execution_arn) is not None:
                events = self.history(execution_arn)
                snapshot = result_from_history(execution_arn, {}, events)
                open_ = _open_callbacks(snapshot, name)
                if open_:
                    callback_id = open_[0].callback_id
                    assert callback_id is not None
                    return callback_id
                seen = _callbacks_seen(snapshot)
                ended = next((e for e in events if e.get("EventType") in _EXECUTION_ENDS), None)
                if ended is not None:
                    raise RunnerError(
                        f"execution {execution_arn} ended ({ended['EventType']}) without an "
                        f"open callback{named}; callbacks: {seen}"
                    )
            if pause is None:
                break
            time.sleep(pause)
        raise TimeoutError(
            f"no callback{named} opened in execution {execution_arn} of {self.function_name} "
            f"within {timeout:g} s; callbacks: {seen}"
        )

    def _execution_if_visible(self, execution_arn: str) -> dict[str, Any] | None:
        """``GetDurableExecution``, or ``None`` while the service does not know
        the execution yet (an asynchronous start may take a moment to show)."""
        try:
            return self.get_execution(execution_arn)
        except ServiceApiError as exc:
            if exc.error_code == "ResourceNotFoundException":
                return None
            raise

    def _pauses(self, deadline: float) -> Iterable[float | None]:
        """Pauses between polls, growing to ``poll_interval`` and ending at
        ``deadline``; ``None`` marks the last poll."""
        pause = min(_FIRST_POLL, self.poll_interval)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                yield None
                return
            yield min(pause, left)
            pause = min(pause * 2, self.poll_interval)

    # -- callbacks ---------------------------------------------------------

    def send_callback_success(self, callback_id: str, result: Any = b"") -> None:
        """``SendDurableExecutionCallbackSuccess`` with ``result`` as its body."""
        self._call(
            f"SendDurableExecutionCallbackSuccess for callback {callback_id!r}",
            self.client.send_durable_execution_callback_success,
            CallbackId=callback_id,
            Result=_callback_body(result),
        )

    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | BaseException | None = None
    ) -> None:
        """``SendDurableExecutionCallbackFailure`` with ``error`` (none if ``None``)."""
        request: dict[str, Any] = {"CallbackId": callback_id}
        if isinstance(error, BaseException):
            error = ErrorObject.from_exception(error)
        if error is not None:
            request["Error"] = wire.error_to_dict(error)
        self._call(
            f"SendDurableExecutionCallbackFailure for callback {callback_id!r}",
            self.client.send_durable_execution_callback_failure,
            **request,
        )

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self._call(
            f"SendDurableExecutionCallbackHeartbeat for callback {callback_id!r}",
            self.client.send_durable_execution_callback_heartbeat,
            CallbackId=callback_id,
        )

    # -- plumbing ----------------------------------------------------------

    def _call(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        from durable.lambda_ import classify

        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            retryable, code, status = classify(exc)
            detail = ""
            response = getattr(exc, "response", None)
            if isinstance(response, dict):
                detail = str((response.get("Error") or {}).get("Message") or "")
            message = f"{what} failed: {code}" + (f": {detail}" if detail else f" ({exc})")
            raise ServiceApiError(
                message, retryable=retryable, error_code=code, status_code=status
            ) from exc


def _make_client(region: str | None, endpoint_url: str | None) -> Any:
    import os

    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session().client(
            "lambda",
            region_name=region or os.environ.get("AWS_REGION") or None,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"mode": "standard", "total_max_attempts": 5},
                user_agent_extra="durable-testing",
            ),
        )
    except NoRegionError:
        raise CloudRunnerError(
            "no AWS region is configured for the cloud runner: set AWS_REGION "
            "(or AWS_DEFAULT_REGION), or pass region="
        ) from None
