"""Turning workflow values into checkpoint payloads and back (protocol.md §7.1-§7.3).

Responsibility: the ``SerDes`` interface, the three built-in serializers and
the two helpers the engine calls (``serialize`` / ``deserialize``), which give
every failure a message naming the operation.

The default, ``ExtendedTypeSerDes``, writes byte for byte what the reference
SDK's extended-types serializer writes, so a history written by either SDK
reads the same in the other.  Output is compact, pure-ASCII JSON
(``separators=(",", ":")``, ``ensure_ascii=True``):

* ``None``, ``str``, ``int``, ``float``, ``bool`` and lists (recursively) of
  only those are plain JSON: ``5``, ``"a"``, ``[1,[2,"x"]]``.
* Anything else is a tagged envelope ``{"t": tag, "v": ...}`` in which every
  nested element, primitives included, is an envelope too:

  ====  =======================================  ==============================
  tag   Python type                              ``v``
  ====  =======================================  ==============================
  n     None                                     null
  s     str                                      the string
  b     bool (tested before int)                 true / false
  i     int                                      the number
  f     float                                    the number (NaN, Infinity too)
  B     bytes, bytearray, memoryview             standard base64, padded
  u     uuid.UUID                                canonical string
  d     decimal.Decimal                          ``str(value)``
  dt    datetime.datetime                        ``isoformat()``; ``Z`` accepted
  D     datetime.date                            ``isoformat()``
  t     tuple                                    array of envelopes
  l     list (not all-primitive)                 array of envelopes
  m     dict                                     object of envelopes; keys as
                                                 JSON writes them (tuple keys
                                                 are rejected)
  ====  =======================================  ==============================

Subclasses are encoded as their base type (an ``IntEnum`` as ``i``, an
``OrderedDict`` as ``m``) and come back as the base type.  Any other type is a
``SerDesError`` naming the type and where it sits in the value, e.g.
``Unsupported type: <class 'set'> at $.items[2]``.  The encoded JSON may nest
at most 512 levels (about 255 levels of tagged containers); deeper values and
values that contain themselves are rejected.

This module never executes, imports or unpickles anything named by a payload:
decoding only maps the fixed tag table above (plus tags registered by
`durable` itself, see ``register_tagged_type``) onto constructors of known
types.  It imports only the standard library, attrs and ``durable.errors``;
``uuid``, ``decimal``, ``datetime`` and ``binascii`` are imported only once a
value other than a plain str, int, float, bool, None, list, tuple or dict is
met, so that ``import durable`` stays cheap.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from durable.errors import RetryableSerDesError, SerDesError

__all__ = [
    "DEFAULT_JSON_SERDES",
    "EXTENDED_TYPES_SERDES",
    "PASS_THROUGH_SERDES",
    "ExtendedTypeSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "deserialize",
    "serialize",
]

T = TypeVar("T")


@attrs.frozen
class SerDesContext:
    """Which operation a value belongs to, for serializers that care."""

    operation_id: str = ""
    durable_execution_arn: str = ""


class SerDes(abc.ABC, Generic[T]):
    """Converts values of type ``T`` to payload strings and back.

    ``serialize`` may return ``None``: then no payload is written and the
    operation's result reads back as ``None``.
    """

    @abc.abstractmethod
    def serialize(self, value: T, serdes_context: SerDesContext) -> str | None:
        """Return the payload for ``value`` (or ``None`` for no payload)."""

    @abc.abstractmethod
    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Return the value that ``data`` encodes."""


class PassThroughSerDes(SerDes[str]):
    """The payload is the value: strings pass unchanged both ways.

    ``None`` serializes to ``None`` (no payload); any other non-string is a
    ``SerDesError``.
    """

    def serialize(self, value: str, serdes_context: SerDesContext | None = None) -> str | None:
        if isinstance(value, str) or value is None:
            return value
        raise SerDesError(f"PassThroughSerDes can only serialize str, got {type(value)}")

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> str:
        return data


class JsonSerDes(SerDes[T]):
    """Plain ``json.dumps`` (default separators) / ``json.loads``."""

    def serialize(self, value: T, serdes_context: SerDesContext | None = None) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> T:
        result: T = json.loads(data)
        return result


