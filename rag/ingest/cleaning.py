"""Turn the body of a document into clean text, and say what its wrapping tells about it.

A saved web page wraps its article in things that are not the article: markup, menus, breadcrumbs,
share buttons, feed footers, metadata boxes, media players, tracking links, spam. Cleaning keeps every
sentence of the body, drops the rest, and lifts what the wrapping says about the article (title,
author, date, address) into a ``Meta``. Each format is first read into blocks, headings and paragraphs
(``rag.ingest.html_page``, ``rag.ingest.markdown``); one pass over the blocks, here, then removes what
every format can carry.
"""

from __future__ import annotations

import itertools
import re
from enum import Enum

from rag.ingest.blocks import Block, map_lines, map_numbered_lines, normalise_space
from rag.ingest.html_page import html_blocks
from rag.ingest.markdown import markdown_blocks, plain_blocks
from rag.ingest.metadata import Meta, clean_url, iso_date, labelled
from rag.text.scripts import HAN

HEAD_LINES = 12  # metadata lines (date, author) are only believed near the top of a page


class Format(Enum):
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


def clean_body(body: str, fmt: Format, given: Meta, fallback: Meta) -> tuple[str, Meta]:
    """The clean text of a body in this format, and its metadata.

    Each field comes from the first that has it: given, what the markup says (an HTML head, a metadata
    box), fallback, then what the text says (a source line, a date line, credits, an opening heading).
    """
    blocks, found = _read(body, fmt)
    meta = Meta.first_of(given, found, fallback)
    blocks = _clean_blocks(blocks, meta, fmt)
    return "\n\n".join(block.text for block in blocks), meta


def _read(body: str, fmt: Format) -> tuple[list[Block], Meta]:
    if fmt is Format.HTML:
        return html_blocks(body)
    if fmt is Format.MARKDOWN:
        return markdown_blocks(body)
    return plain_blocks(body)


# --- cleaning shared by every format ----------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_SOURCE_LINE = re.compile(
    r"(?:原链接|原文链接|原文地址|原文|来源|链接|出处|source|original|link|via)\s*[:：]\s*(?P<url>https?://\S+)",
    re.IGNORECASE,
)
_BREADCRUMB_START = re.compile(r"(你的位置|您的位置|当前位置|you are here)\s*[:：]?", re.IGNORECASE)
_HEADING_MARK = re.compile(r"^#{1,6}\s+")  # "# Title": a Markdown heading in a file read as plain text
_CREDIT = re.compile(r"(作者|撰文|编辑|责任编辑|责编|版面|校对|审核|排版|美编|来源)\s*[/／|｜:：]\s*([^\s/／|｜:：]+)")


def _clean_blocks(blocks: list[Block], meta: Meta, fmt: Format) -> list[Block]:
    blocks = map_lines(blocks, normalise_space)
    blocks = _take_source_lines(blocks, meta)
    blocks = map_lines(blocks, lambda line: normalise_space(_URL.sub("", line)))
    blocks = _drop_spliced_phrases(blocks, meta)
    blocks = _take_head_metadata(blocks, meta)
    blocks = map_lines(blocks, lambda line: _take_credits(line, meta))
    if meta.title is None:
        meta.title = _title_from_text(blocks, fmt)
    blocks = _drop_page_chrome(blocks, meta.title)
    return _drop_empty_sections(blocks)


def _take_source_lines(blocks: list[Block], meta: Meta) -> list[Block]:
    # "原链接: https://…" names the original article: it is the document's address, not its text.
    def take(line: str) -> str:
        match = _SOURCE_LINE.fullmatch(line.strip("_* "))
        if match is None:
            return line
        meta.fill(Meta(url=clean_url(match["url"].rstrip("_*"))))
        return ""

    return map_lines(blocks, take)


def _drop_spliced_phrases(blocks: list[Block], meta: Meta) -> list[Block]:
    phrases = _spliced_phrases([line for block in blocks for line in block.lines], meta.title)
    if not phrases:
        return blocks
    pattern = re.compile("|".join(map(re.escape, sorted(phrases, key=len, reverse=True))))
    if meta.title:
        meta.title = normalise_space(pattern.sub("", meta.title)) or None
    return map_lines(blocks, lambda line: normalise_space(pattern.sub("", line)))


