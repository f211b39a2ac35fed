"""The local runner drives callbacks and chained invokes end to end (needs the workflow side)."""

from __future__ import annotations

from typing import Any

import pytest

import durable
from durable.config import CallbackConfig, Duration
from durable.model import ExecutionStatus, InvocationStatus, OperationStatus
from durable.testing import CallbackAnswer, LocalRunner, OperationResult


@durable.workflow
def napping_child(event: Any, ctx: durable.Context) -> Any:
    yield ctx.wait(3600, name="nap")
    return {"child": event}


@durable.workflow
def parent(event: Any, ctx: durable.Context) -> Any:
    a = yield ctx.invoke("double", {"x": 2}, name="plain")
    b = yield ctx.invoke(
        "arn:aws:lambda:us-east-1:123456789012:function:child:prod", [1, 2], name="durable"
    )
    cb = yield ctx.create_callback(name="approval")
    answer = yield cb.result()
    return {"a": a, "b": b, "answer": answer}


def parent_runner(**options: Any) -> LocalRunner:
    runner = LocalRunner(parent, **options)
    runner.register_function("double", lambda p: p["x"] * 2)
    runner.register_function("child", napping_child)
    return runner


@pytest.mark.parametrize("through_handler", [False, True])
def test_invokes_run_and_a_callback_answered_by_hand_resumes(through_handler: bool) -> None:
    """Plain and durable targets complete their invokes; a sent answer finishes the execution."""
    runner = parent_runner(through_handler=through_handler)
    result = runner.run({})
    assert result.status is InvocationStatus.PENDING and result.invocations == 3
    assert result.get_invoke("plain").result == 4
    assert result.get_invoke("durable").result == {"child": [1, 2]}
    callback = result.get_callback("approval")
    assert callback.status is OperationStatus.STARTED and callback.callback_id
    result = runner.send_callback_success(callback.callback_id, {"ok": True})
    assert result.succeeded and result.invocations == 4
    assert result.result == {"a": 4, "b": {"child": [1, 2]}, "answer": '{"ok": true}'}


def test_an_auto_responder_answers_after_a_delay() -> None:
    """on_callback is asked once per new callback; its answer arrives in virtual time."""
    asked: list[OperationResult] = []

    def respond(op: OperationResult) -> CallbackAnswer:
        asked.append(op)
        return CallbackAnswer.success("yes", after=30)

    runner = parent_runner(on_callback=respond)
    result = runner.run({})
    assert result.succeeded and result.result["answer"] == "yes"
    assert [op.name for op in asked] == ["approval"]
    cb = result.get_callback("approval")
    assert cb.end_timestamp and cb.start_timestamp
    assert (cb.end_timestamp - cb.start_timestamp).total_seconds() == 30


@durable.workflow
def timed(event: Any, ctx: durable.Context) -> Any:
    config = CallbackConfig(timeout=Duration(60), heartbeat_timeout=Duration(10))
    cb = yield ctx.create_callback(name="t", config=config)
    try:
        return (yield cb.result())
    except durable.CallbackError as exc:
        return type(exc).__name__ + ": " + str(exc.message if hasattr(exc, "message") else exc)


def test_heartbeats_keep_a_callback_alive_until_they_stop() -> None:
    """Three heartbeats 8 s apart push the heartbeat timeout; it fires 10 s after the last."""
    count = 0

    def respond(op: OperationResult) -> CallbackAnswer | None:
        nonlocal count
        count += 1
        return CallbackAnswer.heartbeat(after=8) if count < 4 else None

    result = LocalRunner(timed, on_callback=respond).run()
    cb = result.get_callback("t")
    assert cb.status is OperationStatus.TIMED_OUT and count == 4
    assert cb.error is not None and cb.error.type == "Callback.Heartbeat"
    assert cb.end_timestamp and cb.start_timestamp
    assert (cb.end_timestamp - cb.start_timestamp).total_seconds() == 34


@pytest.mark.parametrize(("after", "outcome"), [(29, "x"), (30, "timeout")])
def test_a_timeout_at_the_answers_instant_wins(after: int, outcome: str) -> None:
    """An answer arriving exactly at the deadline is too late."""

    @durable.workflow
    def slow(event: Any, ctx: durable.Context) -> Any:
        cb = yield ctx.create_callback(name="slow", config=CallbackConfig(timeout=Duration(30)))
        try:
            return (yield cb.result())
        except durable.CallbackError:
            return "timeout"

    runner = LocalRunner(slow, on_callback=lambda op: CallbackAnswer.success("x", after=after))
    assert runner.run().result == outcome


def test_a_submitter_may_answer_from_inside_the_invocation() -> None:
    """send_callback_success from a step body only records; the running invocation sees it."""
    statuses: list[InvocationStatus] = []

    @durable.workflow
    def approve(event: Any, ctx: durable.Context) -> Any:
        def submit(callback_id: str, _: Any) -> None:
            statuses.append(runner.send_callback_success(callback_id, {"approved": True}).status)

        return (yield ctx.wait_for_callback(submit, name="approval"))

    runner = LocalRunner(approve)
    result = runner.run()
    assert result.succeeded and result.result == '{"approved": true}'
    assert result.invocations == 1 and statuses == [InvocationStatus.PENDING]


def test_a_plain_targets_exception_fails_the_invoke() -> None:
    """The exception of a plain target becomes the invoke's error, raised as InvokeError."""

    @durable.workflow
    def caller(event: Any, ctx: durable.Context) -> Any:
        try:
            yield ctx.invoke("boom", 1, name="b")
        except durable.InvokeError as exc:
            return str(exc)

    def boom(payload: Any) -> Any:
        raise ValueError(f"bad input {payload}")

    runner = LocalRunner(caller)
    runner.register_function("boom", boom)
    result = runner.run()
    assert result.result == "bad input 1"
    error = result.get_invoke("b").error
    assert error is not None and error.type == "ValueError"


def test_an_unknown_function_raises_at_once() -> None:
    """Invoking an unregistered function fails in the same invocation (ResourceNotFound)."""

    @durable.workflow
    def caller(event: Any, ctx: durable.Context) -> Any:
        try:
            yield ctx.invoke("nope", 1, name="x")
        except durable.InvokeError as exc:
            return str(exc)

    result = LocalRunner(caller).run()
    assert result.result == "Function not found: nope" and result.invocations == 1


def test_a_child_waiting_for_a_callback_keeps_the_parent_waiting() -> None:
    """The parent stays PENDING until the child's callback is answered; then both end."""

    @durable.workflow
    def child(event: Any, ctx: durable.Context) -> Any:
        cb = yield ctx.create_callback(name="inner")
        return (yield cb.result())

    @durable.workflow
    def outer(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.invoke("child", None, name="c"))

    runner = LocalRunner(outer)
    runner.register_function("child", child)
    result = runner.run()
    assert result.status is InvocationStatus.PENDING
    assert result.get_invoke("c").status is OperationStatus.STARTED
    child_arn = runner.service.execution(result.arn).children[result.get_invoke("c").id]
    inner = runner.result(child_arn).get_callback("inner").callback_id
    assert inner is not None
    result = runner.send_callback_success(inner, "hello")
    assert result.arn != child_arn and result.succeeded and result.result == "hello"
    assert runner.service.execution(child_arn).status is ExecutionStatus.SUCCEEDED
