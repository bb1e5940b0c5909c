"""Walking a parsed page: the text of its elements as blocks, and how much of that text is links."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from bs4.element import NavigableString, PreformattedString, Tag

from rag.ingest.blocks import Builder

_BLOCK_TAGS = frozenset([
    "address", "article", "blockquote", "center", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "header", "hgroup", "li", "main", "ol", "p", "section", "summary", "table",
    "tbody", "thead", "tfoot", "ul",
])  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def walk(node: Tag, builder: Builder) -> None:
    for child in node.children:
        if isinstance(child, PreformattedString):  # comments, CDATA, doctype
            continue
        if isinstance(child, NavigableString):
            builder.add(re.sub(r"\s+", " ", str(child)))
        elif not isinstance(child, Tag):
            continue
        elif child.name == "br":
            builder.line_break()
        elif child.name in _HEADINGS:
            builder.heading(_HEADINGS[child.name], child.get_text(" ", strip=True))
        elif child.name == "pre":
            builder.paragraph_break()
            for line in child.get_text().split("\n"):
                builder.add_line(line)
            builder.paragraph_break()
        elif child.name in ("td", "th"):
            walk(child, builder)
            builder.add(" ")
        elif child.name == "tr":
            walk(child, builder)
            builder.line_break()
        elif child.name in _BLOCK_TAGS:
            builder.paragraph_break()
            walk(child, builder)
            builder.paragraph_break()
        else:
            walk(child, builder)


def decompose_outermost(tags: Iterable[Tag]) -> None:
    # Decide on the whole tree first, then remove: a removed tag's descendants must not be touched.
    chosen: list[Tag] = []
    for tag in tags:  # in document order, so an ancestor comes before its descendants
        if not any(parent is outer for outer in chosen[-1:] for parent in tag.parents):
            chosen.append(tag)
    for tag in chosen:
        tag.decompose()


class TextStats(NamedTuple):
    text: int  # characters of text, whitespace around strings not counted
    linked: int  # of which inside <a>
    links: int


def text_stats(root: Tag) -> dict[int, TextStats]:
    """Text and link counts for every tag under root, keyed by id(tag), in one pass over the tree."""
    stats: dict[int, TextStats] = {}
    _count_text(root, stats, in_link=False)
    return stats


def _count_text(tag: Tag, stats: dict[int, TextStats], *, in_link: bool) -> TextStats:
    in_link = in_link or tag.name == "a"
    text = linked = links = 0
    for child in tag.children:
        if isinstance(child, Tag):
            counts = _count_text(child, stats, in_link=in_link)
            text, linked, links = text + counts.text, linked + counts.linked, links + counts.links
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            length = len(child.strip())
            text, linked = text + length, linked + (length if in_link else 0)
    stats[id(tag)] = TextStats(text, linked, links + (tag.name == "a"))
    return stats[id(tag)]
