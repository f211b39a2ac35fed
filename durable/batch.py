"""Map and parallel: their configs, completion policies and ``BatchResult``.

Responsibility: the data of protocol.md §5.8: how many branches run at once,
when a batch is complete (§5.8.3), and the result of a batch with its wire
form (§5.8.4): the ``br`` tag of the extended serializer and the summary
envelope written when the result is too large to store.  Pure data and pure
functions: the interpreter (``durable.core``) schedules the branches.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from durable.config import check_name
from durable.errors import (
    OPERATION_ERROR_REGISTRY,
    BatchCompletionError,
    ChildContextError,
    DurableOperationError,
    ValidationError,
)
from durable.model import ErrorObject

__all__ = [
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "BatchedInput",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "ItemBatcher",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "complete_batch",
    "continue_batch",
    "durable_parallel_branch",
]

T = TypeVar("T")
U = TypeVar("U")


class NestingType(enum.Enum):
    """How branches are recorded: each in a CONTEXT of its own (``NESTED``,
    the default) or directly under the map/parallel operation (``FLAT``)."""

    NESTED = "NESTED"
    FLAT = "FLAT"


class BatchItemStatus(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionReason(enum.Enum):
    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"
    CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
    CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


class CompletionOutcome(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@attrs.frozen
class CompletionDecision:
    """What a custom ``should_complete`` predicate decided."""

    complete: bool
    outcome: CompletionOutcome | None = None


def continue_batch() -> CompletionDecision:
    """Keep going."""
    return CompletionDecision(False)


def complete_batch(outcome: CompletionOutcome = CompletionOutcome.SUCCEEDED) -> CompletionDecision:
    """Stop now, with ``outcome``."""
    return CompletionDecision(True, outcome)


@attrs.frozen
class CompletionItemStatus:
    """One branch as a ``should_complete`` predicate sees it (``status`` is
    ``None`` for a branch not started yet)."""

    index: int
    name: str | None = None
    status: BatchItemStatus | None = None


@attrs.frozen
class CompletionStatus:
    """Counts a ``should_complete`` predicate decides on."""

    success_count: int
    failure_count: int
    completed_count: int
    total_count: int
    items: tuple[CompletionItemStatus, ...] = ()


def _non_negative(what: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValidationError(f"CompletionConfig.{what} must be an int >= 0, got {value!r}")

    return check


def _check_percentage(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100
    ):
        raise ValidationError(
            f"CompletionConfig.tolerated_failure_percentage must be between 0 and 100, "
            f"got {value!r}"
        )


def _check_min_successful(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValidationError(f"CompletionConfig.min_successful must be at least 1, got {value!r}")


@attrs.frozen
class CompletionConfig:
    """When a map or parallel is done (protocol.md §5.8.3).

    ``min_successful``: stop once that many branches succeeded.
    ``tolerated_failure_count`` / ``tolerated_failure_percentage``: stop
    (FAILURE_TOLERANCE_EXCEEDED) once failures go beyond them.  With none of
    the three, any failure stops the batch.  ``should_complete`` (a
    predicate on ``CompletionStatus``) replaces all of them.
    """

    min_successful: int | None = attrs.field(default=None, validator=_check_min_successful)
    tolerated_failure_count: int | None = attrs.field(
        default=None, validator=_non_negative("tolerated_failure_count")
    )
    tolerated_failure_percentage: float | None = attrs.field(
        default=None, validator=_check_percentage
    )
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    def __attrs_post_init__(self) -> None:
        if self.should_complete is not None and self.has_criteria:
            raise ValidationError(
                "CompletionConfig.should_complete cannot be combined with min_successful or the "
                "failure tolerances"
            )

    @property
    def has_criteria(self) -> bool:
        return (
            self.min_successful is not None
            or self.tolerated_failure_count is not None
            or self.tolerated_failure_percentage is not None
        )

    @staticmethod
    def first_successful() -> CompletionConfig:
        return CompletionConfig(min_successful=1)

    @staticmethod
    def all_completed() -> CompletionConfig:
        return CompletionConfig(tolerated_failure_percentage=100)

    @staticmethod
    def all_successful() -> CompletionConfig:
        return CompletionConfig(tolerated_failure_count=0, tolerated_failure_percentage=0)

    # -- the policy ----------------------------------------------------------

    def tolerance_exceeded(self, failed: int, total: int) -> bool:
        if self.should_complete is not None:
            return False
        if not self.has_criteria:
            return failed > 0
        count = self.tolerated_failure_count
        if count is not None and failed > count:
            return True
        percentage = self.tolerated_failure_percentage
        return percentage is not None and total > 0 and failed / total * 100 > percentage


def _positive_concurrency(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValidationError(
            f"{type(instance).__name__}.max_concurrency must be at least 1, got {value!r}"
        )


def _completion(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, CompletionConfig):
        raise ValidationError(
            f"{type(instance).__name__}.completion_config must be a CompletionConfig, got {value!r}"
        )


def _check_batch_limit(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"ItemBatcher.{attribute.name} must be an int >= 0, got {value!r}")


@attrs.frozen
class BatchedInput(Generic[T]):
    """What a map branch receives as its item when the map batches items:
    the batcher's ``batch_input`` and a run of consecutive ``items``."""

    batch_input: Any
    items: tuple[T, ...]


