"""durable's extended-types serdes against the reference SDK's: the same bytes
for every supported value, each reads the other's output, and both reject the
same values (protocol.md §7.2)."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import json
import math
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable.errors import SerDesError
from durable.serdes import EXTENDED_TYPES_SERDES, SerDesContext, serialize

pytestmark = pytest.mark.interop

reference = pytest.importorskip("aws_durable_execution_sdk_python.serdes")

CTX = SerDesContext()
REF = reference.ExtendedTypeSerDes()
REF_CTX = reference.SerDesContext()


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
    x: Any
    y: Any


def ours(value: Any) -> str:
    return EXTENDED_TYPES_SERDES.serialize(value, CTX)


def theirs(value: Any) -> str:
    text: str = REF.serialize(value, REF_CTX)
    return text


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


# -- generated values ------------------------------------------------------------------------


def _fixed_offsets() -> st.SearchStrategy[dt.tzinfo]:
    return st.integers(-23 * 3600, 23 * 3600).map(lambda s: dt.timezone(dt.timedelta(seconds=s)))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.sampled_from(["\ud800", "a\udfffb", "é", "\x00", "\u2028"]),
    st.binary(),
    st.binary().map(bytearray),
    st.binary().map(lambda b: memoryview(b)),
    st.uuids(),
    st.decimals(),
    st.datetimes(timezones=st.none() | st.timezones() | _fixed_offsets()),
    st.dates(),
    st.sampled_from([Color.RED, Mood.HAPPY, Name("sub"), Ratio(2.5)]),
)
KEYS = st.one_of(
    st.text(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from([Color.RED, Name("k"), Ratio(0.5)]),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.lists(children, max_size=4).map(Items),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(st.text(), children, max_size=4).map(collections.OrderedDict),
        st.dictionaries(st.text(), children, max_size=4).map(
            lambda d: collections.defaultdict(list, d)
        ),
        st.builds(Point, children, children),
    )


VALUES = st.recursive(SCALARS, _containers, max_leaves=12)

BAD_LEAVES = st.one_of(
    st.builds(object),
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.complex_numbers(allow_nan=False),
    st.times(),
    st.timedeltas(),
    st.just(Plain.A),
    st.just(range(2)),
    st.just(5000).map(lambda digits: 10**digits),
    st.dictionaries(st.tuples(st.integers()), st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.binary(), st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.frozensets(st.integers()), st.integers(), min_size=1, max_size=2),
)


def _insert(container: list[Any], bad: Any, where: int) -> list[Any]:
    position = where % (len(container) + 1)
    return [*container[:position], bad, *container[position:]]


def _holding(bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Containers of supported values with one unsupported thing somewhere inside."""
    good = st.lists(VALUES, max_size=3)
    where = st.integers(0, 3)
    return st.one_of(
        st.builds(_insert, good, bad, where),
        st.builds(_insert, good, bad, where).map(tuple),
        st.builds(
            lambda d, k, b: {**d, k: b}, st.dictionaries(st.text(), VALUES, max_size=2), KEYS, bad
        ),
    )


UNSUPPORTED = st.recursive(BAD_LEAVES, _holding, max_leaves=4)


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_same_bytes_and_cross_decoding(value: Any) -> None:
    """durable writes exactly the reference's text, and each SDK reads it to equal values."""
    text = ours(value)
    assert text == theirs(value)
    mine = EXTENDED_TYPES_SERDES.deserialize(text, CTX)
    assert same(mine, REF.deserialize(text, REF_CTX))


@settings(max_examples=300, deadline=None)
@given(UNSUPPORTED)
def test_values_the_reference_rejects_are_rejected(value: Any) -> None:
    """Whatever the reference cannot serialize, durable rejects with a SerDesError."""
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure of the reference counts
        theirs(value)
    with pytest.raises(SerDesError):
        ours(value)
    with pytest.raises(SerDesError):
        serialize(None, value, "op")


