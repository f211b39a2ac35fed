"""The dispatch table: descriptor type to handler.

``HANDLERS`` holds the operations that allocate an id (protocol.md §4.2);
``READERS`` those that read an existing operation and allocate none
(``Callback.result()``).  The interpreter looks a yielded object up here and
has no ``isinstance`` ladder; an unknown type is not a durable operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from durable.core._actions import Outcome
from durable.core._batch import start_map, start_parallel
from durable.core._context import Context
from durable.core._external import (
    read_callback_result,
    start_create_callback,
    start_invoke,
    start_wait_for_callback,
    start_wait_for_condition,
)
from durable.core._handlers import Handler, Process, start_child, start_step, start_wait
from durable.ops import (
    CallbackResult,
    ChildContext,
    CreateCallback,
    Descriptor,
    Invoke,
    Map,
    Parallel,
    Step,
    Wait,
    WaitForCallback,
    WaitForCondition,
)

if TYPE_CHECKING:
    from durable.core._replay import Replay

__all__ = ["HANDLERS", "READERS"]

HANDLERS: dict[type[Descriptor], Handler] = {
    Step: start_step,
    Wait: start_wait,
    ChildContext: start_child,
    CreateCallback: start_create_callback,
    WaitForCallback: start_wait_for_callback,
    Invoke: start_invoke,
    WaitForCondition: start_wait_for_condition,
    Map: start_map,
    Parallel: start_parallel,
}

Reader = Callable[["Replay", Context, Any], "Outcome | Process"]

READERS: dict[type[Descriptor], Reader] = {
    CallbackResult: read_callback_result,
}
