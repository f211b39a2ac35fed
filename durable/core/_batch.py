"""Map and parallel: the batch coordinator (protocol.md §5.8).

A map or parallel is a child context (sub-type ``Map`` / ``Parallel``) whose
body is not user code but the coordinator below: a process that starts the
branches in index order, at most ``max_concurrency`` at a time, as tasks of
their own (``Spawn``), collects their outcomes (``Join``), decides after
every change whether the batch is complete (§5.8.3), stops driving the
branches still running when it is (``Abandon``), and checkpoints the
``BatchResult``.

Every decision is taken here, on the interpreter's single thread, from the
order in which the interpreter delivers outcomes, never from thread timing.
Branch ``i`` has the id ``operation_id(P, i)`` (§4.3), so ids depend only on
the index.  A branch the log already answers (a replayed SUCCEEDED or FAILED
branch context) completes without a task, which is what makes replaying a
finished 10,000-item map cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from durable.batch import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionReason,
    CompletionStatus,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
)
from durable.config import CHECKPOINT_SIZE_LIMIT, ChildConfig
from durable.core._actions import Failure, Outcome, Value
from durable.core._context import Context
from durable.core._handlers import (
    Abandon,
    Emit,
    Join,
    Process,
    Spawn,
    _encode_round_trip,
    _propagates,
    _update,
    start_child,
    stored_context_outcome,
)
from durable.core._ids import operation_id
from durable.core._log import identity_mismatch, rebuild_error
from durable.errors import (
    ChildContextError,
    DurableOperationError,
    NonDeterminismError,
    UsageError,
)
from durable.model import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
)
from durable.ops import ChildContext, Map, Parallel

if TYPE_CHECKING:
    from durable.core._replay import Replay

__all__ = ["start_map", "start_parallel"]

_SUCCEEDED = OperationStatus.SUCCEEDED
_FAILED = OperationStatus.FAILED
_CONTEXT = OperationType.CONTEXT
_ITEM_SUCCEEDED = BatchItemStatus.SUCCEEDED
_ITEM_FAILED = BatchItemStatus.FAILED
_ITEM_STARTED = BatchItemStatus.STARTED


class _FatalBranchError(Exception):
    """A branch ended with an error that must end the batch unrecorded."""

    def __init__(self, outcome: Failure) -> None:
        self.outcome = outcome


class _Branch:
    """What the coordinator needs to start branch ``index``."""

    __slots__ = ("args", "custom_name", "fn", "name")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], name: str, custom_name: str | None
    ) -> None:
        self.fn = fn
        self.args = args
        self.name = name
        self.custom_name = custom_name


class _Batch:
    """The per-batch constants: kind, config and the branches."""

    __slots__ = (
        "branch_config",
        "branch_sub_type",
        "branches",
        "config",
        "flat",
        "policy",
        "result_type",
    )

    def __init__(self, desc: Map[Any] | Parallel[Any]) -> None:
        config: MapConfig | ParallelConfig
        if type(desc) is Map:
            config = desc.config if desc.config is not None else MapConfig()
            self.branch_sub_type = "MapIteration"
            self.result_type = "MapResult"
        else:
            config = desc.config if desc.config is not None else ParallelConfig()
            self.branch_sub_type = "ParallelBranch"
            self.result_type = "ParallelResult"
        self.config = config
        self.policy: CompletionConfig = config.completion_config
        self.flat = config.nesting_type is NestingType.FLAT
        self.branch_config = ChildConfig(
            serdes=config.item_serdes or config.serdes,
            sub_type=self.branch_sub_type,
            is_virtual=self.flat,
        )
        self.branches: list[_Branch] = []

    def name_branches(self, desc: Map[Any] | Parallel[Any]) -> None:
        """Build the branch list; user code runs here (``item_namer``), so
        its errors fail the batch (§5.8)."""
        branches = self.branches
        if type(desc) is Map:
            config = self.config
            assert isinstance(config, MapConfig)
            inputs: tuple[Any, ...] = desc.inputs
            items: tuple[Any, ...] = inputs
            if config.item_batcher is not None:
                items = tuple(config.item_batcher.batch(inputs))
            namer = config.item_namer
            func = desc.func
            for index, item in enumerate(items):
                custom = None
                if namer is not None:
                    custom = namer(item, index)
                    if not isinstance(custom, str):
                        raise UsageError(
                            f"item_namer returned {custom!r} for item {index}; it must return a str"
                        )
                branches.append(
                    _Branch(func, (item, index, inputs), custom or f"map-item-{index}", custom)
                )
        else:
            for index, fn in enumerate(desc.functions):  # type: ignore[union-attr]
                custom = fn.name if isinstance(fn, ParallelBranch) else None
                name = custom if custom is not None else f"parallel-branch-{index}"
                branches.append(_Branch(fn, (), name, custom))

    def descriptor(self, index: int) -> ChildContext[Any]:
        branch = self.branches[index]
        return ChildContext(
            fn=branch.fn,
            args=branch.args,
            name=branch.name or None,
            config=self.branch_config,
        )


def start_map(
    rp: Replay, ctx: Context, op_id: str, desc: Map[Any], record: Operation | None
) -> Outcome | Process:
    return _start(rp, ctx, op_id, desc, record)


def start_parallel(
    rp: Replay, ctx: Context, op_id: str, desc: Parallel[Any], record: Operation | None
) -> Outcome | Process:
    return _start(rp, ctx, op_id, desc, record)


def _start(
    rp: Replay, ctx: Context, op_id: str, desc: Map[Any] | Parallel[Any], record: Operation | None
) -> Outcome | Process:
    batch = _Batch(desc)
    if record is not None and record.is_terminal:
        stored = stored_context_outcome(rp, op_id, desc, record, batch.config.serdes)
        if stored is not None:
            if type(stored) is Value:
                return Value(_as_batch_result(stored.value, batch.policy))
            return stored
    return _coordinate(rp, ctx, op_id, desc, batch, record)


def _as_batch_result(value: Any, policy: CompletionConfig) -> Any:
    """A custom serializer may hand back the dict form; the workflow gets a
    ``BatchResult`` either way."""
    if isinstance(value, dict) and "all" in value:
        return BatchResult.from_dict(value, policy)
    return value


def _coordinate(
    rp: Replay,
    ctx: Context,
    op_id: str,
    desc: Map[Any] | Parallel[Any],
    batch: _Batch,
    record: Operation | None,
) -> Process:
    # A SUCCEEDED record reaches here only with ReplayChildren (§5.8.5).
    rebuilding = record is not None and record.status is _SUCCEEDED
    if record is None:
        yield Emit(_update(ctx, op_id, desc, OperationAction.START), False)
    parent_ctx = ctx._child(op_id, virtual=False)
    replaying = parent_ctx.replaying
    # The coordinator's own context never allocates an id (§4.3); the
    # branches decide their replay status one by one.
    parent_ctx.replaying = False
    run = _Run(rp, parent_ctx, op_id, desc, batch, replaying)
    try:
        batch.name_branches(desc)
        if rebuilding:
            assert record is not None
            result = yield from run.reconstruct(record)
        else:
            result = yield from run.schedule()
        serdes = batch.config.serdes
        payload, value = _encode_round_trip(rp, op_id, desc, serdes, result)
        value = _as_batch_result(value, batch.policy)
        if rebuilding:
            return Value(value)
        replay_children = payload is not None and len(payload) > CHECKPOINT_SIZE_LIMIT
        if replay_children:
            payload = result.summary(batch.result_type, batch.config.summary_generator)
    except _FatalBranchError as fatal:
        yield from run.abandon_all()
        return fatal.outcome
    except Exception as exc:  # item_namer, should_complete, serializer, summary
        yield from run.abandon_all()
        if _propagates(exc):
            return Failure(exc)
        error_object = ErrorObject.from_exception(exc)
        if not rebuilding:
            yield Emit(_update(ctx, op_id, desc, OperationAction.FAIL, error=error_object), True)
        return Failure(
            rebuild_error(
                ChildContextError, error_object, op_id=op_id, name=desc.name, what=desc.label
            )
        )
    yield Emit(
        _update(
            ctx,
            op_id,
            desc,
            OperationAction.SUCCEED,
            payload=payload,
            context_options=ContextOptions(replay_children=replay_children),
        ),
        True,
    )
    return Value(value)


class _Run:
    """One run of a coordinator: the branches' states and the policy."""

    def __init__(
        self,
        rp: Replay,
        parent_ctx: Context,
        op_id: str,
        desc: Map[Any] | Parallel[Any],
        batch: _Batch,
        replaying: bool,
    ) -> None:
        self.rp = rp
        self.ctx = parent_ctx
        self.op_id = op_id
        self.desc = desc
        self.batch = batch
        self.replaying = replaying
        #: Per index: the item status (None: not started yet).
        self.statuses: list[BatchItemStatus | None] = []
        self.results: dict[int, Any] = {}
        self.errors: dict[int, ErrorObject] = {}
        self.succeeded = 0
        self.failed = 0
        #: Branch tasks still being driven, by index.
        self.tasks: dict[int, Any] = {}

    # -- starting branches -----------------------------------------------------

    def start_branch(self, index: int) -> Outcome | Process:
        """The branch's outcome if the log answers it at once, else its process."""
        rp = self.rp
        batch = self.batch
        branch_id = operation_id(self.op_id, index)
        record = rp.log.get(branch_id)
        desc = batch.descriptor(index)
        if batch.flat:
            replaying = self.replaying and operation_id(branch_id, 1) in rp.log
        else:
            if record is not None:
                mismatch = self._identity(record, branch_id, index, desc)
                if mismatch is not None:
                    return Failure(mismatch)
            replaying = self.replaying and record is not None
        return start_child(rp, self.ctx, branch_id, desc, record, replaying=replaying)

    def _identity(
        self, record: Operation, branch_id: str, index: int, desc: ChildContext[Any]
    ) -> NonDeterminismError | None:
        if (
            record.type is _CONTEXT
            and record.sub_type == desc.sub_type
            and (record.name or None) == (desc.name or None)
            and record.parent_id == self.op_id
        ):
            return None
        return identity_mismatch(
            record,
            op_id=branch_id,
            op_type=_CONTEXT,
            sub_type=desc.sub_type,
            name=desc.name,
            parent_id=self.op_id,
            position=index,
            context_id=self.op_id,
        )

    def settle(self, index: int, outcome: Outcome) -> None:
        """Record branch ``index``'s outcome; raise ``_FatalBranchError`` for an error
        that must end the batch (§5.8.1)."""
        if type(outcome) is Value:
            self.statuses[index] = _ITEM_SUCCEEDED
            self.results[index] = outcome.value
            self.succeeded += 1
            return
        assert isinstance(outcome, Failure)
        error = outcome.error
        if _propagates(error):
            raise _FatalBranchError(outcome)
        self.statuses[index] = _ITEM_FAILED
        self.errors[index] = _item_error(error)
        self.failed += 1

    # -- the policy (§5.8.3) -----------------------------------------------------

    def verdict(self) -> CompletionReason | None:
        """Why the batch is complete now, or ``None`` to go on."""
        policy = self.batch.policy
        succeeded = self.succeeded
        failed = self.failed
        total = len(self.batch.branches)
        predicate = policy.should_complete
        if predicate is not None:
            branches = self.batch.branches
            statuses = self.statuses
            items = tuple(
                CompletionItemStatus(
                    index=i,
                    name=branches[i].custom_name,
                    status=statuses[i] if i < len(statuses) else None,
                )
                for i in range(total)
            )
            decision = predicate(
                CompletionStatus(
                    success_count=succeeded,
                    failure_count=failed,
                    completed_count=succeeded + failed,
                    total_count=total,
                    items=items,
                )
            )
            if not isinstance(decision, CompletionDecision):
                raise UsageError(
                    f"the should_complete predicate of {self.desc.label} returned {decision!r}; "
                    "it must return continue_batch() or complete_batch(...)"
                )
            if decision.complete:
                if decision.outcome is CompletionOutcome.FAILED:
                    return CompletionReason.CUSTOM_COMPLETION_FAILED
                return CompletionReason.CUSTOM_COMPLETION_SUCCEEDED
        elif policy.tolerance_exceeded(failed, total):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if succeeded + failed >= total:
            return CompletionReason.ALL_COMPLETED
        minimum = policy.min_successful
        if minimum is not None and succeeded >= minimum:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return None

    # -- the live run (§5.8.2) -----------------------------------------------------

    def schedule(self) -> Generator[Any, Any, BatchResult[Any]]:
        total = len(self.batch.branches)
        limit = self.batch.config.max_concurrency or total
        statuses = self.statuses
        tasks = self.tasks
        reason = self.verdict()
        while reason is None:
            # Start branches in index order while a slot is free.  A branch
            # the log answers at once takes no slot.
            while len(statuses) < total and len(tasks) < limit:
                index = len(statuses)
                statuses.append(_ITEM_STARTED)
                answer = self.start_branch(index)
                if type(answer) is Value or type(answer) is Failure:
                    self.settle(index, answer)
                    reason = self.verdict()
                    if reason is not None:
                        break
                else:
                    branch_id = operation_id(self.op_id, index)
                    tasks[index] = yield Spawn(answer, self.ctx, branch_id, index)
            if reason is not None:
                break
            # Every branch that finished before the coordinator's turn.
            finished: list[tuple[int, Outcome]] = yield Join()
            if not finished:  # nothing left to wait for: every started branch settled
                reason = self.verdict() or CompletionReason.ALL_COMPLETED
                break
            finished.sort(key=_first)
            for index, outcome in finished:
                tasks.pop(index, None)
                self.settle(index, outcome)
                if reason is None:
                    reason = self.verdict()
        if self.replaying:
            yield from self._settle_recorded(len(statuses))
        if self.batch.policy.should_complete is None:
            # With thresholds the reason follows from the final counts, not
            # from the order outcomes were seen in: a replay after a crash,
            # which sees them in index order, reaches the same one.
            reason = self.verdict() or reason
        yield from self.abandon_all()
        return BatchResult(self._items(), reason)

    def _settle_recorded(self, start: int) -> Generator[Any, Any, None]:
        """After the verdict, take in what the log knows of the branches not
        reached yet: they ran in an earlier invocation, whose coordinator had
        counted the finished ones and seen the others running.  Branches
        with no record never started."""
        rp = self.rp
        log = rp.log
        flat = self.batch.flat
        statuses = self.statuses
        for index in range(start, len(self.batch.branches)):
            branch_id = operation_id(self.op_id, index)
            if flat:
                statuses.append(_ITEM_STARTED if operation_id(branch_id, 1) in log else None)
                continue
            record = log.get(branch_id)
            if record is None:
                statuses.append(None)
                continue
            statuses.append(_ITEM_STARTED)
            if not record.is_terminal:
                continue
            answer = self.start_branch(index)
            if type(answer) is Value or type(answer) is Failure:
                self.settle(index, answer)
            else:  # a branch result rebuilt from its children
                self.tasks[index] = yield Spawn(answer, self.ctx, branch_id, index)
                while index in self.tasks:
                    for done, outcome in (yield Join()):
                        self.tasks.pop(done, None)
                        self.settle(done, outcome)

    def abandon_all(self) -> Generator[Any, Any, None]:
        """Stop driving every branch still running (early completion or a
        fatal error): they write nothing more and are reported STARTED."""
        if self.tasks:
            yield Abandon(tuple(self.tasks.values()))

    def _items(self) -> list[BatchItem[Any]]:
        items: list[BatchItem[Any]] = []
        results = self.results
        errors = self.errors
        for index, status in enumerate(self.statuses):
            if status is _ITEM_SUCCEEDED:
                items.append(BatchItem(index, status, results[index]))
            elif status is _ITEM_FAILED:
                items.append(BatchItem(index, status, None, errors[index]))
            elif status is _ITEM_STARTED:
                items.append(BatchItem(index, status))
        return items

    # -- reconstruction (§5.8.5) -----------------------------------------------------

    def reconstruct(self, record: Operation) -> Generator[Any, Any, BatchResult[Any]]:
        """Rebuild a result too large to have been stored, from the branches'
        checkpoints (the parent SUCCEEDED with ReplayChildren).  Writes nothing."""
        details = record.context_details
        summary = _parse_summary(details.result if details is not None else None)
        total = len(self.batch.branches)
        log = self.rp.log
        statuses = self.statuses
        started: frozenset[int] = frozenset()
        count = total
        if summary is not None:
            count = min(summary[1], total)
            started = summary[2]
        flat = self.batch.flat
        for index in range(count):
            branch_id = operation_id(self.op_id, index)
            branch_record = log.get(branch_id)
            still_running = index in started
            if summary is None:
                # No usable summary: each branch's own checkpoint decides.
                if flat:
                    if operation_id(branch_id, 1) not in log:
                        statuses.append(None)
                        continue
                elif branch_record is None:
                    statuses.append(None)
                    continue
                else:
                    still_running = not branch_record.is_terminal
            if still_running:
                if branch_record is not None and not flat:
                    mismatch = self._identity(
                        branch_record, branch_id, index, self.batch.descriptor(index)
                    )
                    if mismatch is not None:
                        raise _FatalBranchError(Failure(mismatch))
                statuses.append(_ITEM_STARTED)
                continue
            if not flat and (branch_record is None or not branch_record.is_terminal):
                seen = "missing" if branch_record is None else branch_record.status.value
                raise _FatalBranchError(
                    Failure(
                        NonDeterminismError(
                            f"{self.desc.label} (id {self.op_id}) completed with "
                            f"ReplayChildren, but its branch {index} (id {branch_id}) is {seen} "
                            "in the checkpoint log, where a finished branch was recorded",
                            operation_id=branch_id,
                        )
                    )
                )
            statuses.append(_ITEM_STARTED)
            answer = self.start_branch(index)
            if type(answer) is Value or type(answer) is Failure:
                self.settle(index, answer)
            else:
                self.tasks[index] = yield Spawn(answer, self.ctx, branch_id, index)
        while self.tasks:
            finished: list[tuple[int, Outcome]] = yield Join()
            if not finished:
                break
            for index, outcome in sorted(finished, key=_first):
                self.tasks.pop(index, None)
                self.settle(index, outcome)
        items = self._items()
        if summary is not None:
            return BatchResult(items, summary[0])
        return BatchResult.from_items(items, self.batch.policy)


def _first(pair: tuple[int, Outcome]) -> int:
    return pair[0]


def _item_error(error: BaseException) -> ErrorObject:
    """A failed branch's error as its item records it: the type of the error
    that escaped the branch, not the ``ChildContextError`` around it."""
    if isinstance(error, DurableOperationError):
        trace = error.stack_trace
        return ErrorObject(
            message=error.message,
            type=error.error_type,
            data=error.data,
            stack_trace=tuple(trace) if trace is not None else None,
        )
    return ErrorObject.from_exception(error)


def _parse_summary(
    payload: str | None,
) -> tuple[CompletionReason, int, frozenset[int]] | None:
    """The summary envelope of §5.8.4 as (reason, total, started indexes),
    or ``None`` if it is missing or not valid."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        reason = CompletionReason(data.get("completionReason"))
    except ValueError:
        return None
    total = data.get("totalCount")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        return None

    def indexes(key: str) -> frozenset[int] | None:
        values = data.get(key)
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            return None
        return frozenset(values)

    if "startedIndexes" in data:
        started = indexes("startedIndexes")
        if started is None:
            return None
        return reason, total, started
    completed = indexes("completedIndexes")
    if completed is None:
        return None
    return reason, total, frozenset(range(total)) - completed
