"""A SQLite-backed ``LocalService``: local executions that survive the process.

Responsibility: persistence for the in-memory service of ``durable.testing``,
so that ``durable run`` can be killed at any point (SIGKILL included) and
``durable resume`` continues from what was checkpointed.  ``SqliteService``
is a ``LocalService`` whose every state-changing call (a checkpoint, the
start or end of an invocation, a timer firing, a callback answer, ...) ends
by writing what changed to SQLite in one transaction, before the call
returns: a checkpoint is durable before the workflow goes on.  Opening the
service loads the stored executions back.

What is stored, per execution: the execution's record (status, result,
error, counters, the workflow it runs), every operation in its wire form
(protocol.md §2.2) in start order, the journal of accepted checkpoint
requests, and the callbacks the service issued with their timers.  Only
operations that changed since the last write are written (records are
replaced, never mutated, so a changed record is a different object).

``SqliteStore`` is the database itself: schema, the light queries the
command line needs (list, resolve a name or ARN prefix) and a per-execution
claim, so that two processes never drive one execution at once; a claim
held by a process that no longer exists (killed) is taken over.

Clocks: ``WallClock`` is real time (waits really wait: the runner "advances"
it by sleeping); a ``VirtualClock`` passed in is moved to where the store's
virtual time last stood, and its position is stored with every write.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from durable.model import (
    CheckpointOutput,
    ErrorObject,
    ExecutionStatus,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationStatus,
    OperationUpdate,
    timestamp,
    to_datetime,
)
from durable.testing._service import (
    CallbackTimer,
    CheckpointRequest,
    Execution,
    LocalService,
    PendingInvoke,
    VirtualClock,
)

__all__ = [
    "OperationListener",
    "SqliteService",
    "SqliteStore",
    "StoreError",
    "StoredExecution",
    "WallClock",
]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    workflow TEXT,
    workdir TEXT,
    input_payload TEXT,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    invocations INTEGER NOT NULL DEFAULT 0,
    failed_invocations INTEGER NOT NULL DEFAULT 0,
    invalid_pending INTEGER NOT NULL DEFAULT 0,
    checkpoint_calls INTEGER NOT NULL DEFAULT 0,
    parent_arn TEXT,
    parent_operation_id TEXT,
    state TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    runner_pid INTEGER
);
CREATE INDEX IF NOT EXISTS executions_name ON executions (name);
CREATE TABLE IF NOT EXISTS operations (
    arn TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (arn, id)
);
CREATE TABLE IF NOT EXISTS journal (
    arn TEXT NOT NULL,
    seq INTEGER NOT NULL,
    invocation INTEGER NOT NULL,
    updates TEXT NOT NULL,
    PRIMARY KEY (arn, seq)
);
CREATE TABLE IF NOT EXISTS callbacks (
    callback_id TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    timer TEXT
);
"""

#: ``on_operation(execution, before, after)``: an operation appeared
#: (``before`` is ``None``) or changed; called after the change is stored.
OperationListener = Callable[[Execution, Operation | None, Operation], None]


class StoreError(Exception):
    """The store cannot do what was asked: no such execution, an ambiguous
    reference, a claim held by a live process, an unreadable database."""


