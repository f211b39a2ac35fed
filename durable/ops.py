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

from durable.config import (
    MAX_WAIT_SECONDS,
    ChildConfig,
    StepConfig,
    StepSemantics,
    check_name,
)
from durable.errors import ValidationError
from durable.model import OperationType

__all__ = [
    "ChildContext",
    "ChildFunction",
    "Descriptor",
    "LoggerLike",
    "StepContext",
    "Step",
    "StepFunction",
    "Wait",
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
            raise ValidationError(f"wait {self.name!r}: seconds must be an int, got {s!r}")
        if s < 1:
            raise ValidationError(
                f"wait {self.name!r}: duration must be at least 1 second, got {s} s"
            )
        if s > MAX_WAIT_SECONDS:
            raise ValidationError(
                f"wait {self.name!r}: duration is {s} s; the service allows at most "
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
