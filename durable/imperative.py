"""The imperative API: blocking ``context.step(...)`` calls over the one interpreter.

Responsibility: let a plain function ``handler(event, context)`` whose
``context.step(...)`` / ``context.wait(...)`` calls block until the
operation's result is known run on the same interpreter as ``yield``
workflows, writing the same checkpoint log.  This module adds no replay, id
or checkpoint logic: every operation is resolved by
``Replay.begin_operation`` and the handlers of ``durable.core``.

Bridging technique (and why)
----------------------------
The interpreter drives a workflow by sending outcomes into a generator-like
frame and reading the next descriptor out of it.  A plain function cannot be
suspended mid-call, so the handler runs on a *worker thread*, and the frame
the interpreter drives is a view of that thread (``_WorkerFrame``): sending
a value into the view wakes the blocked call in the worker; the worker's next
durable call (or its return) is what the view yields (or raises
``StopIteration`` with).  Only one side runs at a time, so the interpreter's
state is never touched concurrently.

That hand-off costs a thread switch, so the worker first tries the fast
path: while the interpreter waits for it, the worker calls
``Replay.begin_operation`` itself.  When the log already answers the
operation (every replayed step, every fired wait) the result comes straight
back with no switch at all; only operations that need the shell (run a step
body, send a checkpoint, suspend) are handed to the interpreter, as the
``Started`` process ``begin_operation`` returned.  Replaying a long
imperative workflow therefore costs about what the ``yield`` form costs.

The rejected alternative, a re-entrant interpreter that the blocking call
drives itself, would have needed a second way of running step bodies and
checkpoints (the shell's job) inside the core's call stack.

Child contexts run inline on the same worker thread: the view of a child is
another frame over the same thread, entered when the interpreter asks for the
child's body and left when the child function returns.  So nesting costs no
threads.

Suspension: when the invocation must end, the interpreter closes its frames;
closing a view raises ``SuspendExecution`` (a ``BaseException``) at the
worker's blocked call, so it unwinds through the user's code (``finally``
blocks run; ``except Exception`` cannot catch it) and the thread ends.
"""

from __future__ import annotations

import functools
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

import attrs

from durable._workflow import DurableWorkflow
from durable.batch import BatchResult, MapConfig, ParallelBranch, ParallelConfig
from durable.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from durable.core import Context, Failure, Value
from durable.core._handlers import Started
from durable.errors import _SUSPEND_TOKEN, SuspendExecution, UsageError
from durable.ops import (
    Callback,
    ChildContext,
    LoggerLike,
    StepContext,
    WaitForCallbackContext,
    WaitForConditionCheckContext,
)
from durable.retries import RetryDecision, create_retry_strategy, decide_retry
from durable.waits import WaitForConditionConfig

__all__ = [
    "BlockingCallback",
    "DurableContext",
    "ExecutionContext",
    "WithRetryConfig",
    "durable_execution",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]

T = TypeVar("T")
U = TypeVar("U")
P = ParamSpec("P")

# Messages to the worker thread.
_VALUE, _ERROR, _SUSPEND, _ENTER = "value", "error", "suspend", "enter"
# Events from the worker thread.
_YIELD, _RETURN, _RAISE, _ENDED = "yield", "return", "raise", "ended"


