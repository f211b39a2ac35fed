"""Behaviour of durable.serdes: the extended-types format (protocol.md §7.2),
the other serializers (§7.3) and the helpers' error reporting (§7.1)."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import json
import math
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable import serdes as serdes_module
from durable.errors import RetryableSerDesError, SerDesError
from durable.serdes import (
    DEFAULT_JSON_SERDES,
    EXTENDED_TYPES_SERDES,
    PASS_THROUGH_SERDES,
    ExtendedTypeSerDes,
    JsonSerDes,
    PassThroughSerDes,
    SerDes,
    SerDesContext,
    deserialize,
    serialize,
)

ROOT = Path(__file__).resolve().parents[2]
CTX = SerDesContext()
UTC = dt.UTC


def enc(value: Any) -> str:
    return EXTENDED_TYPES_SERDES.serialize(value, CTX)


def dec(data: str) -> Any:
    return EXTENDED_TYPES_SERDES.deserialize(data, CTX)


class Color(enum.IntEnum):
    RED = 1


class Mood(enum.StrEnum):
    HAPPY = "happy"


class Plain(enum.Enum):
    A = 1


class Name(str):
    pass


class Ratio(float):
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Point(NamedTuple):
    x: int
    y: int


# -- the examples of protocol.md §7.2 -------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"msg": "Hello Bob"}, '{"t":"m","v":{"msg":{"t":"s","v":"Hello Bob"}}}'),
        ((1, "a"), '{"t":"t","v":[{"t":"i","v":1},{"t":"s","v":"a"}]}'),
        ([1, [2]], "[1,[2]]"),
        ([{"a": 1}], '{"t":"l","v":[{"t":"m","v":{"a":{"t":"i","v":1}}}]}'),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            '{"t":"dt","v":"2024-01-02T03:04:05+00:00"}',
        ),
        (decimal.Decimal("1.50"), '{"t":"d","v":"1.50"}'),
        (b"\x00\x01", '{"t":"B","v":"AAE="}'),
        (5, "5"),
        ("a", '"a"'),
        (None, "null"),
        ([1, [2, "x"]], '[1,[2,"x"]]'),
        ("é", '"\\u00e9"'),
    ],
)
def test_protocol_examples_encode_exactly(value: Any, expected: str) -> None:
    """Each example of protocol.md §7.2 encodes to exactly the documented text and decodes back."""
    assert enc(value) == expected
    assert dec(expected) == value


def test_every_tag_encodes_as_documented() -> None:
    """Inside an envelope every element, primitives included, gets its tag from the table."""
    value: tuple[Any, ...] = (
        None,
        "s",
        True,
        7,
        1.5,
        b"\xff",
        uuid.UUID(int=1),
        decimal.Decimal("-0.10"),
        dt.datetime(2024, 5, 6, 7, 8, 9, 123),
        dt.date(2024, 5, 6),
        (),
        [1],
        {},
    )
    assert enc(value) == (
        '{"t":"t","v":[{"t":"n","v":null},{"t":"s","v":"s"},{"t":"b","v":true},'
        '{"t":"i","v":7},{"t":"f","v":1.5},{"t":"B","v":"/w=="},'
        '{"t":"u","v":"00000000-0000-0000-0000-000000000001"},{"t":"d","v":"-0.10"},'
        '{"t":"dt","v":"2024-05-06T07:08:09.000123"},{"t":"D","v":"2024-05-06"},'
        '{"t":"t","v":[]},{"t":"l","v":[{"t":"i","v":1}]},{"t":"m","v":{}}]}'
    )
    assert dec(enc(value)) == value


def test_bool_is_tagged_before_int() -> None:
    """A bool inside an envelope is tagged b, never i, and comes back as a bool."""
    assert enc({"a": True, "b": 1}) == '{"t":"m","v":{"a":{"t":"b","v":true},"b":{"t":"i","v":1}}}'
    assert type(dec(enc((True,)))[0]) is bool


def test_output_is_ascii_with_escapes() -> None:
    """Non-ASCII text, including lone surrogates and control characters, is written as escapes."""
    assert enc({"ключ": "😀\ud800\x00"}) == (
        '{"t":"m","v":{"\\u043a\\u043b\\u044e\\u0447":'
        '{"t":"s","v":"\\ud83d\\ude00\\ud800\\u0000"}}}'
    )
    assert dec(enc({"ключ": "😀\ud800\x00"})) == {"ключ": "😀\ud800\x00"}


def test_empty_containers() -> None:
    """Empty list, tuple, dict, bytes and string each have their exact encoding."""
    empties: list[Any] = [[], (), {}, b"", "", [[]]]
    assert [enc(v) for v in empties] == [
        "[]",
        '{"t":"t","v":[]}',
        '{"t":"m","v":{}}',
        '{"t":"B","v":""}',
        '""',
        "[[]]",
    ]
    assert dec('{"t":"t","v":[]}') == ()


def test_lists_nested_in_envelopes_are_tagged_even_when_plain() -> None:
    """A primitive-only list inside a dict is written as an l envelope, not as plain JSON."""
    assert (
        enc({"a": [1, 2]}) == '{"t":"m","v":{"a":{"t":"l","v":[{"t":"i","v":1},{"t":"i","v":2}]}}}'
    )


# -- floats -------------------------------------------------------------------


def test_non_finite_floats_use_json_extensions() -> None:
    """NaN and the infinities are written as NaN / Infinity / -Infinity and read back."""
    assert enc(math.nan) == "NaN"
    assert enc([math.inf, -math.inf]) == "[Infinity,-Infinity]"
    assert enc({"x": math.nan}) == '{"t":"m","v":{"x":{"t":"f","v":NaN}}}'
    assert math.isnan(dec("NaN"))
    assert dec('{"t":"f","v":-Infinity}') == -math.inf


def test_float_precision_and_negative_zero_round_trip() -> None:
    """Floats keep their shortest repr, including -0.0 and subnormals."""
    for value in (-0.0, 5e-324, 1e308, 0.1):
        assert enc(value) == repr(value)
        assert math.copysign(1, dec(enc((value,)))[0]) == math.copysign(1, value)
        assert dec(enc((value,))) == (value,)


# -- subclasses ------------------------------------------------------------------


def test_int_and_str_enums_encode_as_their_values() -> None:
    """IntEnum and StrEnum members are written as plain numbers/strings and read back as int/str."""
    assert enc(Color.RED) == "1"
    assert enc([Color.RED, Mood.HAPPY]) == '[1,"happy"]'
    assert enc({"c": Color.RED}) == '{"t":"m","v":{"c":{"t":"i","v":1}}}'
    assert enc((Mood.HAPPY,)) == '{"t":"t","v":[{"t":"s","v":"happy"}]}'
    assert type(dec(enc((Color.RED,)))[0]) is int


def test_builtin_subclasses_come_back_as_base_types() -> None:
    """Subclasses of str, float, list, tuple and dict are encoded like their base type."""
    value = {
        "name": Name("n"),
        "ratio": Ratio(0.5),
        "items": Items([1, (2,)]),
        "point": Point(1, 2),
        "ordered": collections.OrderedDict(b=1, a=2),
        "default": collections.defaultdict(list, k=[1]),
    }
    decoded = dec(enc(value))
    assert decoded == {
        "name": "n",
        "ratio": 0.5,
        "items": [1, (2,)],
        "point": (1, 2),
        "ordered": {"b": 1, "a": 2},
        "default": {"k": [1]},
    }
    assert [type(v) for v in decoded.values()] == [str, float, list, tuple, dict, dict]
    assert enc(Items([1, 2])) == "[1,2]"
    assert enc(Name("x")) == '"x"'


def test_plain_enum_is_unsupported() -> None:
    """An Enum without a str/int mixin is rejected, naming its class."""
    with pytest.raises(SerDesError, match=r"Unsupported type: <enum 'Plain'>"):
        enc(Plain.A)


# -- dict keys --------------------------------------------------------------------


def test_non_string_keys_become_json_strings() -> None:
    """int, float, bool and None keys are written as JSON writes them and read back as strings."""
    pairs: list[tuple[Any, str]] = [
        (1, "i"),
        (2.5, "f"),
        (True, "b"),
        (None, "n"),
        (math.inf, "inf"),
        (Color.RED, "e"),
    ]
    value = dict(pairs)  # True == Color.RED == 1: four entries, the first key kept
    assert enc(value) == (
        '{"t":"m","v":{"1":{"t":"s","v":"e"},"2.5":{"t":"s","v":"f"},'
        '"null":{"t":"s","v":"n"},"Infinity":{"t":"s","v":"inf"}}}'
    )
    assert dec(enc({False: 1, None: 2})) == {"false": 1, "null": 2}


def test_colliding_keys_are_both_written_and_the_last_wins() -> None:
    """Keys 1 and "1" both appear in the text; decoding keeps the last, as json.loads does."""
    text = enc({1: "a", "1": "b"})
    assert text == '{"t":"m","v":{"1":{"t":"s","v":"a"},"1":{"t":"s","v":"b"}}}'
    assert dec(text) == {"1": "b"}


def test_tuple_keys_are_rejected() -> None:
    """A tuple key is a SerDesError naming the key and where the dict is."""
    with pytest.raises(SerDesError, match=r"^Tuple keys not supported: \(1, 2\) at \$\.outer$"):
        enc({"outer": {(1, 2): "x"}})


def test_other_key_types_are_rejected() -> None:
    """A key JSON cannot write (bytes, frozenset) is a SerDesError naming its type."""
    with pytest.raises(SerDesError, match=r"Unsupported dict key type: <class 'bytes'>"):
        enc({b"k": 1})
    with pytest.raises(
        SerDesError, match=r"Unsupported dict key type: <class 'frozenset'>.* at \$\[0\]"
    ):
        enc([{frozenset(): 1}])


# -- bytes, dates, decimals, uuids -------------------------------------------------------


def test_bytes_like_values_are_base64_and_come_back_as_bytes() -> None:
    """bytearray and memoryview are written like bytes and decoded as bytes."""
    assert enc(bytearray(b"ab")) == '{"t":"B","v":"YWI="}'
    assert enc(memoryview(b"xyz")) == '{"t":"B","v":"eHl6"}'
    assert dec(enc([bytearray(b"ab")])) == [b"ab"]


def test_base64_decoding_is_lenient_like_the_reference() -> None:
    """Characters outside the base64 alphabet (e.g. line breaks) are skipped on decode."""
    assert dec('{"t":"B","v":"AA\\nE="}') == b"\x00\x01"


def test_naive_and_aware_datetimes_keep_their_offset() -> None:
    """Naive datetimes stay naive; aware ones come back with a fixed offset at the same instant."""
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert enc(naive) == '{"t":"dt","v":"2024-01-02T03:04:05"}'
    assert enc(aware) == '{"t":"dt","v":"2024-01-02T03:04:05+05:30"}'
    assert dec(enc(naive)).tzinfo is None
    assert dec(enc(aware)).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_trailing_z_is_accepted_as_utc() -> None:
    """A datetime written with a trailing Z (as other writers do) decodes as UTC."""
    assert dec('{"t":"dt","v":"2024-01-02T03:04:05Z"}') == dt.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )


def test_date_is_not_a_datetime() -> None:
    """A date is tagged D, a datetime dt, and each comes back as its own type."""
    assert enc(dt.date(2024, 1, 2)) == '{"t":"D","v":"2024-01-02"}'
    assert type(dec(enc(dt.date(2024, 1, 2)))) is dt.date


def test_decimal_special_values_round_trip_exactly() -> None:
    """Decimal keeps its exact text, including exponent, sign and NaN payloads."""
    for text in ("1.50", "-0", "1E+3", "NaN", "-sNaN12", "Infinity"):
        assert enc(decimal.Decimal(text)) == f'{{"t":"d","v":"{text}"}}'
        assert str(dec(enc(decimal.Decimal(text)))) == text


def test_uuid_uses_the_canonical_form() -> None:
    """A UUID is written in its canonical hyphenated form."""
    value = uuid.UUID("12345678123456781234567812345678")
    assert enc(value) == '{"t":"u","v":"12345678-1234-5678-1234-567812345678"}'
    assert dec(enc(value)) == value


# -- unsupported values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), r"^Unsupported type: <class 'object'>$"),
        ({1, 2}, r"^Unsupported type: <class 'set'>$"),
        (dt.time(1), r"^Unsupported type: <class 'datetime.time'>$"),
        (dt.timedelta(1), r"^Unsupported type: <class 'datetime.timedelta'>$"),
        (1j, r"^Unsupported type: <class 'complex'>$"),
        ({"items": [1, 2, {"when": frozenset()}]}, r"at \$\.items\[2\]\.when$"),
        ({"a b": [object()]}, r"at \$\['a b'\]\[0\]$"),
        ({3: (None, object())}, r"at \$\[3\]\[1\]$"),
    ],
)
def test_unsupported_values_name_type_and_path(value: Any, message: str) -> None:
    """An unsupported value is a SerDesError naming its type and its path in the value."""
    with pytest.raises(SerDesError, match=message):
        enc(value)


def test_huge_int_is_a_serdes_error() -> None:
    """An int too long for Python's int-to-text limit is a SerDesError, not a ValueError."""
    with pytest.raises(SerDesError, match="integer string conversion"):
        enc(10**5000)
    with pytest.raises(SerDesError, match="integer string conversion"):
        enc((10**5000,))