class ExtendedTypeSerDes(SerDes[T]):
    """The default serializer for operation results: tagged JSON (see the module docstring).

    Errors are ``SerDesError`` whose message names the offending type or tag
    and its path inside the value (``$`` is the value itself).
    """

    def serialize(self, value: T, serdes_context: SerDesContext | None = None) -> str:
        return _encode(value)

    def deserialize(self, data: str, serdes_context: SerDesContext | None = None) -> T:
        result: T = _decode(data)
        return result


EXTENDED_TYPES_SERDES: Final[ExtendedTypeSerDes[Any]] = ExtendedTypeSerDes()
DEFAULT_JSON_SERDES: Final[JsonSerDes[Any]] = JsonSerDes()
PASS_THROUGH_SERDES: Final[PassThroughSerDes] = PassThroughSerDes()


# -- the helpers the engine calls ---------------------------------------------


def serialize(
    serdes: SerDes[Any] | None,
    value: Any,
    operation_id: str = "",
    durable_execution_arn: str = "",
    *,
    what: str | None = None,
) -> str | None:
    """Serialize ``value`` with ``serdes`` (``None``: the extended-types default).

    A ``SerDesError`` or ``RetryableSerDesError`` raised by a custom serdes
    propagates unchanged; any other failure becomes a ``SerDesError`` whose
    message names the operation (``what``, e.g. ``"step 'charge'"``, and the
    id), chained to the original exception.
    """
    active = EXTENDED_TYPES_SERDES if serdes is None else serdes
    try:
        return active.serialize(value, SerDesContext(operation_id, durable_execution_arn))
    except _CodecError as e:
        raise SerDesError(_failure_message("Serialization", operation_id, what, e)) from e
    except (SerDesError, RetryableSerDesError):
        raise
    except Exception as e:
        raise SerDesError(_failure_message("Serialization", operation_id, what, e)) from e


def deserialize(
    serdes: SerDes[Any] | None,
    data: str,
    operation_id: str = "",
    durable_execution_arn: str = "",
    *,
    what: str | None = None,
) -> Any:
    """Deserialize ``data`` with ``serdes`` (``None``: the extended-types default).

    Failures are reported as for ``serialize``.
    """
    active = EXTENDED_TYPES_SERDES if serdes is None else serdes
    try:
        return active.deserialize(data, SerDesContext(operation_id, durable_execution_arn))
    except _CodecError as e:
        raise SerDesError(_failure_message("Deserialization", operation_id, what, e)) from e
    except (SerDesError, RetryableSerDesError):
        raise
    except Exception as e:
        raise SerDesError(_failure_message("Deserialization", operation_id, what, e)) from e


def _failure_message(verb: str, operation_id: str, what: str | None, error: Exception) -> str:
    detail = str(error)
    end = "" if detail.endswith(".") else "."
    if what is None:
        return f"{verb} failed for id: {operation_id}, error: {detail}{end}"
    where = f"{what} (id: {operation_id})" if operation_id else what
    return f"{verb} failed for {where}: {detail}{end}"


# -- errors of the extended-types codec ---------------------------------------


class _CodecError(SerDesError):
    """A value or payload the extended-types codec cannot handle.

    A ``SerDesError`` for anyone calling the serdes directly; the helpers above
    recognise it and add the operation to the message.
    """


#: Maximum nesting of the encoded JSON (arrays and objects), on both sides.
_MAX_DEPTH: Final = 512

_INDEX: Final = 0  # a path step into a list or tuple
_KEY: Final = 1  # a path step into a dict
_Segment = tuple[int, Any]


class _Fail(Exception):  # noqa: N818 - internal signal, never escapes this module
    """Raised inside the codec; collects the path while it unwinds."""

    def __init__(
        self, reason: str, cause: BaseException | None = None, *, too_deep: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause
        self.too_deep = too_deep
        self.segments: list[_Segment] = []  # innermost first


def _too_deep() -> _Fail:
    return _Fail(f"Value is nested too deeply (more than {_MAX_DEPTH} JSON levels)", too_deep=True)


def _format_path(segments: list[_Segment]) -> str:
    parts = []
    for kind, key in segments:
        if kind == _INDEX:
            parts.append(f"[{key}]")
        elif isinstance(key, str) and key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{_short_repr(key)}]")
    if len(parts) > 16:
        parts = [*parts[:8], f"[...{len(parts) - 14} more...]", *parts[-6:]]
    return "$" + "".join(parts)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _codec_error(fail: _Fail, root: Any) -> _CodecError:
    segments = fail.segments[::-1]
    reason = fail.reason
    if fail.too_deep:
        cycle = _cycle_path(root, segments)
        if cycle is not None:
            reason, segments = "Circular reference: the value contains itself", cycle
    if segments:
        reason = f"{reason} at {_format_path(segments)}"
    return _CodecError(reason)


