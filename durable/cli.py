"""The ``durable`` command line: run workflows locally, durably, and gate deploys.

Commands::

    durable run MODULE:WORKFLOW [--input JSON] [--name NAME] [--virtual-time]
    durable resume EXECUTION [--workflow MODULE:WORKFLOW] [--virtual-time]
    durable history EXECUTION [--json] [--output FILE]
    durable callback EXECUTION CALLBACK (--success TEXT | --failure MESSAGE
                     [--error-type TYPE] | --heartbeat) [--no-resume]
    durable list [--json]
    durable replay --against LOG_OR_ARN... MODULE:WORKFLOW [--checkpoint-token T]

Every command but ``replay`` takes ``--store PATH``: the SQLite database of
local executions (default ``$DURABLE_STORE``, else ``./.durable/durable.db``).

``run`` starts an execution on a ``SqliteService`` (``durable.testing``'s
local service, persisted) and drives it with ``LocalRunner``, printing a
timeline line per event (time, operation name, type, id prefix, what
happened), then the status and the result.  Every checkpoint is committed
to SQLite before the workflow goes on, so the process may be killed at any
moment (SIGKILL included): ``durable resume`` continues the execution from
the store, and nothing that was checkpointed runs again (a step whose body
was running when the process died runs again, as on Lambda).

Time.  By default time is real: ``ctx.wait(Duration.from_seconds(5))``
takes five seconds, and a retry waits its delay.  A wait's end is an
absolute instant in the store, so a wait keeps running while the process is
dead: ``resume`` after it fell due goes straight on, ``resume`` before sleeps
only the rest.  ``--virtual-time`` skips waits instead (the clock jumps to
the next timer, as in tests); the store keeps the virtual clock's position,
so a resumed run continues from there.  Real time is what the kill/resume
story is about; virtual time is for trying a long workflow quickly.

Callbacks.  When the execution waits for a callback answer (nothing else is
scheduled to happen first), ``run`` stops, prints the callback id, and exits
with status 3.  ``durable callback EXECUTION CALLBACK --success TEXT``
answers it (``CALLBACK`` is the callback id, a unique prefix of it, or the
callback operation's name) and then continues the execution in the same
command, as the Lambda service would re-invoke it; ``--no-resume`` only
records the answer (then ``durable resume`` continues).  The success text is
sent verbatim as the request body (typically JSON).  While no process drives
an execution nothing happens to it: a callback's timeout is applied when the
execution is next resumed.

EXECUTION is an execution's ARN, its name, its execution id, or a unique
prefix of any of them.

Exit statuses: 0 the execution succeeded (or the command did its job, or
the replay gate passed); 1 the execution failed, timed out or was stopped
(or the gate found a divergence); 2 bad usage (unknown execution, workflow
that cannot be imported, unreadable log, bad JSON); 3 the execution waits
for a callback answer; 130 interrupted (Ctrl-C; resume it later).

``replay`` replays the current code of a workflow against recorded
checkpoint logs without running any step (see ``durable.gate``): JSON
files (``durable history --json``, a ``GetDurableExecutionState`` response,
an invocation event, a ``GetDurableExecutionHistory`` response), directories
of such files, executions of the local store, or live executions by ARN,
read with boto3 (``--endpoint-url`` for an emulator; with
``--checkpoint-token`` through ``GetDurableExecutionState``, else through
``GetDurableExecutionHistory``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from durable._workflow import DurableWorkflow
from durable.core import Failure, RunStep, Value
from durable.errors import ServiceApiError
from durable.gate import (
    ExecutionLog,
    GateError,
    ReplayReport,
    Verdict,
    check_replay,
    fetch_log,
    load_log,
)
from durable.model import (
    ErrorObject,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
    to_datetime,
)
from durable.runtime import run_step_body
from durable.testing._runner import ExecutionResult, LocalRunner, OperationResult, RunnerError
from durable.testing._service import Execution, VirtualClock
from durable.testing._sqlite import (
    SqliteService,
    SqliteStore,
    StoredExecution,
    StoreError,
    WallClock,
)

__all__ = [
    "DEFAULT_STORE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "STORE_ENV",
    "CliError",
    "Timeline",
    "history_document",
    "load_workflow",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WAITING = 3
EXIT_INTERRUPTED = 130

#: The store's path when neither ``--store`` nor ``$DURABLE_STORE`` says.
DEFAULT_STORE = os.path.join(".durable", "durable.db")
STORE_ENV = "DURABLE_STORE"
#: Version of the ``durable history --json`` document.
HISTORY_FORMAT = 1


class CliError(Exception):
    """A usage error: printed as ``durable: error: ...``, exit status 2."""


# -- workflows ------------------------------------------------------------------------


def load_workflow(spec: str, *, search: Sequence[str] = ()) -> DurableWorkflow[Any]:
    """Import ``MODULE:WORKFLOW`` (``WORKFLOW`` may be dotted) and check it is a workflow.

    The current directory, then each of ``search``, is put at the front of
    ``sys.path`` first.  Raises ``CliError`` saying what is wrong: a
    malformed spec, a missing module, an import that raised, a missing
    attribute, or an object that is not a ``@durable.workflow``.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"{spec!r} is not MODULE:WORKFLOW (for example orders:process_order)")
    for entry in [*reversed(search), os.getcwd()]:
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise CliError(
                f"no module named {module_name!r} (looked in {os.getcwd()} and on sys.path)"
            ) from exc
        raise CliError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            found = sorted(
                name for name, value in vars(module).items() if isinstance(value, DurableWorkflow)
            )
            hint = (
                f"; its workflows: {', '.join(found)}"
                if found
                else "; it defines no @durable.workflow"
            )
            raise CliError(f"module {module_name!r} has no attribute {attribute!r}{hint}") from None
    if not isinstance(target, DurableWorkflow):
        raise CliError(
            f"{spec} is a {type(target).__name__}, not a durable workflow: decorate it with "
            "@durable.workflow (or @durable_execution)"
        )
    return target


