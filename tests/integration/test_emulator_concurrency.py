"""Map and parallel on the emulator, side by side with the reference SDK.

Each scenario is written twice with the same logic and the same names: once
in durable's generator style (``yield ctx.map(...)``) and once in the
imperative style of the AWS SDK. The imperative version runs twice, under the
reference SDK and, with only the imports changed, under ``durable.compat``.
Each execution runs on its own emulator over HTTP (protocol.md §4.3-4.5,
§5.7-5.9). Then, against the reference's execution:

* the outcome (status, result, error) is the same;
* every operation receives the same updates, byte for byte (with unlimited
  concurrency the branches' records interleave differently across requests:
  only each operation's own sequence is compared);
* the final operation logs are the same apart from timestamps;
* the same invocations end with the same statuses;
* each SDK's final log replays in the *other* SDK (and the reference's in
  ``durable.compat``) with no body run and no call to the service.

Checkpoint calls are counted per execution and compared in a test of their
own (durable should make no more than the reference). Scenario-specific
tests pin what the protocol fixes exactly: the wire of a sequential map
(§5.8), the ids and parents of FLAT branches (§4.3, §4.5), the summary
envelope of an oversized BatchResult (§5.8.4) and what a branch that waits
while another one works sends (§5.9, Q16).

Timing: early-completion policies run with ``max_concurrency=1`` so that the
reference's outcome does not depend on its threads; the two scenarios with
a wait inside a branch, and the oversized one (which waits after the map to
make the emulator re-invoke), run on the emulator's real clock (1 s waits),
which has no timer quirk (emulator.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import types
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

import durable
import durable.compat
import durable.compat.config
import durable.compat.exceptions
import durable.compat.retries
from durable import (
    ChildContextError,
    CompletionConfig,
    CompletionOutcome,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    RetryPresets,
    StepConfig,
    complete_batch,
    continue_batch,
    durable_parallel_branch,
)
from durable.lambda_ import handle
from tests.integration.compare import (
    RefusingService,
    log_essence,
    outcome,
    replay_event,
    updates_by_operation,
)
from tests.integration.compare import replay_in_durable as durable_replay
from tests.integration.compare import replay_in_reference as reference_replay
from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import EmulatorHarness, ExecutionResult

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
pytest.importorskip("aws_durable_execution_sdk_python")

import aws_durable_execution_sdk_python as ref  # noqa: E402
from aws_durable_execution_sdk_python import config as ref_config  # noqa: E402
from aws_durable_execution_sdk_python import exceptions as ref_exceptions  # noqa: E402
from aws_durable_execution_sdk_python import retries as ref_retries  # noqa: E402

#: Every wait on the emulator is bounded by this many seconds.
TIMEOUT = 30.0

#: Checkpoint calls per scenario and SDK, for the report.
ROUND_TRIPS: dict[str, dict[str, int]] = {}


@attrs.frozen
class Sdk:
    """The AWS SDK's public names, from the reference or from ``durable.compat``."""

    label: str
    config: types.ModuleType
    retries: types.ModuleType
    exceptions: types.ModuleType
    durable_parallel_branch: Callable[..., Any]
    durable_execution: Callable[..., Any]


REFERENCE = Sdk(
    "reference",
    ref_config,
    ref_retries,
    ref_exceptions,
    ref.durable_parallel_branch,
    ref.durable_execution,
)
COMPAT = Sdk(
    "compat",
    durable.compat.config,
    durable.compat.retries,
    durable.compat.exceptions,
    durable.compat.durable_parallel_branch,
    durable.compat.durable_execution,
)


class Probe:
    """What the user code of one execution ran: step bodies, predicate calls, namer calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the reference runs branches on threads
        self.runs = 0
        self.snapshots: list[Any] = []
        self.named: list[Any] = []

    def count(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def counted(step_ctx: Any) -> Any:
            with self._lock:
                self.runs += 1
            return fn(step_ctx)

        return counted

    def see(self, status: Any) -> None:
        """Record a ``CompletionStatus`` as plain data."""
        items = [
            [i.index, i.name, None if i.status is None else i.status.value] for i in status.items
        ]
        snapshot = [
            status.success_count,
            status.failure_count,
            status.completed_count,
            status.total_count,
            items,
        ]
        with self._lock:
            self.snapshots.append(snapshot)

    def namer(self, item: Any, index: int) -> str:
        with self._lock:
            self.named.append([item, index])
        return f"{item}-at-{index}"


# -- shared, SDK-independent pieces ------------------------------------------------------


def summarize(batch: Any) -> dict[str, Any]:
    """A BatchResult of either SDK as plain data."""
    return {
        "all": [
            [
                item.index,
                item.status.value,
                item.result,
                None if item.error is None else [item.error.type, item.error.message],
            ]
            for item in batch.all
        ],
        "reason": batch.completion_reason.value,
        "status": batch.status.value,
        "counts": [
            batch.success_count,
            batch.failure_count,
            batch.started_count,
            batch.total_count,
        ],
    }


def describe(exc: Any) -> list[Any]:
    """What a caught ``ChildContextError`` carries, comparable across SDKs."""
    cause = exc.__cause__
    return [
        type(exc).__name__,
        exc.message,
        exc.error_type,
        exc.data,
        None if cause is None else type(cause).__name__,
    ]


def times(n: int, value: int) -> Callable[[Any], int]:
    return lambda _: value * n


def check(value: int) -> int:
    """A branch's own validation, outside any step."""
    if value == 2 or value < 0:
        raise ValueError(f"item {value} is not acceptable")
    return value


