"""A module no checkpoint read may ever import: importing it, or calling
anything in it, leaves a trace in :data:`tests.reliability.sec_guard.EVENTS`.

Adversarial payloads in ``test_security.py`` name this module (in crafted
pickles, in tags, in ``ErrorType`` strings); the tests assert that it never
shows up in ``sys.modules`` and that ``EVENTS`` stays empty.
"""

from __future__ import annotations

from tests.reliability import sec_guard

sec_guard.EVENTS.append(f"imported {__name__}")


def boom(*args: object) -> str:
    """What a crafted pickle's ``REDUCE`` would call."""
    sec_guard.EVENTS.append(f"called {__name__}.boom{args!r}")
    return "pwned"


class Boom(Exception):  # noqa: N818 - named like the attack, not like an error
    """An exception class an ``ErrorType`` string names."""

    def __init__(self, *args: object) -> None:
        sec_guard.EVENTS.append(f"constructed {__name__}.Boom{args!r}")
        super().__init__(*args)
