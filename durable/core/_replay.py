"""The interpreter: replays a workflow against its checkpoint log, events in, actions out.

Responsibility: drive the user's generator or coroutine, allocate an id for
every descriptor it yields, match it against the log, and turn what must
happen next into actions for the shell.  It never sleeps, reads the clock,
runs a step body or talks to a service: time arrives as ``now``, randomness
as ``random``, step outcomes through ``step_finished`` and the service's
answers through ``checkpointed``.  A test can drive it with plain lists.

Theory of operation
-------------------
A *task* is one line of execution: an explicit stack of frames, never
recursion.  A *user frame* is the workflow's generator (or coroutine) with its
``Context``; an *operation frame* is a handler's process (see
``_handlers``).  The loop in ``_drive`` sends an outcome into the top frame
and looks at what comes out:

* a user frame yields a descriptor -> allocate its id, check its identity
  against the log, and call its handler, which either answers at once (the
  outcome goes straight back into the same frame) or returns a process that
  is pushed on the stack;
* an operation frame yields a request -> a non-blocking ``Emit`` becomes a
  ``Checkpoint`` action and the frame continues; a blocking ``Emit``, a
  ``RunBody`` or a ``Park`` parks the task until the shell reports back;
* a frame returns or raises -> it is popped and its outcome is delivered to
  the frame below; when the stack empties the task is done.

When the root task is done the interpreter emits ``Finish``.  When nothing
can progress without the service (every task parked) it closes the
generators, which unwinds them with ``GeneratorExit``, an exception user
``except Exception`` blocks cannot catch, and emits ``Suspend``.

After an internal error (a bug, or a ``BaseException`` such as
``KeyboardInterrupt`` escaping user code) the interpreter refuses every
further call.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import functools
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from durable.core._actions import (
    Action,
    Checkpoint,
    Failure,
    Finish,
    Outcome,
    RunStep,
    Suspend,
    Value,
)
from durable.core._context import Context
from durable.core._handlers import Abandon, Emit, Join, Park, RunBody, RunChild, Spawn, Started
from durable.core._ids import operation_id
from durable.core._log import identity_mismatch
from durable.core._logger import LoggerHolder
from durable.core._table import HANDLERS, READERS
from durable.errors import ExecutionError, UsageError
from durable.model import TERMINAL_STATUSES, Operation, OperationStatus, OperationType
from durable.ops import Descriptor, LoggerLike

__all__ = ["Replay", "Workflow"]

#: A workflow function: ``(event, ctx)`` returning a generator, a coroutine,
#: or (for a workflow without operations) a plain value.
Workflow = Callable[[Any, Context], Any]

_STEP = OperationType.STEP
_SUCCEEDED = OperationStatus.SUCCEEDED
_EXECUTION = OperationType.EXECUTION
#: What a frame is sent when it starts or resumes with nothing to report.
_RESUME = None
#: A joining coordinator's inbox: take the completions collected so far.
_JOINED: Any = object()


class _State(enum.Enum):
    RUNNABLE = "runnable"
    WAITING_BODY = "waiting for a step body"
    WAITING_CHECKPOINT = "waiting for a checkpoint"
    PARKED = "parked"
    JOINING = "waiting for branches"
    DONE = "done"


class _Frame:
    __slots__ = ("ctx", "gen", "op_id", "record")

    def __init__(self, gen: Any, ctx: Context, op_id: str | None, record: Operation | None) -> None:
        self.gen = gen
        self.ctx = ctx
        self.op_id = op_id  # None for a user frame
        self.record = record


class _Task:
    """A line of execution: the root workflow, or one branch of a map or
    parallel (then ``parent`` is the task of its coordinator and ``index``
    its branch index)."""

    __slots__ = (
        "body",
        "children",
        "completions",
        "inbox",
        "index",
        "outcome",
        "parent",
        "reason",
        "resume_at",
        "stack",
        "state",
    )

    def __init__(self, parent: _Task | None = None, index: int = 0) -> None:
        self.stack: list[_Frame] = []
        #: The step whose body this task waits for, if any.
        self.body: str | None = None
        self.inbox: Any = _RESUME
        self.state = _State.RUNNABLE
        self.resume_at: datetime | None = None
        self.reason = ""
        self.outcome: Outcome | None = None
        self.parent = parent
        self.index = index
        self.children: set[_Task] = set()
        #: (branch index, outcome) of children that finished, not yet joined.
        self.completions: list[tuple[int, Outcome]] = []


def _midpoint() -> float:
    return 0.5


def _default_logger() -> LoggerLike:
    import logging

    return logging.getLogger("durable")


class Replay:
    """Replay ``workflow`` for one invocation.

    Args:
        workflow: ``(event, ctx) -> generator | coroutine | value``.
        input: the decoded input of the execution (the ``event`` argument).
        log: the operations the service holds for this execution; the
            EXECUTION operation may be among them.
        now: the service time at the start of the invocation.
        execution_arn: used for the logger's ``executionArn`` and the
            serializers' context.
        random: source of uniform floats in [0, 1) for retry jitter; the
            midpoint 0.5 when omitted.
        logger: where the replay-safe logger sends records; the stdlib
            ``logging.getLogger("durable")`` when omitted.
        lambda_context: the Lambda context object of the invocation, shown to
            the workflow as ``ctx.lambda_context``.

    Drive it with ``next_actions``, ``step_finished`` and ``checkpointed``
    until ``next_actions`` returns ``Finish`` or ``Suspend``.
    """

    def __init__(
        self,
        workflow: Workflow,
        input: Any,
        log: Iterable[Operation] | Mapping[str, Operation],
        now: datetime,
        *,
        execution_arn: str = "",
        random: Callable[[], float] | None = None,
        logger: LoggerLike | None = None,
        lambda_context: Any = None,
    ) -> None:
        if not callable(workflow):
            raise UsageError(f"workflow must be callable, got {workflow!r}")
        operations = log.values() if isinstance(log, Mapping) else log
        self.log: dict[str, Operation] = {op.id: op for op in operations}
        self.now = now
        self.execution_arn = execution_arn
        self.random = random if random is not None else _midpoint
        self._workflow = workflow
        self._input = input
        self._holder = LoggerHolder(logger if logger is not None else _default_logger())
        replaying = any(op.type is not _EXECUTION for op in self.log.values())
        self.root_context = Context(
            prefix=None,
            parent_id=None,
            replaying=replaying,
            holder=self._holder,
            execution_arn=execution_arn,
            lambda_context=lambda_context,
        )
        self.root_context.interpreter = self
        self._root = _Task()
        #: Live tasks in creation order (finished branches leave).
        self._tasks: dict[_Task, None] = {self._root: None}
        #: Tasks parked until the service re-invokes or their time comes.
        self._parked: dict[_Task, None] = {}
        self._runnable: collections.deque[_Task] = collections.deque([self._root])
        self._checkpoint_waiters: dict[_Task, None] = {}
        self._refreshed_at: datetime | None = None
        # The first ExecutionError (e.g. NonDeterminismError) thrown into the
        # workflow: it ends the execution even if the workflow catches it.
        self._fatal: ExecutionError | None = None
        self._started = False
        self._ended = False
        self._broken: BaseException | None = None
        self._actions: list[Action] = []
        self._body_waiters: dict[str, _Task] = {}
        self._abandoned_bodies: set[str] = set()

    # -- the contract ---------------------------------------------------------

    def next_actions(self) -> list[Action]:
        """Run the workflow as far as it can go and return what the shell must do.

        Returns an empty list while step bodies or blocking checkpoints are
        outstanding and nothing else can run.  The last action of an
        invocation is ``Finish`` or ``Suspend``; after it, further calls
        return ``[]``.
        """
        self._check_usable()
        if self._ended:
            return []
        try:
            if not self._started:
                self._started = True
                self._start_root()
            runnable = self._runnable
            while runnable:
                task = runnable.popleft()
                if task.state is _State.RUNNABLE:
                    self._drive(task)
            self._conclude()
        except BaseException as exc:
            self._broken = exc
            raise
        actions = self._actions
        self._actions = []
        return actions

    def step_finished(self, op_id: str, outcome: Outcome, now: datetime | None = None) -> None:
        """Report that the body of step ``op_id`` (from a ``RunStep``) returned
        or raised. ``now``, if given, is the time it finished.

        Bodies of concurrent branches must be reported in the order their
        ``RunStep`` actions were emitted: that order, not thread timing,
        decides what the branches do next.  The body of a branch abandoned by
        an early-completing map or parallel is accepted and ignored.
        """
        self._check_usable()
        if not isinstance(outcome, Value | Failure):
            raise UsageError(f"step_finished needs a Value or a Failure, got {outcome!r}")
        if now is not None:
            self.now = now
        task = self._body_waiters.pop(op_id, None)
        if task is None:
            if op_id in self._abandoned_bodies:
                self._abandoned_bodies.discard(op_id)
                return
            raise UsageError(f"step_finished({op_id!r}): no step body of that id is running")
        self._wake(task, outcome)

    def checkpointed(self, updated_operations: Sequence[Operation], now: datetime) -> None:
        """Report that every ``Checkpoint`` emitted so far was accepted.

        ``updated_operations`` is what the service returned (its
        ``NewExecutionState``, all pages); each replaces the interpreter's
        copy with the same id.  Lines of execution waiting on a blocking
        checkpoint continue.
        """
        self._check_usable()
        log = self.log
        changed = set()
        for op in updated_operations:
            log[op.id] = op
            changed.add(op.id)
        self.now = now
        waiters = self._checkpoint_waiters
        self._checkpoint_waiters = {}
        for task in waiters:
            self._wake(task, _RESUME)
        # Branches parked on something the service just changed, or whose
        # time has come, look again (protocol.md §5.9).
        for task in list(self._parked):
            if task.parent is not None:
                due = task.resume_at is not None and task.resume_at <= now
                if due or (task.stack and task.stack[-1].op_id in changed):
                    self._wake(task, _RESUME)

    def close(self) -> None:
        """Stop without finishing: unwind the workflow's generators innermost
        first, as a suspension does, so ``finally`` blocks run and the
        imperative API's threads end.  Nothing is emitted; afterwards
        ``done`` is true and the Replay must not be driven again.  For shells
        that stop half-way on purpose (the replay gate)."""
        if self._ended:
            return
        self._ended = True
        self._close_all()

    # -- introspection ---------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once ``Finish`` or ``Suspend`` has been emitted."""
        return self._ended

    def wants_body(self, op_id: str) -> bool:
        """Whether the body of step ``op_id`` is still awaited (``False``
        once an early-completing map or parallel abandoned its branch)."""
        return op_id in self._body_waiters

    @property
    def running_steps(self) -> frozenset[str]:
        """Ids of the steps whose bodies the shell has been asked to run."""
        return frozenset(self._body_waiters)

    # -- the machinery -----------------------------------------------------------

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise UsageError(
                f"this Replay stopped after an internal error ({self._broken!r}); "
                "start a new one from the checkpoint log"
            ) from self._broken

    def _start_root(self) -> None:
        task = self._root
        ctx = self.root_context
        entered = self._enter(
            functools.partial(self._workflow, self._input, ctx), ctx, self._workflow
        )
        if isinstance(entered, _Frame):
            task.stack.append(entered)
        else:
            self._finish_task(task, entered)

    def _enter(self, call: Callable[[], Any], ctx: Context, fn: Any) -> _Frame | Outcome:
        """Call a workflow (or child) function: a generator or coroutine
        becomes a frame; a plain function's return value or exception is its
        outcome at once."""
        try:
            result = call()
        except Exception as exc:  # raised before its first yield
            return Failure(exc)
        if isinstance(result, types.GeneratorType | types.CoroutineType) or (
            hasattr(result, "send") and hasattr(result, "throw") and hasattr(result, "close")
        ):
            return _Frame(result, ctx, None, None)
        if isinstance(result, types.AsyncGeneratorType):
            result.aclose().close()  # never started: nothing to unwind
            return Failure(
                UsageError(
                    f"{_name_of(fn)} is an async generator (an `async def` that also "
                    "yields); a workflow is either a generator (`yield ctx.step(...)`) or "
                    "an `async def` (`await ctx.step(...)`), not both"
                )
            )
        if isinstance(result, Descriptor):
            return Failure(
                UsageError(
                    f"{_name_of(fn)} returned {result!r} instead of yielding it; write "
                    "`yield ctx.step(...)` (or `await` in an async workflow) so the operation runs"
                )
            )
        return Value(result)

    def begin_operation(self, ctx: Context, request: Any) -> Outcome | Started:
        """Start the operation ``request`` (a descriptor) yielded from ``ctx``.

        Allocates its id, checks its identity against the log and asks its
        handler what happens: an ``Outcome`` when the log already answers it,
        else ``Started`` with the process to run.  Only the interpreter and
        the imperative API (which resolves operations through here, while the
        interpreter waits for it) call this.
        """
        handler = HANDLERS.get(type(request))
        if handler is None:
            reader = READERS.get(type(request))
            if reader is None:
                return Failure(_not_a_descriptor(request, self._workflow))
            # Reads an existing operation: no id, no identity check (§4.2).
            read = reader(self, ctx, request)
            if type(read) is Value or type(read) is Failure:
                return read
            return Started(read, ctx, request.operation_id, None)  # type: ignore[arg-type]
        log = self.log
        # Allocate the id (protocol.md §4); the replay boundary check of the
        # previous operation may already have derived it.
        counter = ctx._counter = ctx._counter + 1
        op_id = ctx._next
        if op_id is None:
            op_id = operation_id(ctx._prefix, counter)
        else:
            ctx._next = None
        record = log.get(op_id)
        if record is not None:
            sub_type = request.sub_type
            name = request.name
            parent_id = ctx._parent_id
            if not (
                record.type is request.op_type
                and record.sub_type == sub_type
                and (record.name or None) == (name or None)
                and (record.parent_id or None) == (parent_id or None)
            ):
                mismatch = identity_mismatch(
                    record,
                    op_id=op_id,
                    op_type=request.op_type,
                    sub_type=sub_type,
                    name=name,
                    parent_id=parent_id,
                    position=counter,
                    context_id=ctx._prefix,
                )
                assert mismatch is not None
                return Failure(mismatch)
            # A step about to run its body is new work, not replay (§6.2).
            if (
                ctx.replaying
                and record.type is _STEP
                and record.status is not _SUCCEEDED
                and record.status not in TERMINAL_STATUSES
            ):
                ctx.replaying = False
        elif ctx.replaying:
            ctx.replaying = False
        answer = handler(self, ctx, op_id, request, record)
        if type(answer) is Value or type(answer) is Failure:
            if ctx.replaying:
                # The resume point or the replay boundary (§6.2), inline: this
                # runs for every replayed operation.
                if (
                    record is not None
                    and record.type is not _STEP
                    and record.status is not _SUCCEEDED
                    and record.status not in TERMINAL_STATUSES
                ):
                    ctx.replaying = False
                else:
                    nxt = ctx._next = operation_id(ctx._prefix, counter + 1)
                    if nxt not in log:
                        ctx.replaying = False
            return answer
        return Started(answer, ctx, op_id, record)  # type: ignore[arg-type]

    def _wake(self, task: _Task, inbox: Any) -> None:
        if task.state is _State.PARKED:
            del self._parked[task]
        task.inbox = inbox
        task.state = _State.RUNNABLE
        self._runnable.append(task)

    def _finish_task(self, task: _Task, outcome: Outcome) -> None:
        task.state = _State.DONE
        task.outcome = outcome
        parent = task.parent
        if parent is not None:
            del self._tasks[task]
            parent.children.discard(task)
            parent.completions.append((task.index, outcome))
            if parent.state is _State.JOINING:
                # The coordinator takes its completions when it runs, so it
                # also sees the branches that finish before it gets its turn.
                self._wake(parent, _JOINED)

    def _abandon(self, task: _Task) -> None:
        """Stop driving a branch: close its frames; its pending body outcomes
        will be ignored and it writes nothing more."""
        for child in list(task.children):
            self._abandon(child)
        state = task.state
        if state is _State.WAITING_BODY:
            op_id = task.body
            if op_id is not None and self._body_waiters.get(op_id) is task:
                del self._body_waiters[op_id]
                self._abandoned_bodies.add(op_id)
        elif state is _State.WAITING_CHECKPOINT:
            self._checkpoint_waiters.pop(task, None)
        elif state is _State.PARKED:
            del self._parked[task]
        self._tasks.pop(task, None)
        stack = task.stack
        while stack:
            frame = stack.pop()
            # An abandoned branch's cleanup cannot fail the batch.
            with contextlib.suppress(Exception):
                frame.gen.close()
        task.state = _State.DONE
        if task.parent is not None:
            task.parent.children.discard(task)

    def _drive(self, task: _Task) -> None:
        """Run ``task`` until it parks or its stack empties."""
        stack = task.stack
        outcome: Outcome | None = task.inbox
        if outcome is _JOINED:
            outcome = task.completions  # type: ignore[assignment]
            task.completions = []
        actions = self._actions
        log = self.log
        while True:
            frame = stack[-1]
            gen = frame.gen
            try:
                if outcome is None:
                    request = gen.send(None)
                elif frame.op_id is not None:
                    # Operation processes receive outcomes as data.
                    request = gen.send(outcome)
                elif type(outcome) is Value:
                    request = gen.send(outcome.value)
                else:
                    assert isinstance(outcome, Failure)
                    if self._fatal is None and isinstance(outcome.error, ExecutionError):
                        self._fatal = outcome.error
                    request = gen.throw(outcome.error)
            except StopIteration as stop:
                stack.pop()
                if frame.op_id is None:
                    outcome = Value(stop.value)
                else:
                    outcome = stop.value
                    _after_operation(frame.ctx, frame.record, log)
                if not stack:
                    self._finish_task(task, outcome)
                    return
                continue
            except Exception as exc:
                stack.pop()
                if frame.op_id is not None:
                    _after_operation(frame.ctx, frame.record, log)
                outcome = Failure(exc)
                if not stack:
                    self._finish_task(task, outcome)
                    return
                continue

            if frame.op_id is None:
                # The workflow yielded: start an operation.
                if type(request) is Started:
                    started = request
                elif self._fatal is not None:
                    # After a fatal error the workflow caught, nothing new
                    # starts: each operation raises the same error again.
                    outcome = Failure(self._fatal)
                    continue
                else:
                    answer = self.begin_operation(frame.ctx, request)
                    if type(answer) is not Started:
                        outcome = answer  # type: ignore[assignment]
                        continue
                    started = answer
                stack.append(_Frame(started.process, started.ctx, started.op_id, started.record))
                outcome = _RESUME
                continue

            # An operation process asked the interpreter for something.
            kind = type(request)
            if kind is Emit:
                actions.append(Checkpoint(updates=(request.update,), blocking=request.blocking))
                if request.blocking:
                    task.state = _State.WAITING_CHECKPOINT
                    self._checkpoint_waiters[task] = None
                    return
                outcome = _RESUME
            elif kind is RunBody:
                actions.append(
                    RunStep(
                        op_id=request.op_id,
                        call=request.call,
                        attempt=request.attempt,
                        step_context=request.step_context,
                        name=request.name,
                    )
                )
                self._body_waiters[request.op_id] = task
                task.body = request.op_id
                task.state = _State.WAITING_BODY
                return
            elif kind is RunChild:
                call = functools.partial(
                    request.fn, request.ctx, *request.args, **dict(request.kwargs)
                )
                entered = self._enter(call, request.ctx, request.fn)
                if isinstance(entered, _Frame):
                    stack.append(entered)
                    outcome = _RESUME
                else:
                    outcome = entered
            elif kind is Park:
                task.state = _State.PARKED
                self._parked[task] = None
                task.resume_at = request.resume_at
                task.reason = request.reason
                return
            elif kind is Spawn:
                child = _Task(task, request.index)
                child.stack.append(_Frame(request.process, request.ctx, request.op_id, None))
                task.children.add(child)
                self._tasks[child] = None
                self._runnable.append(child)
                outcome = child  # type: ignore[assignment]
            elif kind is Join:
                if task.completions:
                    outcome = task.completions  # type: ignore[assignment]
                    task.completions = []
                elif not task.children:
                    outcome = []  # type: ignore[assignment]
                else:
                    task.state = _State.JOINING
                    return
            elif kind is Abandon:
                for child in request.tasks:
                    if child.state is not _State.DONE:
                        self._abandon(child)
                task.completions = []
                outcome = _RESUME
            else:  # pragma: no cover - handlers only yield the requests above
                raise AssertionError(f"unknown internal request {request!r}")

    def _conclude(self) -> None:
        root = self._root
        if root.state is _State.DONE:
            assert root.outcome is not None
            self._ended = True
            outcome = root.outcome
            fatal = self._fatal
            if fatal is not None and not (type(outcome) is Failure and outcome.error is fatal):
                # The workflow caught an error that must end the execution
                # (``except Exception`` around an operation): a log that no
                # longer matches the code must not end SUCCEEDED.
                outcome = Failure(fatal)
            self._actions.append(Finish(outcome=outcome))
            return
        if self._runnable or self._body_waiters or self._checkpoint_waiters:
            return
        # Every live task is parked, or joins branches that are.  Branches
        # whose time has come are resumed in this invocation after an empty
        # refresh checkpoint (§5.9); otherwise the invocation ends.
        now = self.now
        due = [
            t
            for t in self._parked
            if t.parent is not None and t.resume_at is not None and t.resume_at <= now
        ]
        if due and self._refreshed_at != self.now:
            self._refreshed_at = self.now
            self._actions.append(Checkpoint(updates=(), blocking=True))
            for task in due:
                del self._parked[task]
                task.state = _State.WAITING_CHECKPOINT
                self._checkpoint_waiters[task] = None
            return
        # Everything waits for the service: unwind the generators and end the invocation.
        parked = list(self._parked)
        failure = self._close_all()
        self._ended = True
        if self._fatal is not None:
            failure = Failure(self._fatal)  # caught by the workflow, still fatal
        if failure is not None:
            self._actions.append(Finish(outcome=failure))
            return
        times = [t.resume_at for t in parked if t.resume_at is not None]
        reasons = "; ".join(t.reason for t in parked if t.reason)
        self._actions.append(Suspend(reason=reasons, resume_at=min(times) if times else None))

    def _close_all(self) -> Failure | None:
        """Close every frame, innermost first. A workflow that refuses to
        stop (it yields again after ``GeneratorExit``) or raises while
        unwinding makes the execution fail with that error."""
        failure: Failure | None = None
        for task in reversed(list(self._tasks)):
            stack = task.stack
            while stack:
                frame = stack.pop()
                try:
                    frame.gen.close()
                except RuntimeError as exc:
                    if failure is None and "ignored GeneratorExit" in str(exc):
                        failure = Failure(
                            UsageError(
                                f"workflow {_name_of(self._workflow)} kept running after it was "
                                f"suspended ({task.reason}); do not catch GeneratorExit or "
                                "BaseException around durable operations"
                            )
                        )
                    elif failure is None:
                        failure = Failure(exc)
                except Exception as exc:
                    if failure is None:
                        failure = Failure(exc)
        return failure


def _after_operation(ctx: Context, record: Operation | None, log: Mapping[str, Operation]) -> None:
    """Leave replay mode at the resume point or the replay boundary (protocol.md §6.2)."""
    if not ctx.replaying:
        return
    if (
        record is not None
        and record.type is not _STEP
        and record.status is not _SUCCEEDED
        and record.status not in TERMINAL_STATUSES
    ) or ctx._peek_next_id() not in log:
        ctx.replaying = False


def _name_of(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _not_a_descriptor(obj: object, workflow: Any) -> UsageError:
    hint = ""
    if hasattr(obj, "_asyncio_future_blocking"):
        hint = (
            "; a durable workflow can only await durable operations, not asyncio "
            "or other event-loop awaitables"
        )
    elif obj is None:
        hint = "; a bare `yield` or `await` of None is not an operation"
    return UsageError(
        f"workflow {_name_of(workflow)} yielded {obj!r}, which is not a durable operation "
        f"(expected ctx.step(...), ctx.wait(...) or a @durable.step call){hint}"
    )
