"""Map and parallel in the pure core (protocol.md §4.3, §5.8, §5.9)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

import durable
from durable import (
    BatchedInput,
    BatchItemStatus,
    BatchResult,
    ChildConfig,
    CompletionConfig,
    CompletionOutcome,
    CompletionReason,
    CompletionStatus,
    Duration,
    ItemBatcher,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    complete_batch,
    continue_batch,
)
from durable.core import Checkpoint, Failure, Finish, Replay, RunStep, Suspend, Value
from durable.errors import (
    BatchCompletionError,
    ChildContextError,
    NonDeterminismError,
    ValidationError,
)
from durable.model import Operation, OperationStatus, OperationType, OperationUpdate
from tests.unit.core.conftest import NOW, Trace, invoke, record_of

# protocol.md §4.4
VALIDATE = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
FANOUT = "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
BRANCH_0 = "be82df04f8b607cccfb1de6e9f6c5b80247cdf7c7941921dc5c5560d636e942e"
BRANCH_0_ITEM = "8ca92aecc8656af9d6eabcef467216e8dc899889f5941402df1335bb7b69397a"
BRANCH_1 = "4fcce65ec00309c63e7973cc7ba98d082f6db23ff491f8ae0d358d94a449573f"
SUB = "e8e70dc170e14333627b32c20ac6051fb9b6bd369c036afbaca2d9cd7ac3de65"


def value_of(trace: Trace) -> Any:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Value), trace.end
    return trace.end.outcome.value


def error_of(trace: Trace) -> BaseException:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Failure), trace.end
    return trace.end.outcome.error


def names(trace: Trace) -> list[list[tuple[str, str, str | None]]]:
    """Requests as (type, action, name)."""
    return [[(u.type.value, u.action.value, u.name) for u in r] for r in trace.requests]


def one_step(c: durable.Context, item: Any, index: int, items: Any) -> Any:
    return (yield c.step(lambda _: item * 10, name="s"))


def failing_on(*bad: int) -> Any:
    def branch(c: durable.Context, item: Any, index: int, items: Any) -> Any:
        value = yield c.step(lambda _: item * 10, name="s")
        if item in bad:
            raise ValueError(f"bad {item}")
        return value

    return branch


def map_of(items: list[Any], func: Any = one_step, **config: Any) -> Any:
    def wf(event: Any, ctx: durable.Context) -> Any:
        batch = yield ctx.map(items, func, name="m", config=MapConfig(**config) if config else None)
        return batch

    return wf


class TestIds:
    def test_the_worked_example_of_protocol_4_4(self) -> None:
        """Branch ids are hashes of '<map id>-<index>'; inner ops hash the branch id."""

        def per_item(c: durable.Context, item: str, i: int, items: Any) -> Any:
            return (yield c.step(lambda _: item, name="item"))

        def sub(c: durable.Context) -> Any:
            yield c.step(lambda _: 1, name="s1")
            return (yield c.step(lambda _: 2, name="s2"))

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: "ok", name="validate")
            yield ctx.wait(Duration.from_seconds(1))
            yield ctx.map(["x", "y"], per_item, name="fanout")
            return (yield ctx.run_in_child_context(sub, name="sub"))

        first = invoke(wf)
        assert isinstance(first.end, Suspend)  # the wait
        log = dict(first.log)
        wait_id = "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
        log[wait_id] = attrs.evolve(log[wait_id], status=OperationStatus.SUCCEEDED)
        second = invoke(wf, log.values())
        assert value_of(second) == 2
        ops = {u.id: u for u in second.updates}
        assert ops[FANOUT].name == "fanout" and ops[FANOUT].sub_type == "Map"
        assert ops[FANOUT].parent_id is None
        assert ops[BRANCH_0].name == "map-item-0" and ops[BRANCH_0].parent_id == FANOUT
        assert ops[BRANCH_0].sub_type == "MapIteration"
        assert ops[BRANCH_0_ITEM].name == "item" and ops[BRANCH_0_ITEM].parent_id == BRANCH_0
        assert ops[BRANCH_1].name == "map-item-1" and ops[BRANCH_1].parent_id == FANOUT
        assert ops[SUB].name == "sub"
        # The map's own context never allocates: nothing else hashes from FANOUT.
        assert {u.id for u in second.updates if u.parent_id == FANOUT} == {BRANCH_0, BRANCH_1}


class TestWire:
    def test_max_concurrency_one_matches_the_protocol_example(self) -> None:
        """protocol.md §5.8: branch by branch, the map's START riding with the first."""
        trace = invoke(map_of([1, 2], max_concurrency=1))
        assert names(trace) == [
            [
                ("CONTEXT", "START", "m"),
                ("CONTEXT", "START", "map-item-0"),
                ("STEP", "START", "s"),
                ("STEP", "SUCCEED", "s"),
            ],
            [("CONTEXT", "SUCCEED", "map-item-0")],
            [("CONTEXT", "START", "map-item-1"), ("STEP", "START", "s"), ("STEP", "SUCCEED", "s")],
            [("CONTEXT", "SUCCEED", "map-item-1")],
            [("CONTEXT", "SUCCEED", "m")],
        ]
        assert [u.payload for u in trace.updates if u.action.value == "SUCCEED"] == [
            "10",
            "10",
            "20",
            "20",
            trace.updates[-1].payload,
        ]

    def test_the_batch_result_payload_is_the_br_envelope(self) -> None:
        """protocol.md §5.8.4, byte for byte."""
        trace = invoke(map_of([1, 2]))
        expected = (
            '{"t":"br","v":{"all":{"t":"l","v":['
            '{"t":"m","v":{"index":{"t":"i","v":0},"status":{"t":"s","v":"SUCCEEDED"},'
            '"result":{"t":"i","v":10},"error":{"t":"n","v":null}}},'
            '{"t":"m","v":{"index":{"t":"i","v":1},"status":{"t":"s","v":"SUCCEEDED"},'
            '"result":{"t":"i","v":20},"error":{"t":"n","v":null}}}]},'
            '"completionReason":{"t":"s","v":"ALL_COMPLETED"}}}'
        )
        parent = trace.updates[-1]
        assert parent.name == "m" and parent.payload == expected
        assert parent.context_options is not None
        assert parent.context_options.replay_children is False
        batch = value_of(trace)
        assert isinstance(batch, BatchResult)
        assert batch.get_results() == [10, 20]

    def test_an_empty_map_writes_start_and_succeed(self) -> None:
        trace = invoke(map_of([]))
        assert names(trace) == [[("CONTEXT", "START", "m"), ("CONTEXT", "SUCCEED", "m")]]
        batch = value_of(trace)
        assert batch.all == () and batch.completion_reason is CompletionReason.ALL_COMPLETED

    def test_unlimited_concurrency_starts_every_branch_before_any_body_returns(self) -> None:
        trace = invoke(map_of([1, 2, 3]))
        first = trace.requests[0]
        assert [(u.type.value, u.action.value) for u in first].count(("STEP", "START")) == 3
        assert [body for body, _ in trace.bodies] == sorted(
            {u.id for u in trace.updates if u.type is OperationType.STEP},
            key=[u.id for u in trace.updates].index,
        )
        assert value_of(trace).get_results() == [10, 20, 30]

    def test_parallel_names_and_sub_types(self) -> None:
        def a(c: durable.Context) -> Any:
            return (yield c.step(lambda _: "a", name="a"))

        def b(c: durable.Context) -> str:
            return "b"  # a plain function is a branch too

        def wf(event: Any, ctx: durable.Context) -> Any:
            batch = yield ctx.parallel([a, ParallelBranch(b, name="bee")], name="p")
            return batch.get_results()

        trace = invoke(wf)
        assert value_of(trace) == ["a", "b"]
        contexts = [(u.name, u.sub_type) for u in trace.updates if u.type is OperationType.CONTEXT]
        assert ("p", "Parallel") in contexts
        assert ("parallel-branch-0", "ParallelBranch") in contexts
        assert ("bee", "ParallelBranch") in contexts

    def test_item_namer_names_the_branches(self) -> None:
        trace = invoke(map_of(["a", "b"], item_namer=lambda item, i: f"item-{item}-{i}"))
        branch_names = [u.name for u in trace.updates if u.sub_type == "MapIteration"]
        assert set(branch_names) == {"item-a-0", "item-b-1"}

    def test_the_map_name_defaults_to_the_original_name_of_the_function(self) -> None:
        def per_item(c: durable.Context, item: int, i: int, items: Any) -> int:
            return item

        per_item._original_name = "per-item"  # type: ignore[attr-defined]

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.map([1], per_item)).get_results()

        trace = invoke(wf)
        assert trace.updates[0].name == "per-item"


