"""Compensations for workflows that must undo what they did: the saga pattern.

A saga registers an *undo* for each step that completed, and when a later
step fails, runs the registered undos in reverse order::

    @durable.workflow
    def book_trip(event, ctx):
        saga = Saga()
        try:
            flight = yield book_flight(event["trip"])
            saga.add(cancel_flight, flight["id"])
            hotel = yield book_hotel(event["trip"])
            saga.add(cancel_hotel, hotel["id"])
            car = yield book_car(event["trip"])
        except Exception:
            report = yield saga.compensate(ctx)
            report.raise_if_failed()
            raise
        return {"flight": flight, "hotel": hotel, "car": car}

The async form is the same with ``await saga.compensate(ctx)``; in the
imperative API ``saga.compensate(context)`` runs the compensation at once and
returns the report.

How it stays durable
--------------------
``compensate`` is a child context (named ``"compensate"`` unless the saga is
given another name) whose body runs every undo as a step of its own, last
registered first.  Each undo is therefore checkpointed, retried with its own
``StepConfig`` (the default step retry strategy unless ``add`` is given
one), and never run again once it succeeded: a crash in the middle of the
compensation resumes with the next undo, and once the whole compensation is
checkpointed a replay returns its stored report without running anything.

Registration is plain Python that re-runs on every replay, exactly like the
rest of the workflow, so ``add`` needs nothing durable: the undo's arguments
are normally results of steps, which replay to the same values.

An undo that still fails after its retries does not stop the others (each
one undoes something independent; stopping would leave more behind).  The
``CompensationReport`` lists what was undone and what failed;
``raise_if_failed`` turns failures into a ``CompensationError``.  After a
clean compensation, re-raise the original error (``raise`` in the
``except`` block) or return an outcome of your own: the saga never swallows
or replaces the error itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from durable.config import ChildConfig, StepConfig, check_name
from durable.errors import DurableError, ValidationError
from durable.ops import ChildContext, Step, StepFunction
from durable.serdes import SerDes, SerDesContext

if TYPE_CHECKING:
    from durable.core import Context
    from durable.imperative import DurableContext

__all__ = [
    "CompensationError",
    "CompensationFailure",
    "CompensationReport",
    "Saga",
]

#: The default name of the compensation's child context.
DEFAULT_NAME = "compensate"


@attrs.frozen
class CompensationFailure:
    """An undo that still failed after its retries: its step name and error."""

    name: str
    error_type: str
    message: str


@attrs.frozen
class CompensationReport:
    """What a compensation did, in the order it ran (last registered first)."""

    #: Step names of the undos that succeeded.
    compensated: tuple[str, ...] = ()
    #: The undos that failed after their retries.
    failed: tuple[CompensationFailure, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every registered undo succeeded (or none was registered)."""
        return not self.failed

    def raise_if_failed(self, cause: BaseException | None = None) -> None:
        """Raise ``CompensationError`` naming every failed undo, if any failed.

        Called inside an ``except`` block, the error being handled becomes
        the new error's ``__context__``; pass ``cause`` to chain it
        explicitly."""
        if self.failed:
            raise CompensationError(self) from cause

    def to_dict(self) -> dict[str, Any]:
        return {
            "compensated": list(self.compensated),
            "failed": [attrs.asdict(f) for f in self.failed],
        }

    @classmethod
    def from_dict(cls, data: Any) -> CompensationReport:
        if not isinstance(data, dict) or not isinstance(data.get("compensated"), list):
            raise ValidationError(f"not a compensation report: {data!r}")
        return cls(
            compensated=tuple(str(name) for name in data["compensated"]),
            failed=tuple(
                CompensationFailure(str(f["name"]), str(f["error_type"]), str(f["message"]))
                for f in data.get("failed") or ()
            ),
        )


class CompensationError(DurableError):
    """Some undos of a saga still failed after their retries; ``report`` says which."""

    def __init__(self, report: CompensationReport) -> None:
        self.report = report
        listed = "; ".join(f"{f.name}: {f.error_type}: {f.message}" for f in report.failed)
        super().__init__(
            f"{len(report.failed)} compensation(s) failed after their retries ({listed}); "
            f"undone: {', '.join(report.compensated) or 'nothing'}"
        )