class _Worker:
    """One thread running imperative user code, and the two queues to it."""

    def __init__(self) -> None:
        self.to_worker: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.from_worker: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        #: The interpreter has seen the thread's last event.
        self.done = False
        #: The interpreter is unwinding the worker: every request suspends.
        self.closing = False

    # -- worker side ---------------------------------------------------------

    # ``request`` and ``report`` put one event and take one message in the
    # same frame, with no Python call in between: an exception (say a
    # RecursionError deep in nested children) can then only happen before
    # the event or after the message, never between, so the two threads
    # cannot fall out of step.

    def request(self, item: object) -> Any:
        """Hand ``item`` (a descriptor or a ``Started`` operation) to the
        interpreter and block until it answers."""
        if self.closing:
            raise _suspension()
        self.from_worker.put((_YIELD, item))
        kind, payload = self.to_worker.get()
        if kind is _VALUE:
            return payload
        if kind is _ERROR:
            raise payload
        if kind is _SUSPEND:
            raise _suspension()
        return _Enter(payload)

    def report(self, event: str, payload: Any) -> Any:
        """Say how a child's body ended, then block until the interpreter
        answers the child operation."""
        self.from_worker.put((event, payload))
        kind, answer = self.to_worker.get()
        if kind is _VALUE:
            return answer
        if kind is _ERROR:
            raise answer
        if kind is _SUSPEND:
            raise _suspension()
        raise UsageError(f"the interpreter sent {kind!r} where an answer was due")

    def run(self, body: Callable[[], Any]) -> None:
        """The thread's main function: run ``body`` and report how it ended."""
        try:
            self.from_worker.put((_RETURN, body()))
        except SuspendExecution:
            self.from_worker.put((_ENDED, None))
        except BaseException as exc:
            self.from_worker.put((_RAISE, exc))

    # -- interpreter side ----------------------------------------------------

    def next_event(self) -> Any:
        kind, payload = self.from_worker.get()
        if kind == _YIELD:
            return payload
        if kind == _RETURN:
            raise StopIteration(payload)
        if kind == _RAISE:
            raise payload
        # _ENDED: the worker unwound with SuspendExecution outside a close();
        # that only happens if user code raised one it caught earlier.
        self.done = True
        raise UsageError("the imperative handler ended with a suspension it was not asked for")


@attrs.frozen
class _Enter:
    """The interpreter asks the worker to run a child context's body now."""

    call: Callable[[], Any]


#: Frames kept free below the recursion limit when entering a child's body.
_HEADROOM = 120


def _near_recursion_limit() -> bool:
    """True when this thread's stack is within ``_HEADROOM`` frames of the limit."""
    try:
        sys._getframe(sys.getrecursionlimit() - _HEADROOM)
    except ValueError:
        return False
    return True


def _suspension() -> SuspendExecution:
    return SuspendExecution("the invocation is suspending", _token=_SUSPEND_TOKEN)


class _WorkerFrame:
    """A generator-like view of the worker, for the interpreter to drive.

    The root view starts the thread on its first ``send``; a child view
    instead tells the (blocked) worker to enter the child's body.
    """

    def __init__(self, worker: _Worker, start: Callable[[], None], *, root: bool) -> None:
        self._worker = worker
        self._start = start
        self._root = root
        self._started = False
        self._done = False

    def send(self, value: Any) -> Any:
        if not self._started:
            self._started = True
            self._start()
        else:
            self._worker.to_worker.put((_VALUE, value))
        return self._next()

    def throw(self, error: BaseException) -> Any:
        if not self._started:
            raise error
        self._worker.to_worker.put((_ERROR, error))
        return self._next()

    def _next(self) -> Any:
        try:
            return self._worker.next_event()
        except BaseException:
            # This level of the worker returned or raised.
            self._done = True
            if self._root:
                self._worker.done = True
            raise

    def close(self) -> None:
        """Unwind the worker with ``SuspendExecution`` at its blocked call.

        The innermost view is closed first; the suspension then unwinds every
        level of the thread at once, so the outer views find it done.
        """
        worker = self._worker
        if not self._started or self._done or worker.done:
            return
        worker.closing = True
        worker.to_worker.put((_SUSPEND, None))
        kind, payload = worker.from_worker.get()
        self._done = True
        if kind == _ENDED or self._root:
            worker.done = True
        if kind == _RAISE:
            raise payload
        if kind == _YIELD:
            # Cannot happen while closing (requests raise at once); kept so a
            # broken invariant is loud rather than a hang.
            raise RuntimeError("generator ignored GeneratorExit")