def _cycle_path(root: Any, segments: list[_Segment]) -> list[_Segment] | None:
    """The path to the first container met twice when following ``segments``."""
    seen: set[int] = set()
    node = root
    for i, (_, key) in enumerate(segments):
        if id(node) in seen:
            return segments[:i]
        seen.add(id(node))
        if not isinstance(node, list | tuple | dict):
            return None
        try:
            node = node[key]
        except Exception:
            return None
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# -- encoding -----------------------------------------------------------------

_Encoder = Callable[[Any, int], Any]  # (value, depth of its envelope) -> envelope

_str_text: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _plain_default(value: Any) -> Any:
    raise TypeError(f"Unsupported type: {type(value)}")


def _make_dumps() -> Callable[[Any], str]:
    # The reference's settings: compact separators, ASCII only, NaN allowed.
    # Cycles and depth are checked before anything reaches the encoder.
    return json.JSONEncoder(
        separators=(",", ":"), default=_plain_default, check_circular=False
    ).encode


_dumps: Final = _make_dumps()
_PLAIN_SCALARS: Final = frozenset({str, int, float, bool})


def _is_plain_list(items: list[Any], depth: int) -> bool:
    """True if ``items`` holds only primitives and plain lists, within the depth limit."""
    if depth > _MAX_DEPTH:
        return False
    for item in items:
        if item is None or type(item) in _PLAIN_SCALARS:
            continue
        if isinstance(item, list):
            if not _is_plain_list(item, depth + 1):
                return False
        elif not isinstance(item, str | int | float):
            return False
    return True


def _encode(value: Any) -> str:
    cls = type(value)
    try:
        if cls is str:
            return _str_text(value)
        if cls is int:
            return int.__repr__(value)
        if value is None:
            return "null"
        if cls is bool:
            return "true" if value else "false"
        if cls is float:
            return _float_text(value)
        if isinstance(value, str | int | float) or (
            isinstance(value, list) and _is_plain_list(value, 1)
        ):
            return _dumps(value)
        return _dumps(_encode_at(value, 1))
    except _Fail as fail:
        raise _codec_error(fail, value) from fail.cause
    except RecursionError as e:
        raise _CodecError(str(_too_deep())) from e
    except ValueError as e:  # an int too long to write (sys.get_int_max_str_digits)
        raise _CodecError(str(e)) from e


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


_INF: Final = float("inf")


def _encode_at(value: Any, depth: int) -> Any:
    cls = type(value)
    encoder = _ENCODERS.get(cls) or _resolve_encoder(cls)
    return encoder(value, depth)


_NONE_ENVELOPE: Final = {"t": "n", "v": None}
_TRUE_ENVELOPE: Final = {"t": "b", "v": True}
_FALSE_ENVELOPE: Final = {"t": "b", "v": False}


def _enc_none(value: None, depth: int) -> Any:
    return _NONE_ENVELOPE


def _enc_bool(value: bool, depth: int) -> Any:
    return _TRUE_ENVELOPE if value else _FALSE_ENVELOPE


def _enc_str(value: str, depth: int) -> Any:
    return {"t": "s", "v": value}


def _enc_int(value: int, depth: int) -> Any:
    return {"t": "i", "v": value}


def _enc_float(value: float, depth: int) -> Any:
    return {"t": "f", "v": value}


def _enc_bytes(value: bytes | bytearray | memoryview, depth: int) -> Any:
    import binascii

    try:
        data = bytes(value)
    except (ValueError, TypeError) as e:  # e.g. a released memoryview
        raise _Fail(f"Cannot read {type(value)}: {e}", e) from None
    return {"t": "B", "v": binascii.b2a_base64(data, newline=False).decode("ascii")}


def _enc_by_str(tag: str) -> _Encoder:
    def encode(value: Any, depth: int) -> Any:
        try:
            return {"t": tag, "v": str(value)}
        except Exception as e:
            raise _Fail(f"Cannot convert {type(value)} to text: {e}", e) from None

    return encode


def _enc_isoformat(tag: str) -> _Encoder:
    def encode(value: Any, depth: int) -> Any:
        try:
            return {"t": tag, "v": value.isoformat()}
        except Exception as e:
            raise _Fail(f"Cannot convert {type(value)} to text: {e}", e) from None

    return encode