class _ReportSerDes(SerDes[CompensationReport]):
    """Stores the report as plain JSON and reads it back as a ``CompensationReport``."""

    def serialize(self, value: CompensationReport, serdes_context: SerDesContext) -> str:
        return json.dumps(value.to_dict(), separators=(",", ":"))

    def deserialize(self, data: str, serdes_context: SerDesContext) -> CompensationReport:
        return CompensationReport.from_dict(json.loads(data))


@attrs.frozen
class _Undo:
    step: Step[Any]

    @property
    def name(self) -> str:
        assert self.step.name is not None
        return self.step.name


def _failure(name: str, error: Exception) -> CompensationFailure:
    # The interpreter raises the same error for a failure it has just seen
    # and for one it reads back from the log, so these fields do not depend
    # on where a crash fell.
    error_type = getattr(error, "error_type", None) or type(error).__name__
    message = getattr(error, "message", None) or str(error)
    return CompensationFailure(name=name, error_type=str(error_type), message=str(message))


class Saga:
    """A list of undos to run, last first, if the workflow has to back out.

    Args:
        name: the name of the compensation's child context.
        config: the ``StepConfig`` of every undo that ``add`` is not given
            one for (``None``: the default step configuration, which retries).
    """

    def __init__(self, name: str = DEFAULT_NAME, *, config: StepConfig | None = None) -> None:
        checked = check_name(name, what="saga")
        if checked is None:
            raise ValidationError("a saga needs a non-empty name (its child context's)")
        self.name: str = checked
        self.config = config
        self._undos: list[_Undo] = []

    def add(
        self,
        undo: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        config: StepConfig | None = None,
        **kwargs: Any,
    ) -> None:
        """Register ``undo(step_ctx, *args, **kwargs)`` (or a ``@durable.step``
        function called with ``*args, **kwargs``) to run if the saga
        compensates.  Its step is named ``name``, else the function's name
        prefixed with ``undo-``; names must be unique within the saga."""
        if isinstance(undo, StepFunction):
            fn: Callable[..., Any] = undo.fn
            default_name = undo.name
            config = config if config is not None else undo.config
        elif callable(undo):
            fn = undo
            default_name = f"undo-{getattr(undo, '__name__', 'step')}"
        else:
            raise ValidationError(f"Saga.add needs a function to undo with, got {undo!r}")
        step_name = check_name(name if name is not None else default_name, what="undo")
        if step_name is None:
            raise ValidationError(f"an undo of saga {self.name!r} needs a non-empty name")
        if any(u.name == step_name for u in self._undos):
            raise ValidationError(
                f"saga {self.name!r} already has an undo named {step_name!r}; "
                "pass name= to tell them apart"
            )
        step = Step(
            fn=fn,
            args=args,
            kwargs=tuple(kwargs.items()),
            name=step_name,
            config=config if config is not None else self.config,
        )
        self._undos.append(_Undo(step))

    @property
    def pending(self) -> Sequence[str]:
        """Names of the registered undos, in the order they would run."""
        return [u.name for u in reversed(self._undos)]

    def _config(self) -> ChildConfig:
        return ChildConfig(serdes=_ReportSerDes(), sub_type="Saga")

    def compensate(self, ctx: Context | DurableContext) -> Any:
        """Undo what was registered, last first, as one checkpointed child context.

        With a ``Context`` (generator and ``async def`` workflows) this returns
        the descriptor to ``yield`` or ``await``; with the imperative
        ``DurableContext`` it runs the compensation and returns the
        ``CompensationReport``."""
        undos = list(reversed(self._undos))
        from durable.imperative import DurableContext

        if isinstance(ctx, DurableContext):

            def run_all(child: DurableContext) -> CompensationReport:
                compensated: list[str] = []
                failed: list[CompensationFailure] = []
                for undo in undos:
                    try:
                        child.step(undo.step)
                    except Exception as exc:
                        failed.append(_failure(undo.name, exc))
                    else:
                        compensated.append(undo.name)
                return CompensationReport(tuple(compensated), tuple(failed))

            return ctx.run_in_child_context(run_all, name=self.name, config=self._config())

        def run_each(child: Context) -> Generator[Any, Any, CompensationReport]:
            compensated: list[str] = []
            failed: list[CompensationFailure] = []
            for undo in undos:
                try:
                    yield undo.step
                except Exception as exc:
                    failed.append(_failure(undo.name, exc))
                else:
                    compensated.append(undo.name)
            return CompensationReport(tuple(compensated), tuple(failed))

        descriptor: ChildContext[CompensationReport] = ctx.run_in_child_context(
            run_each, name=self.name, config=self._config()
        )
        return descriptor
