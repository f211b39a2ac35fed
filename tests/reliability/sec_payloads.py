"""Adversarial checkpoint payloads for the security tests (Hypothesis strategies).

What an attacker who can write a checkpoint log (or a confused service) could
put where `durable` expects a serialized value:

* pickles, hand-assembled from opcodes (protocols 0, 2 and 4; ``GLOBAL`` /
  ``STACK_GLOBAL`` + ``REDUCE``, and ``INST``) so that building them never
  imports what they name, as raw text, base64, hex, and inside envelopes;
* ``{"t": tag, "v": ...}`` envelopes with every tag the default serializer
  knows and many it does not (names of modules, jsonpickle and YAML tags),
  around ``__reduce__``-style objects and strings naming callables;
* nesting far past the serializer's depth limit.

The pickles point at :mod:`tests.reliability.sec_sentinel` (which reports
being imported or called) and at ``os.system`` / ``builtins.eval``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from tests.reliability.sec_guard import SENTINEL

__all__ = [
    "ALL_TAGS",
    "EVIL_TAGS",
    "MODULE_NAMES",
    "PICKLES",
    "SENTINEL_PICKLES",
    "deep_payloads",
    "payloads",
]


def _global_reduce_p0(module: str, name: str, arg: str) -> bytes:
    return f"c{module}\n{name}\n(S'{arg}'\ntR.".encode("ascii")


def _global_reduce_p2(module: str, name: str) -> bytes:
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."


def _short_unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _stack_global_reduce_p4(module: str, name: str) -> bytes:
    return b"\x80\x04" + _short_unicode(module) + _short_unicode(name) + b"\x93)R."


def _inst_p0(module: str, name: str, arg: str) -> bytes:
    return f"(S'{arg}'\ni{module}\n{name}\n.".encode("ascii")


#: Pickles that import and call into the sentinel module when unpickled.
SENTINEL_PICKLES: tuple[bytes, ...] = (
    _global_reduce_p0(SENTINEL, "boom", "p0"),
    _global_reduce_p2(SENTINEL, "boom"),
    _stack_global_reduce_p4(SENTINEL, "boom"),
    _inst_p0(SENTINEL, "Boom", "inst"),
)

#: Every crafted pickle (the ``os`` and ``builtins`` ones are never unpickled,
#: not even in the canary test).
PICKLES: tuple[bytes, ...] = (
    *SENTINEL_PICKLES,
    _global_reduce_p0("os", "system", "echo pwned"),
    _global_reduce_p0("builtins", "eval", "1+1"),
    _global_reduce_p0("subprocess", "getoutput", "id"),
    _stack_global_reduce_p4("os", "system"),
    _stack_global_reduce_p4("builtins", "exec"),
)


def pickle_texts(blob: bytes) -> list[str]:
    """The ways a pickle could be smuggled into a text payload."""
    return [
        blob.decode("latin-1"),
        base64.b64encode(blob).decode("ascii"),
        base64.urlsafe_b64encode(blob).decode("ascii"),
        blob.hex(),
    ]


PICKLE_TEXTS: tuple[str, ...] = tuple(text for blob in PICKLES for text in pickle_texts(blob))

MODULE_NAMES: tuple[str, ...] = (
    SENTINEL,
    f"{SENTINEL}.boom",
    f"{SENTINEL}.Boom",
    f"{SENTINEL}:boom",
    "os.system",
    "os",
    "posix.system",
    "nt.system",
    "subprocess.Popen",
    "subprocess.getoutput",
    "builtins.eval",
    "builtins.exec",
    "builtins.__import__",
    "builtins.SystemExit",
    "builtins.KeyboardInterrupt",
    "importlib.import_module",
    "pickle.loads",
    "marshal.loads",
    "ctypes.CDLL",
    "__import__('os').system('echo pwned')",
    "eval(\"__import__('os').system('id')\")",
    "lambda: __import__('os')",
    "__main__.Exploit",
    "!!python/object/apply:os.system ['id']",
)

#: The tags the default serializer decodes (``br`` is `durable`'s BatchResult).
ALL_TAGS: tuple[str, ...] = ("n", "s", "b", "i", "f", "B", "u", "d", "dt", "D", "t", "l", "m", "br")

#: Tags it must refuse: they name code, or formats that run code.
EVIL_TAGS: tuple[str, ...] = (
    *MODULE_NAMES,
    "py/object",
    "py/reduce",
    "py/function",
    "py/type",
    "py/repr",
    "__reduce__",
    "__reduce_ex__",
    "__class__",
    "pickle",
    "p",
    "P",
    "c",
    "R",
    "eval",
    "exec",
    "import",
    "cls",
    "T",
    "M",
    "",
    "BR",
    "l ",
)

EVIL_KEYS: tuple[str, ...] = (
    "t",
    "v",
    "__reduce__",
    "__reduce_ex__",
    "__class__",
    "__module__",
    "__qualname__",
    "__init__",
    "__setstate__",
    "__getstate__",
    "__dict__",
    "py/object",
    "py/reduce",
    "py/function",
    "py/state",
    "$type",
    "@class",
    "cls",
    "args",
    "all",
    "index",
    "status",
    "error",
    "ErrorType",
    "completionReason",
)

_atoms = st.one_of(
    st.sampled_from(MODULE_NAMES),
    st.sampled_from(PICKLE_TEXTS),
    st.text(max_size=12),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
)


def _reduce_like(name: str, arg: Any) -> list[dict[str, Any]]:
    module, _, attr = name.rpartition(".")
    return [
        {"__reduce__": [name, [arg]]},
        {"py/reduce": [{"py/function": name}, {"py/tuple": [arg]}]},
        {"py/object": name, "py/state": {"x": arg}},
        {"__class__": name, "__module__": module, "__qualname__": attr, "args": [arg]},
        {"$type": name, "value": arg},
        {"!!python/object/apply:" + name: [arg]},
    ]


_reduce_objects = st.builds(_reduce_like, st.sampled_from(MODULE_NAMES), _atoms).flatmap(
    st.sampled_from
)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tags = st.one_of(st.sampled_from(ALL_TAGS), st.sampled_from(EVIL_TAGS), st.text(max_size=4))
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(EVIL_KEYS), st.text(max_size=6)), children, max_size=4
        ),
        st.builds(lambda tag, value: {"t": tag, "v": value}, tags, children),
        # an envelope with extra members, as a smuggling attempt
        st.builds(
            lambda tag, value, extra: {"t": tag, "v": value, **extra},
            tags,
            children,
            st.dictionaries(st.sampled_from(EVIL_KEYS[2:]), _atoms, max_size=2),
        ),
    )


#: JSON documents built from adversarial pieces.
documents = st.recursive(st.one_of(_atoms, _reduce_objects), _extend, max_leaves=25)

_pickle_envelopes = st.builds(
    lambda tag, text: json.dumps({"t": tag, "v": text}),
    st.sampled_from(ALL_TAGS + EVIL_TAGS[:8]),
    st.sampled_from(PICKLE_TEXTS),
)


@st.composite
def deep_payloads(draw: st.DrawFn) -> tuple[str, str, int]:
    """``(payload, shape, json_depth)``: one value nested ``depth`` times."""
    depth = draw(
        st.one_of(
            st.integers(1, 1200),
            st.sampled_from([254, 255, 256, 257, 511, 512, 513, 3000, 50_000]),
        )
    )
    shape = draw(st.sampled_from(["list", "dict", "l", "t", "m", "br", "mixed"]))
    leaf = json.dumps(draw(st.sampled_from(MODULE_NAMES + PICKLE_TEXTS[:4])))
    pieces = {
        "list": ("[", "]", 1),
        "dict": ('{"a":', "}", 1),
        "l": ('{"t":"l","v":[', "]}", 2),
        "t": ('{"t":"t","v":[', "]}", 2),
        "m": ('{"t":"m","v":{"k":', "}}", 2),
        "br": ('{"t":"br","v":{"all":', "}}", 2),
    }
    if shape == "mixed":
        pattern = draw(st.lists(st.sampled_from(sorted(pieces)), min_size=1, max_size=4))
        chosen = [pieces[pattern[i % len(pattern)]] for i in range(depth)]
    else:
        chosen = [pieces[shape]] * depth
    text = "".join(p[0] for p in chosen) + leaf + "".join(p[1] for p in reversed(chosen))
    return text, shape, sum(p[2] for p in chosen)


#: Every kind of adversarial payload, as the text a checkpoint would hold.
payloads: st.SearchStrategy[str | bytes] = st.one_of(
    documents.map(json.dumps),
    _pickle_envelopes,
    st.sampled_from(PICKLE_TEXTS),
    st.sampled_from(PICKLES),
    st.sampled_from([json.dumps(name) for name in MODULE_NAMES]),
    deep_payloads().map(lambda t: t[0]),
    st.text(max_size=40),
)