class TestFlat:
    def test_flat_branches_write_no_context_and_report_the_map_as_parent(self) -> None:
        trace = invoke(map_of([1, 2], nesting_type=NestingType.FLAT))
        assert value_of(trace).get_results() == [10, 20]
        kinds = [(u.type.value, u.sub_type) for u in trace.updates]
        assert ("CONTEXT", "MapIteration") not in kinds
        map_id = trace.updates[0].id
        steps = [u for u in trace.updates if u.type is OperationType.STEP]
        assert {u.parent_id for u in steps} == {map_id}
        # Ids are still prefixed by the branch ids (§4.3).
        from durable.core._ids import operation_id

        expected = {operation_id(operation_id(map_id, i), 1) for i in range(2)}
        assert {u.id for u in steps} == expected

    def test_flat_branches_replay(self) -> None:
        wf = map_of([1, 2], nesting_type=NestingType.FLAT)
        first = invoke(wf)
        log = {k: v for k, v in first.log.items() if v.sub_type != "Map"}
        # The map's own record is gone (a crash before its SUCCEED): the branches
        # re-run over their steps' checkpoints.
        again = invoke(wf, log.values(), bodies=_no_body)
        assert value_of(again).get_results() == [10, 20]


def _no_body(action: RunStep) -> Value | Failure:
    raise AssertionError(f"replay ran the body of {action.name or action.op_id}")


