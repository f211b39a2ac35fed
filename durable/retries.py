"""Retry strategies for steps (protocol.md §8.1-§8.5).

Responsibility: decide, from a failure and the number of attempts made,
whether a step tries again and after how long.  A strategy is any callable
``(error, attempts_made) -> RetryDecision``; the ones built here are frozen
attrs objects that also offer ``decide(error, attempts_made, rand)``, where
``rand`` is the source of jitter.  The interpreter calls ``decide`` with the
random source it was given, so jitter is an input, never hidden state (the
core never imports ``random``); calling a strategy directly draws from the
standard ``random`` module.

Delays are whole seconds, at least 1: the service's unit.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from durable.config import Duration
from durable.errors import ValidationError

__all__ = [
    "JitterStrategy",
    "LinearRetryStrategyConfig",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
]

#: A source of uniform floats in [0, 1).
RandomSource = Callable[[], float]


def _system_random() -> float:
    import random

    return random.random()


class JitterStrategy(enum.Enum):
    """How a computed back-off delay is randomised."""

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"

    def apply_jitter(self, delay: float, rand: RandomSource = _system_random) -> float:
        if self is JitterStrategy.NONE:
            return delay
        if self is JitterStrategy.FULL:
            return rand() * delay
        return delay / 2 + rand() * delay / 2

    def finalize_delay(self, delay: float, rand: RandomSource = _system_random) -> int:
        """Jittered delay, rounded up to whole seconds, at least 1."""
        return max(1, math.ceil(self.apply_jitter(delay, rand)))


@attrs.frozen
class RetryDecision:
    """Whether to retry, and after how long."""

    should_retry: bool
    delay: Duration = Duration(0)

    @classmethod
    def retry(cls, delay: Duration | int) -> RetryDecision:
        return cls(True, delay if isinstance(delay, Duration) else Duration(delay))

    @classmethod
    def no_retry(cls) -> RetryDecision:
        return cls(False, Duration(0))

    @property
    def delay_seconds(self) -> int:
        return self.delay.seconds


ErrorPattern = str | re.Pattern[str]


def _positive(name: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value < 1:
            raise ValidationError(
                f"{type(instance).__name__}.{name} must be at least 1, got {value}"
            )

    return check


def _duration(instance: Any, attribute: Any, value: Any) -> None:
    """A delay field must be a ``Duration`` (whose own validator refuses
    negative seconds); a bare number would only fail when a retry is decided."""
    if not isinstance(value, Duration):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a Duration, "
            f"got {type(value).__name__}: {value!r} (write Duration(5) for five seconds)"
        )


def _rate(instance: Any, attribute: Any, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a finite number above 0, "
            f"got {value!r}"
        )


def _is_retryable(
    error: Exception,
    patterns: Sequence[ErrorPattern] | None,
    types: Sequence[type[BaseException]] | None,
) -> bool:
    """protocol.md §8.5: no filter at all retries everything; otherwise a
    message pattern (regex search, or substring for plain strings) or an
    ``isinstance`` match makes the error retryable."""
    if patterns is None and types is None:
        return True
    message = str(error)
    for pattern in patterns or ():
        if isinstance(pattern, re.Pattern):
            if pattern.search(message):
                return True
        elif pattern in message:
            return True
    return any(isinstance(error, t) for t in types or ())


@attrs.frozen
class RetryStrategyConfig:
    """Exponential back-off: ``initial_delay * backoff_rate ** (attempt - 1)``,
    capped at ``max_delay``, then jittered.  ``max_attempts`` counts every
    attempt including the first."""

    max_attempts: int = attrs.field(default=3, validator=_positive("max_attempts"))
    initial_delay: Duration = attrs.field(default=Duration(5), validator=_duration)
    max_delay: Duration = attrs.field(default=Duration(300), validator=_duration)
    backoff_rate: float = attrs.field(default=2.0, validator=_rate)
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: Sequence[ErrorPattern] | None = None
    retryable_error_types: Sequence[type[BaseException]] | None = None


@attrs.frozen
class LinearRetryStrategyConfig:
    """Linear back-off: ``initial_delay + increment * (attempt - 1)``, capped
    at ``max_delay``, then jittered."""

    max_attempts: int = attrs.field(default=6, validator=_positive("max_attempts"))
    initial_delay: Duration = attrs.field(default=Duration(1), validator=_duration)
    increment: Duration = attrs.field(default=Duration(1), validator=_duration)
    max_delay: Duration = attrs.field(default=Duration(300), validator=_duration)
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: Sequence[ErrorPattern] | None = None
    retryable_error_types: Sequence[type[BaseException]] | None = None


@attrs.frozen
class _BackoffStrategy:
    config: RetryStrategyConfig | LinearRetryStrategyConfig

    def _base_delay(self, attempts_made: int) -> float:
        c = self.config
        if isinstance(c, LinearRetryStrategyConfig):
            base = c.initial_delay.seconds + c.increment.seconds * (attempts_made - 1)
            return float(min(base, c.max_delay.seconds))
        try:
            grown = c.initial_delay.seconds * c.backoff_rate ** (attempts_made - 1)
        except OverflowError:
            grown = math.inf
        return min(grown, float(c.max_delay.seconds))

    def decide(self, error: Exception, attempts_made: int, rand: RandomSource) -> RetryDecision:
        c = self.config
        if attempts_made >= c.max_attempts:
            return RetryDecision.no_retry()
        if not _is_retryable(error, c.retryable_errors, c.retryable_error_types):
            return RetryDecision.no_retry()
        delay = c.jitter_strategy.finalize_delay(self._base_delay(attempts_made), rand)
        return RetryDecision.retry(Duration(delay))

    def __call__(self, error: Exception, attempts_made: int) -> RetryDecision:
        return self.decide(error, attempts_made, _system_random)


def create_retry_strategy(
    config: RetryStrategyConfig | None = None,
) -> Callable[[Exception, int], RetryDecision]:
    """An exponential back-off strategy (defaults: 3 attempts, 5 s doubling to 300 s)."""
    return _BackoffStrategy(config if config is not None else RetryStrategyConfig())


def create_linear_retry_strategy(
    config: LinearRetryStrategyConfig | None = None,
) -> Callable[[Exception, int], RetryDecision]:
    """A linear back-off strategy (defaults: 6 attempts, 1 s growing by 1 s)."""
    return _BackoffStrategy(config if config is not None else LinearRetryStrategyConfig())


class RetryPresets:
    """Ready-made strategies (protocol.md §8.4)."""

    @staticmethod
    def default() -> Callable[[Exception, int], RetryDecision]:
        """Used when a step has no strategy: 6 attempts, 5 s doubling to 60 s, full jitter."""
        return _DEFAULT

    @staticmethod
    def none() -> Callable[[Exception, int], RetryDecision]:
        """Never retry."""
        return _NONE

    @staticmethod
    def transient() -> Callable[[Exception, int], RetryDecision]:
        """3 attempts, 5 s doubling to 300 s, half jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, jitter_strategy=JitterStrategy.HALF)
        )

    @staticmethod
    def resource_availability() -> Callable[[Exception, int], RetryDecision]:
        """5 attempts, 5 s doubling to 300 s, full jitter."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=5))

    @staticmethod
    def critical() -> Callable[[Exception, int], RetryDecision]:
        """10 attempts, 1 s growing by 1.5x to 60 s, no jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=10,
                initial_delay=Duration(1),
                max_delay=Duration(60),
                backoff_rate=1.5,
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @staticmethod
    def linear() -> Callable[[Exception, int], RetryDecision]:
        """6 attempts, delays 1, 2, 3, 4, 5 s, no jitter."""
        return create_linear_retry_strategy(
            LinearRetryStrategyConfig(jitter_strategy=JitterStrategy.NONE)
        )

    @staticmethod
    def fixed(interval: Duration | int = 5) -> Callable[[Exception, int], RetryDecision]:
        """5 attempts, a constant delay (default 5 s), no jitter."""
        d = interval if isinstance(interval, Duration) else Duration(interval)
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=d,
                max_delay=d,
                backoff_rate=1.0,
                jitter_strategy=JitterStrategy.NONE,
            )
        )


_DEFAULT = create_retry_strategy(RetryStrategyConfig(max_attempts=6, max_delay=Duration(60)))
_NONE = create_retry_strategy(RetryStrategyConfig(max_attempts=1))


def decide_retry(
    strategy: Callable[[Exception, int], RetryDecision],
    error: Exception,
    attempts_made: int,
    rand: RandomSource,
) -> RetryDecision:
    """Ask ``strategy`` about ``error``, giving built-in strategies ``rand`` for jitter."""
    if isinstance(strategy, _BackoffStrategy):
        return strategy.decide(error, attempts_made, rand)
    return strategy(error, attempts_made)
