"""Durations, step configs and name/sub-type validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable import Duration, StepConfig, StepSemantics, ValidationError
from durable.config import check_name, check_sub_type
from durable.ops import Step, Wait


class TestDuration:
    def test_constructors_truncate_to_whole_seconds(self) -> None:
        """Every constructor yields whole seconds, truncating fractions."""
        assert Duration.from_seconds(1.9).seconds == 1
        assert Duration.from_minutes(1.5).seconds == 90
        assert Duration.from_hours(2).seconds == 7200
        assert Duration.from_days(1).seconds == 86400
        assert Duration.from_timedelta(timedelta(minutes=3, milliseconds=500)).seconds == 180
        assert Duration(7).to_seconds() == 7
        assert Duration(7).to_timedelta() == timedelta(seconds=7)

    def test_negative_and_non_integer_durations_are_rejected(self) -> None:
        """A negative or non-int duration names the field and the value."""
        with pytest.raises(ValidationError, match="must not be negative, got -1"):
            Duration(-1)
        with pytest.raises(ValidationError, match="must be an int"):
            Duration(1.5)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="must be an int"):
            Duration(True)

    def test_durations_add_and_compare(self) -> None:
        """Durations are ordered values that can be summed."""
        assert Duration(2) + Duration(3) == Duration(5)
        assert Duration(2) < Duration(3)
        assert str(Duration(4)) == "4s"


class TestWaitValidation:
    def test_a_wait_shorter_than_one_second_is_rejected(self) -> None:
        """The service counts whole seconds from 1; 0 is refused with the value."""
        with pytest.raises(ValidationError, match="at least 1 second, got 0 s"):
            Wait(seconds=0)

    def test_a_wait_longer_than_the_service_limit_is_rejected(self) -> None:
        """WaitSeconds tops out at 31,622,400 (366 days)."""
        with pytest.raises(ValidationError, match="31622400"):
            Wait(seconds=31_622_401)
        assert Wait(seconds=31_622_400).seconds == 31_622_400


class TestNames:
    def test_empty_names_mean_no_name(self) -> None:
        """'' and None are the same: no Name is sent."""
        assert check_name("") is None
        assert check_name(None) is None
        assert Step(fn=print, name="").name is None

    def test_names_longer_than_256_characters_are_rejected(self) -> None:
        """The message gives the length and the limit."""
        with pytest.raises(ValidationError, match="257 characters long; the limit is 256"):
            check_name("x" * 257)
        assert check_name("x" * 256) == "x" * 256

    def test_names_must_be_printable_ascii(self) -> None:
        """A non-ASCII or control character is named in the message."""
        with pytest.raises(ValidationError, match="'é'"):
            check_name("café")
        with pytest.raises(ValidationError, match=r"'\\n'"):
            check_name("a\nb")

    def test_sub_types_follow_the_service_pattern(self) -> None:
        """Sub-types are 1-32 characters of letters, digits, '_' and '-'."""
        assert check_sub_type("Charge_v2-x") == "Charge_v2-x"
        with pytest.raises(ValidationError, match="only letters"):
            check_sub_type("has space")
        with pytest.raises(ValidationError, match="the limit is 32"):
            check_sub_type("x" * 33)
        with pytest.raises(ValidationError):
            StepConfig(sub_type="bad/type")


class TestStepConfig:
    def test_defaults_are_at_least_once_with_the_default_strategy(self) -> None:
        """A bare StepConfig retries with the default preset, at least once per retry."""
        config = StepConfig()
        assert config.retry_strategy is None
        assert config.step_semantics is StepSemantics.AT_LEAST_ONCE_PER_RETRY

    def test_a_non_callable_strategy_is_rejected(self) -> None:
        """retry_strategy must be callable."""
        with pytest.raises(ValidationError, match="retry_strategy must be callable"):
            StepConfig(retry_strategy=3)  # type: ignore[arg-type]

    def test_semantics_must_be_the_enum(self) -> None:
        """A string is not a StepSemantics."""
        with pytest.raises(ValidationError, match="StepSemantics"):
            StepConfig(step_semantics="AT_MOST_ONCE_PER_RETRY")  # type: ignore[arg-type]
