"""Generated workflow programs for property tests.

A *program* is a list of operations (steps that succeed, fail, or fail a few
times then succeed under a retry strategy; waits).  The same program is
built as a generator workflow and as a coroutine workflow, so properties can
compare the two styles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

import durable
from durable import (
    DurableContext,
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    StepSemantics,
    create_retry_strategy,
    durable_execution,
)
from durable.core import Failure, RunStep, Value
from durable.model import Operation
from durable.runtime import run_step_body
from durable.testing import SimulatedCrash


@attrs.frozen
class StepSpec:
    name: str | None
    #: The body raises on attempts 1..failures, then returns ``value``.
    failures: int
    max_attempts: int
    at_most_once: bool
    value: Any


@attrs.frozen
class WaitSpec:
    name: str | None
    seconds: int


@attrs.frozen
class ChildSpec:
    name: str | None
    body: tuple[Spec, ...]
    #: Raise after the body's operations (the context then FAILs).
    fails: bool = False


@attrs.frozen
class CallbackSpec:
    """A callback the test's responder answers: ``answer`` is the success
    payload, ``"!fail"`` for a failure, or ``None`` to let it time out."""

    answer: str | None
    timeout: int


@attrs.frozen
class InvokeSpec:
    """A chained invoke of the registered plain function ``echo``, which
    fails when ``fail`` is set."""

    value: int
    fail: bool


@attrs.frozen
class PollSpec:
    """wait_for_condition counting up to ``target`` by one per check."""

    target: int
    max_attempts: int


Spec = StepSpec | WaitSpec | ChildSpec | CallbackSpec | InvokeSpec | PollSpec

names = st.one_of(st.none(), st.sampled_from(["a", "b", "charge", "ship", "x y"]))
values = st.one_of(
    st.integers(-10, 10),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["k", "v"]), st.integers(0, 3), max_size=2),
    st.tuples(st.integers(0, 3), st.booleans()),
)
step_specs = st.builds(
    StepSpec,
    name=names,
    failures=st.integers(0, 3),
    max_attempts=st.integers(1, 3),
    at_most_once=st.booleans(),
    value=values,
)
wait_specs = st.builds(WaitSpec, name=names, seconds=st.integers(1, 3600))


callback_specs = st.builds(
    CallbackSpec,
    answer=st.one_of(
        st.none(),
        st.just("!fail"),
        st.text(
            st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="|"), max_size=4
        ),
    ),
    # Longer than the 5 s the service waits before retrying a crashed
    # invocation: a crash must not make a callback time out that the clean
    # run answered (that would be a real difference, not non-determinism).
    timeout=st.integers(60, 7200),
)
invoke_specs = st.builds(InvokeSpec, value=st.integers(0, 99), fail=st.booleans())
poll_specs = st.builds(PollSpec, target=st.integers(1, 4), max_attempts=st.integers(1, 5))


def programs(
    *,
    at_most_once: bool = True,
    max_size: int = 6,
    children: bool = False,
    external: bool = False,
) -> st.SearchStrategy[list[Spec]]:
    """Lists of step and wait specs (at-least-once steps only unless
    ``at_most_once``), with nested child contexts when ``children`` and
    callbacks, invokes and polls when ``external``."""
    steps = (
        step_specs
        if at_most_once
        else step_specs.map(lambda s: attrs.evolve(s, at_most_once=False))
    )
    leaves: st.SearchStrategy[Any] = st.one_of(steps, wait_specs)
    if external:
        leaves = st.one_of(leaves, callback_specs, invoke_specs, poll_specs)
    if children:
        leaves = st.recursive(
            leaves,
            lambda inner: st.builds(
                ChildSpec,
                name=names,
                body=st.lists(inner, max_size=3).map(tuple),
                fails=st.booleans(),
            ),
            max_leaves=6,
        )
    return st.lists(leaves, min_size=1, max_size=max_size)


def _config(spec: StepSpec) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=spec.max_attempts,
                initial_delay=Duration(2),
                jitter_strategy=JitterStrategy.NONE,
            )
        ),
        step_semantics=(
            StepSemantics.AT_MOST_ONCE_PER_RETRY
            if spec.at_most_once
            else StepSemantics.AT_LEAST_ONCE_PER_RETRY
        ),
    )


def _body(spec: StepSpec) -> Callable[[durable.StepContext], Any]:
    def body(step_ctx: durable.StepContext) -> Any:
        if step_ctx.attempt <= spec.failures:
            raise ValueError(f"attempt {step_ctx.attempt} failed")
        return spec.value

    return body


def _child_failure(spec: ChildSpec) -> ValueError:
    return ValueError(f"child {spec.name} failed")


def _callback_name(spec: CallbackSpec) -> str:
    # The responder finds the answer in the name: no shared state needed.
    if spec.answer is None:
        return f"cb|timeout|{spec.timeout}"
    if spec.answer == "!fail":
        return f"cb|fail|{spec.timeout}"
    return f"cb|ok:{spec.answer}|{spec.timeout}"


def respond(op: Any) -> Any:
    """The ``on_callback`` responder of generated programs."""
    from durable.testing import CallbackAnswer

    _, answer, _ = op.name.split("|")
    if answer == "timeout":
        return None
    if answer == "fail":
        return CallbackAnswer.failure(ValueError("rejected"))
    return CallbackAnswer.success(answer.removeprefix("ok:"))


def echo(payload: Any) -> Any:
    """The invoke target of generated programs."""
    if payload["fail"]:
        raise LookupError(f"no {payload['value']}")
    return payload["value"] * 2


def _poll_config(spec: PollSpec) -> Any:
    return durable.WaitForConditionConfig(
        wait_strategy=durable.create_wait_strategy(
            durable.WaitStrategyConfig(
                should_continue_polling=lambda n: n < spec.target,
                max_attempts=spec.max_attempts,
                initial_delay=Duration(3),
                jitter_strategy=JitterStrategy.NONE,
            )
        ),
        initial_state=0,
    )


def _count(state: int, context: Any) -> int:
    return state + 1


def _external_errors() -> tuple[type[Exception], ...]:
    return (
        durable.CallbackError,
        durable.InvokeError,
        durable.WaitForConditionError,
    )


def generator_workflow(program: list[Spec]) -> Callable[..., Any]:
    def run(ctx: durable.Context, specs: Any) -> Any:
        results: list[Any] = []
        for spec in specs:
            if isinstance(spec, WaitSpec):
                yield ctx.wait(spec.seconds, name=spec.name)
            elif isinstance(spec, ChildSpec):

                def child(c: durable.Context, spec: ChildSpec = spec) -> Any:
                    inner = yield from run(c, spec.body)
                    if spec.fails:
                        raise _child_failure(spec)
                    return inner

                try:
                    results.append((yield ctx.run_in_child_context(child, name=spec.name)))
                except durable.ChildContextError as err:
                    results.append(["child failed", err.message, err.error_type])
            elif isinstance(spec, CallbackSpec):
                config = durable.CallbackConfig(timeout=Duration(spec.timeout))
                try:
                    cb = yield ctx.create_callback(name=_callback_name(spec), config=config)
                    results.append((yield cb.result()))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, InvokeSpec):
                try:
                    payload = {"value": spec.value, "fail": spec.fail}
                    results.append((yield ctx.invoke("echo", payload, name="echo")))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, PollSpec):
                try:
                    results.append((yield ctx.wait_for_condition(_count, _poll_config(spec))))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            else:
                try:
                    results.append(
                        (yield ctx.step(_body(spec), name=spec.name, config=_config(spec)))
                    )
                except StepError as err:
                    results.append(["failed", err.message, err.error_type])
        return results

    def workflow(event: Any, ctx: durable.Context) -> Any:
        return (yield from run(ctx, program))

    return workflow


def coroutine_workflow(program: list[Spec]) -> Callable[..., Any]:
    async def run(ctx: durable.Context, specs: Any) -> Any:
        results: list[Any] = []
        for spec in specs:
            if isinstance(spec, WaitSpec):
                await ctx.wait(spec.seconds, name=spec.name)
            elif isinstance(spec, ChildSpec):

                async def child(c: durable.Context, spec: ChildSpec = spec) -> Any:
                    inner = await run(c, spec.body)
                    if spec.fails:
                        raise _child_failure(spec)
                    return inner

                try:
                    results.append(await ctx.run_in_child_context(child, name=spec.name))
                except durable.ChildContextError as err:
                    results.append(["child failed", err.message, err.error_type])
            elif isinstance(spec, CallbackSpec):
                config = durable.CallbackConfig(timeout=Duration(spec.timeout))
                try:
                    cb = await ctx.create_callback(name=_callback_name(spec), config=config)
                    results.append(await cb.result())
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, InvokeSpec):
                try:
                    payload = {"value": spec.value, "fail": spec.fail}
                    results.append(await ctx.invoke("echo", payload, name="echo"))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, PollSpec):
                try:
                    results.append(await ctx.wait_for_condition(_count, _poll_config(spec)))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            else:
                try:
                    results.append(
                        await ctx.step(_body(spec), name=spec.name, config=_config(spec))
                    )
                except StepError as err:
                    results.append(["failed", err.message, err.error_type])
        return results

    async def workflow(event: Any, ctx: durable.Context) -> Any:
        return await run(ctx, program)

    return workflow


def imperative_workflow(program: list[Spec]) -> Any:
    def run(ctx: DurableContext, specs: Any) -> Any:
        results: list[Any] = []
        for spec in specs:
            if isinstance(spec, WaitSpec):
                ctx.wait(Duration(spec.seconds), name=spec.name)
            elif isinstance(spec, ChildSpec):

                def child(c: DurableContext, spec: ChildSpec = spec) -> Any:
                    inner = run(c, spec.body)
                    if spec.fails:
                        raise _child_failure(spec)
                    return inner

                try:
                    results.append(ctx.run_in_child_context(child, name=spec.name))
                except durable.ChildContextError as err:
                    results.append(["child failed", err.message, err.error_type])
            elif isinstance(spec, CallbackSpec):
                config = durable.CallbackConfig(timeout=Duration(spec.timeout))
                try:
                    cb = ctx.create_callback(name=_callback_name(spec), config=config)
                    results.append(cb.result())
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, InvokeSpec):
                try:
                    payload = {"value": spec.value, "fail": spec.fail}
                    results.append(ctx.invoke("echo", payload, name="echo"))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            elif isinstance(spec, PollSpec):
                try:
                    results.append(ctx.wait_for_condition(_count, _poll_config(spec)))
                except _external_errors() as err:
                    results.append([type(err).__name__, err.message])
            else:
                try:
                    results.append(ctx.step(_body(spec), name=spec.name, config=_config(spec)))
                except StepError as err:
                    results.append(["failed", err.message, err.error_type])
        return results

    @durable_execution
    def handler(event: Any, context: DurableContext) -> Any:
        return run(context, program)

    return handler


STYLES: dict[str, Callable[[list[Spec]], Any]] = {
    "generator": generator_workflow,
    "coroutine": coroutine_workflow,
    "imperative": imperative_workflow,
}


class BodyCounter:
    """A ``run_body`` hook that counts how often each (step, attempt) body ran."""

    def __init__(self, *, crash_at: int | None = None) -> None:
        self.runs: Counter[tuple[str, int]] = Counter()
        self.calls = 0
        self.crash_at = crash_at

    def __call__(self, action: RunStep) -> Value | Failure:
        self.runs[(action.op_id, action.attempt)] += 1
        self.calls += 1
        if self.calls == self.crash_at:
            # The process dies while the body runs (its side effects happened).
            raise SimulatedCrash(f"killed in the body of {action.op_id}")
        return run_step_body(action)


def essence(log: tuple[Operation, ...] | list[Operation]) -> list[tuple[Any, ...]]:
    """What a log says, without timestamps (which depend on when things ran)."""
    out = []
    for op in log:
        step = op.step_details
        out.append(
            (
                op.id,
                op.type,
                op.sub_type,
                op.name,
                op.parent_id,
                op.status,
                step.attempt if step is not None else None,
                op.result,
                op.error,
            )
        )
    return out
