"""Retry strategies and presets (protocol.md §8)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from durable import (
    Duration,
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    ValidationError,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable.retries import decide_retry


def delays(strategy: Callable[[Exception, int], RetryDecision], rand: float = 0.5) -> list[int]:
    out = []
    attempt = 1
    while True:
        decision = decide_retry(strategy, ValueError("x"), attempt, lambda: rand)
        if not decision.should_retry:
            return out
        out.append(decision.delay_seconds)
        attempt += 1


def test_the_default_preset_backs_off_exponentially_to_sixty_seconds() -> None:
    """Six attempts: base delays 5, 10, 20, 40, 60 (full jitter scales them)."""
    assert delays(RetryPresets.default(), rand=0.999999) == [5, 10, 20, 40, 60]
    assert delays(RetryPresets.default(), rand=0.0) == [1, 1, 1, 1, 1]


def test_presets_have_the_documented_schedules() -> None:
    """Each preset's attempts and delays match protocol.md §8.4."""
    assert delays(RetryPresets.none()) == []
    assert delays(RetryPresets.linear()) == [1, 2, 3, 4, 5]
    assert delays(RetryPresets.fixed(Duration(7))) == [7, 7, 7, 7]
    assert delays(RetryPresets.critical()) == [1, 2, 3, 4, 6, 8, 12, 18, 26]
    assert len(delays(RetryPresets.transient())) == 2
    assert len(delays(RetryPresets.resource_availability())) == 4


def test_half_jitter_keeps_at_least_half_the_delay() -> None:
    """HALF jitter lies in [d/2, d)."""
    assert JitterStrategy.HALF.apply_jitter(10, lambda: 0.0) == 5
    assert JitterStrategy.HALF.finalize_delay(10, lambda: 0.99) == 10
    assert JitterStrategy.NONE.finalize_delay(0.2) == 1


def test_max_attempts_counts_the_first_attempt() -> None:
    """max_attempts=3 allows two retries."""
    strategy = create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, jitter_strategy=JitterStrategy.NONE)
    )
    assert delays(strategy) == [5, 10]


def test_the_linear_strategy_grows_by_its_increment_up_to_the_cap() -> None:
    """initial + increment x (attempt - 1), capped at max_delay."""
    strategy = create_linear_retry_strategy(
        LinearRetryStrategyConfig(
            max_attempts=5,
            initial_delay=Duration(2),
            increment=Duration(3),
            max_delay=Duration(7),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    assert delays(strategy) == [2, 5, 7, 7]


def test_error_filters_match_messages_and_types() -> None:
    """Strings match by substring, patterns by search, types by isinstance."""
    config = RetryStrategyConfig(
        max_attempts=9,
        retryable_errors=["throttl", re.compile(r"5\d\d")],
        retryable_error_types=[TimeoutError],
    )
    strategy = create_retry_strategy(config)
    assert strategy(ValueError("request throttled"), 1).should_retry
    assert strategy(ValueError("status 503"), 1).should_retry
    assert strategy(TimeoutError("slow"), 1).should_retry
    assert not strategy(ValueError("bad input"), 1).should_retry


def test_only_types_given_means_messages_never_match() -> None:
    """With just retryable_error_types set, an unset message list counts as empty."""
    strategy = create_retry_strategy(RetryStrategyConfig(retryable_error_types=[KeyError]))
    assert not strategy(ValueError("anything"), 1).should_retry
    assert strategy(KeyError("k"), 1).should_retry


def test_a_huge_backoff_does_not_overflow() -> None:
    """A large attempt number is capped at max_delay instead of overflowing."""
    strategy = create_retry_strategy(
        RetryStrategyConfig(max_attempts=10_000, jitter_strategy=JitterStrategy.NONE)
    )
    assert strategy(ValueError("x"), 5000).delay_seconds == 300


def test_max_attempts_below_one_is_rejected() -> None:
    """A strategy needs at least one attempt."""
    with pytest.raises(ValidationError, match="max_attempts must be at least 1"):
        RetryStrategyConfig(max_attempts=0)


def test_user_callables_are_strategies_too() -> None:
    """Any (error, attempts) -> RetryDecision callable works; rand is not passed to it."""
    seen: list[tuple[str, int]] = []

    def mine(error: Exception, attempts: int) -> RetryDecision:
        seen.append((str(error), attempts))
        return RetryDecision.retry(Duration(9)) if attempts < 2 else RetryDecision.no_retry()

    assert delays(mine) == [9]
    assert seen == [("x", 1), ("x", 2)]
