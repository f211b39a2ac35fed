"""WorkflowScript pins the operations a workflow starts; simulate answers them
by matcher.  Both run through the real interpreter, with no service."""

from __future__ import annotations

from typing import Any

import pytest

import durable
from durable import (
    CallbackConfig,
    Duration,
    RetryPresets,
    StepConfig,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)
from durable.batch import BatchItem, BatchItemStatus, BatchResult
from durable.core import RunStep, Value
from durable.errors import (
    CallbackExternalError,
    CallbackTimeoutError,
    ChildContextError,
    InvokeError,
    StepError,
    UsageError,
    WaitForConditionError,
)
from durable.imperative import DurableContext, durable_execution
from durable.model import OperationStatus, OperationType
from durable.runtime import run_step_body
from durable.testing import LocalRunner
from durable.testing.unit import (
    Call,
    ScriptError,
    SimulationError,
    WorkflowScript,
    callback,
    child,
    condition,
    invoke,
    map,
    parallel,
    simulate,
    step,
    wait,
)


class DeclinedError(Exception):
    """The payment provider said no."""


@durable.step
def charge(step_ctx: durable.StepContext, order_id: str, amount: float) -> dict[str, Any]:
    raise AssertionError("the real charge must not run in these tests")


@durable.step
def audit(step_ctx: durable.StepContext, order_id: str) -> str:
    return f"audited {order_id}"


NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


@durable.workflow
def process_order(event: Any, ctx: durable.Context) -> Any:
    try:
        payment = yield charge(event["order_id"], event["amount"])
    except StepError as exc:
        yield ctx.step(lambda _: "refunded", name="refund")
        return {"status": "declined", "why": exc.message}
    yield ctx.wait(Duration.from_minutes(30), name="cool-off")
    receipt = yield ctx.step(lambda _: f"receipt {payment['id']}", name="receipt", config=NO_RETRY)
    return {"status": "done", "receipt": receipt}


@durable.workflow
async def process_order_async(event: Any, ctx: durable.Context) -> Any:
    try:
        payment = await charge(event["order_id"], event["amount"])
    except StepError as exc:
        await ctx.step(lambda _: "refunded", name="refund")
        return {"status": "declined", "why": exc.message}
    await ctx.wait(Duration.from_minutes(30), name="cool-off")
    receipt = await ctx.step(lambda _: f"receipt {payment['id']}", name="receipt", config=NO_RETRY)
    return {"status": "done", "receipt": receipt}


@durable_execution
def process_order_imperative(event: Any, context: DurableContext) -> Any:
    try:
        payment = context.step(charge(event["order_id"], event["amount"]))
    except StepError as exc:
        context.step(lambda _: "refunded", name="refund")
        return {"status": "declined", "why": exc.message}
    context.wait(Duration.from_minutes(30), name="cool-off")
    receipt = context.step(lambda _: f"receipt {payment['id']}", name="receipt", config=NO_RETRY)
    return {"status": "done", "receipt": receipt}


STYLES = pytest.mark.parametrize(
    "workflow",
    [process_order, process_order_async, process_order_imperative],
    ids=["generator", "async", "imperative"],
)
ORDER = {"order_id": "o-1", "amount": 9.5}


# -- WorkflowScript -------------------------------------------------------------------------


@STYLES
def test_a_script_supplies_outcomes_in_order_and_returns_the_result(workflow: Any) -> None:
    result = (
        WorkflowScript(workflow, ORDER)
        .expect(step("charge"), returns={"id": "ch-1"})
        .expect(wait("cool-off"))
        .expect(step("receipt"))  # no outcome: the real body runs
        .run()
    )
    assert result == {"status": "done", "receipt": "receipt ch-1"}


@STYLES
def test_a_scripted_error_reaches_the_workflow_as_in_production(workflow: Any) -> None:
    """The error goes through the step's retry strategy (the default retries
    6 attempts, in virtual time) and reaches the workflow as StepError."""
    outcome = (
        WorkflowScript(workflow, ORDER)
        .expect(step("charge"), raises=DeclinedError("card expired"))
        .expect(step("refund"))
        .outcome()
    )
    assert outcome.result == {"status": "declined", "why": "card expired"}
    (charged,) = outcome.calls("charge")
    assert charged.attempts == 6
    assert all(isinstance(o.error, DeclinedError) for o in charged.outcomes)  # type: ignore[union-attr]
    charge_record = next(op for op in outcome.log if op.name == "charge")
    assert charge_record.status is OperationStatus.FAILED
    assert charge_record.step_details is not None and charge_record.step_details.attempt == 6
    assert outcome.invocations == 6  # every retry ends an invocation