def test_circular_reference_is_reported_with_its_path() -> None:
    """A value that contains itself is a SerDesError naming where the cycle closes."""
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerDesError, match=r"^Circular reference.* at \$\[1\]$"):
        enc(loop)
    inner: dict[str, Any] = {"y": []}
    outer = {"x": inner}
    inner["y"].append(outer)
    with pytest.raises(SerDesError, match=r"^Circular reference.* at \$\.x\.y\[0\]$"):
        enc(outer)


def nest(wrap: Any, levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = wrap(value)
    return value


def test_deep_nesting_up_to_the_limit_round_trips() -> None:
    """255 levels of tagged containers and 512 levels of plain lists both round trip."""
    for value in (
        nest(lambda v: (v,), 255),
        nest(lambda v: {"k": v}, 255),
        nest(lambda v: [v], 512),
    ):
        assert dec(enc(value)) == value


def test_nesting_beyond_the_limit_is_a_serdes_error() -> None:
    """One level more than the limit is a SerDesError, on encode and on decode."""
    with pytest.raises(SerDesError, match=r"nested too deeply .* at \$\[0\]\[0\]"):
        enc(nest(lambda v: (v,), 256))
    with pytest.raises(SerDesError, match="nested too deeply"):
        enc(nest(lambda v: [v], 513))
    with pytest.raises(SerDesError, match="nested too deeply"):
        dec("[" * 513 + "]" * 513)
    deep_envelope = '{"t":"t","v":[' * 256 + "1" + "]}" * 256
    with pytest.raises(SerDesError, match="nested too deeply"):
        dec(deep_envelope)


# -- decoding -------------------------------------------------------------------------------


def test_decoding_primitive_payloads_is_plain_json() -> None:
    """Primitive payloads and primitive-only lists decode exactly as json.loads would."""
    for text in ("5", '"abc"', "null", "true", "1.5", '[1,["x",null]]', "[]"):
        assert dec(text) == json.loads(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"a":1}', r'^Malformed envelope: missing "t" or "v" at root\.$'),
        ('[1,{"t":"i","v":1}]', r'^Malformed envelope: missing "t" or "v" at root\.$'),
        ('{"t":"zz","v":1}', r'^Unknown type tag: "zz"$'),
        ('{"t":5,"v":1}', r'^Unknown type tag: "5"$'),
        ('{"t":"br","v":{}}', r"^Cannot rebuild .*BatchResult.* from tag \"br\": .*'all' list"),
        ('{"t":"br","v":3}', r'^Invalid value for tag "br": expected an object, got number'),
        (
            '{"t":"m","v":{"a":{"t":"l","v":[{"t":"?","v":0}]}}}',
            r'^Unknown type tag: "\?" at \$\.a\[0\]$',
        ),
        ("nope", r"^Invalid JSON: Expecting value"),
        ('{"t":"i","v":"12"}', r'^Invalid value for tag "i": expected an integer, got string$'),
        ('{"t":"b","v":"false"}', r'^Invalid value for tag "b": expected a boolean, got string$'),
        ('{"t":"s","v":5}', r'^Invalid value for tag "s": expected a string, got number$'),
        ('{"t":"l","v":{}}', r'^Invalid value for tag "l": expected an array, got object$'),
        ('{"t":"m","v":[]}', r'^Invalid value for tag "m": expected an object, got array$'),
        (
            '{"t":"t","v":[{"t":"dt","v":"yesterday"}]}',
            r'^Invalid value for tag "dt": .* at \$\[0\]$',
        ),
        ('{"t":"u","v":"xyz"}', r'^Invalid value for tag "u": '),
        ('{"t":"d","v":"1.2.3"}', r'^Invalid value for tag "d": '),
        ('{"t":"B","v":"A"}', r'^Invalid value for tag "B": '),
    ],
)
def test_bad_payloads_are_serdes_errors(data: str, message: str) -> None:
    """A payload that is not valid extended-types JSON is a SerDesError saying what and where."""
    with pytest.raises(SerDesError, match=message):
        dec(data)


