"""Walking a parsed page: the text of its elements as blocks, and how much of that text is links."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import NamedTuple

from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from rag.ingest.blocks import Builder

_BLOCK_TAGS = frozenset([
    "address", "article", "blockquote", "center", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "header", "hgroup", "li", "main", "ol", "p", "section", "summary", "table",
    "tbody", "thead", "tfoot", "ul",
])  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def walk(node: Tag, builder: Builder) -> None:
    """``node``'s text into ``builder``, in document order. With a stack of its own, not recursion: a page may nest
    its elements deeper than Python's recursion limit (a thousand frames)."""
    stack: list[tuple[Iterator[PageElement], Callable[[], None] | None]] = [(iter(node.children), None)]
    while stack:
        children, after = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if after is not None:
                after()
        elif isinstance(child, PreformattedString):  # comments, CDATA, doctype
            continue
        elif isinstance(child, NavigableString):
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
            stack.append((iter(child.children), partial(builder.add, " ")))
        elif child.name == "tr":
            stack.append((iter(child.children), builder.line_break))
        elif child.name in _BLOCK_TAGS:
            builder.paragraph_break()
            stack.append((iter(child.children), builder.paragraph_break))
        else:
            stack.append((iter(child.children), None))


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
    """Text and link counts for every tag under root, keyed by id(tag), in one pass over the tree (with a stack of its
    own, as ``walk``: a tag's counts are complete when its last child is done)."""
    stats: dict[int, TextStats] = {}
    # Per open tag: the tag, whether it is inside a link, its children still to count, and its counts so far.
    stack: list[tuple[Tag, bool, Iterator[PageElement], list[int]]] = [
        (root, root.name == "a", iter(root.children), [0, 0, 0])
    ]
    while stack:
        tag, in_link, children, counts = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            done = stats[id(tag)] = TextStats(counts[0], counts[1], counts[2] + (tag.name == "a"))
            if stack:
                outer = stack[-1][3]
                outer[0], outer[1], outer[2] = outer[0] + done.text, outer[1] + done.linked, outer[2] + done.links
        elif isinstance(child, Tag):
            stack.append((child, in_link or child.name == "a", iter(child.children), [0, 0, 0]))
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            length = len(child.strip())
            counts[0], counts[1] = counts[0] + length, counts[1] + (length if in_link else 0)
    return stats