@STYLES
def test_a_wrong_operation_names_the_position_the_expectation_and_the_operation(
    workflow: Any,
) -> None:
    script = (
        WorkflowScript(workflow, ORDER)
        .expect(step("charge"), returns={"id": "ch-1"})
        .expect(step("receipt"))
    )
    with pytest.raises(ScriptError) as caught:
        script.run()
    message = str(caught.value)
    assert "operation #2: expected step('receipt'), but the workflow started wait 'cool-off'" in (
        message
    )
    assert f"(id {durable.core.operation_id(None, 2)})" in message


def test_more_operations_than_scripted_fail() -> None:
    script = WorkflowScript(process_order, ORDER).expect(step("charge"), returns={"id": "c"})
    with pytest.raises(ScriptError, match=r"operation #2: the workflow started wait 'cool-off'"):
        script.run()
    with pytest.raises(ScriptError, match="the script ends after 1 operation"):
        script.run()


def test_fewer_operations_than_scripted_fail() -> None:
    script = (
        WorkflowScript(process_order, ORDER)
        .expect(step("charge"), raises=DeclinedError("no"))
        .expect(step("refund"))
        .expect(step("notify"))
    )
    with pytest.raises(ScriptError) as caught:
        script.run()
    message = str(caught.value)
    assert "returned {'status': 'declined', 'why': 'no'} after 2 operation(s)" in message
    assert "the script expects 3; the first missing: step('notify')" in message


def test_an_imperative_workflow_cannot_swallow_a_script_error() -> None:
    @durable_execution
    def careless(event: Any, context: DurableContext) -> Any:
        try:
            context.step(lambda _: 1, name="first")
        except Exception:
            return "swallowed"
        return "ok"

    with pytest.raises(ScriptError, match=r"expected wait\(\), but the workflow started step"):
        WorkflowScript(careless).expect(wait()).run()


def test_answer_varies_the_outcome_by_attempt() -> None:
    def flaky(call: Call) -> Any:
        if call.attempt < 3:
            raise ConnectionError(f"attempt {call.attempt} timed out")
        return {"id": f"ch-{call.args[0]}"}

    outcome = (
        WorkflowScript(process_order, ORDER)
        .expect(step("charge"), answer=flaky)
        .expect(wait())
        .expect(step("receipt"))
        .outcome()
    )
    assert outcome.value() == {"status": "done", "receipt": "receipt ch-o-1"}
    (charged,) = outcome.calls("charge")
    assert [type(o).__name__ for o in charged.outcomes] == ["Failure", "Failure", "Value"]
    assert charged.args == ("o-1", 9.5)


def test_a_failed_workflow_raises_its_own_error_from_run() -> None:
    @durable.workflow
    def charge_once(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(charge(event["order_id"], 1), config=NO_RETRY))

    def refuse(call: Call) -> Any:
        raise DeclinedError(f"nope for {call.args[0]}")

    script = WorkflowScript(charge_once, ORDER).expect(
        step("charge", where=lambda d: d.args == ("o-1", 1)), answer=refuse
    )
    with pytest.raises(StepError, match="nope for o-1"):
        script.run()
    other = WorkflowScript(charge_once, {"order_id": "o-2"}).expect(
        step("charge", where=lambda d: d.args == ("o-1", 1)), answer=refuse
    )
    with pytest.raises(ScriptError, match=r"expected step\('charge', where=<lambda>\)"):
        other.run()


def test_expect_refuses_bad_arguments() -> None:
    script = WorkflowScript(process_order)
    with pytest.raises(UsageError, match="needs a matcher"):
        script.expect("charge")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="at most one of returns=, raises=, answer="):
        script.expect(step("charge"), returns=1, raises=ValueError("x"))


@durable.workflow
def reserve_trip(event: Any, ctx: durable.Context) -> Any:
    def book(child_ctx: durable.Context) -> Any:
        hotel = yield child_ctx.step(lambda _: "hotel-1", name="hotel")
        car = yield child_ctx.step(lambda _: "car-1", name="car")
        return {"hotel": hotel, "car": car}

    booking = yield ctx.run_in_child_context(book, name="book")

    def price(branch: durable.Context, city: str, index: int, cities: Any) -> Any:
        return (yield branch.step(lambda _: len(city), name="quote"))

    quotes = yield ctx.map(event["cities"], price, name="quotes")
    return {"booking": booking, "quotes": quotes.get_results()}


def test_operations_inside_children_and_branches_are_positions() -> None:
    result = (
        WorkflowScript(reserve_trip, {"cities": ["Oslo", "Rome"]})
        .expect(child("book"))
        .expect(step("hotel"))
        .expect(step("car"), returns="car-9")
        .expect(map("quotes"))
        .expect(step("quote", where=lambda d: True), returns=40)
        .expect(step("quote"))
        .run()
    )
    assert result == {"booking": {"hotel": "hotel-1", "car": "car-9"}, "quotes": [40, 4]}


