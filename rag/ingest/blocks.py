"""Blocks, the form every format is read into before cleaning: headings and paragraphs of lines.

Paragraphs are separated by a blank line; a line break inside a paragraph is kept, because outlines
and show notes carry meaning line by line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    lines: tuple[str, ...]
    level: int = 0  # 1-6 for a heading, 0 for a paragraph

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Pages:
    """A document as a binary format (PDF, DOCX) holds it: the blocks of each page, and its properties."""

    pages: tuple[tuple[Block, ...], ...]
    paged: bool = True  # False for a format without pages (DOCX): its one "page" is the whole text
    title: str | None = None
    author: str | None = None
    published: str | None = None  # ISO 8601


class Builder:
    """Collects text into lines and lines into blocks, dropping blank ones."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.lines: list[str] = []
        self.current = ""

    def add(self, text: str) -> None:
        self.current += text

    def add_line(self, line: str) -> None:
        self.add(line)
        self.line_break()

    def line_break(self) -> None:
        if self.current.strip():
            self.lines.append(self.current)
        self.current = ""

    def paragraph_break(self) -> None:
        self.line_break()
        if self.lines:
            self.blocks.append(Block(tuple(self.lines)))
        self.lines = []

    def heading(self, level: int, text: str) -> None:
        self.paragraph_break()
        if text.strip():
            self.blocks.append(Block((text,), level))

    def finish(self) -> list[Block]:
        self.paragraph_break()
        return self.blocks


def map_lines(blocks: Iterable[Block], fn: Callable[[str], str]) -> list[Block]:
    """Apply fn to every line; a line mapped to "" is dropped, and so is a block left empty."""
    return map_numbered_lines(blocks, lambda _, line: fn(line))


def map_numbered_lines(blocks: Iterable[Block], fn: Callable[[int, str], str]) -> list[Block]:
    numbers = itertools.count()
    mapped = (Block(tuple(s for s in (fn(next(numbers), line) for line in b.lines) if s), b.level) for b in blocks)
    return [block for block in mapped if block.lines]


def normalise_space(line: str) -> str:
    # Every Unicode space (no-break, ideographic, tab) becomes one plain space; NFC leaves them alone.
    return re.sub(r"\s+", " ", line).strip()