class TestCompletion:
    def test_the_default_map_policy_fails_fast(self) -> None:
        """No criteria: the first failure completes the batch; later items never start."""
        trace = invoke(map_of([1, 2, 3, 4], failing_on(2), max_concurrency=1))
        batch = value_of(trace)
        assert batch.completion_reason is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        assert [(i.index, i.status) for i in batch.all] == [
            (0, BatchItemStatus.SUCCEEDED),
            (1, BatchItemStatus.FAILED),
        ]
        error = batch.all[1].error
        assert error is not None and error.type == "ValueError" and error.message == "bad 2"
        assert not any(u.name == "map-item-2" for u in trace.updates)

    def test_all_completed_records_failures_without_raising(self) -> None:
        trace = invoke(
            map_of(
                [1, 2, 3],
                failing_on(1, 3),
                completion_config=CompletionConfig.all_completed(),
            )
        )
        batch = value_of(trace)
        assert batch.completion_reason is CompletionReason.ALL_COMPLETED
        assert batch.get_results() == [20]
        assert [e.type for e in batch.get_errors() if e] == ["ValueError", "ValueError"]
        assert batch.status is BatchItemStatus.FAILED and batch.has_failure
        with pytest.raises(ChildContextError, match="bad 1") as raised:
            batch.throw_if_error()
        assert raised.value.error_type == "ValueError"

    @pytest.mark.parametrize(
        ("completion", "reason", "statuses"),
        [
            # 1 failure tolerated, the 2nd exceeds: items after it never start.
            (CompletionConfig(tolerated_failure_count=1), "FAILURE_TOLERANCE_EXCEEDED", "SFSF"),
            # 50 % of 4 = 2 failures is not *above* 50 %.
            (CompletionConfig(tolerated_failure_percentage=50), "ALL_COMPLETED", "SFSFS"),
            (CompletionConfig(min_successful=2), "MIN_SUCCESSFUL_REACHED", "SFS"),
            (CompletionConfig.first_successful(), "MIN_SUCCESSFUL_REACHED", "S"),
        ],
    )
    def test_thresholds(self, completion: CompletionConfig, reason: str, statuses: str) -> None:
        items = [1, 2, 3, 4, 5]
        trace = invoke(
            map_of(items, failing_on(2, 4), max_concurrency=1, completion_config=completion)
        )
        batch = value_of(trace)
        assert batch.completion_reason.value == reason
        assert "".join(i.status.value[0] for i in batch.all) == statuses

    def test_min_successful_above_the_item_count_is_refused_before_any_id(self) -> None:
        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.map(
                [1],
                one_step,
                config=MapConfig(completion_config=CompletionConfig(min_successful=2)),
            )

        trace = invoke(wf)
        error = error_of(trace)
        assert isinstance(error, ValidationError)
        assert "min_successful is 2, but there are only 1 items" in str(error)
        assert trace.updates == []

    def test_parallel_defaults_to_all_successful(self) -> None:
        def ok(c: durable.Context) -> Any:
            return (yield c.step(lambda _: 1, name="ok"))

        def bad(c: durable.Context) -> Any:
            yield c.step(lambda _: 2, name="bad")
            raise KeyError("nope")

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.parallel([bad, ok], name="p", config=ParallelConfig(max_concurrency=1))
            )

        batch = value_of(invoke(wf))
        assert batch.completion_reason is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        assert [i.status for i in batch.all] == [BatchItemStatus.FAILED]

    def test_should_complete_sees_every_item_and_can_fail_the_batch(self) -> None:
        seen: list[CompletionStatus] = []

        def decide(status: CompletionStatus) -> Any:
            seen.append(status)
            if status.success_count == 2:
                return complete_batch(CompletionOutcome.FAILED)
            return continue_batch()

        trace = invoke(
            map_of(
                [1, 2, 3],
                max_concurrency=1,
                item_namer=lambda item, i: f"n{i}",
                completion_config=CompletionConfig(should_complete=decide),
            )
        )
        batch = value_of(trace)
        assert batch.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED
        assert batch.status is BatchItemStatus.FAILED and batch.get_results() == [10, 20]
        # Before anything started, then after each outcome.
        assert [(s.success_count, s.completed_count, s.total_count) for s in seen] == [
            (0, 0, 3),
            (1, 1, 3),
            (2, 2, 3),
        ]
        assert [(i.name, i.status) for i in seen[1].items] == [
            ("n0", BatchItemStatus.SUCCEEDED),
            ("n1", None),
            ("n2", None),
        ]
        with pytest.raises(BatchCompletionError):
            batch.throw_if_error()

    def test_early_completion_abandons_running_branches_and_writes_nothing_for_them(
        self,
    ) -> None:
        """first_successful: branch 0 finishes at once; branch 1's body was
        running and its outcome, when reported, is ignored."""

        def fast(c: durable.Context) -> str:
            return "fast"

        def slow(c: durable.Context) -> Any:
            return (yield c.step(lambda _: "slow", name="slow"))

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.parallel(
                    [fast, slow],
                    name="p",
                    config=ParallelConfig(completion_config=CompletionConfig.first_successful()),
                )
            )

        replay = Replay(wf, None, [], NOW)
        actions = replay.next_actions()
        run = next(a for a in actions if isinstance(a, RunStep))
        sent = [u for a in actions if isinstance(a, Checkpoint) for u in a.updates]
        store: dict[str, Operation] = {}
        for update in sent:
            store[update.id] = record_of(update, store.get(update.id))
        replay.checkpointed(list(store.values()), NOW)
        later: list[OperationUpdate] = []
        end = None
        while end is None:
            for action in replay.next_actions():
                if isinstance(action, Checkpoint):
                    later.extend(action.updates)
                    if action.blocking:
                        replay.checkpointed([], NOW)
                elif isinstance(action, Finish):
                    end = action
        assert not replay.wants_body(run.op_id)
        replay.step_finished(run.op_id, Value("slow"))  # accepted and ignored
        assert ("parallel-branch-0", "SUCCEED") in [(u.name, u.action.value) for u in sent]
        assert ("slow", "START") in [(u.name, u.action.value) for u in sent]
        # After the batch completed: only the parallel's own SUCCEED; nothing
        # of the abandoned branch (its step never SUCCEEDs, its context stays open).
        assert [(u.name, u.action.value) for u in later] == [("p", "SUCCEED")]
        assert isinstance(end.outcome, Value)
        batch = end.outcome.value
        assert [(i.index, i.status) for i in batch.all] == [
            (0, BatchItemStatus.SUCCEEDED),
            (1, BatchItemStatus.STARTED),
        ]
        assert batch.completion_reason is CompletionReason.MIN_SUCCESSFUL_REACHED


