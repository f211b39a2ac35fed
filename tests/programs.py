"""Generated workflow programs for property tests.

A *program* is a list of operations (steps that succeed, fail, or fail a few
times then succeed under a retry strategy; waits; child contexts; callbacks,
invokes and polls; maps and parallels whose branches run such programs).
The same program is built as a generator, a coroutine and an imperative
workflow, so properties can compare the three styles.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

import durable
from durable import (
    BatchResult,
    CompletionConfig,
    DurableContext,
    Duration,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
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
    #: Seconds the body sleeps (real time), so that concurrent bodies finish
    #: in a different order than they started.
    sleep: float = 0.0


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


@attrs.frozen
class BranchSpec:
    """One branch of a map or parallel: runs ``body``, then raises if ``fails``.

    ``value`` is the map item of a map branch; ``name`` makes a parallel
    branch a ``ParallelBranch`` of that name (``None``: a plain function)."""

    body: tuple[Spec, ...]
    fails: bool = False
    value: int = 0
    name: str | None = None


#: A completion policy: ``("default", None)`` (the config's default),
#: ``("all_completed", None)``, ``("all_successful", None)``,
#: ``("failure_count", k)``, ``("failure_percentage", p)`` or
#: ``("min_successful", m)``.
Policy = tuple[str, int | None]


@attrs.frozen
class MapSpec:
    """``map`` over the items ``branch.value``; item ``i`` runs ``items[i]``."""

    name: str | None
    items: tuple[BranchSpec, ...]
    max_concurrency: int | None = None
    policy: Policy = ("default", None)
    flat: bool = False
    #: Name the items with an ``item_namer``.
    named_items: bool = False


@attrs.frozen
class ParallelSpec:
    name: str | None
    branches: tuple[BranchSpec, ...]
    max_concurrency: int | None = None
    policy: Policy = ("default", None)
    flat: bool = False


Spec = (
    StepSpec | WaitSpec | ChildSpec | CallbackSpec | InvokeSpec | PollSpec | MapSpec | ParallelSpec
)

names = st.one_of(st.none(), st.sampled_from(["a", "b", "charge", "ship", "x y"]))
values = st.one_of(
    st.integers(-10, 10),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["k", "v"]), st.integers(0, 3), max_size=2),
    st.tuples(st.integers(0, 3), st.booleans()),
)


def _step_specs(*, sleeps: bool = False) -> st.SearchStrategy[StepSpec]:
    return st.builds(
        StepSpec,
        name=names,
        failures=st.integers(0, 3),
        max_attempts=st.integers(1, 3),
        at_most_once=st.booleans(),
        value=values,
        # 0-2 ms, in whole microseconds so that examples print and shrink well.
        sleep=st.integers(0, 2000).map(lambda us: us / 1e6) if sleeps else st.just(0.0),
    )


step_specs = _step_specs()
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


branch_names = st.one_of(st.none(), st.sampled_from(["", "left", "right", "x y"]))


def policies(size: int, *, early: bool = True) -> st.SearchStrategy[Policy]:
    """Completion policies for a batch of ``size`` branches: only
    ``all_completed`` unless ``early``."""
    options: list[st.SearchStrategy[Policy]] = [st.just(("all_completed", None))]
    if early:
        options += [
            st.just(("default", None)),
            st.just(("all_successful", None)),
            st.tuples(st.just("failure_count"), st.integers(0, max(size, 1))),
            st.tuples(st.just("failure_percentage"), st.sampled_from([0, 25, 50, 100])),
        ]
        if size:
            options.append(st.tuples(st.just("min_successful"), st.integers(1, size)))
    return st.one_of(options)


@st.composite
def _batch_spec(draw: Any, inner: st.SearchStrategy[Any], *, early: bool) -> MapSpec | ParallelSpec:
    """A map or a parallel of up to 3 branches running up to 2 ``inner`` specs
    each.  Policies that can complete the batch while branches still run are
    drawn only with ``max_concurrency=1`` (one branch in flight) unless ``early``."""
    is_map = draw(st.booleans())
    body = st.lists(inner, max_size=2).map(tuple)
    label = st.integers(0, 9) if is_map else st.just(0)
    branch_name = st.none() if is_map else branch_names
    branches = tuple(
        draw(
            st.lists(
                st.builds(
                    BranchSpec, body=body, fails=st.booleans(), value=label, name=branch_name
                ),
                max_size=3,
            )
        )
    )
    name = draw(names)
    concurrency = draw(st.one_of(st.none(), st.integers(1, 3)))
    policy = draw(policies(len(branches), early=early or concurrency == 1))
    flat = draw(st.booleans())
    if is_map:
        return MapSpec(name, branches, concurrency, policy, flat, named_items=draw(st.booleans()))
    return ParallelSpec(name, branches, concurrency, policy, flat)


def programs(
    *,
    at_most_once: bool = True,
    max_size: int = 6,
    children: bool = False,
    external: bool = False,
    batches: bool = False,
    early: bool = True,
    sleeps: bool = False,
    max_leaves: int = 6,
) -> st.SearchStrategy[list[Spec]]:
    """Lists of step and wait specs (at-least-once steps only unless
    ``at_most_once``), with nested child contexts when ``children``, maps
    and parallels when ``batches`` (see ``_batch_spec`` for ``early``), and
    callbacks, invokes and polls when ``external``.  With ``sleeps`` step
    bodies sleep up to 2 ms."""
    steps = _step_specs(sleeps=sleeps)
    if not at_most_once:
        steps = steps.map(lambda s: attrs.evolve(s, at_most_once=False))
    leaves: st.SearchStrategy[Any] = st.one_of(steps, wait_specs)
    if external:
        leaves = st.one_of(leaves, callback_specs, invoke_specs, poll_specs)
    if children or batches:

        def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
            options = []
            if children:
                options.append(
                    st.builds(
                        ChildSpec,
                        name=names,
                        body=st.lists(inner, max_size=3).map(tuple),
                        fails=st.booleans(),
                    )
                )
            if batches:
                options.append(_batch_spec(inner, early=early))
            return st.one_of(options)

        leaves = st.recursive(leaves, extend, max_leaves=max_leaves)
    return st.lists(leaves, min_size=1, max_size=max_size)


#: A map inside a parallel inside a child context, then an empty map and a
#: fail-fast parallel of one branch at a time: an explicit example for the
#: properties.
NESTED: list[Spec] = [
    StepSpec("a", failures=0, max_attempts=1, at_most_once=False, value=1),
    ChildSpec(
        "outer",
        (
            ParallelSpec(
                "p",
                (
                    BranchSpec(
                        (
                            MapSpec(
                                "m",
                                (
                                    BranchSpec(
                                        (StepSpec("s", 1, 2, False, "x"),),
                                        value=1,
                                    ),
                                    BranchSpec((WaitSpec(None, 5),), fails=True, value=2),
                                    BranchSpec((StepSpec(None, 0, 1, False, 3),), value=3),
                                ),
                                max_concurrency=2,
                                policy=("all_completed", None),
                                named_items=True,
                            ),
                        ),
                        name="left",
                    ),
                    BranchSpec((StepSpec(None, 2, 3, False, [1]),)),
                    BranchSpec((WaitSpec("w", 2),), fails=True, name=""),
                ),
                policy=("all_completed", None),
                flat=True,
            ),
        ),
    ),
    MapSpec(None, ()),
    ParallelSpec(
        "seq",
        (BranchSpec((), fails=True), BranchSpec((StepSpec(None, 0, 1, False, 2),))),
        max_concurrency=1,
    ),
]


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
        if spec.sleep:
            time.sleep(spec.sleep)
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


def _completion(policy: Policy) -> dict[str, CompletionConfig]:
    """The ``completion_config`` argument of a batch config (none: its default)."""
    kind, n = policy
    if kind == "default":
        return {}
    if kind == "all_completed":
        config = CompletionConfig.all_completed()
    elif kind == "all_successful":
        config = CompletionConfig.all_successful()
    elif kind == "failure_count":
        config = CompletionConfig(tolerated_failure_count=n)
    elif kind == "failure_percentage":
        config = CompletionConfig(tolerated_failure_percentage=n)
    else:
        assert kind == "min_successful"
        config = CompletionConfig(min_successful=n)
    return {"completion_config": config}


def _nesting(spec: MapSpec | ParallelSpec) -> NestingType:
    return NestingType.FLAT if spec.flat else NestingType.NESTED


def _item_name(item: int, index: int) -> str:
    return f"item {item}"


def _map_config(spec: MapSpec) -> MapConfig:
    return MapConfig(
        max_concurrency=spec.max_concurrency,
        nesting_type=_nesting(spec),
        item_namer=_item_name if spec.named_items else None,
        **_completion(spec.policy),
    )


def _parallel_config(spec: ParallelSpec) -> ParallelConfig:
    return ParallelConfig(
        max_concurrency=spec.max_concurrency,
        nesting_type=_nesting(spec),
        **_completion(spec.policy),
    )


def _branch_failure(index: int) -> ValueError:
    return ValueError(f"branch {index} failed")


def _parallel_functions(
    spec: ParallelSpec, make: Callable[[int, BranchSpec], Callable[..., Any]]
) -> list[Any]:
    """The branches of a parallel, ``ParallelBranch``es where a name is set."""
    functions: list[Any] = []
    for index, branch in enumerate(spec.branches):
        fn = make(index, branch)
        functions.append(fn if branch.name is None else ParallelBranch(fn, name=branch.name))
    return functions


def _render(batch: Any) -> list[Any]:
    """A batch result as the workflow records it (plain JSON)."""
    assert isinstance(batch, BatchResult), batch
    errors = [[e.type, e.message] for e in batch.get_errors() if e is not None]
    return ["batch", batch.to_dict(), len(batch.get_results()), errors]


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
            elif isinstance(spec, MapSpec):

                def item(
                    c: durable.Context, value: int, index: int, items: Any, spec: MapSpec = spec
                ) -> Any:
                    inner = yield from run(c, spec.items[index].body)
                    if spec.items[index].fails:
                        raise _branch_failure(index)
                    return [value, index, len(items), inner]

                inputs = [branch.value for branch in spec.items]
                config = _map_config(spec)
                results.append(
                    _render((yield ctx.map(inputs, item, name=spec.name, config=config)))
                )
            elif isinstance(spec, ParallelSpec):

                def make(index: int, branch: BranchSpec) -> Callable[..., Any]:
                    def run_branch(c: durable.Context) -> Any:
                        inner = yield from run(c, branch.body)
                        if branch.fails:
                            raise _branch_failure(index)
                        return [index, inner]

                    return run_branch

                functions = _parallel_functions(spec, make)
                config = _parallel_config(spec)
                results.append(
                    _render((yield ctx.parallel(functions, name=spec.name, config=config)))
                )
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
            elif isinstance(spec, MapSpec):

                async def item(
                    c: durable.Context, value: int, index: int, items: Any, spec: MapSpec = spec
                ) -> Any:
                    inner = await run(c, spec.items[index].body)
                    if spec.items[index].fails:
                        raise _branch_failure(index)
                    return [value, index, len(items), inner]

                inputs = [branch.value for branch in spec.items]
                config = _map_config(spec)
                results.append(_render(await ctx.map(inputs, item, name=spec.name, config=config)))
            elif isinstance(spec, ParallelSpec):

                def make(index: int, branch: BranchSpec) -> Callable[..., Any]:
                    async def run_branch(c: durable.Context) -> Any:
                        inner = await run(c, branch.body)
                        if branch.fails:
                            raise _branch_failure(index)
                        return [index, inner]

                    return run_branch

                functions = _parallel_functions(spec, make)
                config = _parallel_config(spec)
                results.append(
                    _render(await ctx.parallel(functions, name=spec.name, config=config))
                )
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
            elif isinstance(spec, MapSpec):

                def item(
                    c: DurableContext, value: int, index: int, items: Any, spec: MapSpec = spec
                ) -> Any:
                    inner = run(c, spec.items[index].body)
                    if spec.items[index].fails:
                        raise _branch_failure(index)
                    return [value, index, len(items), inner]

                inputs = [branch.value for branch in spec.items]
                config = _map_config(spec)
                results.append(_render(ctx.map(inputs, item, name=spec.name, config=config)))
            elif isinstance(spec, ParallelSpec):

                def make(index: int, branch: BranchSpec) -> Callable[..., Any]:
                    def run_branch(c: DurableContext) -> Any:
                        inner = run(c, branch.body)
                        if branch.fails:
                            raise _branch_failure(index)
                        return [index, inner]

                    return run_branch

                functions = _parallel_functions(spec, make)
                config = _parallel_config(spec)
                results.append(_render(ctx.parallel(functions, name=spec.name, config=config)))
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
    """A ``run_body`` hook that counts how often each (step, attempt) body ran.

    Bodies of concurrent branches may run on several threads; the count is
    locked, but which body is the ``crash_at``-th then depends on timing
    (crash tests run with one worker)."""

    def __init__(self, *, crash_at: int | None = None) -> None:
        self.runs: Counter[tuple[str, int]] = Counter()
        self.calls = 0
        self.crash_at = crash_at
        self._lock = threading.Lock()

    def __call__(self, action: RunStep) -> Value | Failure:
        with self._lock:
            self.runs[(action.op_id, action.attempt)] += 1
            self.calls += 1
            calls = self.calls
        if calls == self.crash_at:
            # The process dies while the body runs (its side effects happened).
            raise SimulatedCrash(f"killed in the body of {action.op_id}")
        return run_step_body(action)


def has_batches(program: Any) -> bool:
    """Whether a map or parallel occurs anywhere in ``program``."""
    for spec in program:
        if isinstance(spec, MapSpec | ParallelSpec):
            return True
        if isinstance(spec, ChildSpec) and has_batches(spec.body):
            return True
    return False


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