def test_nested_plain_json_values_are_taken_as_they_are() -> None:
    """Like the reference, a nested element that is not an envelope is returned as plain JSON."""
    assert dec('{"t":"l","v":[1,{"x":2},[3]]}') == [1, {"x": 2}, [3]]
    assert dec('{"t":"m","v":{"a":"raw"}}') == {"a": "raw"}


def test_extra_envelope_members_are_ignored() -> None:
    """An envelope is any object with "t" and "v"; other members are ignored."""
    assert dec('{"t":"i","v":3,"x":0}') == 3


def test_an_int_may_stand_for_a_float() -> None:
    """An f envelope holding an integer (as other JSON writers produce) decodes to a float."""
    value = dec('{"t":"f","v":2}')
    assert value == 2.0
    assert type(value) is float


def test_decoding_never_imports_by_name() -> None:
    """Tags naming modules or callables are just unknown tags; nothing is imported."""
    before = set(sys.modules)
    for tag in ("os.system", "pickle", "__import__", "builtins.eval"):
        with pytest.raises(SerDesError, match="Unknown type tag"):
            dec(json.dumps({"t": tag, "v": "x"}))
    assert set(sys.modules) - before == set()


def test_module_does_not_import_slow_modules_at_import_time() -> None:
    """Importing durable.serdes does not itself import decimal, uuid, base64 or binascii."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import durable.serdes"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    rows = [line.split("|")[-1] for line in result.stderr.splitlines() if "|" in line]
    names = [(len(row) - len(row.lstrip()), row.strip()) for row in rows]
    index = next(i for i, (_, name) in enumerate(names) if name == "durable.serdes")
    indent = names[index][0]
    children = set()
    for level, name in reversed(names[:index]):
        if level <= indent:
            break
        children.add(name)
    assert children.isdisjoint({"decimal", "uuid", "base64", "binascii", "datetime"}), children


# -- other serializers -------------------------------------------------------------------


def test_json_serdes_uses_default_separators() -> None:
    """JsonSerDes writes json.dumps output with the default ", " and ": " separators."""
    assert DEFAULT_JSON_SERDES.serialize({"a": 1, "b": [1, 2]}, CTX) == '{"a": 1, "b": [1, 2]}'
    assert DEFAULT_JSON_SERDES.deserialize('{"a": [1, 2]}', CTX) == {"a": [1, 2]}
    assert isinstance(DEFAULT_JSON_SERDES, JsonSerDes)


def test_json_serdes_errors_are_wrapped_by_the_helper() -> None:
    """JsonSerDes on a non-JSON value raises TypeError, which serialize() wraps in SerDesError."""
    with pytest.raises(TypeError):
        DEFAULT_JSON_SERDES.serialize({"a": {1}}, CTX)
    with pytest.raises(
        SerDesError, match=r"^Serialization failed for id: op1, error: .*not JSON serializable\.$"
    ):
        serialize(DEFAULT_JSON_SERDES, {"a": {1}}, "op1")


def test_pass_through_returns_the_string_unchanged() -> None:
    """PassThroughSerDes returns strings as they are in both directions."""
    assert PASS_THROUGH_SERDES.serialize('{"not": "parsed"}', CTX) == '{"not": "parsed"}'
    assert PASS_THROUGH_SERDES.deserialize("[1, 2", CTX) == "[1, 2"
    assert PASS_THROUGH_SERDES.serialize(None, CTX) is None  # type: ignore[arg-type]
    assert isinstance(PASS_THROUGH_SERDES, PassThroughSerDes)


def test_pass_through_rejects_non_strings() -> None:
    """PassThroughSerDes refuses to write a value that is not a string."""
    with pytest.raises(SerDesError, match="only serialize str, got <class 'int'>"):
        PASS_THROUGH_SERDES.serialize(5, CTX)  # type: ignore[arg-type]


def test_builtin_serdes_do_not_need_a_context() -> None:
    """The built-in serializers can be called without a SerDesContext."""
    assert ExtendedTypeSerDes[Any]().serialize((1,)) == '{"t":"t","v":[{"t":"i","v":1}]}'
    assert ExtendedTypeSerDes[Any]().deserialize("5") == 5


def test_serdes_context_is_frozen_with_empty_defaults() -> None:
    """SerDesContext defaults to empty strings and cannot be changed."""
    assert SerDesContext() == SerDesContext("", "")
    context = SerDesContext("id", "arn")
    assert (context.operation_id, context.durable_execution_arn) == ("id", "arn")
    with pytest.raises(AttributeError):
        context.operation_id = "x"  # type: ignore[misc]


def test_public_names() -> None:
    """The module exports exactly its documented public API."""
    assert set(serdes_module.__all__) == {
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
    }


# -- the helpers -------------------------------------------------------------------------


class Recording(SerDes[Any]):
    def __init__(self, result: str | None = "payload", error: Exception | None = None) -> None:
        self.result = result
        self.error = error
        self.contexts: list[SerDesContext] = []

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str | None:
        self.contexts.append(serdes_context)
        if self.error is not None:
            raise self.error
        return self.result

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        self.contexts.append(serdes_context)
        if self.error is not None:
            raise self.error
        return ("decoded", data)


def test_helpers_default_to_extended_types() -> None:
    """With no serdes the helpers use the extended-types format."""
    assert serialize(None, (1,), "id") == '{"t":"t","v":[{"t":"i","v":1}]}'
    assert deserialize(None, '{"t":"t","v":[{"t":"i","v":1}]}', "id") == (1,)


def test_helpers_pass_the_context_to_a_custom_serdes() -> None:
    """A custom serdes receives the operation id and execution ARN."""
    custom = Recording()
    assert serialize(custom, 1, "op", "arn:x") == "payload"
    assert deserialize(custom, "p", "op", "arn:x") == ("decoded", "p")
    assert custom.contexts == [SerDesContext("op", "arn:x")] * 2


def test_custom_serdes_may_return_none() -> None:
    """A custom serializer returning None makes serialize() return None."""
    assert serialize(Recording(result=None), {"anything": object()}, "op") is None


def test_foreign_errors_are_wrapped_and_chained() -> None:
    """Any other exception becomes a SerDesError in the reference's message format, chained."""
    original = ValueError("boom")
    with pytest.raises(SerDesError) as caught:
        serialize(Recording(error=original), 1, "abc")
    assert caught.value.message == "Serialization failed for id: abc, error: boom."
    assert caught.value.__cause__ is original
    with pytest.raises(SerDesError) as caught:
        deserialize(Recording(error=KeyError("k")), "x", "abc")
    assert str(caught.value) == "Deserialization failed for id: abc, error: 'k'."
    assert isinstance(caught.value.__cause__, KeyError)