def _enc_sequence(value: list[Any] | tuple[Any, ...], depth: int) -> Any:
    """``l`` or ``t``: one envelope per element (the loop is inlined so that
    each level of nesting costs one Python frame)."""
    if depth + 1 >= _MAX_DEPTH:
        raise _too_deep()
    child = depth + 2
    encoders = _ENCODERS
    out = []
    i = 0
    try:
        for i, item in enumerate(value):  # noqa: B007 - i names the failing element
            cls = type(item)
            out.append((encoders.get(cls) or _resolve_encoder(cls))(item, child))
    except _Fail as fail:
        fail.segments.append((_INDEX, i))
        raise
    return {"t": "l" if isinstance(value, list) else "t", "v": out}


def _enc_mapping(value: Mapping[Any, Any], depth: int, tag: str = "m") -> Any:
    """``m`` (or a registered tag): the same keys, one envelope per member.

    Keys stay as they are: the JSON writer turns int, float, bool and None
    keys into strings exactly as the reference SDK's output does.
    """
    for key in value:
        if type(key) is not str:
            _check_key(key)
    if depth + 1 >= _MAX_DEPTH:
        raise _too_deep()
    child = depth + 2
    encoders = _ENCODERS
    out = {}
    key = None
    try:
        for key, item in value.items():
            cls = type(item)
            out[key] = (encoders.get(cls) or _resolve_encoder(cls))(item, child)
    except _Fail as fail:
        fail.segments.append((_KEY, key))
        raise
    return {"t": tag, "v": out}


def _check_key(key: Any) -> None:
    if isinstance(key, tuple):
        raise _Fail(f"Tuple keys not supported: {_short_repr(key)}")
    if not (key is None or isinstance(key, str | int | float)):
        raise _Fail(
            f"Unsupported dict key type: {type(key)} (key {_short_repr(key)}); "
            "keys must be str, int, float, bool or None"
        )


def _enc_unsupported(value: Any, depth: int) -> Any:
    raise _Fail(f"Unsupported type: {type(value)}")


#: Exact type -> encoder.  Subclasses are resolved once (in the reference's
#: order of isinstance tests) and cached here.
_ENCODERS: dict[type, _Encoder] = {}
_BASE_ENCODERS: dict[type, _Encoder] = {
    type(None): _enc_none,
    str: _enc_str,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    memoryview: _enc_bytes,
    list: _enc_sequence,
    tuple: _enc_sequence,
    dict: _enc_mapping,
}
_ENCODERS.update(_BASE_ENCODERS)
_MAX_CACHED_TYPES: Final = 1024
_lazy_types_loaded = False


def _load_lazy_types() -> None:
    """Import the modules of the slower types and register their encoders."""
    global _lazy_types_loaded
    import datetime
    import decimal
    import uuid

    _BASE_ENCODERS[uuid.UUID] = _enc_by_str("u")
    _BASE_ENCODERS[decimal.Decimal] = _enc_by_str("d")
    _BASE_ENCODERS[datetime.datetime] = _enc_isoformat("dt")
    _BASE_ENCODERS[datetime.date] = _enc_isoformat("D")
    _ENCODERS.update(_BASE_ENCODERS)
    _lazy_types_loaded = True


def _resolve_encoder(cls: type) -> _Encoder:
    if not _lazy_types_loaded:
        _load_lazy_types()
        found = _BASE_ENCODERS.get(cls)
        if found is not None:
            return found
    import datetime
    import decimal
    import uuid

    encoder: _Encoder
    if issubclass(cls, str):
        encoder = _enc_str
    elif issubclass(cls, bool):
        encoder = _enc_bool
    elif issubclass(cls, int):
        encoder = _enc_int
    elif issubclass(cls, float):
        encoder = _enc_float
    elif issubclass(cls, bytes | bytearray | memoryview):
        encoder = _enc_bytes
    elif issubclass(cls, uuid.UUID):
        encoder = _BASE_ENCODERS[uuid.UUID]
    elif issubclass(cls, decimal.Decimal):
        encoder = _BASE_ENCODERS[decimal.Decimal]
    elif issubclass(cls, datetime.datetime):
        encoder = _BASE_ENCODERS[datetime.datetime]
    elif issubclass(cls, datetime.date):
        encoder = _BASE_ENCODERS[datetime.date]
    else:
        encoder = _enc_unsupported
        for tagged in _TAGGED_TYPES.values():
            if issubclass(cls, tagged.cls):
                encoder = _BASE_ENCODERS[tagged.cls]
                break
        else:
            if issubclass(cls, list | tuple):
                encoder = _enc_sequence
            elif issubclass(cls, dict):
                encoder = _enc_mapping
    if len(_ENCODERS) < _MAX_CACHED_TYPES:
        _ENCODERS[cls] = encoder
    return encoder