def _thread_frame(ctx: Context, body: Callable[[DurableContext], Any], label: str) -> _WorkerFrame:
    """A frame running ``body(DurableContext(ctx))`` on a thread of its own,
    started when the interpreter first drives the frame."""
    worker = _Worker()
    context = DurableContext(ctx, worker)

    def start() -> None:
        worker.thread = threading.Thread(
            target=worker.run,
            args=(lambda: body(context),),
            name=f"durable-{label}",
            daemon=True,
        )
        worker.thread.start()

    return _WorkerFrame(worker, start, root=True)


def _root_frame(handler: Callable[[Any, DurableContext], Any]) -> Callable[[Any, Context], Any]:
    label = getattr(handler, "__name__", "handler")

    def workflow(event: Any, ctx: Context) -> _WorkerFrame:
        return _thread_frame(ctx, lambda context: handler(event, context), label)

    return workflow


def _branch(func: Callable[..., Any], label: str) -> Callable[..., _WorkerFrame]:
    """A map or parallel branch of the imperative API as the interpreter runs
    it: ``func(branch_context, *args)`` on a thread of its own, since branches
    interleave.  Only one thread runs at a time; the interpreter decides
    which, so the log does not depend on thread timing."""

    def enter(ctx: Context, *args: Any) -> _WorkerFrame:
        return _thread_frame(ctx, lambda context: func(context, *args), label)

    return enter


@attrs.frozen
class ExecutionContext:
    """Facts about the running execution."""

    durable_execution_arn: str


