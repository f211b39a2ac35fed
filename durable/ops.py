"""Operation descriptors: what a workflow yields (or awaits) to ask for a durable operation.

Responsibility: frozen, slotted data describing one requested operation:
which function a step runs and with what arguments, how long a wait lasts,
the name and config.  A descriptor carries no operation id and no reference
to a context; the interpreter allocates the id when the descriptor is yielded,
from the context of the frame that yielded it (protocol.md §4).

Every descriptor is awaitable: ``await descriptor`` yields the descriptor
itself to the interpreter and evaluates to what the interpreter sends back.
That one-line trap (``Descriptor.__await__``) is the only place where a
coroutine workflow hands control to the interpreter; a generator workflow
does the same with a plain ``yield``.

Validation of names, sub-types and durations happens when a descriptor is
built, so a bad argument raises before any id is allocated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

import attrs

from durable.batch import BatchResult, MapConfig, ParallelConfig
from durable.config import (
    MAX_WAIT_SECONDS,
    CallbackConfig,
    ChildConfig,
    InvokeConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
    check_name,
)
from durable.errors import ValidationError
from durable.model import OperationType

__all__ = [
    "Callback",
    "CallbackResult",
    "ChildContext",
    "ChildFunction",
    "CreateCallback",
    "Descriptor",
    "Invoke",
    "LoggerLike",
    "Map",
    "Parallel",
    "StepContext",
    "Step",
    "StepFunction",
    "Wait",
    "WaitForCallback",
    "WaitForCallbackContext",
    "WaitForCondition",
    "WaitForConditionCheckContext",
    "child_context",
    "step",
]

T = TypeVar("T")
P = ParamSpec("P")

# Descriptor classes are declared ``attrs.define(on_setattr=frozen,
# hash=True)``: immutable (assigning an attribute raises
# ``attrs.exceptions.FrozenAttributeError``), hashable, with value equality.
# attrs' ``frozen=True`` would do the same but builds instances about 0.6 µs
# slower, and a workflow builds one descriptor per operation.


class LoggerLike(Protocol):
    """What `durable` needs of a logger: the stdlib ``logging.Logger`` methods.

    ``logging.Logger``, ``logging.LoggerAdapter`` and aws-lambda-powertools'
    ``Logger`` all qualify.
    """

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def info(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...
    def exception(self, msg: object, *args: Any, **kwargs: Any) -> Any: ...


@attrs.frozen(kw_only=True)
class StepContext:
    """What a step body receives as its first argument.

    ``attempt`` is 1-based; ``logger`` logs with the step's ``operationId``,
    ``operationName`` and ``attempt`` in ``extra`` (a step body only runs when
    its result is not already checkpointed, so its logs are never replays).
    """

    logger: LoggerLike
    attempt: int
    operation_id: str
    name: str | None = None


@attrs.frozen(kw_only=True)
class WaitForCallbackContext:
    """What a ``wait_for_callback`` submitter receives besides the callback id."""

    logger: LoggerLike


@attrs.frozen(kw_only=True)
class WaitForConditionCheckContext:
    """What a ``wait_for_condition`` check receives besides the state."""

    logger: LoggerLike
    attempt: int


class Descriptor:
    """Base of every operation descriptor."""

    __slots__ = ()

    #: The wire type of the operation this descriptor starts.
    op_type: ClassVar[OperationType]

    if TYPE_CHECKING:
        #: The operation's name (every descriptor has one, maybe ``None``).
        name: str | None

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self)

    @property
    def sub_type(self) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How error messages refer to this operation, e.g. ``step 'charge'``."""
        name: str | None = getattr(self, "name", None)
        kind = type(self).__name__.lower()
        return f"{kind} {name!r}" if name else f"unnamed {kind}"


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class Step(Descriptor, Generic[T]):
    """Run ``fn(step_context, *args, **kwargs)`` as a checkpointed step.

    The step's result is serialized (by ``config.serdes`` or the default
    serializer), checkpointed, and the deserialized copy is what the workflow
    receives, on the first run and on every replay alike.
    """

    op_type: ClassVar[OperationType] = OperationType.STEP

    fn: Callable[..., T]
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    name: str | None = attrs.field(default=None, converter=check_name)
    config: StepConfig | None = None

    def __attrs_post_init__(self) -> None:
        if not callable(self.fn):
            raise ValidationError(f"step function must be callable, got {self.fn!r}")
        if self.config is not None and not isinstance(self.config, StepConfig):
            raise ValidationError(
                f"step {self.name!r}: config must be a StepConfig, got {self.config!r}"
            )

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        config = self.config
        return (config.sub_type if config is not None else None) or "Step"

    @property
    def semantics(self) -> StepSemantics:
        config = self.config
        return StepSemantics.AT_LEAST_ONCE_PER_RETRY if config is None else config.step_semantics

    def invoke(self, step_context: StepContext) -> T:
        """Call the step body (the runtime does this, never the interpreter)."""
        if self.kwargs:
            return self.fn(step_context, *self.args, **dict(self.kwargs))
        return self.fn(step_context, *self.args)

    def __call__(self, step_context: StepContext) -> T:
        # A Step is also a plain ``StepContext -> T`` callable, so the
        # imperative API's ``context.step(greet("Bob"))`` accepts it.
        return self.invoke(step_context)


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class Wait(Descriptor):
    """Pause the workflow for ``seconds`` (1 to 31,622,400).

    A wait always ends the current invocation (the service re-invokes the
    function when the time has passed), except inside a branch of a map or
    parallel whose other branches are still running.
    """

    op_type: ClassVar[OperationType] = OperationType.WAIT

    seconds: int
    name: str | None = attrs.field(default=None, converter=check_name)

    def __attrs_post_init__(self) -> None:
        s = self.seconds
        if isinstance(s, bool) or not isinstance(s, int):
            raise ValidationError(f"{self.label}: seconds must be an int, got {s!r}")
        if s < 1:
            raise ValidationError(f"{self.label}: duration must be at least 1 second, got {s} s")
        if s > MAX_WAIT_SECONDS:
            raise ValidationError(
                f"{self.label}: duration is {s} s; the service allows at most "
                f"{MAX_WAIT_SECONDS} s (366 days)"
            )

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, None]: ...

    @property
    def sub_type(self) -> str:
        return "Wait"


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class ChildContext(Descriptor, Generic[T]):
    """Run ``fn(child_ctx, *args, **kwargs)`` as an isolated sub-workflow.

    ``fn`` receives a context of its own (its operations get ids prefixed by
    this operation's id) and may be a generator function, an ``async def`` or
    a plain function.  Its result is checkpointed like a step's, so a
    completed child context replays without running its body.
    """

    op_type: ClassVar[OperationType] = OperationType.CONTEXT

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    name: str | None = attrs.field(default=None, converter=check_name)
    config: ChildConfig | None = None

    def __attrs_post_init__(self) -> None:
        if not callable(self.fn):
            raise ValidationError(f"child context function must be callable, got {self.fn!r}")
        if self.config is not None and not isinstance(self.config, ChildConfig):
            raise ValidationError(
                f"child context {self.name!r}: config must be a ChildConfig, got {self.config!r}"
            )

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        config = self.config
        return (config.sub_type if config is not None else None) or "RunInChildContext"

    @property
    def label(self) -> str:
        return f"child context {self.name!r}" if self.name else "unnamed child context"

    @property
    def virtual(self) -> bool:
        return self.config is not None and self.config.is_virtual