def refuse(_: Any) -> None:
    raise KeyError("the step refuses")


def slow(value: int, seconds: float) -> Callable[[Any], int]:
    def body(_: Any) -> int:
        time.sleep(seconds)
        return value

    return body


PAUSE = 1  # seconds a waiting branch waits (real time)
WORK = 0.7  # seconds each of the working branch's two steps takes: 2 x 0.7 > PAUSE

BIG_ITEMS = 100
BIG_LENGTH = 3000  # 100 results of ~3 KB: the BatchResult is over 256 KiB


def big(index: int) -> Callable[[Any], str]:
    return lambda _: f"{index:03d}" + "x" * BIG_LENGTH


def big_summary(batch: Any) -> str:
    return f"{batch.success_count} big items"


def fold_big(batch: Any) -> list[Any]:
    results = batch.get_results()
    return [
        len(results),
        sum(len(r) for r in results),
        [r[:3] for r in results[:3]],
        batch.completion_reason.value,
        batch.status.value,
    ]


# -- the scenarios ----------------------------------------------------------------------


@attrs.frozen
class Scenario:
    name: str
    #: (probe) -> durable workflow (event, Context), generator style
    durable_fn: Callable[[Probe], Callable[..., Any]]
    #: (sdk, probe) -> imperative handler (event, DurableContext)
    imperative_fn: Callable[[Sdk, Probe], Callable[..., Any]]
    input: Any = None
    harness_options: Mapping[str, Any] = attrs.field(factory=dict)
    #: Whether branches overlap in time. If not, the global order of the
    #: updates and of the final log is fixed too, and is compared.
    concurrent: bool = False
    #: The execution's result, as protocol.md has it.
    expected: Any = None
    #: Extra checkpoint calls durable may make, and why (see the count test).
    extra_calls: tuple[int, str] = (0, "")


# 1. map, one item at a time, one step per item (protocol.md §5.8 example)


def _sequential_durable(p: Probe) -> Callable[..., Any]:
    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        return (yield c.step(p.count(times(10, x)), name="times10"))

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(max_concurrency=1)
        return summarize((yield ctx.map([1, 2], item, name="m", config=config)))

    return wf


def _sequential_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        return c.step(p.count(times(10, x)), name="times10")

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(max_concurrency=1)
        return summarize(ctx.map([1, 2], item, name="m", config=config))

    return handler


# 2. map with failures, every item runs (all_completed), unlimited concurrency


def _all_completed_durable(p: Probe) -> Callable[..., Any]:
    no_retry = StepConfig(retry_strategy=RetryPresets.none())

    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        if x == 3:
            yield c.step(p.count(refuse), name="refuse", config=no_retry)
        v = yield c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(completion_config=CompletionConfig.all_completed())
        return summarize((yield ctx.map([1, 2, 3, 4], item, name="m", config=config)))

    return wf


def _all_completed_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    no_retry = sdk.config.StepConfig(retry_strategy=sdk.retries.RetryPresets.none())

    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        if x == 3:
            c.step(p.count(refuse), name="refuse", config=no_retry)
        v = c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(completion_config=sdk.config.CompletionConfig.all_completed())
        return summarize(ctx.map([1, 2, 3, 4], item, name="m", config=config))

    return handler


# 3. map, no failure tolerated, one at a time: items after the failure never start


def _fail_fast_durable(p: Probe) -> Callable[..., Any]:
    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        v = yield c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0)
        )
        return summarize((yield ctx.map([1, 2, 3, 4], item, name="m", config=config)))

    return wf


def _fail_fast_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        v = c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(
            max_concurrency=1,
            completion_config=sdk.config.CompletionConfig(tolerated_failure_count=0),
        )
        return summarize(ctx.map([1, 2, 3, 4], item, name="m", config=config))

    return handler


# 4. parallel stopping at enough successes, one branch at a time


def _quorum_durable(completion: Callable[[], CompletionConfig]) -> Callable[[Probe], Any]:
    def make(p: Probe) -> Callable[..., Any]:
        def down(c: durable.Context) -> Any:
            yield c.step(p.count(times(1, 0)), name="probe")
            raise RuntimeError("replica down")

        def replica(value: int) -> Callable[[durable.Context], Any]:
            def branch(c: durable.Context) -> Any:
                return (yield c.step(p.count(times(1, value)), name="read"))

            return branch

        def wf(event: Any, ctx: durable.Context) -> Any:
            branches = [down, replica(1), replica(2), replica(3)]
            config = ParallelConfig(max_concurrency=1, completion_config=completion())
            return summarize((yield ctx.parallel(branches, name="quorum", config=config)))

        return wf

    return make


