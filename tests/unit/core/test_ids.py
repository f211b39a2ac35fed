"""Operation ids: the worked examples of protocol.md §4.4 are test vectors."""

from __future__ import annotations

import hashlib

import pytest

from durable.core import branch_id, operation_id

ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
MAP_P = "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
CHILD = "e8e70dc170e14333627b32c20ac6051fb9b6bd369c036afbaca2d9cd7ac3de65"
BRANCH_0 = "be82df04f8b607cccfb1de6e9f6c5b80247cdf7c7941921dc5c5560d636e942e"


@pytest.mark.parametrize(
    ("prefix", "n", "expected"),
    [
        (None, 1, ROOT_1),
        (None, 2, "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"),
        (None, 3, MAP_P),
        (None, 4, CHILD),
        (CHILD, 1, "2fafa5ab7b31687eb14f13439133eb8713d150b283d859d2eb75545238bc0b24"),
        (CHILD, 2, "6ba2741cd3f4fde57d340c969d7b2bf99e37b933df1f92412bb3c4fa824dc384"),
        (BRANCH_0, 1, "8ca92aecc8656af9d6eabcef467216e8dc899889f5941402df1335bb7b69397a"),
        (ROOT_1, 1, "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"),
        (ROOT_1, 2, "9d8bc609108ec7b3600d6cceec22d18553e3e1ec52a3568cb251464a3d39d24f"),
    ],
)
def test_operation_ids_match_the_protocol_vectors(
    prefix: str | None, n: int, expected: str
) -> None:
    """Each worked example of §4.4 derives exactly the documented id."""
    assert operation_id(prefix, n) == expected


def test_branch_ids_use_the_zero_based_index() -> None:
    """Branch i of a map or parallel hashes '<parent>-<i>' with i starting at 0."""
    assert branch_id(MAP_P, 0) == BRANCH_0
    assert branch_id(MAP_P, 1) == "4fcce65ec00309c63e7973cc7ba98d082f6db23ff491f8ae0d358d94a449573f"


def test_ids_are_the_first_64_hex_digits_of_the_full_blake2b_digest() -> None:
    """The id truncates the 512-bit digest; it is not a 256-bit BLAKE2b."""
    full = hashlib.blake2b(b"1").hexdigest()
    assert full == (
        "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
        "78e894aa91413f6eb79ad5ae2f871eafcc78797e4c82af6d1cbfb1a294a10d10"
    )
    assert operation_id(None, 1) == full[:64]
    assert operation_id(None, 1) != hashlib.blake2b(b"1", digest_size=32).hexdigest()


def test_an_empty_prefix_counts_as_the_root() -> None:
    """An empty prefix hashes the bare counter, like no prefix at all."""
    assert operation_id("", 7) == operation_id(None, 7)