def _check_serdes_like(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not (
        callable(getattr(value, "serialize", None))
        and callable(getattr(value, "deserialize", None))
    ):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a SerDes, got {value!r}"
        )


def _callback_config(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, CallbackConfig):
        raise ValidationError(f"{instance.label}: config must be a CallbackConfig, got {value!r}")


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class CreateCallback(Descriptor):
    """Open a callback: the service assigns a callback id that an external
    system answers through ``SendDurableExecutionCallbackSuccess`` /
    ``Failure`` / ``Heartbeat``.  Yielding it gives a ``Callback`` handle at
    once; ``yield handle.result()`` then waits for the answer."""

    op_type: ClassVar[OperationType] = OperationType.CALLBACK

    name: str | None = attrs.field(default=None, converter=check_name)
    config: CallbackConfig | None = attrs.field(default=None, validator=_callback_config)

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, Callback]: ...

    @property
    def sub_type(self) -> str:
        config = self.config
        return (config.sub_type if config is not None else None) or "Callback"

    @property
    def label(self) -> str:
        return f"callback {self.name!r}" if self.name else "unnamed callback"


@attrs.frozen(kw_only=True)
class Callback:
    """A callback opened by ``ctx.create_callback``.

    Hand ``callback_id`` to the system that will answer; ``yield
    callback.result()`` (or ``await``) to wait for the answer.
    """

    callback_id: str
    operation_id: str
    name: str | None = None
    serdes: Any = None

    def result(self) -> CallbackResult[Any]:
        """The descriptor that waits for this callback's answer.

        It allocates no operation id: it reads the callback's own record.
        Without a ``serdes`` in the callback's config the answer is the raw
        string the external system sent.
        """
        return CallbackResult(operation_id=self.operation_id, name=self.name, serdes=self.serdes)


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class CallbackResult(Descriptor, Generic[T]):
    """Wait for the answer of the callback ``operation_id``."""

    op_type: ClassVar[OperationType] = OperationType.CALLBACK

    operation_id: str
    name: str | None = None
    serdes: Any = attrs.field(default=None, validator=_check_serdes_like)

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        return "Callback"

    @property
    def label(self) -> str:
        return f"callback {self.name!r}" if self.name else "unnamed callback"


