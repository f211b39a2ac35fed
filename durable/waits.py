"""Polling strategies for ``wait_for_condition`` (protocol.md §8.6).

Responsibility: decide, from the state a check returned and the number of
checks made, whether to poll again and after how long.  A wait strategy is
any callable ``(state, attempts_made) -> WaitForConditionDecision``; the ones
built here also offer ``decide(state, attempts_made, rand)`` so the
interpreter can supply the jitter source, as with retry strategies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from durable.config import Duration
from durable.errors import ValidationError, WaitForConditionError
from durable.retries import JitterStrategy, RandomSource, _duration, _rate, _system_random

__all__ = [
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategyConfig",
    "create_wait_strategy",
    "decide_wait",
]

T = TypeVar("T")


@attrs.frozen
class WaitForConditionDecision:
    """Whether to check the condition again, and after how long."""

    should_continue: bool
    delay: Duration = Duration(0)

    @classmethod
    def continue_waiting(cls, delay: Duration | int) -> WaitForConditionDecision:
        return cls(True, delay if isinstance(delay, Duration) else Duration(delay))

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        return cls(False, Duration(0))

    @property
    def delay_seconds(self) -> int:
        return self.delay.seconds


def _positive_attempts(instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValidationError(f"WaitStrategyConfig.max_attempts must be at least 1, got {value}")


def _callable(instance: Any, attribute: Any, value: Any) -> None:
    if not callable(value):
        raise ValidationError(
            f"WaitStrategyConfig.should_continue_polling must be callable, got {value!r}"
        )


@attrs.frozen
class WaitStrategyConfig(Generic[T]):
    """Poll while ``should_continue_polling(state)`` is true, backing off
    ``initial_delay * backoff_rate ** (attempt - 1)`` up to ``max_delay``,
    jittered; give up after ``max_attempts`` checks."""

    should_continue_polling: Callable[[T], bool] = attrs.field(validator=_callable)
    max_attempts: int = attrs.field(default=60, validator=_positive_attempts)
    initial_delay: Duration = attrs.field(default=Duration(5), validator=_duration)
    max_delay: Duration = attrs.field(default=Duration(300), validator=_duration)
    backoff_rate: float = attrs.field(default=1.5, validator=_rate)
    jitter_strategy: JitterStrategy = JitterStrategy.FULL


@attrs.frozen
class _PollStrategy(Generic[T]):
    config: WaitStrategyConfig[T]

    def decide(self, state: T, attempts_made: int, rand: RandomSource) -> WaitForConditionDecision:
        c = self.config
        if not c.should_continue_polling(state):
            return WaitForConditionDecision.stop_polling()
        if attempts_made >= c.max_attempts:
            raise WaitForConditionError(
                f"wait_for_condition exhausted {c.max_attempts} attempts before the condition "
                "was met"
            )
        try:
            grown = c.initial_delay.seconds * c.backoff_rate ** (attempts_made - 1)
        except OverflowError:
            grown = math.inf
        base = min(grown, float(c.max_delay.seconds))
        return WaitForConditionDecision.continue_waiting(
            Duration(c.jitter_strategy.finalize_delay(base, rand))
        )

    def __call__(self, state: T, attempts_made: int) -> WaitForConditionDecision:
        return self.decide(state, attempts_made, _system_random)


def create_wait_strategy(
    config: WaitStrategyConfig[T],
) -> Callable[[T, int], WaitForConditionDecision]:
    """A polling strategy from ``config``. A satisfied condition wins over
    exhaustion; exhaustion raises ``WaitForConditionError``."""
    return _PollStrategy(config)


def decide_wait(
    strategy: Callable[[Any, int], WaitForConditionDecision],
    state: Any,
    attempts_made: int,
    rand: RandomSource,
) -> WaitForConditionDecision:
    """Ask ``strategy`` about ``state``, giving built-in strategies ``rand``."""
    if isinstance(strategy, _PollStrategy):
        return strategy.decide(state, attempts_made, rand)
    return strategy(state, attempts_made)


def _check_strategy(instance: Any, attribute: Any, value: Any) -> None:
    if not callable(value):
        raise ValidationError(
            "WaitForConditionConfig.wait_strategy must be a callable "
            f"(state, attempts) -> WaitForConditionDecision, got {value!r}"
        )


@attrs.frozen
class WaitForConditionConfig(Generic[T]):
    """What ``wait_for_condition`` polls with: the ``wait_strategy``, the
    ``initial_state`` handed to the first check, and the ``serdes`` of the
    state (default: the extended JSON serializer)."""

    wait_strategy: Callable[[T, int], WaitForConditionDecision] = attrs.field(
        validator=_check_strategy
    )
    initial_state: T
    serdes: Any = None