def test_a_child_or_a_map_with_an_outcome_does_not_run_its_body() -> None:
    outcome = (
        WorkflowScript(reserve_trip, {"cities": ["Oslo", "Rome"]})
        .expect(child("book"), returns={"hotel": "h", "car": "c"})
        .expect(map("quotes"), returns=[1, ValueError("no flights")])
        .outcome()
    )
    assert outcome.result == {"booking": {"hotel": "h", "car": "c"}, "quotes": [1]}
    assert outcome.ran == [("child", "book"), ("map", "quotes")]


def test_a_child_that_raises_surfaces_as_child_context_error() -> None:
    outcome = (
        WorkflowScript(reserve_trip, {"cities": []})
        .expect(child("book"), raises=RuntimeError("no rooms"))
        .outcome()
    )
    assert isinstance(outcome.error, ChildContextError)
    assert "no rooms" in str(outcome.error)


# -- external systems ------------------------------------------------------------------------


@durable.workflow
def approval(event: Any, ctx: durable.Context) -> Any:
    cb = yield ctx.create_callback(name="manager", config=CallbackConfig(timeout=Duration(3600)))
    try:
        decision = yield cb.result()
    except CallbackTimeoutError:
        decision = "escalated"
    except CallbackExternalError as exc:
        decision = f"rejected: {exc.message}"
    try:
        invoice = yield ctx.invoke("billing:live", {"order": event["id"]}, name="bill")
    except InvokeError as exc:
        invoice = f"unbilled: {exc.message}"
    signed = yield ctx.wait_for_callback(lambda callback_id, _: None, name="sign")
    return [decision, invoice, signed]


def test_callbacks_and_invokes_are_answered_as_external_systems_would() -> None:
    result = (
        WorkflowScript(approval, {"id": 7})
        .expect(callback("manager"), returns={"ok": True})  # sent as JSON text
        .expect(invoke("bill", function="billing:live"), returns={"invoice": 42})
        .expect(callback("sign"), returns="signed")
        .run()
    )
    assert result == ['{"ok": true}', {"invoice": 42}, "signed"]


def test_failed_and_timed_out_answers_raise_the_sdk_exceptions() -> None:
    result = (
        WorkflowScript(approval, {"id": 7})
        .expect(callback("manager"), raises=CallbackTimeoutError("late"))
        .expect(invoke("bill"), raises=LookupError("no customer"))
        .expect(callback("sign"), raises=ValueError("refused"))
        .outcome()
    )
    assert result.result is None
    assert isinstance(result.error, CallbackExternalError)
    assert "refused" in str(result.error)
    outcome = (
        WorkflowScript(approval, {"id": 7})
        .expect(callback("manager"), raises=PermissionError("no"))
        .expect(invoke("bill"), raises=LookupError("no customer"))
        .expect(callback("sign"), returns="ok")
        .run()
    )
    assert outcome == ["rejected: no", "unbilled: no customer", "ok"]


def test_a_provided_wait_for_callback_does_not_run_its_submitter() -> None:
    submitted: list[str] = []

    @durable.workflow
    def sign(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.wait_for_callback(lambda cid, _: submitted.append(cid), name="sign"))

    assert simulate(sign, providers={callback("sign"): "done"}).value() == "done"
    assert submitted == []


# -- simulate --------------------------------------------------------------------------------


@durable.workflow
def process_order_v2(event: Any, ctx: durable.Context) -> Any:
    """process_order with an audit step added in the middle."""
    payment = yield charge(event["order_id"], event["amount"])
    audited = yield audit(event["order_id"])
    yield ctx.wait(Duration.from_minutes(30), name="cool-off")
    receipt = yield ctx.step(lambda _: f"receipt {payment['id']}", name="receipt")
    return {"status": "done", "receipt": receipt, "audit": audited}


def test_providers_survive_a_step_added_to_the_workflow_while_a_script_does_not() -> None:
    providers = {step("charge"): {"id": "ch-1"}, wait(): None}
    v1 = simulate(process_order, ORDER, providers=providers)
    v2 = simulate(process_order_v2, ORDER, providers=providers)
    assert v1.result == {"status": "done", "receipt": "receipt ch-1"}
    assert v2.result == {"status": "done", "receipt": "receipt ch-1", "audit": "audited o-1"}
    assert v2.ran == [
        ("step", "charge"),
        ("step", "audit"),
        ("wait", "cool-off"),
        ("step", "receipt"),
    ]
    script = (
        WorkflowScript(process_order_v2, ORDER)
        .expect(step("charge"), returns={"id": "ch-1"})
        .expect(wait("cool-off"))
    )
    with pytest.raises(ScriptError, match="operation #2: expected wait"):
        script.run()


