"""The ``@durable.workflow`` decorator.

Responsibility: mark a generator function, an ``async def`` function or a
plain function ``(event, ctx)`` as a durable workflow and keep its options.
The decorated object is what runners (``durable.testing``) and, through the
Lambda adapter, AWS Lambda invoke.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from durable.core import Context
from durable.errors import UsageError

__all__ = ["DurableWorkflow", "workflow"]

F = TypeVar("F", bound=Callable[..., Any])


class DurableWorkflow(Generic[F]):
    """A workflow function with its options.

    ``fn`` is the original function, ``(event, ctx) -> generator | coroutine
    | value``.  ``boto3_client`` is the Lambda client the adapter uses to
    checkpoint (created from the environment on first use when ``None``).
    ``max_workers`` bounds the threads running the step bodies of concurrent
    map and parallel branches (``None``: the runtime's default, 16).
    """

    def __init__(
        self,
        fn: F,
        *,
        boto3_client: Any = None,
        name: str | None = None,
        max_workers: int | None = None,
    ) -> None:
        if not callable(fn):
            raise UsageError(f"@durable.workflow must decorate a function, got {fn!r}")
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise UsageError(f"max_workers must be an int of at least 1, got {max_workers!r}")
        self.fn: F = fn
        self.name = name or getattr(fn, "__name__", "workflow")
        self.boto3_client = boto3_client
        self.max_workers = max_workers
        functools.update_wrapper(self, fn)

    def __call__(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        """The AWS Lambda handler: run one invocation for ``event``.

        ``event`` is the durable invocation event Lambda sends (protocol.md
        §1.1); the return value is the output envelope.  A malformed event
        raises ``ServiceProtocolError`` naming the bad fields.
        """
        from durable.lambda_ import handle

        return handle(self, event, lambda_context)

    def run(self, event: Any, ctx: Context) -> Any:
        """Call the workflow function (what the interpreter does)."""
        return self.fn(event, ctx)

    def __repr__(self) -> str:
        return f"<durable workflow {self.name!r}>"


@overload
def workflow(fn: F, /) -> DurableWorkflow[F]: ...


@overload
def workflow(
    *, boto3_client: Any = None, name: str | None = None, max_workers: int | None = None
) -> Callable[[F], DurableWorkflow[F]]: ...


def workflow(
    fn: F | None = None,
    /,
    *,
    boto3_client: Any = None,
    name: str | None = None,
    max_workers: int | None = None,
) -> DurableWorkflow[F] | Callable[[F], DurableWorkflow[F]]:
    """Declare a durable workflow.

    Decorate ``def wf(event, ctx)`` that yields operations, or ``async def
    wf(event, ctx)`` that awaits them::

        @durable.workflow
        def process_order(event, ctx):
            payment = yield charge(event["order_id"], event["amount"])
            yield ctx.wait(Duration.from_seconds(30), name="cool-off")
            return {"status": "done", "payment": payment}

    Options: ``boto3_client`` (a Lambda client for checkpoints on AWS),
    ``name`` (defaults to the function's name) and ``max_workers`` (threads
    for the step bodies of concurrent branches).
    """
    if fn is not None:
        return DurableWorkflow(fn, boto3_client=boto3_client, name=name, max_workers=max_workers)

    def decorate(f: F) -> DurableWorkflow[F]:
        return DurableWorkflow(f, boto3_client=boto3_client, name=name, max_workers=max_workers)

    return decorate


def workflow_function(target: Any) -> Callable[[Any, Context], Any]:
    """The ``(event, ctx)`` function behind a ``DurableWorkflow`` or a plain function."""
    if isinstance(target, DurableWorkflow):
        fn: Callable[[Any, Context], Any] = target.fn
        return fn
    if callable(target):
        return target  # type: ignore[no-any-return]
    raise UsageError(f"expected a @durable.workflow or a function (event, ctx), got {target!r}")
