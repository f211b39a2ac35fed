"""Tripwires for the security tests: notice any code execution while a payload is read.

``Tripwires`` replaces, for the duration of a ``with`` block, every door
through which reading data could run code: ``builtins.__import__`` (so any
``import`` statement), ``importlib.import_module``, ``eval`` / ``exec`` /
``compile``, the pickle and marshal loaders, and the process-spawning
functions of ``os`` and ``subprocess``.  Each door records what was asked in
``hits`` and raises :class:`Tripped` (a ``BaseException``, so no
``except Exception`` in the code under test can swallow it) instead of doing
it.  Imports that the ``allow`` predicate accepts go through (the default
serializer imports ``uuid``, ``decimal``, ``datetime`` and ``binascii``
lazily).

:data:`EVENTS` is where :mod:`tests.reliability.sec_sentinel` reports being
imported or called; :data:`SENTINEL` is its module name.
"""

from __future__ import annotations

import builtins
import importlib
import marshal
import os
import pickle
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = [
    "EVENTS",
    "SENTINEL",
    "Tripped",
    "Tripwires",
    "assert_sentinel_untouched",
    "only",
    "anything_but",
]

#: What the sentinel module recorded (it must stay empty).
EVENTS: list[str] = []
SENTINEL = "tests.reliability.sec_sentinel"

#: Modules a payload read must never import, even when an end-to-end run
#: otherwise imports freely.
DANGEROUS_MODULES = frozenset(
    {
        SENTINEL,
        "os",
        "posix",
        "nt",
        "subprocess",
        "pickle",
        "_pickle",
        "marshal",
        "shelve",
        "ctypes",
        "shutil",
        "socket",
        "pty",
        "runpy",
        "code",
        "webbrowser",
    }
)


class Tripped(BaseException):
    """A tripwire fired: code under test tried to import or run something."""


def only(*names: str) -> Callable[[str], bool]:
    """An ``allow`` predicate accepting exactly the modules ``names``."""
    allowed = frozenset(names)
    return allowed.__contains__


def anything_but(blocked: frozenset[str] = DANGEROUS_MODULES) -> Callable[[str], bool]:
    """An ``allow`` predicate accepting every import but ``blocked`` (and their submodules)."""

    def allow(name: str) -> bool:
        top = name
        while True:
            if top in blocked:
                return False
            if "." not in top:
                return True
            top = top.rsplit(".", 1)[0]

    return allow


class Tripwires:
    """Record (and refuse) imports and code-running calls inside a ``with`` block."""

    def __init__(self, allow: Callable[[str], bool] | None = None) -> None:
        self.allow = allow if allow is not None else only()
        self.hits: list[str] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def _door(self, what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            shown = ", ".join(repr(a)[:80] for a in args)
            self.hits.append(f"{what}({shown})")
            raise Tripped(f"tripwire: {what} called while reading a payload")

        return refuse

    def _import(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(
            name: str,
            globals: Any = None,
            locals: Any = None,
            fromlist: Any = (),
            level: int = 0,
        ) -> types.ModuleType:
            absolute = name
            if level and globals is not None:
                package = globals.get("__package__") or ""
                base = package.rsplit(".", level - 1)[0] if level > 1 else package
                absolute = f"{base}.{name}" if name else base
            if not self.allow(absolute):
                self.hits.append(f"import {absolute}")
                raise Tripped(f"tripwire: import of {absolute!r} while reading a payload")
            module: types.ModuleType = real(name, globals, locals, fromlist, level)
            return module

        return guarded

    def _patch(self, owner: Any, attr: str, replacement: Any) -> None:
        self._saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, replacement)

    def __enter__(self) -> Tripwires:
        import _pickle

        self._patch(builtins, "__import__", self._import(builtins.__import__))
        for name in ("eval", "exec", "compile", "breakpoint"):
            self._patch(builtins, name, self._door(f"builtins.{name}"))
        self._patch(importlib, "import_module", self._door("importlib.import_module"))
        self._patch(importlib, "__import__", self._door("importlib.__import__"))
        for module in (pickle, _pickle):
            for name in ("loads", "load", "Unpickler"):
                self._patch(module, name, self._door(f"{module.__name__}.{name}"))
        for name in ("loads", "load"):
            self._patch(marshal, name, self._door(f"marshal.{name}"))
        for name in ("system", "popen", "execv", "execve", "execvp", "posix_spawn", "fork"):
            if hasattr(os, name):
                self._patch(os, name, self._door(f"os.{name}"))
        for name in ("Popen", "run", "call", "check_call", "check_output", "getoutput"):
            self._patch(subprocess, name, self._door(f"subprocess.{name}"))
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._saved:
            owner, attr, original = self._saved.pop()
            setattr(owner, attr, original)


def assert_sentinel_untouched() -> None:
    """Fail if the sentinel module was imported or anything in it ran."""
    assert SENTINEL not in sys.modules, f"{SENTINEL} was imported"
    assert not EVENTS, f"the sentinel module recorded {EVENTS}"
