"""Fenced code blocks of Markdown files, for tests that run the docs.

A Python block whose first line is ``# file: NAME`` is a file of the
reader's project; a ``bash`` block lists commands run in that project's
directory, one per line.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
FILE_MARK = re.compile(r"^# file: (?P<name>[\w./-]+)\n")


@attrs.frozen
class Block:
    lang: str
    body: str
    line: int  # of the opening fence, 1-based

    @property
    def file_name(self) -> str | None:
        match = FILE_MARK.match(self.body)
        return match["name"] if match else None


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(m["lang"], m["body"], text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def section_blocks(path: Path, heading: str) -> list[Block]:
    """The blocks of the ``## heading`` section of ``path``."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 3)
    end = len(text) if end < 0 else end
    offset = text.count("\n", 0, start)
    return [
        Block(m["lang"], m["body"], offset + text.count("\n", start, start + m.start()) + 1)
        for m in FENCE.finditer(text[start:end])
    ]