# -- decoding -----------------------------------------------------------------

_Decoder = Callable[[Any, int], Any]  # (the envelope's "v", depth of the envelope) -> value


def _decode(data: str) -> Any:
    try:
        obj = json.loads(data)
    except RecursionError as e:
        raise _CodecError(str(_too_deep())) from e
    except (ValueError, TypeError) as e:
        raise _CodecError(f"Invalid JSON: {e}") from e
    cls = type(obj)
    if cls is dict:
        if "t" in obj and "v" in obj:
            try:
                return _decode_envelope(obj, 1)
            except _Fail as fail:
                raise _codec_error(fail, None) from fail.cause
            except RecursionError as e:
                raise _CodecError(str(_too_deep())) from e
    elif cls is not list or _is_plain_list(obj, 1):
        return obj
    elif _json_depth_exceeds(obj, _MAX_DEPTH):
        raise _CodecError(str(_too_deep()))
    raise _CodecError('Malformed envelope: missing "t" or "v" at root.')


def _json_depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return False


def _decode_envelope(envelope: dict[str, Any], depth: int) -> Any:
    """Decode an envelope that sits at JSON level ``depth``.

    Containers are decoded here (one Python frame per level of nesting).
    Like the reference, a nested element that is not an envelope (an object
    with "t" and "v") is taken as the plain JSON value it is.
    """
    tag = envelope["t"]
    value = envelope["v"]
    if type(tag) is not str:
        raise _Fail(f'Unknown type tag: "{tag}"')
    decoder = _DECODERS.get(tag)
    if decoder is not None:
        return decoder(value, depth)
    if tag == "l" or tag == "t":
        if type(value) is not list:
            raise _expected(tag, "an array", value)
        if depth + 1 >= _MAX_DEPTH:
            raise _too_deep()
        child = depth + 2
        items = []
        i = 0
        try:
            for i, item in enumerate(value):  # noqa: B007 - i names the failing element
                if type(item) is dict and "t" in item and "v" in item:
                    item = _decode_envelope(item, child)
                items.append(item)
        except _Fail as fail:
            fail.segments.append((_INDEX, i))
            raise
        return items if tag == "l" else tuple(items)
    if tag == "m":
        return _dec_members(tag, value, depth)
    raise _Fail(f'Unknown type tag: "{tag}"')


def _dec_members(tag: str, value: Any, depth: int) -> dict[str, Any]:
    """The members of the object ``value``, the "v" of an envelope at ``depth``."""
    if type(value) is not dict:
        raise _expected(tag, "an object", value)
    if depth + 1 >= _MAX_DEPTH:
        raise _too_deep()
    child = depth + 2
    out = {}
    key = None
    try:
        for key, item in value.items():
            if type(item) is dict and "t" in item and "v" in item:
                out[key] = _decode_envelope(item, child)
            else:
                out[key] = item
    except _Fail as fail:
        fail.segments.append((_KEY, key))
        raise
    return out


def _expected(tag: str, kind: str, value: Any) -> _Fail:
    return _Fail(f'Invalid value for tag "{tag}": expected {kind}, got {_json_kind(value)}')


def _dec_none(value: Any, depth: int) -> None:
    if value is not None:
        raise _expected("n", "null", value)


def _dec_str(value: Any, depth: int) -> str:
    if type(value) is not str:
        raise _expected("s", "a string", value)
    return value


def _dec_bool(value: Any, depth: int) -> bool:
    if type(value) is not bool:
        raise _expected("b", "a boolean", value)
    return value


def _dec_int(value: Any, depth: int) -> int:
    if type(value) is not int:
        raise _expected("i", "an integer", value)
    return value


def _dec_float(value: Any, depth: int) -> float:
    cls = type(value)
    if cls is float:
        return value  # type: ignore[no-any-return]
    if cls is int:
        try:
            return float(value)
        except OverflowError as e:
            raise _Fail(f'Invalid value for tag "f": {e}', e) from None
    raise _expected("f", "a number", value)


