"""Validated, frozen configuration values: durations and per-operation configs.

Responsibility: the user-facing option bundles and the validation of names
and sub-types against the service's limits (protocol.md §9).  Every check runs
when the value is built, so a bad argument raises ``ValidationError`` before
an operation id is allocated.  Imports only attrs, the standard library and
other model-layer modules.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from durable.errors import ValidationError

if TYPE_CHECKING:
    from durable.retries import RetryDecision
    from durable.serdes import SerDes

__all__ = [
    "CHECKPOINT_SIZE_LIMIT",
    "CallbackConfig",
    "ChildConfig",
    "MAX_NAME_LENGTH",
    "MAX_SUB_TYPE_LENGTH",
    "MAX_WAIT_SECONDS",
    "Duration",
    "InvokeConfig",
    "RetryStrategy",
    "StepConfig",
    "StepSemantics",
    "WaitForCallbackConfig",
    "check_name",
    "check_sub_type",
]

MAX_NAME_LENGTH = 256
MAX_SUB_TYPE_LENGTH = 32
#: Upper bound of WaitSeconds and NextAttemptDelaySeconds (366 days).
MAX_WAIT_SECONDS = 31_622_400
#: A child context result longer than this is not stored inline: the context
#: completes with ReplayChildren and the value is rebuilt by replay (§5.7).
CHECKPOINT_SIZE_LIMIT = 262_144

_SUB_TYPE = re.compile(r"[A-Za-z0-9_-]+")

#: A retry strategy: ``(error, attempts_made) -> RetryDecision`` (protocol.md §8.1).
RetryStrategy = Callable[[Exception, int], "RetryDecision"]


def check_name(name: str | None, *, what: str = "operation") -> str | None:
    """Validate an operation name; ``""`` and ``None`` both mean "no name".

    Names are 1-256 characters of printable ASCII (the service model's
    ``OperationName``). `durable` checks eagerly (protocol.md Q14), so a bad
    name fails where it is written instead of at checkpoint time.
    """
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise ValidationError(f"{what} name must be a str, got {type(name).__name__}: {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{what} name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}: "
            f"{name[:40]!r}..."
        )
    if not (name.isascii() and name.isprintable()):  # printable ASCII: 0x20-0x7E
        bad = next(ch for ch in name if not (" " <= ch <= "~"))
        raise ValidationError(
            f"{what} name {name!r} contains {bad!r}; names must be printable ASCII "
            "(characters 0x20-0x7E)"
        )
    return name


def check_sub_type(sub_type: str | None, *, what: str = "operation") -> str | None:
    """Validate a custom sub-type: 1-32 characters of ``[A-Za-z0-9_-]``."""
    if sub_type is None:
        return None
    if not isinstance(sub_type, str) or not sub_type:
        raise ValidationError(f"{what} sub_type must be a non-empty str, got {sub_type!r}")
    if len(sub_type) > MAX_SUB_TYPE_LENGTH:
        raise ValidationError(
            f"{what} sub_type {sub_type!r} is {len(sub_type)} characters long; "
            f"the limit is {MAX_SUB_TYPE_LENGTH}"
        )
    if not _SUB_TYPE.fullmatch(sub_type):
        raise ValidationError(
            f"{what} sub_type {sub_type!r} may contain only letters, digits, '_' and '-'"
        )
    return sub_type


def _non_negative_int(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"Duration.{attribute.name} must be an int, got {type(value).__name__}: {value!r}"
        )
    if value < 0:
        raise ValidationError(f"Duration.{attribute.name} must not be negative, got {value}")


@attrs.frozen(order=True)
class Duration:
    """A whole number of seconds, the unit the service counts in.

    Build it with ``Duration(seconds)``, ``Duration.from_seconds``,
    ``from_minutes``, ``from_hours``, ``from_days`` or ``from_timedelta``;
    fractional inputs are truncated towards zero, as the reference SDK does.
    Negative durations raise ``ValidationError``.
    """

    seconds: int = attrs.field(default=0, validator=_non_negative_int)

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        return cls(int(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        return cls(int(value * 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        return cls(int(value * 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        return cls(int(value * 86400))

    @classmethod
    def from_timedelta(cls, value: timedelta) -> Duration:
        return cls(int(value.total_seconds()))

    def to_seconds(self) -> int:
        return self.seconds

    def to_timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __add__(self, other: Duration) -> Duration:
        if not isinstance(other, Duration):
            return NotImplemented
        return Duration(self.seconds + other.seconds)

    def __str__(self) -> str:
        return f"{self.seconds}s"


def as_duration(value: Duration | int, *, what: str) -> Duration:
    """Accept a ``Duration`` or a whole number of seconds."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Duration(value)
    raise ValidationError(
        f"{what} must be a Duration or an int number of seconds, "
        f"got {type(value).__name__}: {value!r}"
    )


