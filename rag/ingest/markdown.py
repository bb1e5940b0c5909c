"""Markdown and plain text read into blocks.

Markdown's headings become heading blocks and its inline syntax is reduced to the text it marks;
plain text is read line by line, with only what flattened pages keep of markup (bullets, quote marks)
taken off. In both, a block of inline HTML (an <audio> player in a note) is read as HTML.
"""

from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup

from rag.ingest.blocks import Block, Builder
from rag.ingest.html_page import TAG, html_blocks
from rag.ingest.metadata import Meta

_FENCE = re.compile(r"\s{0,3}(```|~~~)")
_ATX = re.compile(r"\s{0,3}(#{1,6})\s+")  # its text and closing #s: atx_heading
_SETEXT = re.compile(r"\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"\s{0,3}>\s?")
_BULLET = re.compile(r"\s*[-*+•·▪●◦‣∙]\s+")
_REFERENCE = re.compile(r"\s{0,3}\[[^\]]+\]:\s*\S+")
# Each run of spaces can be read one way only (spaces, an optional pipe, spaces read a long indent every way it
# splits: quadratic in the indent).
_TABLE_RULE = re.compile(r"\s*(?:\|\s*)?:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*(?:\|\s*)?")
_LEADING_PIPE = re.compile(r"\s*\|\s*")
_LINK_ONLY = re.compile(r"\s*(\[[^\]]*\]\([^)]*\)\s*)+")
_PUNCTUATION = re.compile(r"[。！？，、；：,.!?;:]")

_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # image
    (re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # link
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference link
    (re.compile(r"<(?:https?|mailto):[^>\s]+>"), ""),  # autolink
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])"), r"\1"),  # backslash escape
]


def markdown_blocks(body: str) -> tuple[list[Block], Meta]:
    return _expand_html(_markdown_blocks(body))


def plain_blocks(body: str) -> tuple[list[Block], Meta]:
    return _expand_html(_plain_blocks(body))


def _expand_html(blocks: list[Block]) -> tuple[list[Block], Meta]:
    found = Meta()
    expanded: list[Block] = []
    for block in blocks:
        if block.level and TAG.search(block.text):
            expanded.append(Block((BeautifulSoup(block.text, "lxml").get_text(),), block.level))
        elif TAG.search(block.text):  # inline HTML, e.g. <audio> players in a note
            inline_blocks, inline_meta = html_blocks(block.text)
            expanded.extend(inline_blocks)
            found.fill(inline_meta)
        else:
            expanded.append(Block(tuple(html.unescape(line) for line in block.lines), block.level))
    return expanded, found


# --- plain text -------------------------------------------------------------------------------


def _plain_blocks(body: str) -> list[Block]:
    builder = Builder()
    for line in _drop_menus(body.split("\n")):
        if line.strip():
            builder.add_line(_strip_block_markers(line.strip())[0])
        else:
            builder.paragraph_break()
    return builder.finish()


def _drop_menus(lines: list[str]) -> list[str]:
    # A page flattened to text renders its menu as a run of short bullet items without punctuation
    # ("• 首页", "• 栏目分类"). Three or more in a row are navigation, not an article's list.
    kept: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if _is_menu_item(line):
            run.append(line)
            continue
        if len(run) < 3:
            kept.extend(run)
        run = []
        kept.append(line)
    return kept[:-1]


def _is_menu_item(line: str) -> bool:
    match = _BULLET.match(line)
    item = line[match.end() :].strip() if match else ""
    return 0 < len(item) <= 12 and not _PUNCTUATION.search(item)


# --- markdown ---------------------------------------------------------------------------------


def _markdown_blocks(body: str) -> list[Block]:
    builder = Builder()
    in_fence = False
    kind = ""
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            builder.paragraph_break()
        elif in_fence:
            builder.add_line(line)
        elif heading := atx_heading(line):
            builder.heading(heading[0], _inline(heading[1]))
        elif _SETEXT.match(line) and builder.lines and not builder.current:
            builder.heading(1 if "=" in line else 2, builder.lines.pop())
        elif not line.strip() or _RULE.match(line) or _REFERENCE.match(line):
            builder.paragraph_break()
        elif _TABLE_RULE.fullmatch(line):
            continue
        else:
            line, line_kind = _strip_block_markers(_without_edge_pipes(line))
            if line_kind != kind:
                builder.paragraph_break()
                kind = line_kind
            # A line that is nothing but a link is a button (play, share, read more); a list item
            # that is a link is a reference, and its text is kept.
            if line.strip() and not (line_kind != "item" and _LINK_ONLY.fullmatch(line)):
                builder.add_line(_inline(line))
            elif not line.strip():
                builder.paragraph_break()
    return builder.finish()


def _without_edge_pipes(line: str) -> str:
    """A table row's outer pipes taken off, with the spaces around them; a line without them as it is. (Not one
    regex: a pattern for spaces, a pipe and spaces at the end, tried from every space of a long indent, is
    quadratic.)"""
    if leading := _LEADING_PIPE.match(line):
        line = line[leading.end() :]
    end = line.rstrip()
    return end[:-1].rstrip() if end.endswith("|") else line


def atx_heading(line: str) -> tuple[int, str] | None:
    """A "## Heading ##" line's level and text (its closing #s, after a space, taken off), or None. The text is cut
    by hand: a lazy pattern for it with optional closing #s tried every split of a long run of spaces (quadratic)."""
    opening = _ATX.match(line)
    if opening is None:
        return None
    text = line[opening.end() :].rstrip()
    bare = text.rstrip("#")
    if bare != text and bare and bare[-1].isspace():
        text = bare.rstrip()
    return len(opening[1]), text


def _strip_block_markers(line: str) -> tuple[str, str]:
    kind = "text"
    while quote := _QUOTE.match(line):
        line, kind = line[quote.end() :], "quote"
    if bullet := _BULLET.match(line):
        line, kind = line[bullet.end() :], "item" if kind == "text" else kind
    return line, kind


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text