def test_what_names_the_operation() -> None:
    """With what= the message names the operation and its id."""
    with pytest.raises(SerDesError) as caught:
        serialize(None, {"items": [0, 1, {"when": object()}]}, "abc", what="step 'charge'")
    assert str(caught.value) == (
        "Serialization failed for step 'charge' (id: abc): "
        "Unsupported type: <class 'object'> at $.items[2].when."
    )
    assert isinstance(caught.value.__cause__, SerDesError)
    with pytest.raises(SerDesError) as caught:
        deserialize(None, '{"a":1}', "", what="step 'charge'")
    assert str(caught.value) == (
        "Deserialization failed for step 'charge': "
        'Malformed envelope: missing "t" or "v" at root.'
    )


def test_codec_errors_get_the_operation_too() -> None:
    """Errors of the default serdes are wrapped with the operation id, without a double period."""
    with pytest.raises(SerDesError) as caught:
        deserialize(None, '{"t":"zz","v":1}', "op7")
    assert str(caught.value) == 'Deserialization failed for id: op7, error: Unknown type tag: "zz".'
    assert type(caught.value) is SerDesError


def test_serdes_errors_of_custom_serdes_pass_unchanged() -> None:
    """SerDesError and RetryableSerDesError from a custom serdes propagate as the same objects."""
    permanent = SerDesError("mine", data="d")
    retryable = RetryableSerDesError("later")
    for error in (permanent, retryable):
        with pytest.raises(type(error)) as caught:
            serialize(Recording(error=error), 1, "op")
        assert caught.value is error
        with pytest.raises(type(error)) as caught:
            deserialize(Recording(error=error), "x", "op")
        assert caught.value is error


