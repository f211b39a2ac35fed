"""Deterministic operation ids (protocol.md §4).

Responsibility: the only place ids are derived.  An id depends only on the
position of the operation (its context's prefix and counter, or a branch
index), never on names, arguments, timing or thread scheduling, so logs
written by the reference SDK replay here and the other way round.

    input = str(n)                    for the root context (no prefix)
            prefix + "-" + str(n)     otherwise
    id    = hex(BLAKE2b-512(utf8(input)))[:64]
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["branch_id", "operation_id"]


def operation_id(prefix: str | None, n: int) -> str:
    """Id of the ``n``-th operation (1-based) of the context with id ``prefix``."""
    text = f"{prefix}-{n}" if prefix else str(n)
    return blake2b(text.encode()).hexdigest()[:64]


def branch_id(parent_id: str, index: int) -> str:
    """Id of branch ``index`` (0-based) of the map or parallel operation ``parent_id``."""
    return blake2b(f"{parent_id}-{index}".encode()).hexdigest()[:64]