def _quorum_imperative(
    completion: Callable[[Sdk], Any],
) -> Callable[[Sdk, Probe], Any]:
    def make(sdk: Sdk, p: Probe) -> Callable[..., Any]:
        def down(c: Any) -> Any:
            c.step(p.count(times(1, 0)), name="probe")
            raise RuntimeError("replica down")

        def replica(value: int) -> Callable[[Any], Any]:
            def branch(c: Any) -> Any:
                return c.step(p.count(times(1, value)), name="read")

            return branch

        def handler(event: Any, ctx: Any) -> Any:
            branches = [down, replica(1), replica(2), replica(3)]
            config = sdk.config.ParallelConfig(max_concurrency=1, completion_config=completion(sdk))
            return summarize(ctx.parallel(branches, name="quorum", config=config))

        return handler

    return make


# 5. parallel, default policy (all successful), named branches, throw_if_error


def _named_durable(p: Probe) -> Callable[..., Any]:
    def plain(c: durable.Context) -> Any:
        return (yield c.step(p.count(times(1, 1)), name="one"))

    def fetch(c: durable.Context) -> Any:
        return (yield c.step(p.count(times(1, 2)), name="two"))

    @durable_parallel_branch(name="explode")
    def explode(c: durable.Context, why: str) -> Any:
        yield c.step(p.count(times(1, 3)), name="three")
        raise ValueError(f"exploded: {why}")

    def never(c: durable.Context) -> Any:
        return (yield c.step(p.count(times(1, 4)), name="four"))

    def wf(event: Any, ctx: durable.Context) -> Any:
        branches = [plain, ParallelBranch(func=fetch, name="fetch"), explode("boom"), never]
        batch = yield ctx.parallel(branches, name="p", config=ParallelConfig(max_concurrency=1))
        try:
            batch.throw_if_error()
        except ChildContextError as exc:
            return [summarize(batch), describe(exc)]
        return [summarize(batch), None]

    return wf


def _named_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def plain(c: Any) -> Any:
        return c.step(p.count(times(1, 1)), name="one")

    def fetch(c: Any) -> Any:
        return c.step(p.count(times(1, 2)), name="two")

    @sdk.durable_parallel_branch(name="explode")
    def explode(c: Any, why: str) -> Any:
        c.step(p.count(times(1, 3)), name="three")
        raise ValueError(f"exploded: {why}")

    def never(c: Any) -> Any:
        return c.step(p.count(times(1, 4)), name="four")

    def handler(event: Any, ctx: Any) -> Any:
        branches = [
            plain,
            sdk.config.ParallelBranch(func=fetch, name="fetch"),
            explode("boom"),
            never,
        ]
        config = sdk.config.ParallelConfig(max_concurrency=1)
        batch = ctx.parallel(branches, name="p", config=config)
        try:
            batch.throw_if_error()
        except sdk.exceptions.ChildContextError as exc:
            return [summarize(batch), describe(exc)]
        return [summarize(batch), None]

    return handler


# 6. a custom completion predicate that fails the batch


def _custom_durable(p: Probe) -> Callable[..., Any]:
    def should_complete(status: Any) -> Any:
        p.see(status)
        if status.failure_count >= 2:
            return complete_batch(CompletionOutcome.FAILED)
        return continue_batch()

    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        v = yield c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(
            max_concurrency=1,
            completion_config=CompletionConfig(should_complete=should_complete),
        )
        return summarize((yield ctx.map([1, -1, 3, -2, 5, 6], item, name="m", config=config)))

    return wf


def _custom_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def should_complete(status: Any) -> Any:
        p.see(status)
        if status.failure_count >= 2:
            return sdk.config.complete_batch(sdk.config.CompletionOutcome.FAILED)
        return sdk.config.continue_batch()

    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        v = c.step(p.count(times(10, x)), name="times10")
        return check(x) + v

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(
            max_concurrency=1,
            completion_config=sdk.config.CompletionConfig(should_complete=should_complete),
        )
        return summarize(ctx.map([1, -1, 3, -2, 5, 6], item, name="m", config=config))

    return handler


# 7. FLAT nesting: no branch contexts; a failing item too


def _flat_durable(p: Probe) -> Callable[..., Any]:
    no_retry = StepConfig(retry_strategy=RetryPresets.none())

    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        v = yield c.step(p.count(times(10, x)), name="times10")
        if x == 2:
            yield c.step(p.count(refuse), name="refuse", config=no_retry)
        return v

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(
            nesting_type=NestingType.FLAT, completion_config=CompletionConfig.all_completed()
        )
        return summarize((yield ctx.map([1, 2, 3], item, name="m", config=config)))

    return wf


def _flat_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    no_retry = sdk.config.StepConfig(retry_strategy=sdk.retries.RetryPresets.none())

    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        v = c.step(p.count(times(10, x)), name="times10")
        if x == 2:
            c.step(p.count(refuse), name="refuse", config=no_retry)
        return v

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(
            nesting_type=sdk.config.NestingType.FLAT,
            completion_config=sdk.config.CompletionConfig.all_completed(),
        )
        return summarize(ctx.map([1, 2, 3], item, name="m", config=config))

    return handler


# 8. item_namer