# -- output -----------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%m-%d %H:%M:%S")


def _outcome(op: OperationResult, width: int = 60) -> str:
    if op.error is not None:
        return _clip(f"{op.error.type or 'Error'}: {op.error.message or ''}", width)
    if op.raw_result is None:
        return ""
    try:
        text = json.dumps(op.result)
    except (TypeError, ValueError):
        text = repr(op.result)
    return _clip(text, width)


def _kind(op: Operation | OperationResult) -> str:
    sub = op.sub_type
    if not sub or sub.upper() == op.type.value.replace("_", ""):
        return op.type.value
    return f"{op.type.value}/{sub}"


class Timeline:
    """Prints one line per event of a running execution.

    ``operation`` and ``invocation`` are the listeners of ``SqliteService``
    (called once a change is stored); ``run_body`` is ``LocalRunner``'s
    ``run_body``, announcing each step attempt as it starts.  Lines are
    ``time  name  type  id-prefix  event``; the time is the service clock's
    (real or virtual), in local time.
    """

    def __init__(self, out: TextIO, clock: VirtualClock | None = None) -> None:
        self.out = out
        self.clock = clock
        self._lock = threading.Lock()

    def line(self, name: str, kind: str, op_id: str, text: str) -> None:
        now = self.clock.now() if self.clock is not None else datetime.now(UTC)
        stamp = now.astimezone().strftime("%H:%M:%S.%f")[:-3]
        with self._lock:
            self.out.write(f"{stamp}  {_clip(name, 24):<24}  {kind:<22}  {op_id[:8]:<8}  {text}\n")
            self.out.flush()

    def run_body(self, action: RunStep) -> Value | Failure:
        """Announce a step attempt, then run its body."""
        self.line(
            action.name or "(unnamed)", "STEP", action.op_id, f"running attempt {action.attempt}"
        )
        return run_step_body(action)

    def invocation(self, execution: Execution) -> None:
        op_id = execution.arn.rsplit("/", 1)[-1]
        self.line(execution.name, "EXECUTION", op_id, f"invocation {execution.invocations}")

    def operation(self, execution: Execution, before: Operation | None, after: Operation) -> None:
        text = describe_change(before, after)
        if text is not None:
            self.line(after.name or "(unnamed)", _kind(after), after.id, text)


def _at(value: int | None) -> str:
    if value is None:
        return "?"
    return to_datetime(value).astimezone().strftime("%H:%M:%S")


