"""Blocks and the builder every format is read with (rag.ingest.blocks)."""

from __future__ import annotations

from rag.ingest.blocks import Block, Builder, map_lines, map_numbered_lines, normalise_space


def test_the_builder_joins_text_into_lines_and_drops_blank_ones() -> None:
    builder = Builder()
    builder.add("a")
    builder.add_line(" b")
    builder.add_line("  ")
    builder.paragraph_break()
    builder.heading(2, " ")
    builder.heading(2, "H")
    builder.add("c")
    assert builder.finish() == [Block(("a b",)), Block(("H",), 2), Block(("c",))]


def test_a_line_mapped_to_nothing_is_dropped_and_so_is_an_emptied_block() -> None:
    blocks = [Block(("x", "drop")), Block(("drop",))]
    assert map_lines(blocks, lambda line: "" if line == "drop" else line.upper()) == [Block(("X",))]


def test_lines_are_numbered_across_blocks() -> None:
    blocks = [Block(("a", "b")), Block(("c",), 1)]
    assert map_numbered_lines(blocks, lambda n, line: f"{n}{line}") == [Block(("0a", "1b")), Block(("2c",), 1)]


def test_every_unicode_space_becomes_one_plain_space() -> None:
    assert normalise_space(" a\u3000b\u00a0\tc ") == "a b c"