def _wait_for_callback_config(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, CallbackConfig):
        raise ValidationError(
            f"{instance.label}: config must be a WaitForCallbackConfig, got {value!r}"
        )


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class WaitForCallback(Descriptor, Generic[T]):
    """Open a callback, run ``submitter(callback_id, context)`` as a step to
    hand the id out, and wait for the answer, all in one child context."""

    op_type: ClassVar[OperationType] = OperationType.CONTEXT

    submitter: Callable[..., Any]
    name: str | None = attrs.field(default=None, converter=check_name)
    config: CallbackConfig | None = attrs.field(default=None, validator=_wait_for_callback_config)

    def __attrs_post_init__(self) -> None:
        if not callable(self.submitter):
            raise ValidationError(f"{self.label}: the submitter must be callable")

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        return "WaitForCallback"

    @property
    def label(self) -> str:
        return f"wait_for_callback {self.name!r}" if self.name else "unnamed wait_for_callback"

    @property
    def retry_strategy(self) -> Any:
        config = self.config
        return config.retry_strategy if isinstance(config, WaitForCallbackConfig) else None


def _invoke_config(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, InvokeConfig):
        raise ValidationError(f"{instance.label}: config must be an InvokeConfig, got {value!r}")


def _function_name(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise ValidationError(
            f"invoke: function_name must be 1-256 characters (a name, name:qualifier or "
            f"ARN), got {value!r}"
        )


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class Invoke(Descriptor, Generic[T]):
    """Invoke another Lambda function (durable or not) and wait for its result."""

    op_type: ClassVar[OperationType] = OperationType.CHAINED_INVOKE

    function_name: str = attrs.field(validator=_function_name)
    payload: Any = attrs.field(default=None, hash=False, eq=False)
    name: str | None = attrs.field(default=None, converter=check_name)
    config: InvokeConfig | None = attrs.field(default=None, validator=_invoke_config)

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        return "ChainedInvoke"

    @property
    def label(self) -> str:
        return f"invoke {self.name!r}" if self.name else f"invoke of {self.function_name!r}"


def _condition_config(instance: Any, attribute: Any, value: Any) -> None:
    from durable.waits import WaitForConditionConfig

    if not isinstance(value, WaitForConditionConfig):
        raise ValidationError(
            f"{instance.label}: config must be a WaitForConditionConfig, got {value!r}"
        )


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class WaitForCondition(Descriptor, Generic[T]):
    """Poll ``check(state, context)`` with durable pauses in between until the
    config's wait strategy says the condition holds; the final state is the
    result."""

    op_type: ClassVar[OperationType] = OperationType.STEP

    check: Callable[..., Any]
    config: Any = attrs.field(validator=_condition_config)
    name: str | None = attrs.field(default=None, converter=check_name)

    def __attrs_post_init__(self) -> None:
        if not callable(self.check):
            raise ValidationError(f"{self.label}: check must be callable, got {self.check!r}")

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, T]: ...

    @property
    def sub_type(self) -> str:
        return "WaitForCondition"

    @property
    def label(self) -> str:
        return f"wait_for_condition {self.name!r}" if self.name else "unnamed wait_for_condition"