def test_base_exceptions_are_not_wrapped() -> None:
    """Exceptions outside Exception (e.g. KeyboardInterrupt) are never turned into SerDesError."""
    with pytest.raises(KeyboardInterrupt):
        serialize(Recording(error=KeyboardInterrupt()), 1, "op")  # type: ignore[arg-type]


# -- the extension point -------------------------------------------------------------------------


class Money:
    def __init__(self, amount: int, currency: str) -> None:
        self.amount = amount
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.amount, self.currency) == (
            other.amount,
            other.currency,
        )

    __hash__ = None  # type: ignore[assignment]


@pytest.fixture
def money_tag() -> Any:
    serdes_module.register_tagged_type(
        "x-money",
        Money,
        lambda m: {"amount": m.amount, "currency": m.currency},
        lambda d: Money(d["amount"], d["currency"]),
    )
    yield "x-money"
    serdes_module._unregister_tagged_type("x-money")


@pytest.mark.usefixtures("money_tag")
def test_registered_type_round_trips_with_its_tag() -> None:
    """A registered type is written as {"t": tag, "v": <m members>} and rebuilt by from_dict."""
    text = enc({"price": Money(5, "EUR")})
    assert text == (
        '{"t":"m","v":{"price":{"t":"x-money","v":'
        '{"amount":{"t":"i","v":5},"currency":{"t":"s","v":"EUR"}}}}}'
    )
    assert dec(text) == {"price": Money(5, "EUR")}
    assert dec(enc(Money(1, "USD"))) == Money(1, "USD")


