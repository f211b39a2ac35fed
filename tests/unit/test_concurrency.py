"""Map and parallel through the runtime and the local runner: the thread pool,
in-process resumption, the imperative API and the AWS names."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import durable
from durable import (
    BatchItemStatus,
    CompletionConfig,
    DurableContext,
    Duration,
    MapConfig,
    ParallelConfig,
    durable_execution,
    durable_parallel_branch,
)
from durable.errors import RetryableSerDesError
from durable.testing import LocalRunner


def journal(runner: LocalRunner, arn: str) -> list[list[tuple[str, str | None, str]]]:
    execution = runner.service.execution(arn)
    return [[(u.id, u.name, u.action.value) for u in r.updates] for r in execution.journal]


def sleepy_map(delays: list[float]) -> Any:
    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        def item(c: durable.Context, delay: float, i: int, items: Any) -> Any:
            def body(_: Any) -> int:
                time.sleep(delay)
                return i

            first = yield c.step(body, name="first")
            second = yield c.step(lambda _: first * 2, name="second")
            if i % 3 == 2:
                raise ValueError(f"item {i}")
            return second

        batch = yield ctx.map(
            delays,
            item,
            name="m",
            config=MapConfig(max_concurrency=4, completion_config=CompletionConfig.all_completed()),
        )
        return batch.to_dict()

    return wf


class TestThreadPool:
    def test_the_log_is_the_same_for_any_pool_size(self) -> None:
        """Bodies finish in a different order on every pool size; the
        interpreter sees them in the order it asked, so the requests match."""
        delays = [0.004, 0.0, 0.002, 0.003, 0.0, 0.001, 0.004, 0.0]
        seen = []
        for workers in (1, 2, 8):
            runner = LocalRunner(sleepy_map(delays), max_workers=workers)
            result = runner.run({})
            assert result.succeeded
            seen.append((result.result, journal(runner, result.arn)))
        assert seen[0] == seen[1] == seen[2]

    def test_bodies_of_concurrent_branches_run_at_the_same_time(self) -> None:
        """Four bodies meet at a barrier: only possible if they run together."""
        barrier = threading.Barrier(4, timeout=10)

        @durable.workflow
        def wf(event: Any, ctx: durable.Context) -> Any:
            def item(c: durable.Context, x: int, i: int, items: Any) -> Any:
                return (yield c.step(lambda _: barrier.wait() >= 0 and x, name="meet"))

            return (yield ctx.map([1, 2, 3, 4], item, name="m")).get_results()

        result = LocalRunner(wf, max_workers=4).run({})
        assert result.succeeded and result.result == [1, 2, 3, 4]

    def test_the_pool_never_exceeds_max_workers(self) -> None:
        threads: set[str] = set()
        lock = threading.Lock()

        @durable.workflow
        def wf(event: Any, ctx: durable.Context) -> Any:
            def item(c: durable.Context, x: int, i: int, items: Any) -> Any:
                def body(_: Any) -> int:
                    with lock:
                        threads.add(threading.current_thread().name)
                    time.sleep(0.001)
                    return x

                return (yield c.step(body, name="work"))

            return (yield ctx.map(list(range(40)), item, name="m")).get_results()

        result = LocalRunner(wf, max_workers=3).run({})
        assert result.succeeded and result.result == list(range(40))
        assert 1 <= len(threads) <= 3

    def test_max_workers_comes_from_the_workflow(self) -> None:
        @durable.workflow(max_workers=2)
        def wf(event: Any, ctx: durable.Context) -> Any:
            return 1

        assert wf.max_workers == 2
        assert LocalRunner(wf)._max_workers == 2
        with pytest.raises(durable.UsageError, match="max_workers must be an int of at least 1"):
            durable.workflow(max_workers=0)(lambda event, ctx: None)


class TestInProcessResumption:
    def test_a_branch_wait_that_falls_due_while_another_branch_works_resumes_at_once(
        self,
    ) -> None:
        """protocol.md §5.9: the work takes (virtual) 5 s; the 2 s nap is over
        by then, so the execution ends in the one invocation."""
        holder: dict[str, LocalRunner] = {}

        @durable.workflow
        def wf(event: Any, ctx: durable.Context) -> Any:
            def napper(c: durable.Context) -> Any:
                yield c.wait(Duration.from_seconds(2), name="nap")
                return "rested"

            def worker(c: durable.Context) -> Any:
                def body(_: Any) -> str:
                    holder["runner"].clock.advance(5)
                    return "worked"

                return (yield c.step(body, name="work"))

            return (yield ctx.parallel([napper, worker], name="p")).get_results()

        runner = holder["runner"] = LocalRunner(wf)
        result = runner.run({})
        assert result.result == ["rested", "worked"]
        assert runner.service.execution(result.arn).invocations == 1

    def test_a_branch_wait_still_ahead_suspends_the_invocation(self) -> None:
        @durable.workflow
        def wf(event: Any, ctx: durable.Context) -> Any:
            def napper(c: durable.Context) -> Any:
                yield c.wait(Duration.from_seconds(60), name="nap")
                return "rested"

            def worker(c: durable.Context) -> Any:
                return (yield c.step(lambda _: "worked", name="work"))

            return (yield ctx.parallel([napper, worker], name="p")).get_results()

        runner = LocalRunner(wf)
        result = runner.run({})
        assert result.result == ["rested", "worked"]
        assert runner.service.execution(result.arn).invocations == 2


class TestImperative:
    def test_map_and_parallel_block_and_return_batch_results(self) -> None:
        @durable_parallel_branch(name="fetch")
        def fetch(ctx: DurableContext, what: str) -> str:
            return ctx.step(lambda _: f"got {what}", name="fetch-step")

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            def item(c: DurableContext, x: int, i: int, items: Any) -> int:
                value = c.step(lambda _: x * 10, name="item")
                if x == 3:
                    raise ValueError("three")
                if x == 2:
                    c.wait(Duration.from_seconds(5), name="pause")
                return value

            batch = context.map(
                [1, 2, 3, 4],
                item,
                name="m",
                config=MapConfig(
                    max_concurrency=2, completion_config=CompletionConfig.all_completed()
                ),
            )
            par = context.parallel(
                [fetch("a"), lambda c: c.step(lambda _: "b", name="b")],
                name="p",
                config=ParallelConfig(max_concurrency=1),
            )
            return {
                "map": batch.get_results(),
                "errors": [e.type for e in batch.get_errors() if e],
                "statuses": [i.status.value for i in batch.all],
                "par": par.get_results(),
            }

        before = threading.active_count()
        runner = LocalRunner(handler)
        result = runner.run({})
        assert result.succeeded, result.error
        assert result.result == {
            "map": [10, 20, 40],
            "errors": ["ValueError"],
            "statuses": ["SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED"],
            "par": ["got a", "b"],
        }
        names = {op.name for op in runner.service.operations(result.arn)}
        assert {"m", "map-item-0", "p", "fetch", "parallel-branch-1"} <= names
        # Branch threads end with their branches.
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threading.active_count() <= before

    def test_the_imperative_log_equals_the_generator_log(self) -> None:
        @durable.workflow
        def generator_style(event: Any, ctx: durable.Context) -> Any:
            def item(c: durable.Context, x: int, i: int, items: Any) -> Any:
                return (yield c.step(lambda _: x + 1, name="inc"))

            def branch(c: durable.Context) -> Any:
                return (yield c.map([1, 2, 3], item, name="inner")).get_results()

            return (yield ctx.parallel([branch, branch], name="outer")).get_results()

        @durable_execution
        def imperative_style(event: Any, context: DurableContext) -> Any:
            def item(c: DurableContext, x: int, i: int, items: Any) -> Any:
                return c.step(lambda _: x + 1, name="inc")

            def branch(c: DurableContext) -> Any:
                return c.map([1, 2, 3], item, name="inner").get_results()

            return context.parallel([branch, branch], name="outer").get_results()

        logs = []
        for wf in (generator_style, imperative_style):
            runner = LocalRunner(wf)
            result = runner.run({})
            assert result.result == [[2, 3, 4], [2, 3, 4]]
            logs.append(journal(runner, result.arn))
        assert logs[0] == logs[1]

    def test_an_early_completing_imperative_parallel_stops_the_other_branch(self) -> None:
        release = threading.Event()

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            def quick(c: DurableContext) -> str:
                return "quick"

            def lingering(c: DurableContext) -> str:
                c.wait(Duration.from_seconds(3600), name="long")
                release.set()  # never reached: the branch is abandoned
                return "late"

            batch = context.parallel(
                [quick, lingering],
                name="race",
                config=ParallelConfig(completion_config=CompletionConfig.first_successful()),
            )
            return [(i.index, i.status.value) for i in batch.all]

        result = LocalRunner(handler).run({})
        assert result.result == [[0, "SUCCEEDED"], [1, "STARTED"]]
        assert not release.is_set()


def test_compat_names_run_a_map() -> None:
    from durable.compat import BatchResult, durable_execution
    from durable.compat.config import MapConfig as CompatMapConfig

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        batch = context.map(
            [1, 2], lambda c, x, i, items: x * 3, name="m", config=CompatMapConfig()
        )
        assert isinstance(batch, BatchResult)
        return batch.get_results()

    assert LocalRunner(handler).run({}).result == [3, 6]


def test_batch_items_report_their_status_in_the_summary() -> None:
    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        batch = yield ctx.map([1], lambda c, x, i, items: x, name="m")
        return batch.all[0].status is BatchItemStatus.SUCCEEDED

    result = LocalRunner(wf).run({})
    assert result.result is True
    assert "m" in result.summary()


def test_a_retryable_invocation_error_in_a_branch_fails_the_invocation_not_the_item() -> None:
    """A branch hitting a retryable invocation error (here a serializer that
    cannot load its dependencies yet) is not an item failure: the invocation
    fails at once and is retried, and the retry's map has no FAILED item.
    (The reference first lets the other branches run on; see
    docs/protocol-decisions.md.)"""
    attempts = {"n": 0}

    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        def item(c: durable.Context, value: int, i: int, items: Any) -> Any:
            result = yield c.step(lambda _: value * 10, name="times10")
            if i == 1:
                attempts["n"] += 1
                if attempts["n"] == 1:
                    raise RetryableSerDesError("codec not ready")
            return result

        batch = yield ctx.map([1, 2, 3], item, name="m")
        return batch.to_dict()

    runner = LocalRunner(wf)
    result = runner.run({})
    assert result.succeeded
    assert [i["status"] for i in result.result["all"]] == ["SUCCEEDED"] * 3
    assert [i["result"] for i in result.result["all"]] == [10, 20, 30]
    assert runner.service.execution(result.arn).invocations == 2
    assert attempts["n"] == 2


def test_a_map_of_ten_thousand_items_completes_locally_and_replays_without_bodies() -> None:
    """Issue 7's bar: 10,000 items on the local runner (bounded pool), then the
    finished log replayed by the interpreter with no item body run."""
    from durable.core import Finish, Replay, RunStep, Value
    from durable.runtime import run_step_body
    from durable.testing._service import EPOCH

    ran = {"bodies": 0}
    lock = threading.Lock()

    def counting(action: Any) -> Any:
        with lock:
            ran["bodies"] += 1
        return run_step_body(action)

    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        def item(c: durable.Context, value: int, i: int, items: Any) -> Any:
            return (yield c.step(lambda _: value * 2, name="double"))

        batch = yield ctx.map(list(range(event["n"])), item, name="fanout")
        results = batch.get_results()
        return {"count": len(results), "sum": sum(results)}

    result = LocalRunner(wf, run_body=counting).run({"n": 10_000})
    assert result.result == {"count": 10_000, "sum": 2 * sum(range(10_000))}
    assert ran["bodies"] == 10_000
    assert len(result.log) == 20_002  # execution, map, 10,000 branches and their steps

    actions = Replay(wf.fn, {"n": 10_000}, result.log, EPOCH).next_actions()
    assert not any(isinstance(a, RunStep) for a in actions)
    assert isinstance(actions[-1], Finish) and isinstance(actions[-1].outcome, Value)
    assert actions[-1].outcome.value == result.result