class WallClock(VirtualClock):
    """Real time for the service: ``now()`` is the system clock, and moving
    the clock forward (what the runner does to reach the next timer) sleeps
    until then."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(datetime.now(UTC))
        self._sleep = sleep

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def advance_to(self, when: datetime) -> None:
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay > 0:
            self._sleep(delay)


@attrs.frozen(kw_only=True)
class StoredExecution:
    """One execution as the store lists it (no operations loaded)."""

    arn: str
    name: str
    status: ExecutionStatus
    workflow: str | None
    workdir: str | None
    created_at: datetime
    updated_at: datetime
    operations: int
    invocations: int
    result: str | None
    error: ErrorObject | None
    runner_pid: int | None

    @property
    def execution_id(self) -> str:
        """The last segment of the ARN."""
        return self.arn.rsplit("/", 1)[-1]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    except OSError:
        return False
    return True


def _error_json(error: ErrorObject | None) -> str | None:
    if error is None:
        return None
    from durable import wire

    return json.dumps(wire.error_to_dict(error))


def _error_from(text: str | None) -> ErrorObject | None:
    if not text:
        return None
    from durable import wire

    return wire.error_from_dict(json.loads(text))


class SqliteStore:
    """A SQLite database of local executions (stdlib ``sqlite3``).

    ``path`` is created (with its directory) when ``create`` is true;
    otherwise a missing file is a ``StoreError``.  The connection is in
    autocommit mode; writes go through ``transaction()``.  Write-ahead
    logging keeps readers (``durable list`` in another terminal) from
    blocking a running execution.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no store at {self.path} (durable run creates one; or pass --store)")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable durable store: {exc}") from exc
        self._lock = threading.RLock()

    def _check_schema(self) -> None:
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self.db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema {row[0]}; this version of durable reads "
                f"schema {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``)."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- meta ------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def next_number(self, key: str) -> int:
        """Take the next value of the counter ``key`` (1, 2, ...), atomically
        across processes."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            number = int(row[0]) if row is not None else 1
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(number + 1))
            )
        return number

    # -- executions ---------------------------------------------------------------

    def executions(self) -> list[StoredExecution]:
        """Every execution, oldest first."""
        rows = self.db.execute(
            "SELECT e.arn, e.name, e.status, e.workflow, e.workdir, e.created_at, e.updated_at, "
            "(SELECT COUNT(*) FROM operations o WHERE o.arn = e.arn), e.invocations, e.result, "
            "e.error, e.runner_pid FROM executions e ORDER BY e.seq"
        ).fetchall()
        return [
            StoredExecution(
                arn=row[0],
                name=row[1],
                status=ExecutionStatus(row[2]),
                workflow=row[3],
                workdir=row[4],
                created_at=datetime.fromtimestamp(row[5], UTC),
                updated_at=datetime.fromtimestamp(row[6], UTC),
                operations=row[7],
                invocations=row[8],
                result=row[9],
                error=_error_from(row[10]),
                runner_pid=row[11],
            )
            for row in rows
        ]

    def resolve(self, reference: str) -> StoredExecution:
        """The execution ``reference`` names: its full ARN, its name, its
        execution id (the ARN's last segment), or a unique prefix of any.

        Raises ``StoreError`` naming the candidates when none or several match.
        """
        executions = self.executions()
        if not reference:
            raise StoreError("an empty execution reference matches nothing")
        for exact in (
            [e for e in executions if e.arn == reference],
            [e for e in executions if e.name == reference],
            [e for e in executions if e.execution_id == reference],
        ):
            if len(exact) == 1:
                return exact[0]
            if len(exact) > 1:
                raise StoreError(_ambiguous(reference, exact))
        matches = [
            e
            for e in executions
            if e.arn.startswith(reference)
            or e.name.startswith(reference)
            or e.execution_id.startswith(reference)
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise StoreError(_ambiguous(reference, matches))
        known = ", ".join(e.name for e in executions[-5:]) or "none yet"
        raise StoreError(
            f"no execution matches {reference!r} in {self.path} ({len(executions)} stored; "
            f"latest: {known}; `durable list` shows them all)"
        )

    def load_operations(self, arn: str) -> list[Operation]:
        """The stored operations of ``arn`` in start order."""
        from durable import wire

        rows = self.db.execute(
            "SELECT body FROM operations WHERE arn = ? ORDER BY seq", (arn,)
        ).fetchall()
        return [wire.operation_from_dict(json.loads(row[0])) for row in rows]

    # -- claims -------------------------------------------------------------------

    def claim(self, arn: str) -> None:
        """Mark ``arn`` as driven by this process.

        Raises ``StoreError`` if another live process holds it; a claim left
        by a process that died (killed, crashed) is taken over.
        """
        me = os.getpid()
        with self.transaction() as db:
            row = db.execute("SELECT runner_pid FROM executions WHERE arn = ?", (arn,)).fetchone()
            if row is None:
                raise StoreError(f"no execution {arn!r} in {self.path}")
            holder = row[0]
            if holder is not None and holder != me and _pid_alive(holder):
                raise StoreError(
                    f"execution {arn} is being run by process {holder}; wait for it to end "
                    "(or stop it) before driving it from here"
                )
            db.execute("UPDATE executions SET runner_pid = ? WHERE arn = ?", (me, arn))

    def release(self, arn: str) -> None:
        """Drop this process's claim on ``arn`` (if it holds one)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE executions SET runner_pid = NULL WHERE arn = ? AND runner_pid = ?",
                (arn, os.getpid()),
            )

    @contextlib.contextmanager
    def claimed(self, arn: str) -> Iterator[None]:
        """``claim`` for the duration of a ``with`` block."""
        self.claim(arn)
        try:
            yield
        finally:
            self.release(arn)