@attrs.frozen
class ItemBatcher:
    """Groups consecutive map items so that one branch handles several
    (fewer branches, fewer checkpoints).  A batch closes when it holds
    ``max_items_per_batch`` items or when adding the next item would take it
    over ``max_item_bytes_per_batch`` bytes of JSON (0: no such limit; a
    single item larger than the byte limit gets a batch of its own).  Each
    branch receives a ``BatchedInput``.  A ``durable`` extension: the
    reference SDK has no item batching.
    """

    max_items_per_batch: int = attrs.field(default=0, validator=_check_batch_limit)
    max_item_bytes_per_batch: int = attrs.field(default=0, validator=_check_batch_limit)
    batch_input: Any = None

    def __attrs_post_init__(self) -> None:
        if not self.max_items_per_batch and not self.max_item_bytes_per_batch:
            raise ValidationError(
                "ItemBatcher needs max_items_per_batch or max_item_bytes_per_batch above 0"
            )

    def batch(self, items: Sequence[T]) -> list[BatchedInput[T]]:
        """Split ``items`` into batches, in order."""
        limit = self.max_items_per_batch
        byte_limit = self.max_item_bytes_per_batch
        batches: list[BatchedInput[T]] = []
        current: list[T] = []
        size = 0
        for index, item in enumerate(items):
            item_size = 0
            if byte_limit:
                try:
                    item_size = len(json.dumps(item, separators=(",", ":")).encode())
                except (TypeError, ValueError) as exc:
                    raise ValidationError(
                        f"ItemBatcher: map item {index} cannot be measured as JSON for "
                        f"max_item_bytes_per_batch: {exc}"
                    ) from exc
            if current and (
                (limit and len(current) >= limit) or (byte_limit and size + item_size > byte_limit)
            ):
                batches.append(BatchedInput(self.batch_input, tuple(current)))
                current = []
                size = 0
            current.append(item)
            size += item_size
        if current:
            batches.append(BatchedInput(self.batch_input, tuple(current)))
        return batches


def _nesting(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, NestingType):
        raise ValidationError(
            f"{type(instance).__name__}.nesting_type must be a NestingType, got {value!r}"
        )


def _item_batcher(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, ItemBatcher):
        raise ValidationError(f"MapConfig.item_batcher must be an ItemBatcher, got {value!r}")


@attrs.frozen
class MapConfig:
    """How a map runs its items (defaults: all at once; any failure stops it).

    ``item_batcher`` (a ``durable`` extension) hands each branch a batch of
    items instead of one.
    """

    max_concurrency: int | None = attrs.field(default=None, validator=_positive_concurrency)
    completion_config: CompletionConfig = attrs.field(
        factory=CompletionConfig, validator=_completion
    )
    serdes: Any = None
    item_serdes: Any = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = attrs.field(default=NestingType.NESTED, validator=_nesting)
    item_namer: Callable[[Any, int], str] | None = None
    item_batcher: ItemBatcher | None = attrs.field(default=None, validator=_item_batcher)


@attrs.frozen
class ParallelConfig:
    """How a parallel runs its branches (defaults: all at once, all must succeed)."""

    max_concurrency: int | None = attrs.field(default=None, validator=_positive_concurrency)
    completion_config: CompletionConfig = attrs.field(
        factory=CompletionConfig.all_successful, validator=_completion
    )
    serdes: Any = None
    item_serdes: Any = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = attrs.field(default=NestingType.NESTED, validator=_nesting)