def describe_change(before: Operation | None, after: Operation) -> str | None:
    """What happened to an operation, in a few words (``None``: nothing to say)."""
    if after.type is OperationType.EXECUTION:
        return None
    status = after.status
    step = after.step_details
    attempt = (step.attempt or 0) if step is not None else 0
    if before is not None and before.status is status and before.step_details == step:
        return None
    view = OperationResult.from_operation(after)
    if status is OperationStatus.STARTED:
        if after.type is OperationType.WAIT and after.wait_details is not None:
            end = after.wait_details.scheduled_end_timestamp
            start = after.start_timestamp
            seconds = (end - start) / 1000 if end is not None and start is not None else None
            length = f"{seconds:g}s" if seconds is not None else "a while"
            return f"waiting {length}, until {_at(end)}"
        if after.type is OperationType.CALLBACK:
            return f"waiting for callback {view.callback_id}"
        if after.type is OperationType.STEP:
            return f"started attempt {attempt + 1}"
        return "started"
    if status is OperationStatus.PENDING and step is not None:
        due = _at(step.next_attempt_timestamp)
        if step.error is not None:
            return f"attempt {attempt} failed ({_outcome(view, 50)}); retry at {due}"
        return f"attempt {attempt} done; next attempt at {due}"
    if status is OperationStatus.READY:
        return "retry due"
    if status is OperationStatus.SUCCEEDED:
        if after.type is OperationType.WAIT:
            return "wait over"
        outcome = _outcome(view)
        return f"succeeded: {outcome}" if outcome else "succeeded"
    word = status.value.lower().replace("_", " ")
    outcome = _outcome(view)
    return f"{word}: {outcome}" if outcome else word


def history_document(stored: StoredExecution, operations: Sequence[Operation]) -> dict[str, Any]:
    """The ``durable history --json`` document: the ``GetDurableExecutionState``
    shape (``Operations``, wire form) plus what the store knows of the
    execution.  ``durable replay`` reads it back."""
    from durable import wire

    document: dict[str, Any] = {
        "DurableHistoryFormat": HISTORY_FORMAT,
        "DurableExecutionArn": stored.arn,
        "Name": stored.name,
        "Status": stored.status.value,
        "Workflow": stored.workflow,
    }
    if stored.result is not None:
        document["Result"] = stored.result
    if stored.error is not None:
        document["Error"] = wire.error_to_dict(stored.error)
    document["Operations"] = [wire.operation_to_dict(op) for op in operations]
    return document


def _table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def _print_history(stored: StoredExecution, operations: Sequence[Operation], out: TextIO) -> None:
    out.write(f"execution {stored.name}: {stored.status.value}\n")
    out.write(f"  arn: {stored.arn}\n")
    if stored.workflow:
        out.write(f"  workflow: {stored.workflow}\n")
    for op in operations:
        if op.type is OperationType.EXECUTION and op.execution_details is not None:
            out.write(f"  input: {_clip(op.execution_details.input_payload or '', 100)}\n")
    if stored.status is ExecutionStatus.SUCCEEDED:
        out.write(f"  result: {_clip(stored.result or '', 100)}\n")
    elif stored.error is not None:
        out.write(f"  error: {stored.error.type}: {stored.error.message}\n")
    by_id = {op.id: op for op in operations}
    depth: dict[str, int] = {}

    def depth_of(op: Operation) -> int:
        level = 0
        parent = op.parent_id
        seen = 0
        while parent is not None and parent in by_id and seen < 10_000:
            if parent in depth:
                level += depth[parent] + 1
                break
            level += 1
            parent = by_id[parent].parent_id
            seen += 1
        depth[op.id] = level
        return level

    rows = [
        (
            "ID",
            "PARENT",
            "TYPE",
            "SUB-TYPE",
            "NAME",
            "STATUS",
            "ATTEMPT",
            "STARTED",
            "ENDED",
            "RESULT / ERROR",
        )
    ]
    for op in operations:
        if op.type is OperationType.EXECUTION:
            continue
        view = OperationResult.from_operation(op)
        rows.append(
            (
                op.id[:8],
                (op.parent_id or "")[:8] or "-",
                op.type.value,
                op.sub_type or "-",
                "  " * depth_of(op) + (op.name or "-"),
                op.status.value,
                str(view.attempts) if op.type is OperationType.STEP else "-",
                _when(view.start_timestamp),
                _when(view.end_timestamp),
                _outcome(view, 48),
            )
        )
    if len(rows) == 1:
        out.write("  (no operations yet)\n")
        return
    _table(rows, out)


