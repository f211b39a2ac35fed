"""The JSON edge: records of ``durable.model`` to and from wire dictionaries.

Responsibility: this is the only module that knows the JSON member names of the
durable-execution protocol (protocol.md §1-§3).  It turns the Lambda invocation
event, the API responses and the output envelope into the attrs records of
``durable.model`` and back, using one private, preconfigured
``cattrs.Converter`` (never cattrs' global converter).

Names.  A Python field ``snake_case`` is the wire member ``PascalCase``
(``parent_id`` -> ``ParentId``, ``next_attempt_delay_seconds`` ->
``NextAttemptDelaySeconds``); the only exceptions are ``ErrorObject``'s
``message``/``type``/``data``, which are ``ErrorMessage``/``ErrorType``/
``ErrorData``.

Shapes (protocol.md §2).  On output an optional member whose value is ``None``
is omitted, never written as ``null``; any other value is written, so an empty
``Payload`` (``""``) is sent and ``ReplayChildren: false`` is sent.  The one
further omission is an empty ``UpdatedOperationIds`` of an invocation event.
On input ``null`` means the same as an absent member (a field with a default
takes its default), unknown members are ignored, and values are checked
strictly: a string must be a JSON string, an integer a JSON integer (an
integral float is tolerated), a boolean a JSON boolean, an enum one of its
string values, a list a JSON array.

Timestamps.  The model holds ``Timestamp`` values: integer milliseconds since
the epoch.  On input a timestamp may be

* a number: values >= 100_000_000_000 are milliseconds since the Unix epoch
  (the invocation event's form), smaller values are seconds (the form of API
  responses read as raw JSON, protocol.md §3.2).  The boundary is 1973-03-03
  in milliseconds and the year 5138 in seconds, so no real timestamp of
  either form is ambiguous;
* an ISO-8601 string, with ``Z`` or an offset (without one it is UTC);
* a ``datetime`` (botocore's form for API responses; naive means UTC).

On output a timestamp is that integer number of milliseconds (sub-millisecond
parts of inputs are truncated when decoded).

Errors.  Every decoding failure raises ``durable.errors.ServiceProtocolError``
whose single message lists the path of each bad member, e.g.
``InitialExecutionState.Operations[3].Status: 'DONE' is not a valid
OperationStatus``.  Decoding first runs a fast converter; only when that fails
is the input decoded again with cattrs' detailed validation to build the
message.

Speed.  A replay may decode an event of 10,000 operations, so the fast
converter decodes ``Operation`` with a hand-written hook that handles the
common shapes directly and defers to the cattrs-generated hook for anything
else (so both accept and reject exactly the same inputs).

This module never performs I/O, never calls AWS, never serializes user values
(payloads are opaque strings here) and never decides what a record means.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from durable.errors import ServiceProtocolError
from durable.model import (
    CheckpointOutput,
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StatePage,
    StepDetails,
    Timestamp,
)

__all__ = [
    "MILLISECONDS_THRESHOLD",
    "checkpoint_output_from_dict",
    "checkpoint_output_to_dict",
    "error_from_dict",
    "error_to_dict",
    "invocation_input_from_dict",
    "invocation_input_to_dict",
    "invocation_output_from_dict",
    "invocation_output_to_dict",
    "make_converter",
    "operation_from_dict",
    "operation_to_dict",
    "state_page_from_dict",
    "state_page_to_dict",
    "update_from_dict",
    "update_size",
    "update_to_dict",
]

T = TypeVar("T")

#: Numeric timestamps at or above this value are milliseconds; below it, seconds.
MILLISECONDS_THRESHOLD: Final = 100_000_000_000

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
#: The range of ``datetime`` (years 1-9999), in milliseconds since the epoch.
_MIN_MS: Final = -62_135_596_800_000
_MAX_MS: Final = 253_402_300_799_999

# ---------------------------------------------------------------------------
# Member names
# ---------------------------------------------------------------------------

#: Fields whose wire name is not the PascalCase form of the Python name.
_RENAMES: Final[Mapping[type, Mapping[str, str]]] = {
    ErrorObject: {"message": "ErrorMessage", "type": "ErrorType", "data": "ErrorData"},
}

#: Fields with a non-None default that are omitted on output when they hold it.
_OMIT_WHEN_DEFAULT: Final = frozenset({(InvocationInput, "updated_operation_ids")})


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@functools.cache
def _wire_names(cl: type) -> Mapping[str, str]:
    special = _RENAMES.get(cl, {})
    return {a.name: special.get(a.name, _pascal(a.name)) for a in attrs.fields(cl)}


# ---------------------------------------------------------------------------
# Type predicates
# ---------------------------------------------------------------------------


def _optional_inner(tp: Any) -> Any | None:
    """``X`` if ``tp`` is ``X | None`` (exactly one other member), else ``None``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    others = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if len(others) != 1 or len(others) == len(typing.get_args(tp)):
        return None
    return others[0]