def _namer_durable(p: Probe) -> Callable[..., Any]:
    def item(c: durable.Context, x: str, i: int, xs: list[str]) -> Any:
        return (yield c.step(p.count(lambda _: x.upper()), name="upper"))

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(item_namer=p.namer)
        return summarize((yield ctx.map(["alpha", "beta"], item, name="m", config=config)))

    return wf


def _namer_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def item(c: Any, x: str, i: int, xs: list[str]) -> Any:
        return c.step(p.count(lambda _: x.upper()), name="upper")

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(item_namer=p.namer)
        return summarize(ctx.map(["alpha", "beta"], item, name="m", config=config))

    return handler


# 9. a branch that waits while (or after) another one works; real time


def _waiting_durable(work: float) -> Callable[[Probe], Any]:
    def make(p: Probe) -> Callable[..., Any]:
        def waiter(c: durable.Context) -> Any:
            yield c.wait(PAUSE, name="pause")
            return (yield c.step(p.count(lambda _: "woke"), name="after-pause"))

        def worker(c: durable.Context) -> Any:
            a = yield c.step(p.count(slow(1, work)), name="work-1")
            b = yield c.step(p.count(slow(2, work)), name="work-2")
            return a + b

        def wf(event: Any, ctx: durable.Context) -> Any:
            return summarize((yield ctx.parallel([waiter, worker], name="p")))

        return wf

    return make


def _waiting_imperative(work: float) -> Callable[[Sdk, Probe], Any]:
    def make(sdk: Sdk, p: Probe) -> Callable[..., Any]:
        def waiter(c: Any) -> Any:
            c.wait(sdk.config.Duration.from_seconds(PAUSE), name="pause")
            return c.step(p.count(lambda _: "woke"), name="after-pause")

        def worker(c: Any) -> Any:
            a = c.step(p.count(slow(1, work)), name="work-1")
            b = c.step(p.count(slow(2, work)), name="work-2")
            return a + b

        def handler(event: Any, ctx: Any) -> Any:
            return summarize(ctx.parallel([waiter, worker], name="p"))

        return handler

    return make


# 10. a map inside a parallel inside a child context


def _nested_durable(p: Probe) -> Callable[..., Any]:
    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        return (yield c.step(p.count(times(10, x)), name="times10"))

    def mapper(c: durable.Context) -> Any:
        return summarize((yield c.map([1, 2], item, name="m")))

    def solo(c: durable.Context) -> Any:
        return (yield c.step(p.count(lambda _: "solo"), name="solo"))

    def outer(c: durable.Context) -> Any:
        batch = yield c.parallel([mapper, solo], name="p")
        return [summarize(batch), (yield c.step(p.count(lambda _: "after"), name="after"))]

    def wf(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.run_in_child_context(outer, name="outer"))

    return wf


def _nested_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        return c.step(p.count(times(10, x)), name="times10")

    def mapper(c: Any) -> Any:
        return summarize(c.map([1, 2], item, name="m"))

    def solo(c: Any) -> Any:
        return c.step(p.count(lambda _: "solo"), name="solo")

    def outer(c: Any) -> Any:
        batch = c.parallel([mapper, solo], name="p")
        return [summarize(batch), c.step(p.count(lambda _: "after"), name="after")]

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(outer, name="outer")

    return handler


# 11. a BatchResult over 256 KiB; a wait after the map makes the emulator re-invoke