class TestCoordinatorErrors:
    @pytest.mark.parametrize("where", ["item_namer", "should_complete"])
    def test_user_code_of_the_coordinator_fails_the_map(self, where: str) -> None:
        def broken(*args: Any) -> Any:
            raise RuntimeError(f"{where} broke")

        config: dict[str, Any] = {where: broken}
        if where == "should_complete":
            config = {"completion_config": CompletionConfig(should_complete=broken)}
        trace = invoke(map_of([1, 2], **config))
        error = error_of(trace)
        assert isinstance(error, ChildContextError)
        assert error.error_type == "RuntimeError" and f"{where} broke" in str(error.message)
        parent = trace.updates[-1]
        assert parent.name == "m" and parent.action.value == "FAIL"
        # A stored failure is raised again, without running anything.
        again = invoke(map_of([1, 2], **config), trace.log.values(), bodies=_no_body)
        assert isinstance(error_of(again), ChildContextError)

    def test_a_renamed_branch_is_non_determinism(self) -> None:
        first = invoke(map_of([1, 2], max_concurrency=1))
        log = {k: v for k, v in first.log.items() if v.sub_type != "Map"}
        renamed = map_of([1, 2], max_concurrency=1, item_namer=lambda item, i: f"other-{i}")
        error = error_of(invoke(renamed, log.values()))
        assert isinstance(error, NonDeterminismError)
        assert "map-item-0" in str(error) and "other-0" in str(error)

    def test_a_wrong_config_type_names_the_operation(self) -> None:
        with pytest.raises(ValidationError, match="map 'm': config must be a MapConfig"):
            durable.Map(inputs=[1], func=one_step, name="m", config=ParallelConfig())


