"""HTML read into blocks: the article kept, the page around it dropped, its head read for metadata.

A saved web page wraps its article in things that are not the article: scripts, menus, breadcrumbs,
share buttons, feed footers, metadata boxes, media players. Elements that never hold article text are
dropped by name, page furniture by its class, id or role, and menus and share bars by their link
density; what is left is walked into blocks.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import Tag

from rag.ingest.blocks import Block, Builder, normalise_space
from rag.ingest.html_boxes import take_metadata_boxes
from rag.ingest.html_tree import TextStats, decompose_outermost, text_stats, walk
from rag.ingest.metadata import Meta, clean_url, iso_date

TAG = re.compile(r"<(?:!--|/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)")

_DROP_TAGS = [
    "head", "script", "style", "noscript", "template", "iframe", "object", "embed", "audio", "video",
    "source", "track", "img", "picture", "svg", "canvas", "map", "nav", "footer", "aside", "form",
    "button", "input", "select", "textarea", "link", "meta", "hr",
]  # fmt: skip
# Class, id and role words that mark page furniture (AddToAny's "a2a" share kit among them).
_BOILERPLATE = frozenset([
    "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "footer", "sidebar", "share",
    "sharing", "social", "addtoany", "a2a", "sharethis", "comments", "comment", "related", "advert", "ads",
    "cookie", "subscribe", "newsletter", "pagination", "pager", "toolbar", "logo", "masthead",
])  # fmt: skip
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_CLUSTER_TAGS = ["div", "p", "ul", "ol", "li", "section", "table", "dl"]


def html_blocks(markup: str) -> tuple[list[Block], Meta]:
    soup = BeautifulSoup(markup, "lxml")
    head = _head_meta(soup)
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    box = take_metadata_boxes(soup)
    root = soup.body or soup
    _drop_boilerplate(root)
    _drop_link_clusters(root)
    builder = Builder()
    walk(root, builder)
    return builder.finish(), Meta.first_of(box, head)


# --- the head ---------------------------------------------------------------------------------


def _head_meta(soup: BeautifulSoup) -> Meta:
    head = soup.head or Tag(name="head")
    # <title> often carries the site's name too ("X | Blog"); the <h1> it contains is the article's.
    page_title, h1 = _tag_text(head.find("title")), _tag_text(soup.find("h1"))
    in_page_title = h1 if h1 and page_title and h1 in page_title else None
    title = _meta_content(head, "property", "og:title") or in_page_title or page_title
    published = (
        _meta_content(head, "property", "article:published_time")
        or _meta_content(head, "name", "date")
        or _meta_content(head, "name", "pubdate")
        or _tag_attr(soup.find("time"), "datetime")
    )
    url = _tag_attr(head.find("link", rel="canonical"), "href") or _meta_content(head, "property", "og:url")
    return Meta(
        title=title,
        author=_meta_content(head, "name", "author"),
        published=iso_date(published) if published else None,
        url=clean_url(url) if url and url.startswith(("http://", "https://")) else None,
    )


def _meta_content(head: Tag, attr: str, value: str) -> str | None:
    return _tag_attr(head.find("meta", attrs={attr: value}), "content")


def _tag_attr(tag: object, attr: str) -> str | None:
    value = tag.get(attr) if isinstance(tag, Tag) else None
    return normalise_space(value) or None if isinstance(value, str) else None


def _tag_text(tag: object) -> str | None:
    return normalise_space(tag.get_text()) or None if isinstance(tag, Tag) else None


# --- page furniture ---------------------------------------------------------------------------


def _drop_boilerplate(root: Tag) -> None:
    stats = text_stats(root)
    # A site that names its article wrapper "share-enabled" must not lose the article.
    half = stats[id(root)].text / 2
    decompose_outermost(tag for tag in root.find_all(_is_boilerplate) if stats[id(tag)].text <= half)


def _is_boilerplate(tag: Tag) -> bool:
    values = [*tag.get_attribute_list("class"), *tag.get_attribute_list("id")]
    tokens = {token for value in values if value for token in re.split(r"[-_\s]+", value.lower())}
    role = tag.get("role")
    return bool(tokens & _BOILERPLATE) or (isinstance(role, str) and role in _BOILERPLATE_ROLES)


def _drop_link_clusters(root: Tag) -> None:
    # Link density, as in readability-style extractors: a block whose text is mostly link text is a
    # menu, a share bar or a feed footer ("获取更多RSS： https://feedx.net …").
    stats = text_stats(root)
    decompose_outermost(tag for tag in root.find_all(_CLUSTER_TAGS) if _is_link_cluster(stats[id(tag)]))


def _is_link_cluster(stats: TextStats) -> bool:
    text, linked, links = stats
    return bool(links) and (text == 0 or linked >= 0.95 * text or (links >= 2 and linked > 0.5 * text))