@pytest.mark.usefixtures("money_tag")
def test_registered_type_errors_are_serdes_errors() -> None:
    """A registered type whose payload cannot be rebuilt gives a SerDesError naming the tag."""
    with pytest.raises(
        SerDesError, match=r'Cannot rebuild .*Money.* from tag "x-money".* at \$\[0\]'
    ):
        dec('{"t":"l","v":[{"t":"x-money","v":{}}]}')


def test_registration_is_undone_and_validated() -> None:
    """Built-in or duplicate tags are refused, and an unregistered tag is unknown again."""
    with pytest.raises(ValueError, match="built in"):
        serdes_module.register_tagged_type("m", Money, vars, dict)
    with pytest.raises(SerDesError, match="Unsupported type"):
        enc(Money(1, "X"))
    with pytest.raises(SerDesError, match="Unknown type tag"):
        dec('{"t":"x-money","v":{}}')


# -- properties -------------------------------------------------------------------------------


def _fixed_offsets() -> st.SearchStrategy[dt.tzinfo]:
    return st.integers(-23 * 3600, 23 * 3600).map(lambda s: dt.timezone(dt.timedelta(seconds=s)))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.sampled_from(["\ud800", "a\udfffb", "é", "\x00"]),
    st.binary(),
    st.binary().map(bytearray),
    st.binary().map(lambda b: memoryview(b)),
    st.uuids(),
    st.decimals(),
    st.datetimes(timezones=st.none() | st.timezones() | _fixed_offsets()),
    st.dates(),
    st.sampled_from([Color.RED, Mood.HAPPY, Name("sub"), Ratio(2.5)]),
)
KEYS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none())


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.lists(children, max_size=4).map(Items),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(st.text(), children, max_size=4).map(collections.OrderedDict),
        st.builds(Point, children, children),
    )