class TestReplay:
    def test_a_completed_map_returns_its_stored_result_without_branches(self) -> None:
        wf = map_of([1, 2, 3], failing_on(2), completion_config=CompletionConfig.all_completed())
        first = invoke(wf)
        only_parent = [op for op in first.log.values() if op.sub_type == "Map"]
        again = invoke(wf, only_parent, bodies=_no_body)
        assert again.requests == []
        assert value_of(again) == value_of(first)

    def test_a_crash_before_the_map_succeeded_replays_every_branch(self) -> None:
        wf = map_of([1, 2, 3])
        first = invoke(wf)
        log = dict(first.log)
        map_id = next(k for k, v in log.items() if v.sub_type == "Map")
        log[map_id] = attrs.evolve(
            log[map_id], status=OperationStatus.STARTED, context_details=None
        )
        again = invoke(wf, log.values(), bodies=_no_body)
        assert names(again) == [[("CONTEXT", "SUCCEED", "m")]]
        assert value_of(again) == value_of(first)

    @pytest.mark.parametrize(
        "completion",
        [
            CompletionConfig(),
            CompletionConfig(tolerated_failure_count=0),
            CompletionConfig.first_successful(),
            CompletionConfig(min_successful=2, tolerated_failure_count=1),
        ],
    )
    def test_an_early_completion_replays_to_the_same_result_after_a_crash(
        self, completion: CompletionConfig
    ) -> None:
        """Branches that finished together are all counted, and the reason
        follows from the counts, so replaying the branches' records in index
        order (the map's own SUCCEED was lost) gives the same BatchResult."""

        def branch(c: durable.Context, item: int, i: int, items: Any) -> Any:
            if item == 2:
                yield c.wait(Duration.from_seconds(30), name="late")
            if item == 0:
                raise ValueError("first fails")
            return item

        wf = map_of([0, 1, 2, 3], branch, completion_config=completion)
        clean = invoke(wf)
        log = dict(clean.log)
        map_id = next(k for k, v in log.items() if v.sub_type == "Map")
        assert log[map_id].status is OperationStatus.SUCCEEDED
        log[map_id] = attrs.evolve(
            log[map_id], status=OperationStatus.STARTED, context_details=None
        )
        again = invoke(wf, log.values(), bodies=_no_body)
        assert value_of(again) == value_of(clean)
        assert names(again) == [[("CONTEXT", "SUCCEED", "m")]]

    def test_ten_thousand_items_complete_and_replay_without_bodies(self) -> None:
        items = list(range(10_000))
        wf = map_of(items, max_concurrency=64)
        first = invoke(wf)
        assert value_of(first).get_results() == [i * 10 for i in items]
        assert len(first.bodies) == 10_000
        again = invoke(wf, first.log.values(), bodies=_no_body)
        assert value_of(again).get_results() == [i * 10 for i in items]
        assert again.requests == []

    def test_a_branch_that_suspends_keeps_its_slot_and_resumes_next_invocation(self) -> None:
        def branch(c: durable.Context, item: int, i: int, items: Any) -> Any:
            if item == 1:
                yield c.wait(Duration.from_seconds(60), name="nap")
            return (yield c.step(lambda _: item, name="s"))

        wf = map_of([1, 2, 3], branch, max_concurrency=2)
        first = invoke(wf)
        assert isinstance(first.end, Suspend)
        assert first.end.resume_at == NOW + timedelta(seconds=60)
        # Item 0 waits; items 1 and 2 ran in the other slot.
        assert {u.name for u in first.updates if u.sub_type == "MapIteration"} == {
            "map-item-0",
            "map-item-1",
            "map-item-2",
        }
        log = dict(first.log)
        nap = next(k for k, v in log.items() if v.name == "nap")
        log[nap] = attrs.evolve(log[nap], status=OperationStatus.SUCCEEDED)
        second = invoke(wf, log.values())
        assert value_of(second).get_results() == [1, 2, 3]
        assert [name for name, _ in [(b, a) for b, a in second.bodies]] == [
            next(u.id for u in second.updates if u.type is OperationType.STEP)
        ]