def _dec_from_string(tag: str, convert: Callable[[str], Any]) -> _Decoder:
    def decode(value: Any, depth: int) -> Any:
        if type(value) is not str:
            raise _expected(tag, "a string", value)
        try:
            return convert(value)
        except Exception as e:
            raise _Fail(f'Invalid value for tag "{tag}": {e}', e) from None

    return decode


def _bytes_from_text(text: str) -> bytes:
    import binascii

    # Lenient like the reference: characters outside the alphabet are skipped.
    return binascii.a2b_base64(text.encode("utf-8"))


def _uuid_from_text(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def _decimal_from_text(text: str) -> Any:
    import decimal

    return decimal.Decimal(text)


def _datetime_from_text(text: str) -> Any:
    import datetime

    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(text)


def _date_from_text(text: str) -> Any:
    import datetime

    return datetime.date.fromisoformat(text)


#: Tag -> decoder for the scalar (and registered) tags; ``t``, ``l`` and ``m``
#: are decoded by ``_decode_envelope`` itself.  Nothing else can be decoded.
_DECODERS: dict[str, _Decoder] = {
    "n": _dec_none,
    "s": _dec_str,
    "b": _dec_bool,
    "i": _dec_int,
    "f": _dec_float,
    "B": _dec_from_string("B", _bytes_from_text),
    "u": _dec_from_string("u", _uuid_from_text),
    "d": _dec_from_string("d", _decimal_from_text),
    "dt": _dec_from_string("dt", _datetime_from_text),
    "D": _dec_from_string("D", _date_from_text),
}
_BUILTIN_TAGS: Final = frozenset({*_DECODERS, "t", "l", "m"})


# -- extension point: more tagged types ---------------------------------------


class _TaggedType:
    __slots__ = ("cls", "from_dict", "tag", "to_dict")

    def __init__(
        self,
        tag: str,
        cls: type,
        to_dict: Callable[[Any], Mapping[Any, Any]],
        from_dict: Callable[[dict[str, Any]], Any],
    ) -> None:
        self.tag = tag
        self.cls = cls
        self.to_dict = to_dict
        self.from_dict = from_dict


_TAGGED_TYPES: dict[str, _TaggedType] = {}


def register_tagged_type(
    tag: str,
    cls: type,
    to_dict: Callable[[Any], Mapping[Any, Any]],
    from_dict: Callable[[dict[str, Any]], Any],
) -> None:
    """Teach the extended-types codec one more type (for `durable`'s own use).

    Instances of ``cls`` (and its subclasses) are written as
    ``{"t": tag, "v": <the "m" encoding's "v" of to_dict(value)>}`` and read
    back with ``from_dict(<the decoded dict>)``.  Registered types are tested
    after the scalar types and before list, tuple and dict, which is where the
    reference SDK tests its ``BatchResult`` (tag ``br``).  Not thread-safe:
    register at import time.
    """
    if not isinstance(tag, str) or not tag or tag in _BUILTIN_TAGS or tag in _TAGGED_TYPES:
        raise ValueError(f"tag {tag!r} is empty, built in or already registered")
    if not isinstance(cls, type):
        raise TypeError(f"cls must be a class, got {cls!r}")
    tagged = _TaggedType(tag, cls, to_dict, from_dict)

    def encode(value: Any, depth: int) -> Any:
        try:
            plain = to_dict(value)
        except Exception as e:
            raise _Fail(f"Cannot convert {type(value)} to a dict: {e}", e) from None
        if not isinstance(plain, Mapping):
            raise _Fail(f"{type(value)} converted to {type(plain)}, not a dict")
        return _enc_mapping(plain, depth, tag)

    def decode(value: Any, depth: int) -> Any:
        members = _dec_members(tag, value, depth)
        try:
            return from_dict(members)
        except Exception as e:
            raise _Fail(f'Cannot rebuild {cls} from tag "{tag}": {e}', e) from None

    _TAGGED_TYPES[tag] = tagged
    _DECODERS[tag] = decode
    _BASE_ENCODERS[cls] = encode
    _reset_encoder_cache()


def _unregister_tagged_type(tag: str) -> None:
    """Undo ``register_tagged_type`` (tests only)."""
    tagged = _TAGGED_TYPES.pop(tag)
    del _DECODERS[tag]
    del _BASE_ENCODERS[tagged.cls]
    _reset_encoder_cache()


def _reset_encoder_cache() -> None:
    _ENCODERS.clear()
    _ENCODERS.update(_BASE_ENCODERS)