def test_strict_mode_refuses_to_run_a_real_body() -> None:
    with pytest.raises(SimulationError) as caught:
        simulate(process_order_v2, ORDER, providers={step("charge"): {"id": "c"}}, strict=True)
    message = str(caught.value)
    assert "step 'audit'" in message and "strict=True" in message
    assert "providers={step('audit'): ...}" in message


def test_a_callback_nobody_answers_fails_naming_it() -> None:
    with pytest.raises(SimulationError, match=r"waits for callback 'manager' \(id .*\), which"):
        simulate(approval, {"id": 1})


def test_calls_record_arguments_and_attempts() -> None:
    seen: list[tuple[str, int]] = []

    def charge_provider(call: Call) -> Any:
        seen.append((call.name or "", call.attempt))
        return {"id": "ch-2"}

    outcome = simulate(
        process_order,
        ORDER,
        providers={step("charge"): charge_provider, step("never-used"): 1},
    )
    assert seen == [("charge", 1)]
    (charged,) = outcome.calls("charge")
    assert (charged.kind, charged.args, charged.kwargs, charged.provided) == (
        "step",
        ("o-1", 9.5),
        {},
        True,
    )
    assert charged.position == 1 and outcome.calls("receipt")[0].provided is False
    assert outcome.unused == (step("never-used"),)
    assert outcome.calls("missing") == []


def test_the_first_matching_provider_wins() -> None:
    outcome = simulate(
        process_order,
        ORDER,
        providers={step(where=lambda d: d.name == "charge"): {"id": "a"}, step(): {"id": "b"}},
    )
    assert outcome.result == {"status": "done", "receipt": {"id": "b"}}
    (charged,) = outcome.calls("charge")
    assert charged.outcomes[0] == Value({"id": "a"})


def test_a_wait_cannot_be_given_an_outcome() -> None:
    with pytest.raises(SimulationError, match="a wait has no outcome"):
        simulate(process_order, ORDER, providers={step("charge"): {}, wait(): 5})


def test_parallel_and_condition_outcomes() -> None:
    @durable.workflow
    def poll(event: Any, ctx: durable.Context) -> Any:
        both = yield ctx.parallel([lambda c: 1, lambda c: 2], name="both")
        state = yield ctx.wait_for_condition(
            lambda s, _: {"n": s["n"] + 1},
            config=WaitForConditionConfig(
                wait_strategy=create_wait_strategy(
                    WaitStrategyConfig(should_continue_polling=lambda s: s["n"] < 3)
                ),
                initial_state={"n": 0},
            ),
            name="poll",
        )
        return [both.get_results(), state]

    real = simulate(poll)
    assert real.result == [[1, 2], {"n": 3}]
    assert real.calls("poll")[0].attempts == 3  # three real checks, in virtual time
    provided = simulate(
        poll,
        providers={
            parallel("both"): BatchResult.from_items(
                [BatchItem(0, BatchItemStatus.SUCCEEDED, result="x")], None
            ),
            condition("poll"): {"n": 99},
        },
    )
    assert provided.result == [["x"], {"n": 99}]
    failed = simulate(poll, providers={condition("poll"): TimeoutError("gave up")})
    assert isinstance(failed.error, WaitForConditionError)


def test_a_provided_map_takes_a_batch_result() -> None:
    batch = BatchResult.from_items([BatchItem(0, BatchItemStatus.SUCCEEDED, result=5)], None)
    outcome = simulate(reserve_trip, {"cities": ["x"]}, providers={map("quotes"): batch})
    assert outcome.value()["quotes"] == [5]
    assert [kind for kind, _ in outcome.ran] == ["child", "step", "step", "map"]


@STYLES
def test_a_simulation_writes_the_log_a_local_run_writes(workflow: Any) -> None:
    """Same ids, types, names, statuses and results as the local runner:
    the simulation drives the same interpreter."""
    paid = {"id": "ch-7"}

    def bodies(action: RunStep) -> Any:
        return Value(paid) if action.name == "charge" else run_step_body(action)

    local = LocalRunner(workflow, run_body=bodies).run(ORDER)
    simulated = simulate(workflow, ORDER, providers={step("charge"): paid})

    def essence(log: Any) -> list[tuple[Any, ...]]:
        return [
            (op.id, op.type, op.sub_type, op.name, op.parent_id, op.status, op.result)
            for op in log
            if op.type is not OperationType.EXECUTION
        ]

    assert simulated.result == local.result == {"status": "done", "receipt": "receipt ch-7"}
    assert essence(simulated.log) == essence(local.log)
    assert simulated.invocations == local.invocations == 2