def _ambiguous(reference: str, matches: list[StoredExecution]) -> str:
    listed = "; ".join(f"{e.name} ({e.arn})" for e in matches[:10])
    more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
    return (
        f"{reference!r} matches {len(matches)} executions: {listed}{more}; "
        "give more of the ARN or the full name"
    )


class _Counter:
    """``itertools.count`` that remembers the last value it gave."""

    def __init__(self, start: int) -> None:
        self.last = start - 1

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> int:
        self.last += 1
        return self.last


@attrs.define
class _Saved:
    """What the database holds of one execution (to write only differences)."""

    operations: dict[str, Operation] = attrs.Factory(dict)
    journal: int = 0
    status: ExecutionStatus = ExecutionStatus.RUNNING
    invocations: int = 0
    exists: bool = False


class SqliteService(LocalService):
    """A ``LocalService`` that stores every change in a ``SqliteStore``.

    Args:
        store: the store, or the path of its database file (created if absent).
        clock: the service clock; a ``WallClock`` for real time.  A plain
            ``VirtualClock`` is moved forward to where the store's virtual
            time last stood (and to the latest timestamp of the loaded
            operations), so timers keep their order across processes.
        executions: ARNs of the executions to load (their parent and child
            executions come too); ``None`` loads every stored execution.
        on_operation: called as ``on_operation(execution, before, after)`` for
            every operation that appeared or changed, after it was stored.
        on_invocation: called with the execution after an invocation began
            (and was stored).

    New executions record ``workflow`` and ``workdir`` (set them before
    starting one), so a later process can import the workflow to resume it.
    """

    def __init__(
        self,
        store: SqliteStore | str | os.PathLike[str],
        *,
        clock: VirtualClock | None = None,
        executions: Iterable[str] | None = None,
        page_size: int = 1000,
        fault: Callable[[int, str], None] | None = None,
        on_operation: OperationListener | None = None,
        on_invocation: Callable[[Execution], None] | None = None,
    ) -> None:
        super().__init__(clock=clock, page_size=page_size, fault=fault)
        self.store = store if isinstance(store, SqliteStore) else SqliteStore(store)
        self.on_operation = on_operation
        self.on_invocation = on_invocation
        #: The workflow (``module:attribute``) and directory recorded with
        #: executions started from now on.
        self.workflow: str | None = None
        self.workdir: str | None = None
        self._lock = threading.RLock()
        self._depth = 0
        self._touched: set[str] = set()
        self._saved: dict[str, _Saved] = {}
        self._tokens: Any = _Counter(int(self.store.meta("next_token") or 1))
        self._callback_numbers: Any = _Counter(int(self.store.meta("next_callback") or 1))
        self._load(None if executions is None else set(executions))
        if not isinstance(self.clock, WallClock):
            self._restore_clock()

    # -- loading -------------------------------------------------------------------

    def _load(self, wanted: set[str] | None) -> None:
        from durable import wire

        db = self.store.db
        rows = db.execute(
            "SELECT arn, name, input_payload, status, result, error, invocations, "
            "failed_invocations, invalid_pending, checkpoint_calls, parent_arn, "
            "parent_operation_id, state FROM executions ORDER BY seq"
        ).fetchall()
        by_arn = {row[0]: row for row in rows}
        if wanted is not None:
            # Parents and children come along: an execution's end may
            # complete its parent's chained invoke.
            pending = list(wanted)
            while pending:
                arn = pending.pop()
                row = by_arn.get(arn)
                if row is None:
                    continue
                state = json.loads(row[12])
                for other in [row[10], *state.get("children", {}).values()]:
                    if other and other not in wanted:
                        wanted.add(other)
                        pending.append(other)
        for row in rows:
            arn = row[0]
            if wanted is not None and arn not in wanted:
                continue
            state = json.loads(row[12])
            execution = Execution(
                arn=arn,
                name=row[1],
                input_payload=row[2],
                status=ExecutionStatus(row[3]),
                result=row[4],
                error=_error_from(row[5]),
                invocations=row[6],
                failed_invocations=row[7],
                invalid_pending=row[8],
                checkpoint_calls=row[9],
                parent_arn=row[10],
                parent_operation_id=row[11],
            )
            execution.unseen = set(state.get("unseen", ()))
            execution.updated_ids = list(state.get("updated_ids", ()))
            execution.timers_checked_at = state.get("timers_checked_at")
            execution.last_invocation_error = _error_from(state.get("last_invocation_error"))
            execution.children = dict(state.get("children", {}))
            execution.queued_invokes = {
                item["op_id"]: PendingInvoke(**item) for item in state.get("queued_invokes", ())
            }
            for (body,) in db.execute(
                "SELECT body FROM operations WHERE arn = ? ORDER BY seq", (arn,)
            ):
                op = wire.operation_from_dict(json.loads(body))
                execution.operations[op.id] = op
            for invocation, updates in db.execute(
                "SELECT invocation, updates FROM journal WHERE arn = ? ORDER BY seq", (arn,)
            ):
                execution.journal.append(
                    CheckpointRequest(
                        invocation,
                        tuple(wire.update_from_dict(u) for u in json.loads(updates)),
                    )
                )
            for callback_id, op_id, timer in db.execute(
                "SELECT callback_id, operation_id, timer FROM callbacks WHERE arn = ?", (arn,)
            ):
                self._callbacks[callback_id] = (arn, op_id)
                if timer:
                    execution.callbacks[op_id] = CallbackTimer(**json.loads(timer))
            self._executions[arn] = execution
            self._saved[arn] = _Saved(
                operations=dict(execution.operations),
                journal=len(execution.journal),
                status=execution.status,
                invocations=execution.invocations,
                exists=True,
            )

    def _restore_clock(self) -> None:
        stored = self.store.meta("virtual_now")
        latest = int(stored) if stored is not None else None
        for execution in self._executions.values():
            for op in execution.operations.values():
                for value in (op.start_timestamp, op.end_timestamp):
                    if value is not None and (latest is None or value > latest):
                        latest = value
        if latest is not None:
            self.clock.advance_to(to_datetime(latest))

    # -- writing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _mutation(self, *arns: str | None) -> Iterator[None]:
        """Run a state-changing call; when the outermost one ends (normally
        or not), store what changed in one transaction."""
        with self._lock:
            self._depth += 1
            self._touched.update(arn for arn in arns if arn)
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    touched, self._touched = self._touched, set()
                    self._flush(touched)

    def _related(self, arns: Iterable[str]) -> list[str]:
        """``arns`` with their ancestors (an execution's end changes its parent)."""
        out: dict[str, None] = {}
        for arn in arns:
            current: str | None = arn
            while current is not None and current not in out:
                out[current] = None
                execution = self._executions.get(current)
                current = execution.parent_arn if execution is not None else None
        return list(out)

    def _flush(self, arns: Iterable[str]) -> None:
        from durable import wire

        changes: list[tuple[Execution, Operation | None, Operation]] = []
        invoked: list[Execution] = []
        snapshots: list[tuple[str, _Saved]] = []
        now = time.time()
        with self.store.transaction() as db:
            for arn in self._related(arns):
                execution = self._executions.get(arn)
                if execution is None:
                    continue
                saved = self._saved.get(arn) or _Saved()
                for seq, (op_id, op) in enumerate(execution.operations.items()):
                    before = saved.operations.get(op_id)
                    if before is op:
                        continue
                    db.execute(
                        "INSERT INTO operations (arn, id, seq, body) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (arn, id) DO UPDATE SET body = excluded.body",
                        (arn, op_id, seq, json.dumps(wire.operation_to_dict(op))),
                    )
                    changes.append((execution, before, op))
                for index in range(saved.journal, len(execution.journal)):
                    request = execution.journal[index]
                    db.execute(
                        "INSERT OR REPLACE INTO journal (arn, seq, invocation, updates) "
                        "VALUES (?, ?, ?, ?)",
                        (
                            arn,
                            index,
                            request.invocation,
                            json.dumps([wire.update_to_dict(u) for u in request.updates]),
                        ),
                    )
                self._write_execution(db, execution, saved.exists, now)
                self._write_callbacks(db, execution)
                if execution.invocations != saved.invocations:
                    invoked.append(execution)
                snapshots.append(
                    (
                        arn,
                        _Saved(
                            operations=dict(execution.operations),
                            journal=len(execution.journal),
                            status=execution.status,
                            invocations=execution.invocations,
                            exists=True,
                        ),
                    )
                )
            self._write_meta(db)
        for arn, snapshot in snapshots:
            self._saved[arn] = snapshot
        if self.on_invocation is not None:
            for execution in invoked:
                self.on_invocation(execution)
        if self.on_operation is not None:
            for execution, before, after in changes:
                self.on_operation(execution, before, after)

    def _write_execution(
        self, db: sqlite3.Connection, execution: Execution, exists: bool, now: float
    ) -> None:
        state = {
            "unseen": sorted(execution.unseen),
            "updated_ids": execution.updated_ids,
            "timers_checked_at": execution.timers_checked_at,
            "last_invocation_error": _error_json(execution.last_invocation_error),
            "children": execution.children,
            "queued_invokes": [attrs.asdict(p) for p in execution.queued_invokes.values()],
        }
        values = (
            execution.status.value,
            execution.result,
            _error_json(execution.error),
            execution.invocations,
            execution.failed_invocations,
            execution.invalid_pending,
            execution.checkpoint_calls,
            execution.parent_arn,
            execution.parent_operation_id,
            json.dumps(state),
            now,
        )
        if exists:
            db.execute(
                "UPDATE executions SET status = ?, result = ?, error = ?, invocations = ?, "
                "failed_invocations = ?, invalid_pending = ?, checkpoint_calls = ?, "
                "parent_arn = ?, parent_operation_id = ?, state = ?, updated_at = ? "
                "WHERE arn = ?",
                (*values, execution.arn),
            )
            return
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM executions").fetchone()[0]
        db.execute(
            "INSERT INTO executions (status, result, error, invocations, failed_invocations, "
            "invalid_pending, checkpoint_calls, parent_arn, parent_operation_id, state, "
            "updated_at, arn, seq, name, workflow, workdir, input_payload, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *values,
                execution.arn,
                seq,
                execution.name,
                self.workflow,
                self.workdir,
                execution.input_payload,
                now,
            ),
        )

    def _write_callbacks(self, db: sqlite3.Connection, execution: Execution) -> None:
        arn = execution.arn
        for callback_id, (owner, op_id) in self._callbacks.items():
            if owner != arn:
                continue
            timer = execution.callbacks.get(op_id)
            db.execute(
                "INSERT OR REPLACE INTO callbacks (callback_id, arn, operation_id, timer) "
                "VALUES (?, ?, ?, ?)",
                (callback_id, arn, op_id, json.dumps(attrs.asdict(timer)) if timer else None),
            )

    def _write_meta(self, db: sqlite3.Connection) -> None:
        counters = (
            ("next_token", self._tokens.last + 1),
            ("next_callback", self._callback_numbers.last + 1),
        )
        for key, value in counters:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = MAX(CAST(meta.value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (key, str(value)),
            )
        if not isinstance(self.clock, WallClock):
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('virtual_now', ?)",
                (str(timestamp(self.clock.now())),),
            )

    # -- the state-changing calls of LocalService, each stored ------------------------

    def start_execution(
        self,
        input_payload: str | None,
        *,
        function_name: str = "workflow",
        execution_name: str | None = None,
    ) -> str:
        with self._lock:
            # Numbers come from the store, so processes sharing it never
            # mint the same execution id.
            self._ids = itertools.count(self.store.next_number("next_execution"))
            with self._mutation():
                arn = super().start_execution(
                    input_payload, function_name=function_name, execution_name=execution_name
                )
                self._touched.add(arn)
        return arn

    def begin_invocation(self, arn: str) -> InvocationInput:
        with self._mutation(arn):
            return super().begin_invocation(arn)

    def end_invocation(self, arn: str, output: InvocationOutput) -> None:
        with self._mutation(arn):
            super().end_invocation(arn, output)

    def fail_invocation(self, arn: str, error: BaseException) -> None:
        with self._mutation(arn):
            super().fail_invocation(arn, error)

    def fire_due(self, arn: str) -> list[str]:
        with self._mutation(arn):
            return super().fire_due(arn)

    def send_callback_success(self, callback_id: str, result: str | bytes = b"") -> None:
        with self._mutation(self._callbacks.get(callback_id, (None, None))[0]):
            super().send_callback_success(callback_id, result)

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        with self._mutation(self._callbacks.get(callback_id, (None, None))[0]):
            super().send_callback_failure(callback_id, error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        with self._mutation(self._callbacks.get(callback_id, (None, None))[0]):
            super().send_callback_heartbeat(callback_id)

    def complete_invoke(
        self,
        arn: str,
        op_id: str,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
        status: OperationStatus = OperationStatus.SUCCEEDED,
    ) -> None:
        with self._mutation(arn):
            super().complete_invoke(arn, op_id, result=result, error=error, status=status)

    def start_child_execution(self, arn: str, op_id: str) -> str:
        with self._mutation(arn):
            child = super().start_child_execution(arn, op_id)
            self._touched.add(child)
            return child

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        with self._mutation(execution_arn):
            return super().checkpoint(execution_arn, checkpoint_token, updates)
