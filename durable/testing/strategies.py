"""Hypothesis strategies for durable workflows and their tests.

Importing this module imports Hypothesis (``pip install 'durable[testing]'``);
``import durable.testing`` does not.

* ``json_values()``: inputs and results that survive Lambda's JSON and the
  default serializer unchanged;
* ``operation_names()``: names the service accepts (1-256 printable ASCII);
* ``durations()``: wait and timeout lengths the service accepts;
* ``retry_strategies()`` and ``step_configs()``: retry behaviour to run steps
  under, with short delays;
* ``errors()``: exceptions for step bodies and providers to raise;
* ``crash_points()``: where ``LocalRunner`` runs crash (``CrashPoint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from durable.config import MAX_NAME_LENGTH, MAX_WAIT_SECONDS, Duration, StepConfig, StepSemantics
from durable.retries import (
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryPresets,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable.testing.determinism import CrashPoint

__all__ = [
    "ERROR_TYPES",
    "crash_points",
    "durations",
    "errors",
    "json_values",
    "operation_names",
    "retry_strategies",
    "step_configs",
]

#: The largest integer JSON readers in other languages hold exactly.
_SAFE_INT = 2**53


def _text(max_size: int) -> SearchStrategy[str]:
    # No lone surrogates: they cannot be encoded as UTF-8.
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=max_size)


def json_values(*, max_leaves: int = 12, max_text: int = 12) -> SearchStrategy[Any]:
    """JSON values: ``None``, booleans, integers within +/-2**53, finite floats,
    text, and lists and string-keyed dicts of those.

    Each one equals itself after ``json.loads(json.dumps(v))`` (what Lambda
    does to an input and a result) and after a round trip through the
    default step serializer, so a workflow can take it as input and return
    it, or a step can return it, unchanged.
    """
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-_SAFE_INT, _SAFE_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _text(max_text)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(_text(max_text), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def operation_names(*, min_size: int = 1, max_size: int = MAX_NAME_LENGTH) -> SearchStrategy[str]:
    """Operation names the service accepts: ``min_size`` to ``max_size``
    (at most 256) characters of printable ASCII (0x20-0x7E)."""
    if not 1 <= min_size <= max_size <= MAX_NAME_LENGTH:
        raise ValueError(
            f"operation_names: need 1 <= min_size <= max_size <= {MAX_NAME_LENGTH}, "
            f"got min_size={min_size}, max_size={max_size}"
        )
    return st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=min_size, max_size=max_size
    )


def durations(
    *, min_seconds: int = 1, max_seconds: int = MAX_WAIT_SECONDS
) -> SearchStrategy[Duration]:
    """``Duration``s of ``min_seconds`` to ``max_seconds`` whole seconds; the
    defaults span what ``ctx.wait`` accepts (1 s to 366 days)."""
    if not 0 <= min_seconds <= max_seconds:
        raise ValueError(
            f"durations: need 0 <= min_seconds <= max_seconds, got {min_seconds}, {max_seconds}"
        )
    return st.integers(min_seconds, max_seconds).map(Duration)


def retry_strategies(*, max_attempts: int = 4, max_delay_seconds: int = 60) -> SearchStrategy[Any]:
    """Retry strategies for ``StepConfig.retry_strategy``: never retry,
    exponential or linear back-off (any jitter) with at most
    ``max_attempts`` attempts and delays of at most ``max_delay_seconds``,
    or one of the ``RetryPresets`` within those bounds."""
    if max_attempts < 1 or max_delay_seconds < 1:
        raise ValueError(
            "retry_strategies: max_attempts and max_delay_seconds must be at least 1, got "
            f"{max_attempts} and {max_delay_seconds}"
        )
    delays = st.integers(1, max_delay_seconds).map(Duration)
    attempts = st.integers(1, max_attempts)
    jitter = st.sampled_from(JitterStrategy)

    @st.composite
    def exponential(draw: st.DrawFn) -> Any:
        first = draw(delays)
        cap = draw(st.integers(first.seconds, max_delay_seconds))
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=draw(attempts),
                initial_delay=first,
                max_delay=Duration(cap),
                backoff_rate=draw(st.floats(1.0, 3.0)),
                jitter_strategy=draw(jitter),
            )
        )

    @st.composite
    def linear(draw: st.DrawFn) -> Any:
        first = draw(delays)
        return create_linear_retry_strategy(
            LinearRetryStrategyConfig(
                max_attempts=draw(attempts),
                initial_delay=first,
                increment=draw(st.integers(0, max_delay_seconds).map(Duration)),
                max_delay=Duration(max_delay_seconds),
                jitter_strategy=draw(jitter),
            )
        )

    presets = [RetryPresets.none()]
    if max_attempts >= 3 and max_delay_seconds >= 5:
        presets.append(RetryPresets.transient())
    return st.sampled_from(presets) | exponential() | linear()


def step_configs(
    *,
    retry: SearchStrategy[Any] | None = None,
    semantics: Sequence[StepSemantics] = tuple(StepSemantics),
) -> SearchStrategy[StepConfig]:
    """``StepConfig``s with a retry strategy from ``retry`` (default:
    ``retry_strategies()`` or none, which means the default preset) and one
    of ``semantics``."""
    strategies = st.none() | (retry if retry is not None else retry_strategies())
    return st.builds(
        StepConfig,
        retry_strategy=strategies,
        step_semantics=st.sampled_from(list(semantics)),
    )


#: The exception types ``errors()`` draws from by default.
ERROR_TYPES: tuple[type[Exception], ...] = (
    ValueError,
    RuntimeError,
    TimeoutError,
    ConnectionError,
    LookupError,
    PermissionError,
)


def errors(
    types: Sequence[type[Exception]] = ERROR_TYPES, *, max_message: int = 40
) -> SearchStrategy[Exception]:
    """Exceptions of one of ``types`` (each called with one message
    argument) whose message is printable ASCII, for step bodies and
    ``simulate`` providers to raise."""
    if not types:
        raise ValueError("errors: types must not be empty")
    messages = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=max_message)
    return st.builds(lambda kind, message: kind(message), st.sampled_from(list(types)), messages)


def crash_points(checkpoints: int, bodies: int = 0) -> SearchStrategy[CrashPoint]:
    """A ``CrashPoint`` of a run that made ``checkpoints`` checkpoint
    requests and ``bodies`` step body runs: before or after one of the
    requests, or inside one of the bodies.  Shrinks towards the earliest
    request.  ``LocalRunner(workflow, **point.runner_options())`` crashes
    there."""
    if checkpoints < 0 or bodies < 0 or checkpoints + bodies == 0:
        raise ValueError(
            f"crash_points: need a run with checkpoints or bodies, got checkpoints={checkpoints}, "
            f"bodies={bodies}"
        )
    options: list[SearchStrategy[CrashPoint]] = []
    if checkpoints:
        options.append(
            st.builds(CrashPoint, st.sampled_from(["before", "after"]), st.integers(1, checkpoints))
        )
    if bodies:
        options.append(st.builds(CrashPoint, st.just("body"), st.integers(1, bodies)))
    return st.one_of(options)