@settings(max_examples=300, deadline=None)
@given(st.one_of(VALUES, UNSUPPORTED))
def test_accept_and_reject_alike(value: Any) -> None:
    """For any value, durable accepts it exactly when the reference does, with the same bytes."""
    try:
        expected: str | None = theirs(value)
    except Exception:
        expected = None
    try:
        actual: str | None = ours(value)
    except SerDesError:
        actual = None
    assert actual == expected


# Arbitrary payloads: envelopes with any tag and any kind of "v", nested.
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05+05:30",
            "2024-01-02",
            "20240102T030405",
            "AAE=",
            "AA\nE=",
            "12345678-1234-5678-1234-567812345678",
            "{12345678-1234-5678-1234-567812345678}",
            "1.50",
            "NaN",
            "-0",
            "1_000",
        ]
    ),
)
TAGS = st.sampled_from(["n", "s", "b", "i", "f", "B", "u", "d", "dt", "D", "t", "l", "m", "zz"])


TEXT_FORMS = st.sampled_from(
    [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05+05:30",
        "2024-01-02",
        "AAE=",
        "12345678-1234-5678-1234-567812345678",
        "1.50",
        "x",
    ]
)


def _envelope(tag: str, v: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"t": st.just(tag), "v": v})


def _payloads(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    well_typed = st.one_of(
        _envelope("n", st.none()),
        _envelope("s", st.text(max_size=4)),
        _envelope("b", st.booleans()),
        _envelope("i", st.integers()),
        _envelope("f", st.floats() | st.integers()),
        *(_envelope(tag, TEXT_FORMS) for tag in ("B", "u", "d", "dt", "D")),
        _envelope("t", st.lists(children, max_size=3)),
        _envelope("l", st.lists(children, max_size=3)),
        _envelope("m", st.dictionaries(st.text(max_size=3), children, max_size=3)),
    )
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.fixed_dictionaries({"t": TAGS, "v": children}),
        well_typed,
    )


PAYLOADS = st.recursive(JSON_SCALARS, _payloads, max_leaves=8).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(PAYLOADS)
def test_whatever_durable_decodes_the_reference_decodes_alike(data: str) -> None:
    """durable never reads a payload differently from the reference; it may only be stricter."""
    try:
        mine = EXTENDED_TYPES_SERDES.deserialize(data, CTX)
    except SerDesError:
        return
    assert same(mine, REF.deserialize(data, REF_CTX))


# -- fixed cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Color.RED,
        [Color.RED, Mood.HAPPY],
        {Color.RED: Mood.HAPPY},
        {1: "a", "1": "b"},
        {math.nan: 1, math.inf: 2, None: 3, False: 4, 2.5: 5},
        math.nan,
        [math.inf, -math.inf, -0.0],
        bytearray(b"\x00\xff"),
        memoryview(b"abc"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(seconds=3601))),
        ((((1,),),),),
        [[], (), {}, b"", ""],
        collections.Counter("aab"),
        Point(1, (2, [3])),
    ],
)
def test_edge_cases_match(value: Any) -> None:
    """Selected edge cases produce the reference's exact text."""
    assert ours(value) == theirs(value)


@pytest.mark.parametrize(
    "levels",
    [1, 100, 200],
)
def test_deep_nesting_matches(levels: int) -> None:
    """Deeply nested values (within what both SDKs handle) produce the same text."""
    for wrap in (lambda v: (v,), lambda v: {"k": v}, lambda v: [v]):
        value: Any = 1
        for _ in range(levels):
            value = wrap(value)
        assert ours(value) == theirs(value)


@pytest.mark.parametrize(
    "data",
    [
        '{"t":"dt","v":"2024-01-02T03:04:05Z"}',
        '{"t":"l","v":[1,{"x":2},[{"t":"i","v":3}]]}',
        '{"t":"i","v":3,"extra":true}',
        '{"t":"B","v":"AA\\nE="}',
        '{"t":"f","v":2}',
    ],
)
def test_reference_leniencies_are_accepted(data: str) -> None:
    """Payload forms the reference accepts but never writes are read the same way."""
    assert same(EXTENDED_TYPES_SERDES.deserialize(data, CTX), REF.deserialize(data, REF_CTX))
