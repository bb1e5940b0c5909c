"""Metadata boxes: a card of "标题：… 作者：… 发表日期：…" lines floated into an article.

Archive sites set such a card inside the article. It is the article's own metadata, so it is read
into the fields and removed from the text.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from rag.ingest.blocks import Builder, normalise_space
from rag.ingest.html_tree import text_stats, walk
from rag.ingest.metadata import LABELS, Meta, kind_of_label, labelled

_ANY_LABEL = re.compile(r"^\s*(" + "|".join(LABELS.values()) + r")\s*[:：]", re.IGNORECASE | re.MULTILINE)
_LABEL_LIKE = re.compile(r"[^:：]{1,10}[:：]\s*\S")
_BOX_TAGS = frozenset(["div", "section", "table", "dl", "ul", "p"])


def take_metadata_boxes(soup: BeautifulSoup) -> Meta:
    """The fields the page's metadata boxes give; the boxes are removed from the page."""
    meta = Meta()
    while (box := _find_box(soup)) is not None:
        for line in _lines_of(box):
            meta.fill(labelled(line))
        _grow_box(box).decompose()
    return meta


def _find_box(soup: BeautifulSoup) -> Tag | None:
    stats = text_stats(soup)
    found: Tag | None = None
    for tag in soup.find_all(_BOX_TAGS):
        if _wraps_one_box(tag):
            continue  # it reads as the element it wraps, which comes next (reading each wrapper made deep nesting slow)
        small = stats[id(tag)].text <= 600
        inside = found is None or any(parent is found for parent in tag.parents)
        if small and inside and _is_metadata_box(tag):
            found = tag  # pre-order, so each hit is the innermost box so far
    return found


def _wraps_one_box(tag: Tag) -> bool:
    """Whether ``tag`` holds nothing but one element that could be a box (blank text and comments aside)."""
    inner = [c for c in tag.children if isinstance(c, Tag) or (isinstance(c, NavigableString) and c.strip())]
    return len(inner) == 1 and isinstance(inner[0], Tag) and inner[0].name in _BOX_TAGS


def _is_metadata_box(tag: Tag) -> bool:
    # Naming at least two kinds of metadata, in mostly "label：value" lines.
    kinds = {kind_of_label(m[1]) for m in _ANY_LABEL.finditer(tag.get_text("\n"))}
    if len(kinds) < 2:
        return False
    lines = _lines_of(tag)
    return 2 * sum(1 for line in lines if _LABEL_LIKE.match(line)) >= len(lines)


def _lines_of(tag: Tag) -> list[str]:
    builder = Builder()
    walk(tag, builder)
    return [normalise_space(line) for block in builder.finish() for line in block.lines]


def _grow_box(box: Tag) -> Tag:
    # Climb to the wrapper that holds nothing but the box and its caption ("CDT 档案卡").
    node = box
    while isinstance(node.parent, Tag) and node.parent.name not in ("body", "html", "[document]"):
        extra = len(node.parent.get_text(strip=True)) - len(node.get_text(strip=True))
        if extra > 40:
            break
        node = node.parent
    return node
