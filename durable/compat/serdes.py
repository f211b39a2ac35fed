"""``aws_durable_execution_sdk_python.serdes``: payload serializers."""

from durable.serdes import (
    DEFAULT_JSON_SERDES,
    EXTENDED_TYPES_SERDES,
    ExtendedTypeSerDes,
    JsonSerDes,
    PassThroughSerDes,
    SerDes,
    SerDesContext,
    deserialize,
    serialize,
)

__all__ = [
    "DEFAULT_JSON_SERDES",
    "EXTENDED_TYPES_SERDES",
    "ExtendedTypeSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "deserialize",
    "serialize",
]