class ParallelBranch(Generic[T]):
    """A branch of a parallel, with an optional name (``None``: the default
    ``parallel-branch-<i>``). Calling it calls ``func``."""

    __slots__ = ("func", "name")

    def __init__(self, func: Callable[..., T], name: str | None = None) -> None:
        if not callable(func):
            raise ValidationError(f"ParallelBranch needs a callable, got {func!r}")
        self.func = func
        self.name = name if name == "" else check_name(name)

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ParallelBranch({self.func!r}, name={self.name!r})"


def durable_parallel_branch(
    name: str | None = None,
) -> Callable[[Callable[..., T]], Callable[..., ParallelBranch[T]]]:
    """Decorate ``f(ctx, *args, **kwargs)`` so that ``f(*args, **kwargs)`` is
    a ``ParallelBranch`` named ``name`` (``None``: ``parallel-branch-<i>``),
    for ``parallel``.  Works for both styles: ``f`` may be a plain function of
    a ``DurableContext`` or a generator / ``async`` function of a ``Context``.
    """

    def decorate(func: Callable[..., T]) -> Callable[..., ParallelBranch[T]]:
        @functools.wraps(func)
        def bind(*args: Any, **kwargs: Any) -> ParallelBranch[T]:
            return ParallelBranch(functools.partial(_call_with_context, func, args, kwargs), name)

        return bind

    return decorate


def _call_with_context(
    func: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], ctx: Any
) -> T:
    return func(ctx, *args, **kwargs)


# -- results ---------------------------------------------------------------------


@attrs.frozen
class BatchItem(Generic[T]):
    """One branch's outcome: ``result`` if it SUCCEEDED, ``error`` if it
    FAILED, neither if it was still STARTED when the batch completed."""

    index: int
    status: BatchItemStatus
    result: T | None = None
    error: ErrorObject | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status.value,
            "result": self.result,
            "error": _error_dict(self.error),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem[Any]:
        error = data.get("error")
        return cls(
            index=int(data["index"]),
            status=BatchItemStatus(data["status"]),
            result=data.get("result"),
            error=_error_object(error) if error else None,
        )


def _error_dict(error: ErrorObject | None) -> dict[str, Any] | None:
    if error is None:
        return None
    out: dict[str, Any] = {}
    if error.message is not None:
        out["ErrorMessage"] = error.message
    if error.type is not None:
        out["ErrorType"] = error.type
    if error.data is not None:
        out["ErrorData"] = error.data
    if error.stack_trace is not None:
        out["StackTrace"] = list(error.stack_trace)
    return out