class TestInProcessResumption:
    def test_a_due_branch_timer_resumes_after_an_empty_refresh(self) -> None:
        """protocol.md §5.9: while another branch works, a parked branch whose
        time has come is resumed in the same invocation."""

        def napper(c: durable.Context) -> Any:
            yield c.wait(Duration.from_seconds(2), name="nap")
            return "rested"

        def worker(c: durable.Context) -> Any:
            return (yield c.step(lambda _: "worked", name="work"))

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.parallel([napper, worker], name="p")).get_results()

        replay = Replay(wf, None, [], NOW)
        store: dict[str, Operation] = {}
        now = NOW
        sent: list[tuple[OperationUpdate, ...]] = []
        bodies: list[RunStep] = []
        end = None
        while end is None:
            for action in replay.next_actions():
                if isinstance(action, Checkpoint):
                    sent.append(action.updates)
                    changed = []
                    for update in action.updates:
                        store[update.id] = record_of(update, store.get(update.id), now)
                        changed.append(store[update.id])
                    if action.blocking:
                        if not action.updates:
                            # The service fired the timer meanwhile.
                            nap = next(op for op in store.values() if op.name == "nap")
                            store[nap.id] = attrs.evolve(nap, status=OperationStatus.SUCCEEDED)
                            changed = [store[nap.id]]
                        replay.checkpointed(changed, now)
                elif isinstance(action, RunStep):
                    bodies.append(action)
                else:
                    end = action
            if bodies and end is None:
                body = bodies.pop(0)
                now = NOW + timedelta(seconds=5)  # the body took 5 s
                replay.step_finished(body.op_id, Value(body.call(body.step_context)), now)
        assert isinstance(end, Finish) and isinstance(end.outcome, Value)
        assert end.outcome.value == ["rested", "worked"]
        assert () in sent  # the refresh

    def test_without_other_work_a_parked_branch_suspends_the_invocation(self) -> None:
        def napper(c: durable.Context) -> Any:
            yield c.wait(Duration.from_seconds(2), name="nap")
            return "rested"

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.parallel([napper, napper], name="p")).get_results()

        trace = invoke(wf)
        assert isinstance(trace.end, Suspend)
        assert trace.end.resume_at == NOW + timedelta(seconds=2)
        assert () not in [tuple(r) for r in trace.requests]


