"""Each strategy of durable.testing.strategies generates what it promises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import durable
from durable import Duration, StepConfig, StepSemantics
from durable.config import check_name
from durable.errors import StepError
from durable.model import ErrorObject
from durable.ops import Wait
from durable.retries import RetryDecision, decide_retry
from durable.runtime import run_step_body
from durable.serdes import EXTENDED_TYPES_SERDES
from durable.testing import LocalRunner
from durable.testing.determinism import CrashPoint
from durable.testing.strategies import (
    ERROR_TYPES,
    crash_points,
    durations,
    errors,
    json_values,
    operation_names,
    retry_strategies,
    step_configs,
)
from durable.testing.unit import simulate, step

FAST = settings(max_examples=60, deadline=None)


@durable.workflow
def echo(event: Any, ctx: durable.Context) -> Any:
    """Returns its input through a step."""
    return (yield ctx.step(lambda _: event, name="echo"))


@FAST
@given(json_values())
def test_json_values_survive_lambda_json_and_the_step_serializer(value: Any) -> None:
    assert json.loads(json.dumps(value)) == value
    text = EXTENDED_TYPES_SERDES.serialize(value, None)  # type: ignore[arg-type]
    assert EXTENDED_TYPES_SERDES.deserialize(text, None) == value  # type: ignore[arg-type]
    assert simulate(echo, value).value() == value


@FAST
@given(operation_names())
def test_operation_names_are_accepted_by_the_service_rules(name: str) -> None:
    assert 1 <= len(name) <= 256 and all(" " <= ch <= "~" for ch in name)
    assert check_name(name) == name
    assert Wait(seconds=1, name=name).name == name


@given(operation_names(min_size=256, max_size=256))
def test_operation_names_reach_the_length_limit(name: str) -> None:
    assert len(name) == 256 and check_name(name) == name


def test_operation_names_refuse_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="max_size <= 256"):
        operation_names(max_size=257)


@FAST
@given(durations())
def test_durations_are_waits_the_service_accepts(duration: Duration) -> None:
    assert 1 <= duration.seconds <= 31_622_400
    assert Wait(seconds=duration.seconds).seconds == duration.seconds


@given(durations(min_seconds=5, max_seconds=7))
def test_durations_respect_their_bounds(duration: Duration) -> None:
    assert 5 <= duration.seconds <= 7


@FAST
@given(retry_strategies(max_attempts=4, max_delay_seconds=30), errors(), st.integers(1, 6))
def test_retry_strategies_stay_within_their_bounds(
    strategy: Any, error: Exception, attempts_made: int
) -> None:
    decision = decide_retry(strategy, error, attempts_made, lambda: 0.5)
    assert isinstance(decision, RetryDecision)
    if attempts_made >= 4:
        assert not decision.should_retry
    if decision.should_retry:
        assert 1 <= decision.delay_seconds <= 30


@settings(max_examples=30, deadline=None)
@given(step_configs(), errors())
def test_step_configs_drive_retries_as_their_strategy_decides(
    config: StepConfig, error: Exception
) -> None:
    """A body failing once, then succeeding: the step succeeds on attempt 2
    exactly when the config's strategy retries after one failure."""

    @durable.workflow
    def once(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(lambda _: "ok", name="flaky", config=config))

    def fail_first(call: Any) -> Any:
        if call.attempt == 1:
            raise error
        return "ok"

    assert isinstance(config, StepConfig)
    outcome = simulate(once, providers={step("flaky"): fail_first})
    strategy = config.retry_strategy or durable.RetryPresets.default()
    retried = decide_retry(strategy, error, 1, lambda: 0.5).should_retry
    (flaky,) = outcome.calls("flaky")
    if retried:
        assert outcome.value() == "ok" and flaky.attempts == 2
    else:
        assert isinstance(outcome.error, StepError) and flaky.attempts == 1


@given(step_configs(semantics=[StepSemantics.AT_MOST_ONCE_PER_RETRY]))
def test_step_configs_use_the_semantics_asked_for(config: StepConfig) -> None:
    assert config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY


@FAST
@given(errors())
def test_errors_are_recorded_with_their_type_and_message(error: Exception) -> None:
    assert type(error) in ERROR_TYPES
    record = ErrorObject.from_exception(error)
    assert record.message == str(error)
    assert record.type is not None and record.type.endswith(type(error).__name__)


@given(errors([KeyError]))
def test_errors_take_the_types_given(error: Exception) -> None:
    assert type(error) is KeyError


@durable.workflow
def three_steps(event: Any, ctx: durable.Context) -> Any:
    a = yield ctx.step(lambda _: event["n"] + 1, name="a")
    yield ctx.wait(Duration(5), name="pause")
    b = yield ctx.step(lambda _: a * 2, name="b")
    return [a, b]


def _clean_run() -> tuple[Any, int, int]:
    bodies = 0

    def count(action: Any) -> Any:
        nonlocal bodies
        bodies += 1
        return run_step_body(action)

    runner = LocalRunner(three_steps, run_body=count)
    result = runner.run({"n": 3})
    return result, runner.service.calls, bodies


CLEAN, CHECKPOINTS, BODIES = _clean_run()


@settings(max_examples=40, deadline=None)
@given(crash_points(CHECKPOINTS, BODIES))
def test_crash_points_crash_a_run_that_then_resumes_to_the_same_end(point: CrashPoint) -> None:
    assert 1 <= point.number <= (BODIES if point.phase == "body" else CHECKPOINTS)
    runner = LocalRunner(three_steps, **point.runner_options())
    result = runner.run({"n": 3})
    assert result.invocations > CLEAN.invocations  # the crash cost an invocation
    assert result.result == CLEAN.result == [4, 8]


@given(crash_points(0, 2))
def test_crash_points_without_checkpoints_are_in_bodies(point: CrashPoint) -> None:
    assert point.phase == "body" and point.number in (1, 2)


def test_crash_points_need_something_to_crash() -> None:
    with pytest.raises(ValueError, match="need a run with checkpoints or bodies"):
        crash_points(0, 0)