def _error_object(data: dict[str, Any]) -> ErrorObject:
    """An item's error from its stored form; fields of the wrong type are
    refused (``ValueError`` naming the field: the serializer reports it as a
    ``SerDesError``), never passed on to fail later in some other way."""
    for key in ("ErrorMessage", "ErrorType", "ErrorData"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(
                f"a batch item's error field {key} must be a string, got {type(value).__name__}"
            )
    trace = data.get("StackTrace")
    if trace is not None and not (
        isinstance(trace, list | tuple) and all(isinstance(line, str) for line in trace)
    ):
        raise ValueError("a batch item's error field StackTrace must be a list of strings")
    return ErrorObject(
        message=data.get("ErrorMessage"),
        type=data.get("ErrorType"),
        data=data.get("ErrorData"),
        stack_trace=None if trace is None else tuple(trace),
    )


def _infer_reason(
    items: Sequence[BatchItem[Any]], config: CompletionConfig | None
) -> CompletionReason:
    config = config or CompletionConfig()
    succeeded = sum(1 for i in items if i.status is BatchItemStatus.SUCCEEDED)
    failed = sum(1 for i in items if i.status is BatchItemStatus.FAILED)
    total = len(items)
    if config.tolerance_exceeded(failed, total):
        return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    if succeeded + failed >= total:
        return CompletionReason.ALL_COMPLETED
    if config.min_successful is not None and succeeded >= config.min_successful:
        return CompletionReason.MIN_SUCCESSFUL_REACHED
    return CompletionReason.ALL_COMPLETED


def _item_tuple(items: Iterable[BatchItem[Any]]) -> tuple[BatchItem[Any], ...]:
    return tuple(items)


@attrs.frozen(repr=False)
class BatchResult(Generic[T]):
    """The result of a map or parallel: every started branch, in index order,
    and why the batch completed.  A batch with failures is not an exception;
    call ``throw_if_error()`` to raise the first failure."""

    all: tuple[BatchItem[T], ...] = attrs.field(converter=_item_tuple)
    completion_reason: CompletionReason

    def __repr__(self) -> str:
        return (
            f"<BatchResult {self.completion_reason.value}: {self.success_count} succeeded, "
            f"{self.failure_count} failed, {self.started_count} started>"
        )

    def succeeded(self) -> list[BatchItem[T]]:
        return [i for i in self.all if i.status is BatchItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[T]]:
        return [i for i in self.all if i.status is BatchItemStatus.FAILED]

    def started(self) -> list[BatchItem[T]]:
        return [i for i in self.all if i.status is BatchItemStatus.STARTED]

    def get_results(self) -> list[T]:
        """Results of the SUCCEEDED branches, in index order."""
        return [i.result for i in self.all if i.status is BatchItemStatus.SUCCEEDED]  # type: ignore[misc]

    def get_errors(self) -> list[ErrorObject | None]:
        return [i.error for i in self.all if i.status is BatchItemStatus.FAILED]

    @property
    def success_count(self) -> int:
        return len(self.succeeded())

    @property
    def failure_count(self) -> int:
        return len(self.failed())

    @property
    def started_count(self) -> int:
        return len(self.started())

    @property
    def total_count(self) -> int:
        return len(self.all)

    @property
    def has_failure(self) -> bool:
        return any(i.status is BatchItemStatus.FAILED for i in self.all)

    @property
    def status(self) -> BatchItemStatus:
        """FAILED if a custom predicate said so or (without one) a branch failed."""
        reason = self.completion_reason
        if reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            return BatchItemStatus.FAILED
        if reason is CompletionReason.CUSTOM_COMPLETION_SUCCEEDED:
            return BatchItemStatus.SUCCEEDED
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

    def throw_if_error(self) -> None:
        """Raise ``ChildContextError`` for the first failed branch (or
        ``BatchCompletionError`` when a custom predicate failed the batch)."""
        for item in self.all:
            if item.status is BatchItemStatus.FAILED:
                error = item.error
                if error is None:
                    raise ChildContextError(
                        f"Batch item {item.index} failed without an ErrorObject."
                    )
                raised = ChildContextError(error.message, error.type, error.data, error.stack_trace)
                cause = OPERATION_ERROR_REGISTRY.get(error.type or "", DurableOperationError)
                raised.__cause__ = cause(error.message, error.type, error.data, error.stack_trace)
                raised.add_note(f"batch item {item.index} failed")
                raise raised
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            raise BatchCompletionError(
                "the batch's completion predicate completed it as FAILED",
                completion_reason=self.completion_reason,
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "all": [item.to_dict() for item in self.all],
            "completionReason": self.completion_reason.value,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], completion_config: CompletionConfig | None = None
    ) -> BatchResult[Any]:
        if "all" not in data:
            raise ValueError("a BatchResult needs its 'all' list of items")
        items = [BatchItem.from_dict(i) for i in data["all"]]
        reason = data.get("completionReason")
        if reason is None:
            return cls(items, _infer_reason(items, completion_config))
        return cls(items, CompletionReason(reason))

    @classmethod
    def from_items(
        cls, items: Sequence[BatchItem[Any]], completion_config: CompletionConfig | None = None
    ) -> BatchResult[Any]:
        return cls(items, _infer_reason(items, completion_config))

    def summary(self, kind: str, summary_generator: Callable[[Any], str] | None) -> str:
        """The envelope stored instead of a result over 256 KiB (§5.8.4)."""
        started = [i.index for i in self.all if i.status is BatchItemStatus.STARTED]
        completed = [i.index for i in self.all if i.status is not BatchItemStatus.STARTED]
        envelope: dict[str, Any] = {
            "type": kind,
            "totalCount": self.total_count,
            "completionReason": self.completion_reason.value,
        }
        if len(started) <= len(completed):
            envelope["startedIndexes"] = started
        else:
            envelope["completedIndexes"] = completed
        envelope.update(
            {
                "startedCount": self.started_count,
                "successCount": self.success_count,
                "failureCount": self.failure_count,
                "status": self.status.value,
            }
        )
        if summary_generator is not None:
            envelope["summary"] = str(summary_generator(self))
        return json.dumps(envelope)


def _register_batch_result_tag() -> None:
    from durable.serdes import register_tagged_type

    register_tagged_type("br", BatchResult, BatchResult.to_dict, BatchResult.from_dict)


_register_batch_result_tag()