def _oversized_durable(p: Probe) -> Callable[..., Any]:
    def item(c: durable.Context, x: int, i: int, xs: list[int]) -> Any:
        return (yield c.step(p.count(big(x)), name="big"))

    def wf(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(max_concurrency=1, summary_generator=big_summary)
        batch = yield ctx.map(list(range(BIG_ITEMS)), item, name="m", config=config)
        yield ctx.wait(1, name="breathe")
        return fold_big(batch)

    return wf


def _oversized_imperative(sdk: Sdk, p: Probe) -> Callable[..., Any]:
    def item(c: Any, x: int, i: int, xs: list[int]) -> Any:
        return c.step(p.count(big(x)), name="big")

    def handler(event: Any, ctx: Any) -> Any:
        config = sdk.config.MapConfig(max_concurrency=1, summary_generator=big_summary)
        batch = ctx.map(list(range(BIG_ITEMS)), item, name="m", config=config)
        ctx.wait(sdk.config.Duration.from_seconds(1), name="breathe")
        return fold_big(batch)

    return handler


REAL_TIME = {"skip_time": False}
STEP_ERROR = "aws_durable_execution_sdk_python.exceptions.StepError"


def expect(items: list[list[Any]], reason: str) -> dict[str, Any]:
    """What :func:`summarize` gives for ``items`` and ``reason`` (protocol.md §5.8.4)."""
    succeeded = sum(1 for i in items if i[1] == "SUCCEEDED")
    failed = sum(1 for i in items if i[1] == "FAILED")
    started = sum(1 for i in items if i[1] == "STARTED")
    if reason == "CUSTOM_COMPLETION_FAILED":
        status = "FAILED"
    elif reason == "CUSTOM_COMPLETION_SUCCEEDED":
        status = "SUCCEEDED"
    else:
        status = "FAILED" if failed else "SUCCEEDED"
    return {
        "all": items,
        "reason": reason,
        "status": status,
        "counts": [succeeded, failed, started, len(items)],
    }


def ok(index: int, result: Any) -> list[Any]:
    return [index, "SUCCEEDED", result, None]


def failed(index: int, error_type: str, message: str) -> list[Any]:
    return [index, "FAILED", None, [error_type, message]]


SCENARIOS = [
    Scenario(
        "map-sequential",
        _sequential_durable,
        _sequential_imperative,
        expected=expect([ok(0, 10), ok(1, 20)], "ALL_COMPLETED"),
    ),
    Scenario(
        "map-all-completed",
        _all_completed_durable,
        _all_completed_imperative,
        concurrent=True,
        expected=expect(
            [
                ok(0, 11),
                failed(1, "ValueError", "item 2 is not acceptable"),
                failed(2, STEP_ERROR, "'the step refuses'"),
                ok(3, 44),
            ],
            "ALL_COMPLETED",
        ),
    ),
    Scenario(
        "map-fail-fast",
        _fail_fast_durable,
        _fail_fast_imperative,
        expected=expect(
            [ok(0, 11), failed(1, "ValueError", "item 2 is not acceptable")],
            "FAILURE_TOLERANCE_EXCEEDED",
        ),
    ),
    Scenario(
        "parallel-first-successful",
        _quorum_durable(CompletionConfig.first_successful),
        _quorum_imperative(lambda sdk: sdk.config.CompletionConfig.first_successful()),
        expected=expect(
            [failed(0, "RuntimeError", "replica down"), ok(1, 1)], "MIN_SUCCESSFUL_REACHED"
        ),
    ),
    Scenario(
        "parallel-min-successful",
        _quorum_durable(lambda: CompletionConfig(min_successful=2)),
        _quorum_imperative(lambda sdk: sdk.config.CompletionConfig(min_successful=2)),
        expected=expect(
            [failed(0, "RuntimeError", "replica down"), ok(1, 1), ok(2, 2)],
            "MIN_SUCCESSFUL_REACHED",
        ),
    ),
    Scenario(
        "parallel-named-failing",
        _named_durable,
        _named_imperative,
        expected=[
            expect(
                [ok(0, 1), ok(1, 2), failed(2, "ValueError", "exploded: boom")],
                "FAILURE_TOLERANCE_EXCEEDED",
            ),
            ["ChildContextError", "exploded: boom", "ValueError", None, "DurableOperationError"],
        ],
    ),
    Scenario(
        "map-custom-completion",
        _custom_durable,
        _custom_imperative,
        expected=expect(
            [
                ok(0, 11),
                failed(1, "ValueError", "item -1 is not acceptable"),
                ok(2, 33),
                failed(3, "ValueError", "item -2 is not acceptable"),
            ],
            "CUSTOM_COMPLETION_FAILED",
        ),
    ),
    Scenario(
        "map-flat",
        _flat_durable,
        _flat_imperative,
        concurrent=True,
        expected=expect(
            [ok(0, 10), failed(1, STEP_ERROR, "'the step refuses'"), ok(2, 30)],
            "ALL_COMPLETED",
        ),
    ),
    Scenario(
        "map-item-namer",
        _namer_durable,
        _namer_imperative,
        concurrent=True,
        expected=expect([ok(0, "ALPHA"), ok(1, "BETA")], "ALL_COMPLETED"),
    ),
    Scenario(
        "parallel-wait-while-working",
        _waiting_durable(WORK),
        _waiting_imperative(WORK),
        harness_options=REAL_TIME,
        concurrent=True,
        expected=expect([ok(0, "woke"), ok(1, 3)], "ALL_COMPLETED"),
        extra_calls=(
            1,
            "durable sends the wait's START before the other branch's step body runs, so "
            "the timer starts when the branch asks; the reference's background batcher "
            "sometimes holds it until that body's SUCCEED (6 calls), sometimes not (7)",
        ),
    ),
    Scenario(
        "parallel-wait-alone",
        _waiting_durable(0.0),
        _waiting_imperative(0.0),
        harness_options=REAL_TIME,
        concurrent=True,
        expected=expect([ok(0, "woke"), ok(1, 3)], "ALL_COMPLETED"),
        extra_calls=(
            1,
            "durable sends the wait's START before the other branch's step body runs, so "
            "the timer starts when the branch asks; the reference's background batcher "
            "sometimes holds it until that body's SUCCEED (6 calls), sometimes not (7)",
        ),
    ),
    Scenario(
        "nested-map-in-parallel-in-child",
        _nested_durable,
        _nested_imperative,
        concurrent=True,
        expected=[
            expect(
                [ok(0, expect([ok(0, 10), ok(1, 20)], "ALL_COMPLETED")), ok(1, "solo")],
                "ALL_COMPLETED",
            ),
            "after",
        ],
    ),
    Scenario(
        "map-oversized-result",
        _oversized_durable,
        _oversized_imperative,
        harness_options=REAL_TIME,
        expected=[
            BIG_ITEMS,
            BIG_ITEMS * (BIG_LENGTH + 3),
            ["000", "001", "002"],
            "ALL_COMPLETED",
            "SUCCEEDED",
        ],
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}

# -- running and comparing ---------------------------------------------------------------


@attrs.frozen
class Run:
    harness: EmulatorHarness
    result: ExecutionResult
    probe: Probe

    @property
    def arn(self) -> str:
        return self.result.arn


#: {(scenario, "durable" | "compat" | "reference"): Run}. The other tests reuse the
#: side-by-side test's runs (the recorder outlives the emulator); run alone, they
#: make their own.
RUNS: dict[tuple[str, str], Run] = {}


def _handler(scenario: Scenario, flavour: str, harness: EmulatorHarness, probe: Probe) -> Any:
    if flavour == "durable":
        return durable.workflow(boto3_client=harness.client)(scenario.durable_fn(probe))
    sdk = COMPAT if flavour == "compat" else REFERENCE
    return sdk.durable_execution(scenario.imperative_fn(sdk, probe), boto3_client=harness.client)


def run(factory: EmulatorFactory, scenario: Scenario, flavour: str) -> Run:
    """Run ``scenario`` written for ``flavour`` on an emulator of its own."""
    harness = factory(**scenario.harness_options)
    probe = Probe()
    harness.register(scenario.name, _handler(scenario, flavour, harness, probe))
    result = harness.run(scenario.name, scenario.input, timeout=TIMEOUT)
    RUNS[scenario.name, flavour] = Run(harness, result, probe)
    return RUNS[scenario.name, flavour]


def cached(factory: EmulatorFactory, scenario: Scenario, flavour: str) -> Run:
    return RUNS.get((scenario.name, flavour)) or run(factory, scenario, flavour)


def updates(r: Run) -> dict[str, list[dict[str, Any]]]:
    return updates_by_operation(r.harness, r.arn)


def all_updates(r: Run) -> list[dict[str, Any]]:
    """Every update of the execution, in order, request boundaries ignored."""
    return [u for request in r.harness.checkpoint_updates(r.arn) for u in request]


def log_by_id(r: Run) -> dict[str, Any]:
    """The final log without timestamps, keyed by operation id (order ignored)."""
    return {op.get("Id", "EXECUTION"): op for op in log_essence(r.result.final_operations())}


def statuses(r: Run) -> list[str]:
    return [o["Status"] for o in r.harness.outputs(r.arn)]


def wire(r: Run) -> str:
    """What ``r`` sent and got back, one line per call, for failure messages."""
    names: dict[str, Any] = {}
    lines = []
    for call in r.harness.checkpoint_calls(r.arn):
        names.update({u["Id"]: u.get("Name") for u in call.updates})
        sent = [(u["Action"], u.get("Name")) for u in call.updates]
        got = [(names.get(o["Id"]), o["Status"]) for o in call.returned_operations]
        lines.append(f"invocation {call.invocation}: {sent} -> {got}")
    return "\n".join(lines)


def calls(r: Run) -> int:
    return r.harness.checkpoint_count(r.arn)


def _same_outcome(output: dict[str, Any], result: ExecutionResult) -> None:
    assert output["Status"] == result.status
    if output["Status"] == "SUCCEEDED":
        assert json.loads(output["Result"]) == result.result
    else:
        assert output["Error"] == result.error


def operation_id(prefix: str | None, n: int) -> str:
    """protocol.md §4.1 / §4.3."""
    text = str(n) if not prefix else f"{prefix}-{n}"
    return hashlib.blake2b(text.encode()).hexdigest()[:64]


def by_name(operations: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [op for op in operations if op.get("Name") == name]


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_durable_matches_the_reference_on_the_emulator(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """Same outcome, same per-operation updates, same final log, same invocations."""
    # The three executions run at the same time, each on its own emulator.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix=scenario.name) as pool:
        mine_running = pool.submit(run, emulator_factory, scenario, "durable")
        compat_running = pool.submit(run, emulator_factory, scenario, "compat")
        theirs = run(emulator_factory, scenario, "reference")
        mine = mine_running.result(timeout=2 * TIMEOUT)
        compat = compat_running.result(timeout=2 * TIMEOUT)
    ROUND_TRIPS[scenario.name] = {
        "durable": calls(mine),
        "compat": calls(compat),
        "reference": calls(theirs),
    }

    assert (theirs.result.status, theirs.result.result) == ("SUCCEEDED", scenario.expected)
    for other in (mine, compat):
        assert outcome(other.result) == outcome(theirs.result)
        assert updates(other) == updates(theirs)
        assert log_by_id(other) == log_by_id(theirs)
        if not scenario.concurrent:
            assert all_updates(other) == all_updates(theirs)
            assert log_essence(other.result.final_operations()) == log_essence(
                theirs.result.final_operations()
            )
        assert statuses(other) == statuses(theirs), wire(other)
        assert other.probe.runs == theirs.probe.runs
        assert other.probe.snapshots == theirs.probe.snapshots
        assert other.probe.named == theirs.probe.named


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_durable_makes_no_more_checkpoint_calls_than_the_reference(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    mine = calls(cached(emulator_factory, scenario, "durable"))
    compat = calls(cached(emulator_factory, scenario, "compat"))
    theirs = calls(cached(emulator_factory, scenario, "reference"))
    ROUND_TRIPS[scenario.name] = {"durable": mine, "compat": compat, "reference": theirs}
    allowance, why = scenario.extra_calls
    assert mine <= theirs + allowance, why
    assert compat <= theirs + allowance, why


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_the_reference_replays_in_durable(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """The reference's final log replays in durable, both styles: same outcome, no user code,
    no call to the service."""
    theirs = cached(emulator_factory, scenario, "reference")
    probe = Probe()
    _same_outcome(durable_replay(scenario.durable_fn(probe), theirs.result), theirs.result)
    handler = COMPAT.durable_execution(scenario.imperative_fn(COMPAT, probe))
    output = handle(handler, replay_event(theirs.result), None, service=RefusingService())
    _same_outcome(output, theirs.result)
    assert probe.runs == 0
    assert probe.snapshots == []
    assert probe.named == []  # neither SDK names the items of a finished map again


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_durable_replays_in_the_reference(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """durable's final log replays in the reference SDK: same outcome, no user code, no call."""
    mine = cached(emulator_factory, scenario, "durable")
    probe = Probe()
    handler = scenario.imperative_fn(REFERENCE, probe)
    _same_outcome(reference_replay(handler, mine.result, scenario.name), mine.result)
    assert probe.runs == 0
    assert probe.snapshots == []
    assert probe.named == []  # neither SDK names the items of a finished map again


# -- what the protocol fixes exactly ---------------------------------------------------------

MAP_ID = operation_id(None, 1)
MAP_NAME = {"Name": "m", "SubType": "Map"}
BR_10_20 = (
    '{"t":"br","v":{"all":{"t":"l","v":['
    '{"t":"m","v":{"index":{"t":"i","v":0},"status":{"t":"s","v":"SUCCEEDED"},'
    '"result":{"t":"i","v":10},"error":{"t":"n","v":null}}},'
    '{"t":"m","v":{"index":{"t":"i","v":1},"status":{"t":"s","v":"SUCCEEDED"},'
    '"result":{"t":"i","v":20},"error":{"t":"n","v":null}}}]},'
    '"completionReason":{"t":"s","v":"ALL_COMPLETED"}}}'
)


def _sequential_wire() -> list[list[dict[str, Any]]]:
    """protocol.md §5.8: the requests of ``map([1, 2], f, name="m", max_concurrency=1)``."""
    requests: list[list[dict[str, Any]]] = []
    for index, value in enumerate(["10", "20"]):
        item = operation_id(MAP_ID, index)
        step = operation_id(item, 1)
        start = {"Type": "CONTEXT", "Action": "START", "Id": item, "ParentId": MAP_ID}
        start |= {"Name": f"map-item-{index}", "SubType": "MapIteration"}
        step_start = {"Type": "STEP", "Action": "START", "Id": step, "ParentId": item}
        step_start |= {"Name": "times10", "SubType": "Step"}
        first = [start, step_start, {**step_start, "Action": "SUCCEED", "Payload": value}]
        if index == 0:
            first.insert(0, {"Type": "CONTEXT", "Action": "START", "Id": MAP_ID} | MAP_NAME)
        done = {**start, "Action": "SUCCEED", "Payload": value}
        requests += [first, [done | {"ContextOptions": {"ReplayChildren": False}}]]
    parent = {"Type": "CONTEXT", "Action": "SUCCEED", "Id": MAP_ID, "Payload": BR_10_20}
    parent |= MAP_NAME | {"ContextOptions": {"ReplayChildren": False}}
    return [*requests, [parent]]


def test_a_sequential_map_sends_the_protocol_example_exactly(
    emulator_factory: EmulatorFactory,
) -> None:
    """protocol.md §5.8: same requests, same ids, byte-identical ``br`` payload, both SDKs."""
    scenario = BY_NAME["map-sequential"]
    expected = _sequential_wire()
    for flavour in ("durable", "compat", "reference"):
        r = cached(emulator_factory, scenario, flavour)
        assert r.harness.checkpoint_updates(r.arn) == expected, flavour


def test_flat_branches_write_no_context_and_report_the_map_as_parent(
    emulator_factory: EmulatorFactory,
) -> None:
    """protocol.md §4.3 / §4.5: FLAT keeps the branch prefix for ids, skips it for ParentId."""
    scenario = BY_NAME["map-flat"]
    for flavour in ("durable", "reference"):
        log = cached(emulator_factory, scenario, flavour).result.final_operations()
        assert [op.get("SubType") for op in log if op["Type"] == "CONTEXT"] == ["Map"], flavour
        steps = {op["Id"]: op for op in log if op["Type"] == "STEP"}
        branch = [operation_id(MAP_ID, i) for i in range(3)]
        assert sorted(steps) == sorted(
            [operation_id(b, 1) for b in branch] + [operation_id(branch[1], 2)]
        )
        assert {op["ParentId"] for op in steps.values()} == {MAP_ID}
        assert steps[operation_id(branch[1], 2)]["Status"] == "FAILED"


def test_an_oversized_batch_result_is_stored_as_a_summary_and_rebuilt(
    emulator_factory: EmulatorFactory,
) -> None:
    """protocol.md §5.8.4 / §5.8.5: above 256 KiB the map SUCCEEDs with ReplayChildren and the
    summary envelope; the next invocation gets the children and rebuilds the result."""
    scenario = BY_NAME["map-oversized-result"]
    envelope = json.dumps(
        {
            "type": "MapResult",
            "totalCount": BIG_ITEMS,
            "completionReason": "ALL_COMPLETED",
            "startedIndexes": [],
            "startedCount": 0,
            "successCount": BIG_ITEMS,
            "failureCount": 0,
            "status": "SUCCEEDED",
            "summary": f"{BIG_ITEMS} big items",
        }
    )
    for flavour in ("durable", "compat", "reference"):
        r = cached(emulator_factory, scenario, flavour)
        assert statuses(r) == ["PENDING", "SUCCEEDED"], flavour
        parent = updates(r)[MAP_ID]
        assert [u["Action"] for u in parent] == ["START", "SUCCEED"]  # rebuilt, not rewritten
        assert parent[1]["Payload"] == envelope
        assert parent[1]["ContextOptions"] == {"ReplayChildren": True}
        # The re-invocation was handed every branch context, because of ReplayChildren.
        seen = r.result.final_operations()
        branches = [op for op in seen if op.get("SubType") == "MapIteration"]
        assert len(branches) == BIG_ITEMS
        assert {op["Status"] for op in branches} == {"SUCCEEDED"}
        assert r.result.result == scenario.expected


def _refreshes(r: Run) -> list[Any]:
    """The empty checkpoints of ``r`` and the operations the emulator answered with."""
    names = {}
    for call in r.harness.checkpoint_calls(r.arn):
        names.update({u["Id"]: u.get("Name") for u in call.updates})
    return [
        [call.invocation, [(names.get(o["Id"]), o["Status"]) for o in call.returned_operations]]
        for call in r.harness.checkpoint_calls(r.arn)
        if not call.updates
    ]


def _wait_completed_in(r: Run) -> list[int]:
    """The checkpoint calls (indexes) whose answer showed the wait ``pause`` SUCCEEDED."""
    pause = operation_id(operation_id(MAP_ID, 0), 1)  # the parallel's id is MAP_ID's
    return [
        index
        for index, call in enumerate(r.harness.checkpoint_calls(r.arn))
        if any(o["Id"] == pause and o["Status"] == "SUCCEEDED" for o in call.returned_operations)
    ]


def test_a_branch_waiting_while_another_works_resumes_in_process(
    emulator_factory: EmulatorFactory,
) -> None:
    """protocol.md §5.9 / Q16 on the emulator: the reference sends one empty checkpoint at the
    wait's end and the emulator answers it with the wait SUCCEEDED; durable does not sleep,
    and learns the same from the answer to the next checkpoint it sends anyway. Neither
    invocation ends before the execution does."""
    scenario = BY_NAME["parallel-wait-while-working"]
    theirs = cached(emulator_factory, scenario, "reference")
    mine = cached(emulator_factory, scenario, "durable")
    print(
        f"\nrefresh checkpoints [invocation, answer]: reference {_refreshes(theirs)}, "
        f"durable {_refreshes(mine)}; wait seen SUCCEEDED in the answer to call #: "
        f"reference {_wait_completed_in(theirs)}, durable {_wait_completed_in(mine)}"
    )
    assert statuses(theirs) == statuses(mine) == ["SUCCEEDED"]
    assert _refreshes(theirs) == [[0, [("pause", "SUCCEEDED")]]]
    assert len(_refreshes(mine)) <= len(_refreshes(theirs))
    assert len(_wait_completed_in(mine)) == 1


def test_a_branch_left_waiting_alone_suspends_the_invocation(
    emulator_factory: EmulatorFactory,
) -> None:
    """protocol.md §5.9: once no branch runs, both SDKs return PENDING, no refresh is sent,
    and the re-invocation's state shows the wait done."""
    scenario = BY_NAME["parallel-wait-alone"]
    for flavour in ("durable", "reference"):
        r = cached(emulator_factory, scenario, flavour)
        assert statuses(r) == ["PENDING", "SUCCEEDED"], flavour
        assert _refreshes(r) == [], flavour
        pause = operation_id(operation_id(MAP_ID, 0), 1)  # the parallel's id is MAP_ID's
        reinvoked = {op["Id"]: op for op in r.harness.invocations(r.arn)[1].initial_operations}
        assert reinvoked[pause]["Status"] == "SUCCEEDED", flavour


def test_round_trip_report() -> None:
    """Print each SDK's checkpoint calls per scenario (run with -s)."""
    if not ROUND_TRIPS:
        pytest.skip("the side-by-side tests did not run in this session")
    lines = [
        f"{name:32} durable {c['durable']:4}  compat {c['compat']:4}  reference {c['reference']:4}"
        for name, c in ROUND_TRIPS.items()
    ]
    print("\ncheckpoint calls per execution\n" + "\n".join(lines))