VALUES = st.recursive(SCALARS, _containers, max_leaves=12)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, float):
        return json.dumps(float(key))
    return int.__repr__(key)


def expected(value: Any) -> Any:
    """What decoding the encoding of ``value`` must give back."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dt.datetime):
        return dt.datetime.fromisoformat(value.isoformat())
    if isinstance(value, list):
        return [expected(v) for v in value]
    if isinstance(value, tuple):
        return tuple(expected(v) for v in value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[_json_key(k)] = expected(v)
        return out
    return value


def same(a: Any, b: Any) -> bool:
    """Strict equality: same types, NaN equals NaN, -0.0 differs from 0.0, exact Decimal text."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, dt.datetime):
        return bool(a.isoformat() == b.isoformat())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    equal: bool = a == b
    return equal


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_round_trip_property(value: Any) -> None:
    """Every supported value decodes back to itself (as its base types) from pure-ASCII text."""
    text = enc(value)
    assert text.isascii()
    assert same(dec(text), expected(value))
    assert enc(dec(text)) == enc(expected(value))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), st.lists))
def test_primitive_values_are_plain_json_property(value: Any) -> None:
    """Primitives and primitive-only lists are written exactly as compact json.dumps writes them."""
    assert enc(value) == json.dumps(value, separators=(",", ":"))