class DurableContext:
    """The context an imperative handler receives: each call blocks until done.

    Same names, parameters and defaults as the AWS SDK's ``DurableContext``::

        @durable_execution
        def handler(event, context: DurableContext):
            order = context.step(validate_order(event["order_id"]))
            context.wait(Duration.from_minutes(5))
            return context.step(ship(order), name="ship")
    """

    def __init__(self, ctx: Context, worker: _Worker) -> None:
        self._ctx = ctx
        self._worker = worker

    def _perform(self, descriptor: object) -> Any:
        interpreter = self._ctx.interpreter
        answer = interpreter.begin_operation(self._ctx, descriptor)
        if type(answer) is Value:
            return answer.value
        if type(answer) is Failure:
            raise answer.error
        assert isinstance(answer, Started)
        reply = self._worker.request(answer)
        assert not isinstance(reply, _Enter)
        return reply

    # -- operations ----------------------------------------------------------

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T:
        """Run ``func(step_context)`` as a checkpointed step and return its result."""
        result: T = self._perform(self._ctx.step(func, name=name, config=config))
        return result

    def wait(self, duration: Duration, name: str | None = None) -> None:
        """Pause durably for ``duration`` (at least 1 second)."""
        self._perform(self._ctx.wait(duration, name=name))

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> T:
        """Run ``func(child_context)`` as an isolated, checkpointed sub-workflow."""
        worker = self._worker
        if name is None:
            name = getattr(func, "_original_name", None)

        def enter(child_ctx: Context) -> _WorkerFrame:
            child = DurableContext(child_ctx, worker)
            return _WorkerFrame(
                worker, lambda: worker.to_worker.put((_ENTER, lambda: func(child))), root=False
            )

        interpreter = self._ctx.interpreter
        answer = interpreter.begin_operation(
            self._ctx, ChildContext(fn=enter, name=name, config=config)
        )
        if type(answer) is Value:
            return answer.value  # type: ignore[no-any-return]
        if type(answer) is Failure:
            raise answer.error
        reply = worker.request(answer)
        if isinstance(reply, _Enter):
            # Run the child's body here, on this thread, then wait for the
            # interpreter to checkpoint it and answer the operation.
            if _near_recursion_limit():
                return worker.report(  # type: ignore[no-any-return]
                    _RAISE,
                    RecursionError(
                        "imperative child contexts nest too deeply for Python's recursion "
                        f"limit ({sys.getrecursionlimit()}); the generator style has no such "
                        "limit"
                    ),
                )
            try:
                value = reply.call()
            except Exception as exc:
                return worker.report(_RAISE, exc)  # type: ignore[no-any-return]
            return worker.report(_RETURN, value)  # type: ignore[no-any-return]
        return reply  # type: ignore[no-any-return]

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> BatchResult[T]:
        """Run ``func(branch_context, item, index, inputs)`` for every item as
        concurrent branches and return the ``BatchResult`` (failed items are
        recorded in it, not raised)."""
        if name is None:
            name = getattr(func, "_original_name", None)
        label = getattr(func, "__name__", "map-item")
        result: BatchResult[T] = self._perform(
            self._ctx.map(inputs, _branch(func, label), name=name, config=config)
        )
        return result

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each ``function(branch_context)`` (or ``ParallelBranch``) as a
        concurrent branch and return the ``BatchResult``."""
        branches: list[Any] = []
        for index, fn in enumerate(functions):
            if isinstance(fn, ParallelBranch):
                branches.append(
                    ParallelBranch(_branch(fn.func, f"parallel-branch-{index}"), name=fn.name)
                )
            elif callable(fn):
                branches.append(_branch(fn, f"parallel-branch-{index}"))
            else:
                branches.append(fn)  # the descriptor reports it, naming the index
        result: BatchResult[T] = self._perform(
            self._ctx.parallel(branches, name=name, config=config)
        )
        return result

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> BlockingCallback:
        """Open a callback; hand ``.callback_id`` out, then ``.result()`` blocks
        until the external system answers (or raises its timeout/failure)."""
        handle: Callback = self._perform(self._ctx.create_callback(name=name, config=config))
        return BlockingCallback(handle, self)

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], Any],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Any:
        """Open a callback, run ``submitter(callback_id, context)`` as a step,
        and block until the answer arrives."""
        return self._perform(self._ctx.wait_for_callback(submitter, name=name, config=config))

    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: InvokeConfig | None = None,
    ) -> Any:
        """Invoke another Lambda function and block until its result is known."""
        return self._perform(self._ctx.invoke(function_name, payload, name=name, config=config))

    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> T:
        """Poll ``check`` with durable pauses until the wait strategy stops;
        return the final state."""
        result: T = self._perform(self._ctx.wait_for_condition(check, config=config, name=name))
        return result

    # -- logging and introspection ---------------------------------------------

    @property
    def logger(self) -> Any:
        """A logger that stays silent while this context replays."""
        return self._ctx.logger

    def set_logger(self, new_logger: LoggerLike) -> None:
        self._ctx.set_logger(new_logger)

    def is_replaying(self) -> bool:
        return self._ctx.is_replaying()

    @property
    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(durable_execution_arn=self._ctx.execution_arn)

    @property
    def lambda_context(self) -> Any:
        return self._ctx.lambda_context

    @property
    def state(self) -> Context:
        """The underlying yield-style context (for introspection)."""
        return self._ctx


class BlockingCallback:
    """A callback of the imperative API: ``result()`` blocks for the answer."""

    def __init__(self, handle: Callback, context: DurableContext) -> None:
        self._handle = handle
        self._context = context

    @property
    def callback_id(self) -> str:
        return self._handle.callback_id

    @property
    def operation_id(self) -> str:
        return self._handle.operation_id

    def result(self) -> Any:
        """Block until the external system answers; raise its timeout or failure."""
        return self._context._perform(self._handle.result())

    def __repr__(self) -> str:
        return f"<callback {self._handle.name!r} id={self.callback_id!r}>"


def durable_wait_for_callback(
    func: Callable[..., Any],
) -> Callable[..., Callable[[str, WaitForCallbackContext], Any]]:
    """Decorate ``f(callback_id, context, *args, **kwargs)`` so that
    ``f(*args, **kwargs)`` is a submitter for ``wait_for_callback``, which is
    then named after ``f``."""

    @functools.wraps(func)
    def bind(*args: Any, **kwargs: Any) -> Callable[[str, WaitForCallbackContext], Any]:
        def submitter(callback_id: str, context: WaitForCallbackContext) -> Any:
            return func(callback_id, context, *args, **kwargs)

        submitter._original_name = func.__name__  # type: ignore[attr-defined]
        return submitter

    return bind


@overload
def durable_execution(
    func: Callable[[Any, DurableContext], Any],
    *,
    boto3_client: Any = None,
    plugins: Any = None,
) -> DurableWorkflow[Callable[[Any, Context], Any]]: ...


@overload
def durable_execution(
    func: None = None,
    *,
    boto3_client: Any = None,
    plugins: Any = None,
) -> Callable[
    [Callable[[Any, DurableContext], Any]], DurableWorkflow[Callable[[Any, Context], Any]]
]: ...


def durable_execution(
    func: Callable[[Any, DurableContext], Any] | None = None,
    *,
    boto3_client: Any = None,
    plugins: Any = None,
) -> Any:
    """Make ``handler(event, context: DurableContext)`` a durable Lambda handler.

    Usable bare or with ``boto3_client=``. The result is the Lambda handler,
    and also runs under ``durable.testing``.  ``plugins`` (the AWS SDK's
    instrumentation hooks) are not supported: passing any raises
    ``UsageError``.
    """
    if plugins:
        raise UsageError("durable_execution(plugins=...) is not supported by durable")

    def decorate(
        f: Callable[[Any, DurableContext], Any],
    ) -> DurableWorkflow[Callable[[Any, Context], Any]]:
        if not callable(f):
            raise UsageError(f"@durable_execution must decorate a function, got {f!r}")
        wrapped = DurableWorkflow(
            _root_frame(f), boto3_client=boto3_client, name=getattr(f, "__name__", None)
        )
        functools.update_wrapper(wrapped, f)  # name, docstring and __wrapped__ of the handler
        return wrapped

    if func is not None:
        return decorate(func)
    return decorate


class _ChildCall(Generic[T]):
    """``f(*args)`` bound, waiting for a ``DurableContext``; carries the name."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._original_name = getattr(fn, "__name__", None)

    def __call__(self, context: DurableContext) -> T:
        return self._fn(context, *self._args, **self._kwargs)