# -- helpers of the commands ---------------------------------------------------------


def _store_path(args: argparse.Namespace) -> str:
    path: str = args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE
    return path


def _open_store(args: argparse.Namespace, *, create: bool) -> SqliteStore:
    return SqliteStore(_store_path(args), create=create)


def _clock(args: argparse.Namespace) -> VirtualClock:
    if args.virtual_time:
        return VirtualClock(datetime.now(UTC))
    return WallClock()


def _parse_input(text: str) -> Any:
    source = "--input"
    if text.startswith("@"):
        path = text[1:]
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read the input file {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"{source} is not valid JSON: {exc}") from exc


def _service(
    store: SqliteStore,
    args: argparse.Namespace,
    timeline: Timeline,
    executions: Sequence[str],
) -> SqliteService:
    service = SqliteService(
        store,
        clock=_clock(args),
        executions=executions,
        on_operation=timeline.operation,
        on_invocation=timeline.invocation,
    )
    timeline.clock = service.clock
    return service


def _workflow_of(stored: StoredExecution, override: str | None) -> DurableWorkflow[Any]:
    spec = override or stored.workflow
    if not spec:
        raise CliError(
            f"the store does not say which workflow runs {stored.name}; "
            "pass --workflow MODULE:WORKFLOW"
        )
    return load_workflow(spec, search=[stored.workdir] if stored.workdir else [])


def _drive(runner: LocalRunner, arn: str, name: str, out: TextIO) -> ExecutionResult | None:
    """``runner.resume(arn)``; ``None`` after Ctrl-C (the store keeps the state)."""
    try:
        return runner.resume(arn)
    except KeyboardInterrupt:
        out.write(f"interrupted; `durable resume {name}` continues the execution\n")
        return None
    except RunnerError as exc:
        raise CliError(str(exc)) from exc


def _conclude(result: ExecutionResult | None, name: str, out: TextIO) -> int:
    if result is None:
        return EXIT_INTERRUPTED
    status = result.execution_status
    out.write(
        f"execution {name} {status.value} after {result.invocations} invocation(s), "
        f"{result.checkpoint_calls} checkpoint call(s)\n"
    )
    if status is ExecutionStatus.SUCCEEDED:
        out.write(f"result: {result.raw_result}\n")
        return EXIT_OK
    if status is ExecutionStatus.RUNNING:
        callbacks = [
            op
            for op in result.all_operations()
            if op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED
        ]
        for op in callbacks:
            out.write(f"waiting for callback {op.callback_id} ({op.name or 'unnamed'})\n")
            out.write(
                f"  answer it: durable callback {name} {op.callback_id} --success JSON "
                "(or --failure MESSAGE)\n"
            )
        if not callbacks:
            out.write(f"waiting; `durable resume {name}` continues the execution\n")
        return EXIT_WAITING
    if result.error is not None:
        out.write(f"error: {result.error.type}: {result.error.message}\n")
    return EXIT_FAILED


def _finished(stored: StoredExecution, out: TextIO) -> int:
    out.write(f"execution {stored.name} already {stored.status.value}\n")
    if stored.status is ExecutionStatus.SUCCEEDED:
        out.write(f"result: {stored.result}\n")
        return EXIT_OK
    if stored.error is not None:
        out.write(f"error: {stored.error.type}: {stored.error.message}\n")
    return EXIT_FAILED


