"""One interface for tests that run a durable function, locally or in the cloud.

``DurableTestRunner`` is what the ``durable_runner`` pytest fixture hands a
test, whichever ``--runner-mode`` is chosen, so that one test file checks a
workflow in-process (``DurableFunctionTestRunner``, virtual time) and a
deployed function (``DurableFunctionCloudTestRunner``) alike::

    with runner:
        result = runner.run(input={"order_id": "o-1"}, timeout=30)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.get_step("charge").result == {"charged": 10}

A workflow that waits for a callback is driven in steps::

    arn = runner.run_async(input={...})
    callback_id = runner.wait_for_callback(arn, name="approval")
    runner.send_callback_success(callback_id, {"approved": True})
    result = runner.wait_for_result(arn)

Both runners describe an execution with the same ``ExecutionResult``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal, Self

from durable.core import Failure, RunStep, Value
from durable.model import ErrorObject, OperationStatus, OperationType
from durable.ops import LoggerLike
from durable.testing._runner import (
    CallbackAnswer,
    ExecutionResult,
    LocalRunner,
    OperationResult,
    RunnerError,
)
from durable.testing._service import LocalService, RegisteredFunction, VirtualClock

__all__ = ["DEFAULT_TIMEOUT", "DurableFunctionTestRunner", "DurableTestRunner"]

#: Seconds ``run`` and the ``wait_for_*`` methods wait by default.
DEFAULT_TIMEOUT = 60.0

#: Bound on the virtual-time steps one ``wait_for_*`` call of the local runner takes.
_MAX_ADVANCES = 10_000


def check_timeout(timeout: float, what: str = "timeout") -> float:
    """``timeout`` as a float; ``TypeError`` if it is not a number, ``ValueError``
    if it is not positive and finite (``what`` names it in the message)."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {timeout!r}")
    value = float(timeout)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{what} must be a positive, finite number of seconds, got {timeout!r}")
    return value


class DurableTestRunner(abc.ABC):
    """Runs executions of one durable function and describes them.

    Use it as a context manager (``with runner: ...``); leaving the block
    releases what the runner holds (the cloud runner's HTTP client).  The
    result of an execution is an ``ExecutionResult``, inspected the same way
    in both modes.  ``timeout`` arguments are seconds of real time; see each
    implementation for what they bound.
    """

    #: ``"local"`` or ``"cloud"``.
    mode: ClassVar[Literal["local", "cloud"]]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release what the runner holds; it may not be used afterwards."""

    def run(
        self,
        input: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        execution_name: str | None = None,
    ) -> ExecutionResult:
        """Start an execution with ``input`` (JSON-serializable) and wait until it ends.

        Returns its ``ExecutionResult`` (status ``SUCCEEDED`` or ``FAILED``).
        Raises ``TimeoutError`` if it has not ended within ``timeout``
        seconds, or, locally, if it waits for something only the test can do
        (answer a callback that has no timeout): use ``run_async`` and the
        callback methods for such workflows.
        """
        timeout = check_timeout(timeout)
        arn = self.run_async(input, timeout, execution_name=execution_name)
        return self.wait_for_result(arn, timeout)

    @abc.abstractmethod
    def run_async(
        self,
        input: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        execution_name: str | None = None,
    ) -> str:
        """Start an execution and return its ARN without waiting for it to end."""

    @abc.abstractmethod
    def wait_for_result(
        self, execution_arn: str, timeout: float = DEFAULT_TIMEOUT
    ) -> ExecutionResult:
        """Wait until the execution ends and return its ``ExecutionResult``;
        ``TimeoutError`` (naming the ARN and the last status) if it does not."""

    @abc.abstractmethod
    def describe(self, execution_arn: str) -> ExecutionResult:
        """The ``ExecutionResult`` of the execution as it stands, without
        waiting (``status`` is ``PENDING`` while it runs)."""

    @abc.abstractmethod
    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> str:
        """Wait until the execution has an open callback (called ``name``, if
        given) and return its callback id.

        Raises ``RunnerError`` if the execution ends first, ``TimeoutError``
        if no such callback opens within ``timeout`` seconds.
        """

    @abc.abstractmethod
    def send_callback_success(self, callback_id: str, result: Any = b"") -> None:
        """Complete a callback successfully with ``result``: ``bytes`` as they
        are, a ``str`` as its UTF-8 text, anything else as its JSON text."""

    @abc.abstractmethod
    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | BaseException | None = None
    ) -> None:
        """Fail a callback with ``error`` (an exception is recorded with
        ``ErrorObject.from_exception``)."""

    @abc.abstractmethod
    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Send a heartbeat for a callback, restarting its heartbeat timeout."""


def _open_callbacks(result: ExecutionResult, name: str | None) -> list[OperationResult]:
    return [
        op
        for op in result.get_operations(name, type=OperationType.CALLBACK)
        if op.status is OperationStatus.STARTED and op.callback_id is not None
    ]


def _callbacks_seen(result: ExecutionResult) -> str:
    seen = [
        f"{op.name or op.id} ({op.status.value})"
        for op in result.get_operations(type=OperationType.CALLBACK)
    ]
    return ", ".join(seen) if seen else "none"


