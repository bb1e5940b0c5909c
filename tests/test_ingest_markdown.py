"""Markdown and plain text read into blocks (rag.ingest.markdown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.blocks import Block
from rag.ingest.loading import load_document
from rag.ingest.markdown import atx_heading, markdown_blocks, plain_blocks
from rag.types import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = {path.name[:3]: path for path in SEEDS.glob("*.txt")}


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    return {seed: load_document(path) for seed, path in SEED_FILES.items()}


# --- the seeds -------------------------------------------------------------------------------


def test_markdown_heading_text_is_kept_as_its_own_paragraph(seeds: dict[str, Document]) -> None:
    paragraphs = seeds["003"].text.split("\n\n")
    assert paragraphs[0] == "DeepSeek引爆AI革命:中国的OpenAI挑战西方霸权"
    assert "亮点" in paragraphs


def test_a_dash_inside_a_sentence_is_not_taken_for_a_bullet(seeds: dict[str, Document]) -> None:
    # A bullet marker is only a bullet at the start of a line.
    assert '学生不断向老师提问,并把"问题 - 答案"记录下来。' in seeds["002"].text


# --- hand-made ----------------------------------------------------------------------------------


def test_markdown_syntax_is_reduced_to_its_text_and_link_buttons_dropped() -> None:
    body = "Title\n=====\n\nSome *em* and [a link](http://x).\n\n[Play](http://p)\n\n- [a reference](http://r)\n"
    blocks, _ = markdown_blocks(body)
    assert blocks == [Block(("Title",), 1), Block(("Some em and a link.",)), Block(("a reference",))]


def test_plain_text_menu_runs_are_dropped_and_markers_stripped() -> None:
    blocks, _ = plain_blocks("Title\n• 首页\n• 栏目\n• 新闻\n\n- a list item, kept.\n> quoted")
    assert blocks == [Block(("Title",)), Block(("a list item, kept.", "quoted"))]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("## Heading ##", (2, "Heading")),
        ("# Title#", (1, "Title#")),  # a closing run needs a space before it
        ("### a # ##  ", (3, "a #")),
        ("#   ", (1, "")),
        ("# ##", (1, "##")),
        ("#no space", None),
        ("####### seven", None),
        ("    # indented four", None),
    ],
)
def test_atx_headings_are_read_as_before(line: str, heading: tuple[int, str] | None) -> None:
    assert atx_heading(line) == heading


def test_table_rows_lose_their_outer_pipes_and_rules_their_line() -> None:
    body = "| a | b |\n|---|:---:|\n| 1 | 2 |\n  - an item |  \n"
    blocks, _ = markdown_blocks(body)
    assert blocks == [Block(("a | b", "1 | 2")), Block(("an item",))]


def test_long_runs_of_spaces_give_the_same_blocks() -> None:
    # A heading, a list item and a table rule with thousands of spaces in them: each regex once tried every way to
    # split such a run (2,000-deep indents took minutes to read; the times are in CHANGELOG.md, not asserted here).
    # What they read is the same.
    spaces = " " * 3000
    body = f"# a{spaces}b ##\n\n{spaces}- 项目\n{spaces}|---|{spaces}\nend |{spaces}\n"
    blocks, _ = markdown_blocks(body)
    assert blocks == [Block((f"a{spaces}b",), 1), Block(("项目",)), Block(("end",))]