def _spliced_phrases(lines: list[str], title: str | None) -> set[str]:
    # SEO spam pages splice a keyword phrase ("有杠杆的股票平台") in front of the title of a copied
    # article, repeat that title in the page title, breadcrumb and heading, set the phrase on a line
    # of its own and drop it into sentences. A title prefix is taken for such a phrase only when the
    # prefixed title line appears at least twice and the prefix also stands alone on a line; an
    # honest page rarely repeats its title and never leaves the title's first words on their own.
    phrases: set[str] = set()
    for candidate in {lines[0] if lines else "", title or ""}:
        words = candidate.split(" ")
        for n in range(1, len(words)):
            prefix = " ".join(words[:n])
            if len(prefix) >= 2 and lines.count(candidate) >= 2 and prefix in lines:
                phrases.add(prefix)
    return phrases


def _take_head_metadata(blocks: list[Block], meta: Meta) -> list[Block]:
    def take(number: int, line: str) -> str:
        if number >= HEAD_LINES:
            return line
        if len(line) <= 40 and (when := _date_only(line)):
            meta.fill(Meta(published=when))
            return ""
        label = labelled(line)
        if len(line) <= 80 and (label.published or label.author):
            # "发布日期:2025-02-08 21:58 点击次数:96": the whole line is page furniture.
            meta.fill(Meta(author=label.author, published=label.published))
            return ""
        return line

    return map_numbered_lines(blocks, take)


def _date_only(line: str) -> str | None:
    # A line that is nothing but a date or timestamp ("Sat, 22 Feb 2025 18:08:09 GMT"); Han other
    # than 年月日 means words around the date.
    if not re.search(r"\d{4}", line) or HAN.search(line.replace("年", "").replace("月", "").replace("日", "")):
        return None
    return iso_date(line, allow_trailing=False)


def _take_credits(line: str, meta: Meta) -> str:
    # "作者 / 刘润 编辑 / 二蔓 版面 / 黄静": a credits line closes many Chinese articles.
    credits = list(_CREDIT.finditer(line))
    if len(credits) < 2:
        return line
    author = next((m[2] for m in credits if m[1] in ("作者", "撰文")), None)
    meta.fill(Meta(author=author))
    return line[: credits[0].start()].strip()


def _title_from_text(blocks: list[Block], fmt: Format) -> str | None:
    # An opening heading; in plain text an opening short line that does not read as a sentence.
    if not blocks:
        return None
    first = blocks[0]
    if first.level:
        return first.text
    line = first.lines[0]
    if fmt is Format.TEXT and len(line) <= 80 and "。" not in line and not line.endswith(tuple(".,;:，；：")):
        return _HEADING_MARK.sub("", line, count=1) or line
    return next((b.text for b in blocks if b.level == 1), None)


def _drop_page_chrome(blocks: list[Block], title: str | None) -> list[Block]:
    numbers = itertools.count()

    def is_chrome(line: str, block: Block) -> bool:
        # The page around the article repeats its title (page title, breadcrumb, heading); the first
        # line and headings are the article's own.
        repeated_title = next(numbers) > 0 and line == title and not block.level
        return repeated_title or _is_breadcrumb(line)

    kept = (Block(tuple(line for line in b.lines if not is_chrome(line, b)), b.level) for b in blocks)
    return [block for block in kept if block.lines]


def _is_breadcrumb(line: str) -> bool:
    crumbs = re.split(r"\s+[>»›]\s+", line)
    return bool(_BREADCRUMB_START.match(line)) or (len(crumbs) >= 3 and all(len(c) <= 40 for c in crumbs[:-1]))


def _drop_empty_sections(blocks: list[Block]) -> list[Block]:
    # Once players and link buttons are gone a heading can be left over nothing ("## Snips",
    # "### [10:40] Untitled"); a heading without text under it is not part of the body.
    return [b for i, b in enumerate(blocks) if not b.level or _has_body(blocks[i + 1 :], b.level)]


def _has_body(following: list[Block], level: int) -> bool:
    for block in following:
        if not block.level:
            return True
        if block.level <= level:
            return False
    return False
