"""The replay-safe logger (protocol.md §6.4).

Responsibility: forward log calls to the user's logger with the execution's
fields in ``extra``, and drop them while the owning context is replaying, so
a line is logged once however many invocations replay it.  Works with any
object that has the stdlib ``Logger`` methods.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from durable.ops import LoggerLike

__all__ = ["LoggerHolder", "ReplaySafeLogger"]


class LoggerHolder:
    """The underlying logger, shared by every context of one invocation so
    that ``set_logger`` on any context applies to all of them."""

    __slots__ = ("logger",)

    def __init__(self, logger: LoggerLike) -> None:
        self.logger = logger


def _is_stdlib_logger(target: object) -> bool:
    # The core never imports ``logging`` (it starts threads machinery); if
    # nobody imported it, ``target`` cannot be one of its loggers.
    logging = sys.modules.get("logging")
    return logging is not None and isinstance(target, logging.Logger | logging.LoggerAdapter)


def _never() -> bool:
    return False


class ReplaySafeLogger:
    """A logger that is silent while its context replays.

    ``debug``, ``info``, ``warning``, ``error``, ``exception`` and
    ``critical`` take ``(msg, *args, extra=None, **kwargs)`` like the stdlib;
    the call's ``extra`` is merged over the default fields (``executionArn``,
    ``parentId``, and for step bodies ``operationId``, ``operationName``,
    ``attempt``).
    """

    __slots__ = ("_extra", "_holder", "_replaying")

    def __init__(
        self,
        holder: LoggerHolder,
        extra: Mapping[str, Any],
        replaying: Callable[[], bool] = _never,
    ) -> None:
        self._holder = holder
        self._extra = dict(extra)
        self._replaying = replaying

    @property
    def underlying(self) -> LoggerLike:
        return self._holder.logger

    def _emit(
        self, method: str, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if self._replaying():
            return
        target = self._holder.logger
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self._extra, **extra} if extra else dict(self._extra)
        if _is_stdlib_logger(target):
            # Report the caller's line, not this wrapper's.
            kwargs.setdefault("stacklevel", 3)
        elif type(target).__module__.startswith("aws_lambda_powertools."):
            # Powertools' Logger counts its own method as level 2.
            kwargs.setdefault("stacklevel", 4)
        getattr(target, method)(msg, *args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("debug", msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("info", msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("warning", msg, args, kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("error", msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("exception", msg, args, kwargs)

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._emit("critical", msg, args, kwargs)

    def with_fields(self, **fields: Any) -> ReplaySafeLogger:
        """A logger with more default ``extra`` fields and the same replay rule."""
        return ReplaySafeLogger(self._holder, {**self._extra, **fields}, self._replaying)