# -- the commands ---------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    payload = _parse_input(args.input)
    workflow = load_workflow(args.workflow)
    with _open_store(args, create=True) as store:
        if args.name is not None and any(e.name == args.name for e in store.executions()):
            raise CliError(
                f"an execution named {args.name!r} already exists in {store.path}; choose "
                f"another --name, or `durable resume {args.name}`"
            )
        timeline = Timeline(out)
        service = _service(store, args, timeline, executions=())
        service.workflow = args.workflow
        service.workdir = os.getcwd()
        runner = LocalRunner(workflow, service=service, run_body=timeline.run_body)
        arn = runner.start(payload, execution_name=args.name)
        name = service.execution(arn).name
        out.write(
            f"execution {name} ({'virtual' if args.virtual_time else 'real'} time, "
            f"store {store.path})\n  arn: {arn}\n"
        )
        with store.claimed(arn):
            result = _drive(runner, arn, name, out)
        return _conclude(result, name, out)


def _cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    with _open_store(args, create=False) as store:
        stored = store.resolve(args.execution)
        with store.claimed(stored.arn):
            if stored.status is not ExecutionStatus.RUNNING:
                return _finished(stored, out)
            workflow = _workflow_of(stored, args.workflow)
            timeline = Timeline(out)
            service = _service(store, args, timeline, executions=[stored.arn])
            runner = LocalRunner(workflow, service=service, run_body=timeline.run_body)
            out.write(f"resuming {stored.name}\n")
            result = _drive(runner, stored.arn, stored.name, out)
        return _conclude(result, stored.name, out)


