"""The context a workflow receives: descriptor factories plus per-context state.

Responsibility: ``Context`` is what ``@durable.workflow`` functions get as
``ctx``.  Its methods only *build* descriptors (``ctx.step(...)``,
``ctx.wait(...)``); nothing happens until the workflow yields or awaits the
descriptor.  It also owns the state the interpreter keeps per context: the id
prefix and counter (protocol.md §4.1), the reporting parent (§4.5) and the
replay status that silences the logger (§6.2, §6.4).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any, TypeVar, overload

import attrs

from durable.batch import MapConfig, ParallelBranch, ParallelConfig
from durable.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    StepConfig,
    WaitForCallbackConfig,
    as_duration,
)
from durable.core._ids import operation_id
from durable.core._logger import LoggerHolder, ReplaySafeLogger
from durable.errors import ValidationError
from durable.ops import (
    ChildContext,
    ChildFunction,
    CreateCallback,
    Invoke,
    LoggerLike,
    Map,
    Parallel,
    Step,
    StepContext,
    StepFunction,
    Wait,
    WaitForCallback,
    WaitForCondition,
)

__all__ = ["Context", "ReplayStatus"]

T = TypeVar("T")
U = TypeVar("U")


class ReplayStatus(enum.Enum):
    """Whether a context is re-reading its log (``REPLAY``) or past it (``NEW``)."""

    REPLAY = "replay"
    NEW = "new"


class Context:
    """The durable context of a workflow (or of a child context or branch).

    Build operations with its methods and ``yield`` (or ``await``) them::

        @durable.workflow
        def process(event, ctx):
            receipt = yield ctx.step(send_receipt, name="receipt")
            yield ctx.wait(Duration.from_minutes(5), name="cool-off")
            ctx.logger.info("done")        # silent while replaying
            return receipt
    """

    __slots__ = (
        "_counter",
        "_execution_arn",
        "_holder",
        "_lambda_context",
        "_logger",
        "_next",
        "_parent_id",
        "_prefix",
        "interpreter",
        "replaying",
    )

    def __init__(
        self,
        *,
        prefix: str | None,
        parent_id: str | None,
        replaying: bool,
        holder: LoggerHolder,
        execution_arn: str,
        lambda_context: Any = None,
    ) -> None:
        self._prefix = prefix
        self._parent_id = parent_id
        self._counter = 0
        self._next: str | None = None  # the next id, when already computed
        self.replaying = replaying
        self._holder = holder
        self._execution_arn = execution_arn
        self._lambda_context = lambda_context
        #: The interpreter driving this context (set by it; used by the
        #: imperative API to resolve operations through it).
        self.interpreter: Any = None
        self._logger: ReplaySafeLogger | None = None

    # -- operations ---------------------------------------------------------

    @overload
    def step(
        self,
        fn: Step[T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Step[T]: ...

    @overload
    def step(
        self,
        fn: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Step[T]: ...

    def step(
        self,
        fn: Step[T] | Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Step[T]:
        """A step that runs ``fn(step_context)``.

        ``fn`` may also be a step built by a ``@durable.step`` function
        (``ctx.step(charge(order_id), name="charge-again")``), whose name and
        config are kept unless given here.  A plain function or lambda has no
        name unless ``name`` is given (as in the reference SDK).
        """
        kind = type(fn)
        if kind is not Step and kind is not StepFunction:
            if not callable(fn):
                raise ValidationError(f"ctx.step needs a callable, got {fn!r}")
            return Step(fn=fn, name=name, config=config)
        if isinstance(fn, Step):
            return attrs.evolve(
                fn,
                name=name if name is not None else fn.name,
                config=config if config is not None else fn.config,
            )
        if isinstance(fn, StepFunction):
            built: Step[T] = fn()
            return attrs.evolve(
                built,
                name=name if name is not None else built.name,
                config=config if config is not None else built.config,
            )
        if not callable(fn):
            raise ValidationError(f"ctx.step needs a callable, got {fn!r}")
        return Step(fn=fn, name=name, config=config)

    def run_in_child_context(
        self,
        fn: ChildContext[T] | Callable[..., Any],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> ChildContext[T]:
        """An isolated sub-workflow: ``fn(child_ctx)`` with its own operation ids.

        ``fn`` may be a generator function, an ``async def`` or a plain
        function of one argument (the child's context), or a child context
        built by a ``@durable.child_context`` function.
        """
        if isinstance(fn, ChildContext):
            return attrs.evolve(
                fn,
                name=name if name is not None else fn.name,
                config=config if config is not None else fn.config,
            )
        if isinstance(fn, ChildFunction):
            built: ChildContext[T] = fn()
            return attrs.evolve(
                built,
                name=name if name is not None else built.name,
                config=config if config is not None else built.config,
            )
        if not callable(fn):
            raise ValidationError(f"ctx.run_in_child_context needs a callable, got {fn!r}")
        return ChildContext(fn=fn, name=name, config=config)

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> CreateCallback:
        """Open a callback. Yielding this gives a ``Callback`` (with its
        ``callback_id``) at once; ``yield callback.result()`` waits for the
        external system's answer, which ``config.serdes`` decodes (without one,
        the raw string is returned)."""
        return CreateCallback(name=name, config=config)

    def wait_for_callback(
        self,
        submitter: Callable[..., Any],
        name: str | None = None,
        config: WaitForCallbackConfig | CallbackConfig | None = None,
    ) -> WaitForCallback[Any]:
        """Open a callback, hand its id to ``submitter(callback_id,
        WaitForCallbackContext)`` (run as a retried step), then wait for the
        answer. Named after ``name``, else the submitter's decorated name."""
        if name is None:
            name = getattr(submitter, "_original_name", None)
        return WaitForCallback(submitter=submitter, name=name, config=config)

    def invoke(
        self,
        function_name: str,
        payload: Any = None,
        name: str | None = None,
        config: InvokeConfig | None = None,
    ) -> Invoke[Any]:
        """Invoke the Lambda function ``function_name`` (a name, name:qualifier
        or ARN) with ``payload`` and wait for its result, durably."""
        return Invoke(function_name=function_name, payload=payload, name=name, config=config)

    def wait_for_condition(
        self,
        check: Callable[..., Any],
        config: Any = None,
        name: str | None = None,
    ) -> WaitForCondition[Any]:
        """Call ``check(state, WaitForConditionCheckContext)`` until
        ``config.wait_strategy`` says to stop, pausing durably between checks;
        the result is the final state. ``config`` is a
        ``WaitForConditionConfig`` (required)."""
        return WaitForCondition(check=check, config=config, name=name)

    @overload
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[Context, U, int, Sequence[U]], Coroutine[Any, Any, T]],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Map[T]: ...

    @overload
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[Context, U, int, Sequence[U]], Generator[Any, Any, T]],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Map[T]: ...

    @overload
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[Context, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Map[T]: ...

    def map(
        self,
        inputs: Sequence[Any],
        func: Callable[..., Any],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Map[Any]:
        """Run ``func(branch_ctx, item, index, inputs)`` for every item, as
        concurrent branches (``func`` a generator function, ``async def`` or
        plain function); the result is a ``BatchResult`` whose items hold
        each branch's result or error (protocol.md §5.8).  The name defaults
        to the ``_original_name`` of ``func``, if it has one."""
        if name is None:
            name = getattr(func, "_original_name", None)
        return Map(inputs=inputs, func=func, name=name, config=config)

    def parallel(
        self,
        functions: Sequence[Callable[[Context], Any] | ParallelBranch[Any]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> Parallel[Any]:
        """Run each ``fn(branch_ctx)`` (or ``ParallelBranch``) as a concurrent
        branch; the result is a ``BatchResult``, in the order of
        ``functions`` (protocol.md §5.8)."""
        return Parallel(functions=functions, name=name, config=config)

    def wait(self, duration: Duration | int, name: str | None = None) -> Wait:
        """A durable pause of ``duration`` (a ``Duration`` or whole seconds, at least 1)."""
        seconds = as_duration(
            duration, what=(f"wait {name!r} duration" if name else "unnamed wait duration")
        ).seconds
        return Wait(seconds=seconds, name=name)

    # -- logging and introspection -------------------------------------------

    @property
    def logger(self) -> ReplaySafeLogger:
        """A logger that stays silent while this context replays."""
        logger = self._logger
        if logger is None:
            extra: dict[str, Any] = {"executionArn": self._execution_arn}
            if self._parent_id:
                extra["parentId"] = self._parent_id
            logger = self._logger = ReplaySafeLogger(self._holder, extra, self.is_replaying)
        return logger

    def set_logger(self, logger: LoggerLike) -> None:
        """Send this invocation's log calls to ``logger`` (any object with the
        stdlib ``Logger`` methods, e.g. aws-lambda-powertools' ``Logger``)."""
        for method in ("debug", "info", "warning", "error", "exception"):
            if not callable(getattr(logger, method, None)):
                raise ValidationError(f"set_logger: {logger!r} has no {method}() method")
        self._holder.logger = logger

    def is_replaying(self) -> bool:
        """True while this context re-reads operations already in the log."""
        return self.replaying

    @property
    def replay_status(self) -> ReplayStatus:
        return ReplayStatus.REPLAY if self.replaying else ReplayStatus.NEW

    @property
    def execution_arn(self) -> str:
        return self._execution_arn

    @property
    def lambda_context(self) -> Any:
        """The Lambda context object of this invocation (``None`` off Lambda)."""
        return self._lambda_context

    @property
    def operation_id(self) -> str | None:
        """Id of the operation that owns this context (``None`` for the root)."""
        return self._prefix

    @property
    def parent_id(self) -> str | None:
        """The ``ParentId`` operations of this context report."""
        return self._parent_id

    # -- interpreter side ----------------------------------------------------

    def _child(self, operation_id: str, *, virtual: bool) -> Context:
        """The context of a child operation: ids prefixed by ``operation_id``;
        operations report ``operation_id`` as parent unless the child is
        virtual (then they report this context's parent: protocol.md §4.5)."""
        child = Context(
            prefix=operation_id,
            parent_id=self._parent_id if virtual else operation_id,
            replaying=self.replaying,
            holder=self._holder,
            execution_arn=self._execution_arn,
            lambda_context=self._lambda_context,
        )
        child.interpreter = self.interpreter
        return child

    def _allocate(self) -> str:
        self._counter += 1
        nxt = self._next
        if nxt is not None:
            self._next = None
            return nxt
        return operation_id(self._prefix, self._counter)

    def _peek_next_id(self) -> str:
        nxt = self._next
        if nxt is None:
            nxt = self._next = operation_id(self._prefix, self._counter + 1)
        return nxt

    @property
    def _position(self) -> int:
        return self._counter

    def __repr__(self) -> str:
        where = "root" if self._prefix is None else f"child of {self._prefix[:12]}..."
        return f"<durable.Context {where}, {self._counter} operations>"