class DurableFunctionTestRunner(DurableTestRunner):
    """Runs a durable function in-process, on a ``LocalService`` with virtual time.

    ``handler`` is a ``@durable.workflow`` (generator or ``async def``), a
    ``@durable_execution`` imperative handler, or a plain ``(event, ctx)``
    workflow function.  ``functions`` maps names to the targets of chained
    invokes (see ``register_function``).  The other keyword arguments are
    those of ``LocalRunner`` (``seed``, ``on_callback``, ``through_handler``,
    ...).

    Time is virtual: waits, retry delays and callback timeouts take no real
    time, so the ``timeout`` arguments do not bound anything here (they are
    checked to be positive numbers, so a test stays valid in cloud mode);
    ``max_invocations`` bounds a workflow that never ends.  ``run_async``
    drives the execution until it ends or waits for something only the test
    can do (answer a callback); the ``wait_for_*`` methods then let virtual
    time pass, as real time would pass in the cloud, so a callback can time
    out.  When nothing at all is scheduled and the execution still waits,
    they raise ``TimeoutError`` at once, since waiting would never end.
    """

    mode: ClassVar[Literal["local", "cloud"]] = "local"

    def __init__(
        self,
        handler: Any,
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        service: LocalService | None = None,
        seed: int = 0,
        max_invocations: int = 10_000,
        logger: LoggerLike | None = None,
        run_body: Callable[[RunStep], Value | Failure] | None = None,
        through_handler: bool = False,
        on_callback: Callable[[OperationResult], CallbackAnswer | None] | None = None,
        max_workers: int | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if run_body is not None:
            options["run_body"] = run_body
        self._runner = LocalRunner(
            handler,
            service=service,
            seed=seed,
            max_invocations=max_invocations,
            logger=logger,
            through_handler=through_handler,
            on_callback=on_callback,
            max_workers=max_workers,
            **options,
        )
        for name, target in (functions or {}).items():
            self._runner.register_function(name, target)

    @property
    def local_runner(self) -> LocalRunner:
        """The ``LocalRunner`` underneath, for what only a local run can do
        (``advance``, fault injection through its ``service``)."""
        return self._runner

    @property
    def service(self) -> LocalService:
        return self._runner.service

    @property
    def clock(self) -> VirtualClock:
        """The virtual clock of the service."""
        return self._runner.clock

    def register_function(
        self, name: str, target: Callable[..., Any], *, durable: bool | None = None
    ) -> RegisteredFunction:
        """Make ``target`` the function chained invokes of ``name`` reach
        (``LocalRunner.register_function``)."""
        return self._runner.register_function(name, target, durable=durable)

    def register_durable_function(self, name: str, handler: Any) -> RegisteredFunction:
        """Register a durable ``handler`` as the chained-invoke target ``name``;
        it runs as a child execution."""
        return self._runner.register_function(name, handler, durable=True)

    def run_async(
        self,
        input: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        execution_name: str | None = None,
    ) -> str:
        """Start an execution and drive it, in virtual time, until it ends or
        waits for the test (an open callback); return its ARN."""
        check_timeout(timeout)
        return self._runner.run(input, execution_name=execution_name).arn

    def describe(self, execution_arn: str) -> ExecutionResult:
        return self._runner.result(execution_arn)

    def wait_for_result(
        self, execution_arn: str, timeout: float = DEFAULT_TIMEOUT
    ) -> ExecutionResult:
        """Let virtual time pass until the execution ends; return its result.

        ``TimeoutError`` if it waits for something that nothing scheduled
        will bring (a callback without a timeout, a chained invoke waiting
        on one).
        """
        check_timeout(timeout)
        for _ in range(_MAX_ADVANCES):
            if self.service.execution(execution_arn).done:
                return self._runner.result(execution_arn)
            self._advance(execution_arn, "to end")
        raise RunnerError(
            f"execution {execution_arn} did not end after {_MAX_ADVANCES} steps of virtual time"
        )

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> str:
        """The id of the first open callback (called ``name``, if given),
        letting virtual time pass until one opens."""
        check_timeout(timeout)
        named = f" named {name!r}" if name is not None else ""
        for _ in range(_MAX_ADVANCES):
            result = self._runner.result(execution_arn)
            open_ = _open_callbacks(result, name)
            if open_:
                callback_id = open_[0].callback_id
                assert callback_id is not None
                return callback_id
            if self.service.execution(execution_arn).done:
                raise RunnerError(
                    f"execution {execution_arn} ended {result.execution_status.value} "
                    f"without an open callback{named}; callbacks: {_callbacks_seen(result)}"
                )
            self._advance(execution_arn, f"to open a callback{named}")
        raise RunnerError(
            f"no callback{named} opened in execution {execution_arn} after "
            f"{_MAX_ADVANCES} steps of virtual time"
        )

    def _advance(self, arn: str, purpose: str) -> None:
        """Move virtual time to the execution's next timer and resume it;
        ``TimeoutError`` if nothing is scheduled."""
        wake = self.service.next_wakeup(arn)
        if wake is None:
            result = self._runner.result(arn)
            raise TimeoutError(
                f"execution {arn} waits for something only the test can do and nothing "
                f"is scheduled that could bring it {purpose}; open callbacks: "
                f"{[op.label for op in _open_callbacks(result, None)] or 'none'} (answer them "
                "with send_callback_success/_failure, or give them a timeout)"
            )
        delay = max(timedelta(0), wake - self.clock.now())
        self._runner.advance(arn, delay)

    def send_callback_success(self, callback_id: str, result: Any = b"") -> None:
        """Complete the callback, then continue the execution in virtual time
        until it ends or waits again (``LocalRunner.send_callback_success``)."""
        self._runner.send_callback_success(callback_id, result)

    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | BaseException | None = None
    ) -> None:
        """Fail the callback (with an empty ``ErrorObject`` if ``error`` is
        ``None``), then continue the execution."""
        self._runner.send_callback_failure(
            callback_id, error if error is not None else ErrorObject()
        )

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self._runner.send_callback_heartbeat(callback_id)