def _batch_config(kind: type) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, kind):
            raise ValidationError(
                f"{instance.label}: config must be a {kind.__name__}, got {value!r}"
            )

    return check


def _check_min_successful(label: str, count: int, config: Any) -> None:
    """protocol.md §5.8: more required successes than items is refused before
    an id is allocated."""
    completion = getattr(config, "completion_config", None)
    needed = getattr(completion, "min_successful", None)
    if needed is not None and needed > count:
        raise ValidationError(
            f"{label}: completion_config.min_successful is {needed}, but there are only "
            f"{count} items"
        )


_map_config_check = _batch_config(MapConfig)
_parallel_config_check = _batch_config(ParallelConfig)


def _items(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class Map(Descriptor, Generic[T]):
    """Run ``func(branch_ctx, item, index, items)`` for every item, as
    branches the interpreter interleaves deterministically; the result is a
    ``BatchResult`` (protocol.md §5.8)."""

    op_type: ClassVar[OperationType] = OperationType.CONTEXT

    inputs: tuple[Any, ...] = attrs.field(converter=_items, hash=False, eq=False)
    func: Callable[..., Any]
    name: str | None = attrs.field(default=None, converter=check_name)
    config: Any = attrs.field(default=None, validator=_map_config_check)

    def __attrs_post_init__(self) -> None:
        if not callable(self.func):
            raise ValidationError(f"{self.label}: func must be callable, got {self.func!r}")
        _check_min_successful(self.label, len(self.inputs), self.config)

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, BatchResult[T]]: ...

    @property
    def sub_type(self) -> str:
        return "Map"

    @property
    def label(self) -> str:
        return f"map {self.name!r}" if self.name else "unnamed map"


@attrs.define(kw_only=True, on_setattr=attrs.setters.frozen, hash=True)
class Parallel(Descriptor, Generic[T]):
    """Run each of ``functions`` (``fn(branch_ctx)``, or a ``ParallelBranch``)
    as a branch; the result is a ``BatchResult`` (protocol.md §5.8)."""

    op_type: ClassVar[OperationType] = OperationType.CONTEXT

    functions: tuple[Any, ...] = attrs.field(converter=_items, hash=False, eq=False)
    name: str | None = attrs.field(default=None, converter=check_name)
    config: Any = attrs.field(default=None, validator=_parallel_config_check)

    def __attrs_post_init__(self) -> None:
        for index, fn in enumerate(self.functions):
            if not callable(fn):
                raise ValidationError(f"{self.label}: branch {index} is not callable: {fn!r}")
        _check_min_successful(self.label, len(self.functions), self.config)

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, BatchResult[T]]: ...

    @property
    def sub_type(self) -> str:
        return "Parallel"

    @property
    def label(self) -> str:
        return f"parallel {self.name!r}" if self.name else "unnamed parallel"