def _is_optional(tp: Any) -> bool:
    return _optional_inner(tp) is not None


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _default_of(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return cast(Any, default).factory()
    return default


def _describe(value: object) -> str:
    """A short, JSON-flavoured description of a bad input value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"string {text!r}"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


# ---------------------------------------------------------------------------
# Structure hooks: primitives, timestamps, enums, containers
# ---------------------------------------------------------------------------


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"expected a string, got {_describe(value)}")


#: The service model's OperationId: 1-64 characters of ``[a-zA-Z0-9-_]``.
_OPERATION_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _structure_operation_id(value: Any, _: Any) -> str | None:
    """An operation's ``Id`` or ``ParentId``: refused by name when it cannot
    be one, instead of being stored and failing later in some other way."""
    if value is None:
        return None
    text = _structure_str(value, str)
    if _OPERATION_ID.fullmatch(text) is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(
            f"{shown!r} is not an operation id (1-64 characters of A-Z, a-z, 0-9, '-', '_'; "
            f"this one has {len(text)})"
        )
    return text


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {_describe(value)}")


def _structure_bool(value: Any, _: Any) -> bool:
    if value is True or value is False:
        return value
    raise TypeError(f"expected a boolean, got {_describe(value)}")


def _from_number(value: float) -> Timestamp:
    if value != value or value in (math.inf, -math.inf):
        raise ValueError(f"timestamp {value!r} is out of range")
    millis = value if value >= MILLISECONDS_THRESHOLD else value * 1000
    if not _MIN_MS <= millis <= _MAX_MS:
        raise ValueError(f"timestamp {value!r} is out of range")
    return Timestamp(math.floor(millis))


def _from_datetime(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return Timestamp((value - _EPOCH) // _ONE_MS)


def _structure_timestamp(value: Any, _: Any) -> Timestamp:
    kind = type(value)
    if kind is int:
        return _from_number(value)
    if kind is float:
        return _from_number(value)
    if isinstance(value, datetime):
        return _from_datetime(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{_describe(value)} is not an ISO-8601 timestamp") from None
        return _from_datetime(parsed)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_number(value)
    raise TypeError(
        f"expected a timestamp (epoch number or ISO-8601 string), got {_describe(value)}"
    )


def _enum_structure_factory(cl: type[enum.Enum]) -> Callable[[Any, Any], enum.Enum]:
    members: dict[Any, enum.Enum] = {m.value: m for m in cl}
    name = cl.__name__

    def structure_enum(value: Any, _: Any) -> enum.Enum:
        try:
            return members[value]
        except (KeyError, TypeError):
            if isinstance(value, str):
                raise ValueError(f"{value!r} is not a valid {name}") from None
            raise TypeError(f"expected a {name} string, got {_describe(value)}") from None

    return structure_enum


def _optional_structure_factory(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner = _optional_inner(tp)
    hook = conv.get_structure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else hook(value, inner)

    return structure_optional


def _tuple_structure_factory(
    tp: Any, conv: cattrs.Converter
) -> Callable[[Any, Any], tuple[Any, ...]]:
    elem_type = typing.get_args(tp)[0]
    hook = conv.get_structure_hook(elem_type)
    detailed = conv.detailed_validation

    def check(value: Any) -> None:
        if type(value) is not list and not isinstance(value, list | tuple):
            raise TypeError(f"expected an array, got {_describe(value)}")

    if not detailed:

        def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
            check(value)
            return tuple([hook(item, elem_type) for item in value])

        return structure_tuple

    def structure_tuple_detailed(value: Any, _: Any) -> tuple[Any, ...]:
        check(value)
        result: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                result.append(hook(item, elem_type))
            except Exception as exc:  # collected and re-raised as a group below
                exc.add_note(IterableValidationNote(f"@ index {index}", index, elem_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return tuple(result)

    return structure_tuple_detailed


# ---------------------------------------------------------------------------
# Record hooks
# ---------------------------------------------------------------------------


def _null_means_default(hook: Callable[[Any, Any], Any], default: Any) -> Callable[[Any, Any], Any]:
    def structure_or_default(value: Any, tp: Any) -> Any:
        return default if value is None else hook(value, tp)

    return structure_or_default


def _record_structure_factory(cl: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cl)
    names = _wire_names(cl)
    overrides: dict[str, Any] = {}
    absent_means_none: list[str] = []
    for field in attrs.fields(cl):
        wire = names[field.name]
        if cl is Operation and field.name in ("id", "parent_id"):
            overrides[field.name] = override(rename=wire, struct_hook=_structure_operation_id)
        elif field.default is attrs.NOTHING:
            if _is_optional(field.type):
                absent_means_none.append(wire)
            overrides[field.name] = override(rename=wire)
        elif _is_optional(field.type):
            overrides[field.name] = override(rename=wire)
        else:
            inner = conv.get_structure_hook(field.type)
            overrides[field.name] = override(
                rename=wire, struct_hook=_null_means_default(inner, _default_of(field))
            )
    generated: Callable[[Any, Any], Any] = make_dict_structure_fn(cl, conv, **overrides)

    def structure_record(value: Any, _: Any) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {_describe(value)}")
        if absent_means_none:
            missing = [key for key in absent_means_none if key not in value]
            if missing:
                value = {**value, **dict.fromkeys(missing)}
        return generated(value, cl)

    return structure_record


def _record_unstructure_factory(cl: type, conv: cattrs.Converter) -> Callable[[Any], Any]:
    attrs.resolve_types(cl)
    names = _wire_names(cl)
    overrides: dict[str, Any] = {}
    drop_if_none: list[str] = []
    for field in attrs.fields(cl):
        wire = names[field.name]
        omit = field.default is None or (cl, field.name) in _OMIT_WHEN_DEFAULT
        overrides[field.name] = override(rename=wire, omit_if_default=omit)
        if field.default is attrs.NOTHING and _is_optional(field.type):
            drop_if_none.append(wire)
    generated: Callable[[Any], Any] = make_dict_unstructure_fn(cl, conv, **overrides)
    if not drop_if_none:
        return generated

    def unstructure_record(value: Any) -> dict[str, Any]:
        result: dict[str, Any] = generated(value)
        for key in drop_if_none:
            if result.get(key, 0) is None:
                del result[key]
        return result

    return unstructure_record


def _unstructure_timestamp(value: int) -> int:
    return int(value)


def _tuple_unstructure_factory(tp: Any, conv: cattrs.Converter) -> Callable[[Any], list[Any]]:
    elem_type = typing.get_args(tp)[0]
    if elem_type is str:
        return list
    hook = conv.get_unstructure_hook(elem_type)

    def unstructure_tuple(value: Any) -> list[Any]:
        return [hook(item) for item in value]

    return unstructure_tuple


# ---------------------------------------------------------------------------
# Hand-written fast path for Operation
# ---------------------------------------------------------------------------


def _operation_structure_factory(
    conv: cattrs.Converter, generic: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """A structure hook for ``Operation`` tuned for large replays.

    It decodes well-formed operations directly and hands anything unusual (a
    non-dict, a wrong type, an unknown enum value, a member that fails to
    decode) to ``generic``, the cattrs-generated hook, so that what is
    accepted and how failures are reported is exactly the generic behaviour.
    Unknown members and ``null`` members cost a detour through a slower loop,
    never a different result.
    """
    op_types: dict[object, OperationType] = {m.value: m for m in OperationType}
    statuses: dict[object, OperationStatus] = {m.value: m for m in OperationStatus}
    details: list[tuple[str, str, Callable[[Any, Any], Any], Any]] = []
    for field in attrs.fields(Operation):
        if field.name.endswith("_details"):
            inner = _optional_inner(field.type)
            details.append(
                (
                    _wire_names(Operation)[field.name],
                    field.name,
                    conv.get_structure_hook(inner),
                    inner,
                )
            )
    step_details_hook = conv.get_structure_hook(StepDetails)
    timestamp = _structure_timestamp
    id_form = _OPERATION_ID.fullmatch
    low, high = MILLISECONDS_THRESHOLD, _MAX_MS

    def step_details(raw: Any) -> Any:
        # The common replay shape: {"Attempt": n, "Result": "..."}.
        if type(raw) is dict:
            attempt = raw.get("Attempt")
            result = raw.get("Result")
            if (
                (attempt is None or type(attempt) is int)
                and (result is None or type(result) is str)
                and len(raw) == (attempt is not None) + (result is not None)
            ):
                return StepDetails(attempt=attempt, result=result)
        return step_details_hook(raw, StepDetails)

    def fast(value: dict[str, Any]) -> Operation | None:
        get = value.get
        op_id = get("Id")
        op_type = op_types.get(get("Type"))
        status = statuses.get(get("Status"))
        parent_id = get("ParentId")
        name = get("Name")
        sub_type = get("SubType")
        if (
            type(op_id) is not str
            or id_form(op_id) is None
            or (parent_id is not None and id_form(parent_id) is None)
            or op_type is None
            or status is None
            or (parent_id is not None and type(parent_id) is not str)
            or (name is not None and type(name) is not str)
            or (sub_type is not None and type(sub_type) is not str)
        ):
            return None
        present = 3 + (parent_id is not None) + (name is not None) + (sub_type is not None)
        start: Any = get("StartTimestamp")
        if start is not None:
            present += 1
            if not (type(start) is int and low <= start <= high):
                start = timestamp(start, Timestamp)
        end: Any = get("EndTimestamp")
        if end is not None:
            present += 1
            if not (type(end) is int and low <= end <= high):
                end = timestamp(end, Timestamp)
        raw_step = get("StepDetails")
        if len(value) == present + (raw_step is not None):
            return Operation(
                id=op_id,
                type=op_type,
                status=status,
                parent_id=parent_id,
                name=name,
                sub_type=sub_type,
                start_timestamp=start,
                end_timestamp=end,
                step_details=None if raw_step is None else step_details(raw_step),
            )
        # Other details, unknown members (ignored) or null members (absent).
        decoded: dict[str, Any] = {}
        for key, field_name, hook, tp in details:
            raw = get(key)
            if raw is not None:
                decoded[field_name] = hook(raw, tp)
        return Operation(
            id=op_id,
            type=op_type,
            status=status,
            parent_id=parent_id,
            name=name,
            sub_type=sub_type,
            start_timestamp=start,
            end_timestamp=end,
            **decoded,
        )

    def structure_operation(value: Any, _: Any) -> Any:
        if type(value) is dict:
            try:
                op = fast(value)
            except Exception:  # let the generic hook decide and explain
                op = None
            if op is not None:
                return op
        return generic(value, Operation)

    return structure_operation


# ---------------------------------------------------------------------------
# The converter
# ---------------------------------------------------------------------------


def make_converter(*, detailed_validation: bool = False) -> cattrs.Converter:
    """A new converter between ``durable.model`` records and wire dictionaries.

    ``detailed_validation`` makes structuring collect every problem with its
    path instead of stopping at the first; the module decodes with a
    non-detailed converter (which also has a hand-tuned ``Operation`` hook)
    and uses a detailed one only to explain a failure.
    """
    conv = cattrs.Converter(detailed_validation=detailed_validation)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(Timestamp, _structure_timestamp)
    conv.register_unstructure_hook(Timestamp, _unstructure_timestamp)
    conv.register_structure_hook_factory(_is_enum, _enum_structure_factory)
    conv.register_structure_hook_factory(_is_optional, _optional_structure_factory)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_structure_factory)
    conv.register_unstructure_hook_factory(_is_homogeneous_tuple, _tuple_unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, _record_structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, _record_unstructure_factory)
    if not detailed_validation:
        generic = conv.get_structure_hook(Operation)
        conv.register_structure_hook(Operation, _operation_structure_factory(conv, generic))
    return conv


_FAST: Final = make_converter()


@functools.cache
def _detailed_converter() -> cattrs.Converter:
    return make_converter(detailed_validation=True)


def _problems(exc: BaseException, path: str, out: list[str]) -> None:
    """Append one ``path: problem`` line per leaf of ``exc``, a detailed cattrs error.

    Paths use wire names (cattrs' own ``transform_error`` would show the Python
    field names): ``InitialExecutionState.Operations[3].Status``.
    """
    if isinstance(exc, ClassValidationError):
        names = _wire_names(exc.cl) if attrs.has(exc.cl) else {}
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            key = names.get(note.name, note.name)
            _problems(sub, f"{path}.{key}" if path else key, out)
        for sub in without:
            _problems(sub, path, out)
    elif isinstance(exc, IterableValidationError):
        with_index, without = exc.group_exceptions()
        for sub, index_note in with_index:
            _problems(sub, f"{path}[{index_note.index!r}]", out)
        for sub in without:
            _problems(sub, path, out)
    else:
        if isinstance(exc, KeyError):
            text = "required member missing"
        elif isinstance(exc, TypeError | ValueError):
            text = str(exc)
        else:
            text = f"{type(exc).__name__}: {exc}"
        out.append(f"{path}: {text}" if path else text)


def _protocol_error(
    value: object, cl: type, what: str, fast_exc: Exception, hint: str = ""
) -> ServiceProtocolError:
    """Explain why ``value`` is not a ``cl``: decode it again with detailed validation."""
    problems: list[str] = []
    cause: BaseException = fast_exc
    try:
        _detailed_converter().structure(value, cl)
    except Exception as exc:
        cause = exc
        _problems(exc, "", problems)
    if not problems:  # the detailed pass disagreed; report what the fast pass saw
        _problems(fast_exc, "", problems)
    error = ServiceProtocolError(f"Malformed {what}: {'; '.join(problems)}{hint}")
    error.__cause__ = cause
    return error


def _structure(value: object, cl: type[T], what: str) -> T:
    try:
        return _FAST.structure(value, cl)
    except Exception as exc:
        error = _protocol_error(value, cl, what, exc)
    raise error


_NO_DURABILITY_HINT: Final = (
    " (the event of a durable function always carries DurableExecutionArn and"
    " CheckpointToken; check that durable execution is enabled for this function)"
)


def invocation_input_from_dict(event: object) -> InvocationInput:
    """Decode and validate the event Lambda hands a durable function (protocol.md §1.1).

    A missing ``InitialExecutionState`` or ``Operations`` is empty.  Raises
    ``ServiceProtocolError`` listing every bad member when the event is
    malformed; when it is not an object or lacks the ARN or the token, the
    message suggests that durable execution may not be enabled.
    """
    try:
        return _FAST.structure(event, InvocationInput)
    except Exception as exc:
        unlike_durable = not isinstance(event, Mapping) or any(
            event.get(key) is None for key in ("DurableExecutionArn", "CheckpointToken")
        )
        hint = _NO_DURABILITY_HINT if unlike_durable else ""
        error = _protocol_error(event, InvocationInput, "invocation event", exc, hint)
    raise error


def invocation_input_to_dict(value: InvocationInput) -> dict[str, Any]:
    """The event form of ``value`` (test tools use it to build invocation events)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def invocation_output_to_dict(value: InvocationOutput) -> dict[str, Any]:
    """The output envelope a durable function returns to Lambda (protocol.md §1.5)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def invocation_output_from_dict(value: object) -> InvocationOutput:
    """Decode an output envelope (protocol.md §1.5)."""
    return _structure(value, InvocationOutput, "invocation output")


def operation_to_dict(value: Operation) -> dict[str, Any]:
    """The wire form of one ``Operation`` (protocol.md §2.2)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def operation_from_dict(value: object) -> Operation:
    """Decode one ``Operation`` (protocol.md §2.2)."""
    return _structure(value, Operation, "operation")


def update_to_dict(value: OperationUpdate) -> dict[str, Any]:
    """The wire form of one ``OperationUpdate``, as sent inside ``Updates`` (§2.4)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def update_from_dict(value: object) -> OperationUpdate:
    """Decode one ``OperationUpdate`` (protocol.md §2.4)."""
    return _structure(value, OperationUpdate, "operation update")


def error_to_dict(value: ErrorObject) -> dict[str, Any]:
    """The wire form of an ``ErrorObject`` (protocol.md §2.3)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def error_from_dict(value: object) -> ErrorObject:
    """Decode an ``ErrorObject`` (protocol.md §2.3)."""
    return _structure(value, ErrorObject, "error object")


def checkpoint_output_from_dict(response: Mapping[str, Any]) -> CheckpointOutput:
    """Decode a ``CheckpointDurableExecution`` response (protocol.md §3.2).

    Accepts botocore's response dict (``ResponseMetadata`` is ignored, timestamps
    may be ``datetime``); an absent ``CheckpointToken`` gives ``None``.
    """
    return _structure(response, CheckpointOutput, "CheckpointDurableExecution response")


def checkpoint_output_to_dict(value: CheckpointOutput) -> dict[str, Any]:
    """The JSON form of a checkpoint response (for fakes of the service)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def state_page_from_dict(response: Mapping[str, Any]) -> StatePage:
    """Decode a ``GetDurableExecutionState`` response (protocol.md §3.3)."""
    return _structure(response, StatePage, "GetDurableExecutionState response")


def state_page_to_dict(value: StatePage) -> dict[str, Any]:
    """The JSON form of a state page (for fakes of the service)."""
    return _FAST.unstructure(value)  # type: ignore[no-any-return]


def update_size(update: OperationUpdate) -> int:
    """UTF-8 length of ``json.dumps`` of the update's wire form (protocol.md §3.4)."""
    return len(json.dumps(update_to_dict(update)).encode("utf-8"))