class TestLargeResults:
    def test_a_result_over_256_kib_stores_the_summary_and_is_rebuilt(self) -> None:
        def big(c: durable.Context, item: int, i: int, items: Any) -> Any:
            return (yield c.step(lambda _: "x" * 3000 + str(item), name="s"))

        wf = map_of(
            list(range(100)), big, summary_generator=lambda result: f"{result.success_count} ok"
        )
        first = invoke(wf)
        parent = first.updates[-1]
        assert parent.context_options is not None and parent.context_options.replay_children
        assert parent.payload == json.dumps(
            {
                "type": "MapResult",
                "totalCount": 100,
                "completionReason": "ALL_COMPLETED",
                "startedIndexes": [],
                "startedCount": 0,
                "successCount": 100,
                "failureCount": 0,
                "status": "SUCCEEDED",
                "summary": "100 ok",
            }
        )
        again = invoke(wf, first.log.values(), bodies=_no_body)
        assert again.requests == []
        assert value_of(again) == value_of(first)
        assert len(value_of(again).get_results()) == 100

    def test_reconstruction_takes_started_items_and_reason_from_the_summary(self) -> None:
        def wf(event: Any, ctx: durable.Context) -> Any:
            def big(c: durable.Context, item: int, i: int, items: Any) -> Any:
                if item == 3:
                    yield c.wait(Duration.from_seconds(600), name="slow")
                return (yield c.step(lambda _: "y" * 100_000, name="s"))

            return (
                yield ctx.map(
                    [0, 1, 2, 3],
                    big,
                    name="m",
                    config=MapConfig(completion_config=CompletionConfig(min_successful=3)),
                )
            )

        first = invoke(wf)
        batch = value_of(first)
        assert batch.completion_reason is CompletionReason.MIN_SUCCESSFUL_REACHED
        assert [i.status for i in batch.all][3] is BatchItemStatus.STARTED
        summary = json.loads(first.updates[-1].payload or "")
        assert summary["startedIndexes"] == [3] and summary["totalCount"] == 4
        again = invoke(wf, first.log.values(), bodies=_no_body)
        assert value_of(again) == batch


class TestNesting:
    def test_a_map_inside_a_parallel_inside_a_child_context(self) -> None:
        def inner(c: durable.Context, item: int, i: int, items: Any) -> Any:
            return (yield c.step(lambda _: item + 1, name="inc"))

        def mapper(c: durable.Context) -> Any:
            return (yield c.map([1, 2], inner, name="inner-map")).get_results()

        def constant(c: durable.Context) -> Any:
            return (yield c.step(lambda _: 0, name="zero"))

        def child(c: durable.Context) -> Any:
            return (yield c.parallel([mapper, constant], name="par")).get_results()

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.run_in_child_context(child, name="outer"))

        first = invoke(wf)
        assert value_of(first) == [[2, 3], 0]
        by_id = {u.id: u for u in first.updates}
        inc = [u for u in first.updates if u.name == "inc"]
        chain = []
        op = inc[0]
        while op.parent_id is not None:
            op = by_id[op.parent_id]
            chain.append((op.name, op.sub_type))
        assert chain == [
            ("map-item-0", "MapIteration"),
            ("inner-map", "Map"),
            ("parallel-branch-0", "ParallelBranch"),
            ("par", "Parallel"),
            ("outer", "RunInChildContext"),
        ]
        again = invoke(wf, first.log.values(), bodies=_no_body)
        assert value_of(again) == [[2, 3], 0]


class TestItems:
    def test_item_batching_hands_each_branch_a_run_of_items(self) -> None:
        seen: list[Any] = []

        def branch(c: durable.Context, batch: BatchedInput[int], i: int, items: Any) -> Any:
            seen.append((i, batch.batch_input, batch.items))
            return sum(batch.items)

        trace = invoke(
            map_of(
                list(range(7)),
                branch,
                item_batcher=ItemBatcher(max_items_per_batch=3, batch_input="ctx"),
            )
        )
        assert value_of(trace).get_results() == [3, 12, 6]
        assert seen == [(0, "ctx", (0, 1, 2)), (1, "ctx", (3, 4, 5)), (2, "ctx", (6,))]

    def test_item_batching_by_bytes(self) -> None:
        batcher = ItemBatcher(max_item_bytes_per_batch=10)
        batches = batcher.batch(["aaaa", "bbbb", "c", "dddddddddddddddd"])
        assert [b.items for b in batches] == [("aaaa",), ("bbbb", "c"), ("dddddddddddddddd",)]
        with pytest.raises(ValidationError, match="max_items_per_batch or"):
            ItemBatcher()

    def test_branch_results_use_the_item_serdes(self) -> None:
        from durable.serdes import JsonSerDes

        trace = invoke(map_of([1], item_serdes=JsonSerDes()))
        branch = next(u for u in trace.updates if u.sub_type == "MapIteration" and u.payload)
        assert branch.payload == "10"

    def test_child_config_is_left_alone(self) -> None:
        # The branch config is built per batch; a user's ChildConfig is not reused.
        assert ChildConfig().sub_type is None