def _find_callback(service: SqliteService, arn: str, reference: str) -> Operation:
    callbacks = [
        op
        for op in service.operations(arn)
        if op.type is OperationType.CALLBACK and op.callback_details is not None
    ]

    def callback_id(op: Operation) -> str:
        assert op.callback_details is not None
        return op.callback_details.callback_id or ""

    for matches in (
        [op for op in callbacks if callback_id(op) == reference],
        [op for op in callbacks if op.name == reference and op.status is OperationStatus.STARTED],
        [op for op in callbacks if callback_id(op).startswith(reference)],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(f"{op.name or 'unnamed'} ({callback_id(op)})" for op in matches)
            raise CliError(f"{reference!r} matches several callbacks: {listed}")
    open_ = [op for op in callbacks if op.status is OperationStatus.STARTED]
    listed = ", ".join(f"{op.name or 'unnamed'} ({callback_id(op)})" for op in open_) or "none"
    raise CliError(f"no callback {reference!r} in execution {arn}; open callbacks: {listed}")


def _cmd_callback(args: argparse.Namespace, out: TextIO) -> int:
    with _open_store(args, create=False) as store:
        stored = store.resolve(args.execution)
        with store.claimed(stored.arn):
            timeline = Timeline(out)
            service = _service(store, args, timeline, executions=[stored.arn])
            op = _find_callback(service, stored.arn, args.callback)
            assert op.callback_details is not None
            callback_id = op.callback_details.callback_id or ""
            label = f"callback {op.name or 'unnamed'} ({callback_id})"
            try:
                if args.success is not None:
                    service.send_callback_success(callback_id, args.success.encode("utf-8"))
                    answer = "answered: success"
                elif args.failure is not None:
                    service.send_callback_failure(
                        callback_id, ErrorObject(message=args.failure, type=args.error_type)
                    )
                    answer = "answered: failure"
                else:
                    service.send_callback_heartbeat(callback_id)
                    answer = "heartbeat sent"
            except ServiceApiError as exc:
                raise CliError(f"{label}: {exc}") from exc
            out.write(f"{label} {answer}\n")
            if args.heartbeat or args.no_resume:
                if not args.heartbeat:
                    out.write(f"`durable resume {stored.name}` continues the execution\n")
                return EXIT_OK
            execution = service.execution(stored.arn)
            if execution.done:
                return _finished(store.resolve(stored.arn), out)
            try:
                workflow = _workflow_of(stored, args.workflow)
            except CliError as exc:
                raise CliError(
                    f"{exc} (the answer is recorded; `durable resume {stored.name} "
                    "--workflow MODULE:WORKFLOW` continues the execution)"
                ) from exc
            runner = LocalRunner(workflow, service=service, run_body=timeline.run_body)
            result = _drive(runner, stored.arn, stored.name, out)
        return _conclude(result, stored.name, out)


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    with _open_store(args, create=False) as store:
        stored = store.resolve(args.execution)
        operations = store.load_operations(stored.arn)
    if not args.json:
        _print_history(stored, operations, out)
        return EXIT_OK
    text = json.dumps(history_document(stored, operations), indent=2) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        out.write(f"wrote {len(operations)} operation(s) of {stored.name} to {args.output}\n")
    else:
        out.write(text)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    path = _store_path(args)
    if not Path(path).exists():
        if args.json:
            out.write("[]\n")
        else:
            out.write(f"no executions (no store at {path})\n")
        return EXIT_OK
    with SqliteStore(path, create=False) as store:
        executions = store.executions()
    if args.json:
        items = [
            {
                "DurableExecutionArn": e.arn,
                "Name": e.name,
                "Status": e.status.value,
                "Workflow": e.workflow,
                "StartTimestamp": e.created_at.isoformat(),
                "UpdateTimestamp": e.updated_at.isoformat(),
                "Operations": e.operations,
                "Invocations": e.invocations,
            }
            for e in executions
        ]
        out.write(json.dumps(items, indent=2) + "\n")
        return EXIT_OK
    if not executions:
        out.write(f"no executions in {path}\n")
        return EXIT_OK
    rows = [("NAME", "STATUS", "STARTED", "UPDATED", "OPS", "WORKFLOW", "ARN")]
    rows.extend(
        (
            e.name,
            e.status.value,
            _when(e.created_at),
            _when(e.updated_at),
            str(e.operations),
            e.workflow or "-",
            e.arn,
        )
        for e in executions
    )
    _table(rows, out)
    return EXIT_OK


def _store_log(store: SqliteStore, stored: StoredExecution) -> ExecutionLog:
    return ExecutionLog(
        source=stored.name,
        operations=tuple(store.load_operations(stored.arn)),
        arn=stored.arn,
        status=stored.status,
    )


def _logs_for(
    source: str, store: SqliteStore | None, args: argparse.Namespace
) -> list[ExecutionLog]:
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise CliError(f"{source} is a directory with no .json files")
        return [load_log(file) for file in files]
    if path.is_file():
        return [load_log(path)]
    if store is not None:
        for stored in store.executions():
            if stored.arn == source:
                return [_store_log(store, stored)]
    if source.startswith("arn:") or args.live:
        return [
            fetch_log(
                source, checkpoint_token=args.checkpoint_token, endpoint_url=args.endpoint_url
            )
        ]
    if store is not None:
        try:
            return [_store_log(store, store.resolve(source))]
        except StoreError as exc:
            raise CliError(f"{source!r} is not a file, a directory or an ARN, and {exc}") from exc
    raise CliError(
        f"{source!r} is not a file, a directory, an ARN, or an execution of a store "
        f"(there is no store at {_store_path(args)})"
    )


def _report_dict(report: ReplayReport) -> dict[str, Any]:
    def identity(value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        return {"Type": value.type.value, "SubType": value.sub_type, "Name": value.name}

    return {
        "Source": report.source,
        "DurableExecutionArn": report.execution_arn,
        "Verdict": report.verdict.value,
        "OperationId": report.operation_id,
        "Logged": identity(report.logged),
        "Requested": identity(report.requested),
        "LoggedOperations": report.logged_operations,
        "Remaining": report.remaining,
        "Ending": report.ending,
        "Message": report.message,
    }


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    against = list(args.against)
    spec = args.workflow
    if spec is None:
        if len(against) < 2:
            raise CliError(
                "name the workflow to check: durable replay --against LOG... MODULE:WORKFLOW"
            )
        spec = against.pop()
    workflow = load_workflow(spec)
    path = _store_path(args)
    store = SqliteStore(path, create=False) if Path(path).exists() else None
    try:
        logs = [log for source in against for log in _logs_for(source, store, args)]
    finally:
        if store is not None:
            store.close()
    reports = check_replay(workflow, logs)
    if args.json:
        out.write(json.dumps([_report_dict(r) for r in reports], indent=2) + "\n")
    else:
        for report in reports:
            out.write(report.describe() + "\n")
        counts = {verdict: 0 for verdict in Verdict}
        for report in reports:
            counts[report.verdict] += 1
        out.write(
            f"{len(reports)} execution(s): {counts[Verdict.COMPATIBLE]} compatible, "
            f"{counts[Verdict.COMPATIBLE_MORE_WORK]} compatible with more work, "
            f"{counts[Verdict.DIVERGENT]} divergent, {counts[Verdict.ERROR]} error(s)\n"
        )
    return EXIT_OK if all(r.passed for r in reports) else EXIT_FAILED


# -- the parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``durable`` (each subcommand sets ``handler``)."""
    parser = argparse.ArgumentParser(
        prog="durable",
        description="Run durable workflows locally with a SQLite store, and check new code "
        "against recorded executions.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        metavar="PATH",
        help=f"the SQLite store (default: ${STORE_ENV}, else {DEFAULT_STORE})",
    )
    timing = argparse.ArgumentParser(add_help=False)
    timing.add_argument(
        "--virtual-time",
        action="store_true",
        help="skip waits and retry delays instead of waiting in real time",
    )

    def command(
        name: str, handler: Callable[[argparse.Namespace, TextIO], int], text: str, *parents: Any
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text, parents=list(parents))
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", _cmd_run, "run a workflow locally, durably", store, timing)
    run.add_argument("workflow", metavar="MODULE:WORKFLOW", help="e.g. orders:process_order")
    run.add_argument(
        "--input",
        default="{}",
        metavar="JSON",
        help="the execution's input as JSON, or @FILE (default: {})",
    )
    run.add_argument("--name", help="the execution's name (default: execution-N)")

    resume = command("resume", _cmd_resume, "continue an execution from the store", store, timing)
    resume.add_argument("execution", metavar="EXECUTION")
    resume.add_argument(
        "--workflow", metavar="MODULE:WORKFLOW", help="run this code instead of the recorded one"
    )

    history = command("history", _cmd_history, "print an execution's checkpoint log", store)
    history.add_argument("execution", metavar="EXECUTION")
    history.add_argument(
        "--json", action="store_true", help="write the log as JSON (what `durable replay` reads)"
    )
    history.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE")

    callback = command(
        "callback", _cmd_callback, "answer a callback, then continue the execution", store, timing
    )
    callback.add_argument("execution", metavar="EXECUTION")
    callback.add_argument(
        "callback", metavar="CALLBACK", help="the callback id, a unique prefix, or its name"
    )
    answer = callback.add_mutually_exclusive_group(required=True)
    answer.add_argument("--success", metavar="TEXT", help="the result, sent verbatim (JSON)")
    answer.add_argument("--failure", metavar="MESSAGE", help="fail the callback")
    answer.add_argument("--heartbeat", action="store_true", help="send a heartbeat")
    callback.add_argument("--error-type", metavar="TYPE", help="with --failure: the error's type")
    callback.add_argument(
        "--no-resume", action="store_true", help="only record the answer; do not continue"
    )
    callback.add_argument("--workflow", metavar="MODULE:WORKFLOW", help="continue with this code")

    listing = command("list", _cmd_list, "list the executions in the store", store)
    listing.add_argument("--json", action="store_true", help="as JSON")

    replay = command(
        "replay",
        _cmd_replay,
        "replay a workflow's current code against recorded logs, running no step",
        store,
    )
    replay.add_argument(
        "--against",
        nargs="+",
        required=True,
        metavar="LOG",
        help="JSON log files or directories, store executions, or live execution ARNs",
    )
    replay.add_argument(
        "workflow",
        nargs="?",
        metavar="MODULE:WORKFLOW",
        help="the workflow (may also come last, after the logs)",
    )
    replay.add_argument(
        "--checkpoint-token",
        metavar="TOKEN",
        help="read live executions with GetDurableExecutionState and this token "
        "(default: GetDurableExecutionHistory)",
    )
    replay.add_argument("--endpoint-url", metavar="URL", help="the Lambda API endpoint (boto3)")
    replay.add_argument(
        "--live",
        action="store_true",
        help="read every LOG that is not a file, a directory or a stored ARN through "
        "the Lambda API, even if it does not start with arn: (emulators)",
    )
    replay.add_argument("--json", action="store_true", help="print the reports as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``durable`` command line with ``argv`` (default ``sys.argv[1:]``);
    return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace, TextIO], int] = args.handler
    try:
        return handler(args, sys.stdout)
    except (CliError, StoreError, GateError) as exc:
        sys.stdout.flush()
        print(f"durable: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("durable: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