class StepSemantics(enum.Enum):
    """How often a step body may run per attempt (protocol.md §5.1)."""

    #: START is checkpointed (and confirmed) before the body runs; an
    #: interrupted attempt is never re-run, it counts as a failed attempt.
    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    #: The default: the body may run again if the process dies before its
    #: result is checkpointed.
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"


def _check_callable_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be callable, got {value!r}"
        )


def _check_step_sub_type(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_sub_type(value, what="StepConfig")


def _check_semantics(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, StepSemantics):
        raise ValidationError(f"StepConfig.step_semantics must be a StepSemantics, got {value!r}")


@attrs.frozen
class StepConfig:
    """How a step runs: its retry strategy, semantics, serializer and sub-type.

    ``retry_strategy`` is any ``(error, attempts_made) -> RetryDecision``
    callable; ``None`` means ``RetryPresets.default()`` (6 attempts,
    exponential back-off from 5 s to 60 s with full jitter).
    """

    retry_strategy: RetryStrategy | None = attrs.field(
        default=None, validator=_check_callable_or_none
    )
    step_semantics: StepSemantics = attrs.field(
        default=StepSemantics.AT_LEAST_ONCE_PER_RETRY, validator=_check_semantics
    )
    serdes: SerDes[Any] | None = None
    sub_type: str | None = attrs.field(default=None, kw_only=True, validator=_check_step_sub_type)


def _check_child_sub_type(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_sub_type(value, what="ChildConfig")


@attrs.frozen
class ChildConfig:
    """How a child context stores its result.

    ``serdes`` serializes the result (default: the extended JSON serializer).
    ``sub_type`` overrides the ``RunInChildContext`` sub-type.  A result
    longer than 256 KiB is not stored: the context completes with
    ``ReplayChildren`` and, on replay, its body runs again over its children's
    checkpoints to rebuild the value; ``summary_generator(result) -> str``
    then supplies the text stored instead.  A *virtual* context
    (``is_virtual=True``) writes no checkpoint of its own: its operations
    report the enclosing context as their parent.
    """

    serdes: SerDes[Any] | None = None
    sub_type: str | None = attrs.field(default=None, validator=_check_child_sub_type)
    summary_generator: Callable[[Any], str] | None = attrs.field(
        default=None, validator=_check_callable_or_none
    )
    is_virtual: bool = False


def _check_callback_sub_type(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_sub_type(value, what=type(instance).__name__)


def _check_timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Duration):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a Duration, got {value!r}"
        )
    if value.seconds > MAX_WAIT_SECONDS:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} is {value.seconds} s; the service "
            f"allows at most {MAX_WAIT_SECONDS} s (366 days)"
        )


@attrs.frozen
class CallbackConfig:
    """How a callback waits: ``timeout`` overall and ``heartbeat_timeout``
    between heartbeats (``Duration(0)``, the default, disables each), the
    ``serdes`` that decodes the answer (default: none, the raw string is
    returned) and an optional custom ``sub_type``."""

    timeout: Duration = attrs.field(default=Duration(0), validator=_check_timeout)
    heartbeat_timeout: Duration = attrs.field(default=Duration(0), validator=_check_timeout)
    serdes: SerDes[Any] | None = None
    sub_type: str | None = attrs.field(
        default=None, kw_only=True, validator=_check_callback_sub_type
    )

    @property
    def timeout_seconds(self) -> int:
        return self.timeout.seconds

    @property
    def heartbeat_timeout_seconds(self) -> int:
        return self.heartbeat_timeout.seconds


@attrs.frozen
class WaitForCallbackConfig(CallbackConfig):
    """A ``CallbackConfig`` plus the retry strategy of the submitter step."""

    retry_strategy: RetryStrategy | None = attrs.field(
        default=None, kw_only=True, validator=_check_callable_or_none
    )


_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")


def _check_tenant(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not _TENANT_ID.fullmatch(value)):
        raise ValidationError(
            f"InvokeConfig.tenant_id must be 1-256 characters of letters, digits and "
            f"'._:/=+-@ ', got {value!r}"
        )


@attrs.frozen
class InvokeConfig:
    """How a chained invoke encodes its input (``serdes_payload``, default:
    plain JSON) and decodes the result (``serdes_result``, default: plain
    JSON), and the ``tenant_id`` to invoke with."""

    serdes_payload: SerDes[Any] | None = None
    serdes_result: SerDes[Any] | None = None
    tenant_id: str | None = attrs.field(default=None, validator=_check_tenant)
