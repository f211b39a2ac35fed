"""Reading the checkpoint log: identity checks and stored errors.

Responsibility: compare what the code asks for with what the log holds at the
same id (protocol.md §6.3) and build the messages that explain a mismatch;
rebuild a stored ``ErrorObject`` as the exception the workflow sees (§7.6).
Message factories live here so every message names the id, what the log
holds, what the code asked for and the likely cause.
"""

from __future__ import annotations

from durable.errors import (
    OPERATION_ERROR_REGISTRY,
    DurableOperationError,
    NonDeterminismError,
    SerDesError,
)
from durable.model import ErrorObject, Operation, OperationType

__all__ = ["identity_mismatch", "rebuild_error"]

_SERDES_TYPES = frozenset({SerDesError.wire_type, "durable.errors.SerDesError"})


def _describe(op_type: OperationType, sub_type: str | None, name: str | None) -> str:
    label = f"{op_type.value} {name!r}" if name else f"unnamed {op_type.value}"
    return f"{label} (sub-type {sub_type!r})" if sub_type else label


def identity_mismatch(
    record: Operation,
    *,
    op_id: str,
    op_type: OperationType,
    sub_type: str,
    name: str | None,
    parent_id: str | None,
    position: int,
    context_id: str | None,
) -> NonDeterminismError | None:
    """``None`` if ``record`` is the operation the code asks for, else the error to raise.

    Type and sub-type must be equal; name and parent id are compared with
    ``None`` and ``""`` treated alike.  The message starts like the reference
    SDK's (``Non-deterministic operation identity at id=...: <field>
    checkpoint=... current=...``) and goes on to say, in words, what the log
    holds, what the code asked for, where, and why this usually happens.
    """
    fields: list[str] = []
    if record.type is not op_type:
        fields.append(f"type checkpoint={record.type.value!r} current={op_type.value!r}")
    if record.sub_type != sub_type:
        fields.append(f"subtype checkpoint={record.sub_type!r} current={sub_type!r}")
    if (record.name or None) != (name or None):
        fields.append(f"name checkpoint={record.name!r} current={name!r}")
    if (record.parent_id or None) != (parent_id or None):
        fields.append(f"parent_id checkpoint={record.parent_id!r} current={parent_id!r}")
    if not fields:
        return None
    where = "the root context" if context_id is None else f"the context {context_id!r}"
    message = (
        f"Non-deterministic operation identity at id={op_id!r}: {', '.join(fields)}. "
        f"Operation #{position} of {where}: the checkpoint log holds "
        f"{_describe(record.type, record.sub_type, record.name)}, but the code now asks for "
        f"{_describe(op_type, sub_type, name)}. Likely causes: operations were added, removed "
        "or reordered since this execution started (deploy changed code as a new version), "
        "or the workflow branches on something that is not durable (the clock, randomness, "
        "the environment) instead of on step results."
    )
    return NonDeterminismError(message, operation_id=op_id)


def rebuild_error(
    kind: type[DurableOperationError],
    error: ErrorObject | None,
    *,
    op_id: str,
    name: str | None,
    what: str,
) -> DurableOperationError | SerDesError:
    """The exception a workflow sees for a stored failure (protocol.md §7.6).

    The error is ``kind`` (for example ``StepError``) carrying the stored
    message, type, data and trace, caused by the stored error's own class when
    it is one of the SDK's operation errors; a stored serialization failure
    comes back as ``SerDesError``.  The first run raises the rebuilt error
    too, so code sees the same exception on every run.
    """
    if error is None:
        missing = kind(
            f"Unknown error. No ErrorObject exists on the checkpoint of {what} (id {op_id}).",
            operation_id=op_id,
            operation_name=name,
        )
        return missing
    cause_cls = OPERATION_ERROR_REGISTRY.get(error.type or "", DurableOperationError)
    cause = cause_cls(
        error.message,
        error.type,
        error.data,
        error.stack_trace,
        operation_id=op_id,
        operation_name=name,
    )
    rebuilt: DurableOperationError | SerDesError
    if error.type in _SERDES_TYPES:
        rebuilt = SerDesError(error.message or "", error.type, error.data, error.stack_trace)
    else:
        rebuilt = kind(
            error.message,
            error.type,
            error.data,
            error.stack_trace,
            operation_id=op_id,
            operation_name=name,
        )
    rebuilt.__cause__ = cause
    rebuilt.add_note(f"raised by {what} (id {op_id})")
    return rebuilt