def durable_with_child_context(
    func: Callable[..., T],
) -> Callable[..., Callable[[DurableContext], T]]:
    """Decorate ``f(context, *args, **kwargs)`` so that ``f(*args, **kwargs)``
    is a function of a ``DurableContext``, for ``run_in_child_context``; the
    child context is named after ``f``."""

    @functools.wraps(func)
    def bind(*args: Any, **kwargs: Any) -> Callable[[DurableContext], T]:
        return _ChildCall(func, args, kwargs)

    return bind


@attrs.frozen
class WithRetryConfig:
    """How ``with_retry`` retries: its strategy (default
    ``create_retry_strategy()``: 3 attempts), and whether the attempts run in
    a child context of their own (the default) with which config."""

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig | None = None


def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], T],
    config: WithRetryConfig | None = None,
    name: str | None = None,
) -> T:
    """Run ``func(context, attempt)`` until it returns, retrying what it raises.

    Unlike a step's retries, each attempt may run several durable
    operations; between attempts a durable wait named
    ``"<name>-backoff-<attempt>"`` holds the strategy's delay (protocol.md
    §5.10).  When the strategy gives up, the last error propagates.
    """
    config = config if config is not None else WithRetryConfig()
    strategy = config.retry_strategy or create_retry_strategy()

    def attempts(ctx: DurableContext) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return func(ctx, attempt)
            except Exception as error:
                decision = decide_retry(strategy, error, attempt, ctx.state.interpreter.random)
                if not decision.should_retry:
                    raise
                ctx.wait(
                    Duration(max(1, decision.delay_seconds)),
                    name=f"{name}-backoff-{attempt}" if name else None,
                )

    if config.wrap_with_run_in_child_context:
        return context.run_in_child_context(attempts, name=name, config=config.child_context_config)
    return attempts(context)