class ChildFunction(Generic[P, T]):
    """A function decorated with ``@durable.child_context``.

    Calling it returns a ``ChildContext`` descriptor; the original function
    is ``.fn``.
    """

    __slots__ = ("__dict__", "config", "fn", "name")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError(f"@durable.child_context must decorate a function, got {fn!r}")
        self.fn = fn
        self.name = check_name(name if name is not None else getattr(fn, "__name__", None))
        self.config = config
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> ChildContext[T]:
        return ChildContext(
            fn=self.fn, args=args, kwargs=tuple(kwargs.items()), name=self.name, config=self.config
        )

    def __repr__(self) -> str:
        return f"<durable child context {self.name!r}>"


def child_context(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    config: ChildConfig | None = None,
) -> Any:
    """Make ``fn(ctx, *args, **kwargs)`` a durable child context.

    ``@durable.child_context`` (named after the function) or
    ``@durable.child_context(name=..., config=ChildConfig(...))``; calling
    the decorated function gives a descriptor to yield or await::

        @durable.child_context
        def reserve(ctx, trip):
            hotel = yield book_hotel(trip)
            car = yield book_car(trip)
            return {"hotel": hotel, "car": car}

        booking = yield reserve(trip)
    """
    if fn is not None:
        return ChildFunction(fn, name=name, config=config)

    def decorate(f: Callable[..., Any]) -> ChildFunction[Any, Any]:
        return ChildFunction(f, name=name, config=config)

    return decorate


class StepFunction(Generic[P, T]):
    """A function decorated with ``@durable.step``.

    Calling it does not run it: ``charge(order_id, amount)`` returns a
    ``Step`` descriptor that a workflow yields (or awaits, or passes to the
    imperative ``context.step``).  The original function stays reachable as
    ``.fn`` (and ``__wrapped__``) for unit tests.
    """

    __slots__ = ("__dict__", "config", "fn", "name")

    def __init__(
        self,
        fn: Callable[Concatenate[StepContext, P], T],
        *,
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError(f"@durable.step must decorate a function, got {fn!r}")
        self.fn = fn
        self.name = check_name(name if name is not None else getattr(fn, "__name__", None))
        self.config = config
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Step[T]:
        return Step(
            fn=self.fn,
            args=args,
            kwargs=tuple(kwargs.items()),
            name=self.name,
            config=self.config,
        )

    @property
    def _original_name(self) -> str | None:
        # The attribute the reference SDK's decorators set; kept for tools
        # that look for it.
        return self.name

    def __repr__(self) -> str:
        return f"<durable step {self.name!r}>"


@overload
def step(
    fn: Callable[Concatenate[StepContext, P], T],
) -> StepFunction[P, T]: ...


@overload
def step(
    *, name: str | None = None, config: StepConfig | None = None
) -> Callable[[Callable[Concatenate[StepContext, P], T]], StepFunction[P, T]]: ...


def step(
    fn: Callable[Concatenate[StepContext, P], T] | None = None,
    *,
    name: str | None = None,
    config: StepConfig | None = None,
) -> StepFunction[P, T] | Callable[[Callable[Concatenate[StepContext, P], T]], StepFunction[P, T]]:
    """Make ``fn(step_context, *args, **kwargs)`` a durable step.

    Use it bare (``@durable.step``; the step is named after the function) or
    with options (``@durable.step(name="charge-card", config=StepConfig(...))``).
    """
    if fn is not None:
        return StepFunction(fn, name=name, config=config)

    def decorate(f: Callable[Concatenate[StepContext, P], T]) -> StepFunction[P, T]:
        return StepFunction(f, name=name, config=config)

    return decorate
