"""Turn the body of a document into clean text, and say what its wrapping tells about it.

A saved web page wraps its article in things that are not the article: markup, menus, breadcrumbs,
share buttons, feed footers, metadata boxes, media players, tracking links, spam. Cleaning keeps every
sentence of the body, drops the rest, and lifts what the wrapping says about the article (title,
author, date, address) into a ``Meta``. Each format is first read into blocks, headings and paragraphs;
one pass over the blocks then removes what every format can carry. Paragraphs are separated by a blank
line; a line break inside a paragraph is kept, because outlines and show notes carry meaning line by line.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

TAG = re.compile(r"<(?:!--|/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
HEAD_LINES = 12  # metadata lines (date, author) are only believed near the top of a page


class Format(Enum):
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


@dataclass
class Meta:
    title: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None

    @classmethod
    def first_of(cls, *sources: Meta) -> Meta:
        meta = cls()
        meta.fill(*sources)
        return meta

    def fill(self, *sources: Meta) -> None:
        for source in sources:
            for f in fields(self):
                if getattr(self, f.name) is None:
                    setattr(self, f.name, getattr(source, f.name))


# --- public API -------------------------------------------------------------------------------


def clean_body(body: str, fmt: Format, given: Meta, fallback: Meta) -> tuple[str, Meta]:
    """The clean text of a body in this format, and its metadata.

    Each field comes from the first that has it: given, what the markup says (an HTML head, a metadata
    box), fallback, then what the text says (a source line, a date line, credits, an opening heading).
    """
    blocks, found = _html_blocks(body) if fmt is Format.HTML else _text_blocks(body, fmt)
    meta = Meta.first_of(given, found, fallback)
    blocks = _clean_blocks(blocks, meta, fmt)
    return "\n\n".join(block.text for block in blocks), meta


def normalise_space(line: str) -> str:
    # Every Unicode space (no-break, ideographic, tab) becomes one plain space; NFC leaves them alone.
    return re.sub(r"\s+", " ", line).strip()


_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|spm)$")


def clean_url(url: str) -> str:
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit(parts._replace(query=urlencode(query)))


_DATE = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)


def iso_date(value: str) -> str | None:
    text = value.strip()
    if whole := _DATE.fullmatch(text):  # keeps a bare date a date, not midnight
        return _date_from_match(whole)
    try:
        return datetime.fromisoformat(text).isoformat()  # keeps a time zone
    except ValueError:
        pass
    if start := _DATE.match(text):  # "2025-02-08 21:58 点击次数:96"
        return _date_from_match(start)
    if re.search(r"\d{4}", text):
        try:
            return parsedate_to_datetime(text).isoformat()
        except (TypeError, ValueError):
            return None
    return None


def _date_from_match(match: re.Match[str]) -> str | None:
    y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
    try:
        if match["H"] is None:
            return date(y, m, d).isoformat()
        return datetime(y, m, d, int(match["H"]), int(match["M"]), int(match["S"] or 0)).isoformat()
    except ValueError:
        return None


# --- blocks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    lines: tuple[str, ...]
    level: int = 0  # 1-6 for a heading, 0 for a paragraph

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Builder:
    """Collects text into lines and lines into blocks, dropping blank ones."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
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
            self.blocks.append(_Block(tuple(self.lines)))
        self.lines = []

    def heading(self, level: int, text: str) -> None:
        self.paragraph_break()
        if text.strip():
            self.blocks.append(_Block((text,), level))

    def finish(self) -> list[_Block]:
        self.paragraph_break()
        return self.blocks


def _map_lines(blocks: Iterable[_Block], fn: Callable[[str], str]) -> list[_Block]:
    """Apply fn to every line; a line mapped to "" is dropped, and so is a block left empty."""
    return _map_numbered_lines(blocks, lambda _, line: fn(line))


def _map_numbered_lines(blocks: Iterable[_Block], fn: Callable[[int, str], str]) -> list[_Block]:
    numbers = itertools.count()
    mapped = (_Block(tuple(s for s in (fn(next(numbers), line) for line in b.lines) if s), b.level) for b in blocks)
    return [block for block in mapped if block.lines]


# --- markdown and plain text ------------------------------------------------------------------

_FENCE = re.compile(r"\s{0,3}(```|~~~)")
_ATX = re.compile(r"\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"\s{0,3}>\s?")
_BULLET = re.compile(r"\s*[-*+•·▪●◦‣∙]\s+")
_REFERENCE = re.compile(r"\s{0,3}\[[^\]]+\]:\s*\S+")
_TABLE_RULE = re.compile(r"\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*")
_TABLE_PIPES = re.compile(r"^\s*\|\s*|\s*\|\s*$")
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


def _text_blocks(body: str, fmt: Format) -> tuple[list[_Block], Meta]:
    blocks = _markdown_blocks(body) if fmt is Format.MARKDOWN else _plain_blocks(body)
    found = Meta()
    expanded: list[_Block] = []
    for block in blocks:
        if block.level and TAG.search(block.text):
            expanded.append(_Block((BeautifulSoup(block.text, "lxml").get_text(),), block.level))
        elif TAG.search(block.text):  # inline HTML, e.g. <audio> players in a note
            html_blocks, html_meta = _html_blocks(block.text)
            expanded.extend(html_blocks)
            found.fill(html_meta)
        else:
            expanded.append(_Block(tuple(html.unescape(line) for line in block.lines), block.level))
    return expanded, found


def _plain_blocks(body: str) -> list[_Block]:
    builder = _Builder()
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


def _markdown_blocks(body: str) -> list[_Block]:
    builder = _Builder()
    in_fence = False
    kind = ""
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            builder.paragraph_break()
        elif in_fence:
            builder.add_line(line)
        elif heading := _ATX.match(line):
            builder.heading(len(heading[1]), _inline(heading[2]))
        elif _SETEXT.match(line) and builder.lines and not builder.current:
            builder.heading(1 if "=" in line else 2, builder.lines.pop())
        elif not line.strip() or _RULE.match(line) or _REFERENCE.match(line):
            builder.paragraph_break()
        elif _TABLE_RULE.fullmatch(line):
            continue
        else:
            line, line_kind = _strip_block_markers(_TABLE_PIPES.sub("", line))
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


# --- HTML -------------------------------------------------------------------------------------

_DROP_TAGS = [
    "head", "script", "style", "noscript", "template", "iframe", "object", "embed", "audio", "video",
    "source", "track", "img", "picture", "svg", "canvas", "map", "nav", "footer", "aside", "form",
    "button", "input", "select", "textarea", "link", "meta", "hr",
]  # fmt: skip
_BLOCK_TAGS = frozenset([
    "address", "article", "blockquote", "center", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "header", "hgroup", "li", "main", "ol", "p", "section", "summary", "table",
    "tbody", "thead", "tfoot", "ul",
])  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Class, id and role words that mark page furniture (AddToAny's "a2a" share kit among them).
_BOILERPLATE = frozenset([
    "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "footer", "sidebar", "share",
    "sharing", "social", "addtoany", "a2a", "sharethis", "comments", "comment", "related", "advert", "ads",
    "cookie", "subscribe", "newsletter", "pagination", "pager", "toolbar", "logo", "masthead",
])  # fmt: skip
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_CLUSTER_TAGS = ["div", "p", "ul", "ol", "li", "section", "table", "dl"]


def _html_blocks(markup: str) -> tuple[list[_Block], Meta]:
    soup = BeautifulSoup(markup, "lxml")
    head = _head_meta(soup)
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    box = _take_metadata_boxes(soup)
    root = soup.body or soup
    _drop_boilerplate(root)
    _drop_link_clusters(root)
    builder = _Builder()
    _walk(root, builder)
    return builder.finish(), Meta.first_of(box, head)


def _walk(node: Tag, builder: _Builder) -> None:
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
            _walk(child, builder)
            builder.add(" ")
        elif child.name == "tr":
            _walk(child, builder)
            builder.line_break()
        elif child.name in _BLOCK_TAGS:
            builder.paragraph_break()
            _walk(child, builder)
            builder.paragraph_break()
        else:
            _walk(child, builder)


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


_LABELS = {
    "title": "标题|題目|标 题|title",
    "author": "作者|作 者|撰文|author|by",
    "published": "发表日期|发布日期|发表时间|发布时间|出版日期|日期|时间|published|date|posted",
    "source": "来源|出处|原文|source",
}
_LABEL = re.compile(
    r"\s*(?:(?P<title>{title})|(?P<author>{author})|(?P<published>{published})|(?P<source>{source}))"
    r"\s*[:：]\s*(?P<value>.*)".format(**_LABELS),
    re.IGNORECASE,
)
_ANY_LABEL = re.compile(r"^\s*(" + "|".join(_LABELS.values()) + r")\s*[:：]", re.IGNORECASE | re.MULTILINE)
_LABEL_LIKE = re.compile(r"[^:：]{1,10}[:：]\s*\S")


def _take_metadata_boxes(soup: BeautifulSoup) -> Meta:
    # Archive sites float a card of "标题：… 作者：… 发表日期：…" lines into the article. It is the
    # article's own metadata, so it is read into the fields and removed from the text.
    meta = Meta()
    while (box := _find_box(soup)) is not None:
        for line in _lines_of(box):
            meta.fill(_labelled(line))
        _grow_box(box).decompose()
    return meta


def _find_box(soup: BeautifulSoup) -> Tag | None:
    stats = _text_stats(soup)
    found: Tag | None = None
    for tag in soup.find_all(["div", "section", "table", "dl", "ul", "p"]):
        small = stats[id(tag)].text <= 600
        inside = found is None or any(parent is found for parent in tag.parents)
        if small and inside and _is_metadata_box(tag):
            found = tag  # pre-order, so each hit is the innermost box so far
    return found


def _is_metadata_box(tag: Tag) -> bool:
    # Naming at least two kinds of metadata, in mostly "label：value" lines.
    kinds = {_kind_of_label(m[1]) for m in _ANY_LABEL.finditer(tag.get_text("\n"))}
    if len(kinds) < 2:
        return False
    lines = _lines_of(tag)
    return 2 * sum(1 for line in lines if _LABEL_LIKE.match(line)) >= len(lines)


def _lines_of(tag: Tag) -> list[str]:
    builder = _Builder()
    _walk(tag, builder)
    return [normalise_space(line) for block in builder.finish() for line in block.lines]


def _kind_of_label(label: str) -> str:
    labelled = _LABEL.match(f"{label}:")
    return next((k for k in _LABELS if labelled and labelled[k]), "")


def _grow_box(box: Tag) -> Tag:
    # Climb to the wrapper that holds nothing but the box and its caption ("CDT 档案卡").
    node = box
    while isinstance(node.parent, Tag) and node.parent.name not in ("body", "html", "[document]"):
        extra = len(node.parent.get_text(strip=True)) - len(node.get_text(strip=True))
        if extra > 40:
            break
        node = node.parent
    return node


def _labelled(line: str) -> Meta:
    match = _LABEL.match(line)
    if not match or not match["value"].strip():
        return Meta()
    value = match["value"].strip()
    if match["title"]:
        return Meta(title=value)
    if match["author"]:
        return Meta(author=value)
    if match["published"]:
        return Meta(published=iso_date(value))
    return Meta()


def _drop_boilerplate(root: Tag) -> None:
    stats = _text_stats(root)
    # A site that names its article wrapper "share-enabled" must not lose the article.
    half = stats[id(root)].text / 2
    _decompose_outermost(tag for tag in root.find_all(_is_boilerplate) if stats[id(tag)].text <= half)


def _is_boilerplate(tag: Tag) -> bool:
    values = [*tag.get_attribute_list("class"), *tag.get_attribute_list("id")]
    tokens = {token for value in values if value for token in re.split(r"[-_\s]+", value.lower())}
    role = tag.get("role")
    return bool(tokens & _BOILERPLATE) or (isinstance(role, str) and role in _BOILERPLATE_ROLES)


def _drop_link_clusters(root: Tag) -> None:
    # Link density, as in readability-style extractors: a block whose text is mostly link text is a
    # menu, a share bar or a feed footer ("获取更多RSS： https://feedx.net …").
    stats = _text_stats(root)
    _decompose_outermost(tag for tag in root.find_all(_CLUSTER_TAGS) if _is_link_cluster(stats[id(tag)]))


def _is_link_cluster(stats: _TextStats) -> bool:
    text, linked, links = stats
    return bool(links) and (text == 0 or linked >= 0.95 * text or (links >= 2 and linked > 0.5 * text))


def _decompose_outermost(tags: Iterable[Tag]) -> None:
    # Decide on the whole tree first, then remove: a removed tag's descendants must not be touched.
    chosen: list[Tag] = []
    for tag in tags:  # in document order, so an ancestor comes before its descendants
        if not any(parent is outer for outer in chosen[-1:] for parent in tag.parents):
            chosen.append(tag)
    for tag in chosen:
        tag.decompose()


class _TextStats(NamedTuple):
    text: int  # characters of text, whitespace around strings not counted
    linked: int  # of which inside <a>
    links: int


def _text_stats(root: Tag) -> dict[int, _TextStats]:
    """Text and link counts for every tag under root, keyed by id(tag), in one pass over the tree."""
    stats: dict[int, _TextStats] = {}
    _count_text(root, stats, in_link=False)
    return stats


def _count_text(tag: Tag, stats: dict[int, _TextStats], *, in_link: bool) -> _TextStats:
    in_link = in_link or tag.name == "a"
    text = linked = links = 0
    for child in tag.children:
        if isinstance(child, Tag):
            counts = _count_text(child, stats, in_link=in_link)
            text, linked, links = text + counts.text, linked + counts.linked, links + counts.links
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            length = len(child.strip())
            text, linked = text + length, linked + (length if in_link else 0)
    stats[id(tag)] = _TextStats(text, linked, links + (tag.name == "a"))
    return stats[id(tag)]


# --- cleaning shared by every format ----------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_SOURCE_LINE = re.compile(
    r"(?:原链接|原文链接|原文地址|原文|来源|链接|出处|source|original|link|via)\s*[:：]\s*(?P<url>https?://\S+)",
    re.IGNORECASE,
)
_BREADCRUMB_START = re.compile(r"(你的位置|您的位置|当前位置|you are here)\s*[:：]?", re.IGNORECASE)
_CREDIT = re.compile(r"(作者|撰文|编辑|责任编辑|责编|版面|校对|审核|排版|美编|来源)\s*[/／|｜:：]\s*([^\s/／|｜:：]+)")


def _clean_blocks(blocks: list[_Block], meta: Meta, fmt: Format) -> list[_Block]:
    blocks = _map_lines(blocks, normalise_space)
    blocks = _take_source_lines(blocks, meta)
    blocks = _map_lines(blocks, lambda line: normalise_space(_URL.sub("", line)))
    blocks = _drop_spliced_phrases(blocks, meta)
    blocks = _take_head_metadata(blocks, meta)
    blocks = _map_lines(blocks, lambda line: _take_credits(line, meta))
    if meta.title is None:
        meta.title = _title_from_text(blocks, fmt)
    blocks = _drop_page_chrome(blocks, meta.title)
    return _drop_empty_sections(blocks)


def _take_source_lines(blocks: list[_Block], meta: Meta) -> list[_Block]:
    # "原链接: https://…" names the original article: it is the document's address, not its text.
    def take(line: str) -> str:
        match = _SOURCE_LINE.fullmatch(line.strip("_* "))
        if match is None:
            return line
        meta.fill(Meta(url=clean_url(match["url"].rstrip("_*"))))
        return ""

    return _map_lines(blocks, take)


def _drop_spliced_phrases(blocks: list[_Block], meta: Meta) -> list[_Block]:
    phrases = _spliced_phrases([line for block in blocks for line in block.lines], meta.title)
    if not phrases:
        return blocks
    pattern = re.compile("|".join(map(re.escape, sorted(phrases, key=len, reverse=True))))
    if meta.title:
        meta.title = normalise_space(pattern.sub("", meta.title)) or None
    return _map_lines(blocks, lambda line: normalise_space(pattern.sub("", line)))


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


def _take_head_metadata(blocks: list[_Block], meta: Meta) -> list[_Block]:
    def take(number: int, line: str) -> str:
        if number >= HEAD_LINES:
            return line
        if len(line) <= 40 and (when := _date_only(line)):
            meta.fill(Meta(published=when))
            return ""
        labelled = _labelled(line)
        if len(line) <= 80 and (labelled.published or labelled.author):
            # "发布日期:2025-02-08 21:58 点击次数:96": the whole line is page furniture.
            meta.fill(Meta(author=labelled.author, published=labelled.published))
            return ""
        return line

    return _map_numbered_lines(blocks, take)


def _date_only(line: str) -> str | None:
    # A line that is nothing but a date or timestamp ("Sat, 22 Feb 2025 18:08:09 GMT").
    if not re.search(r"\d{4}", line) or HAN.search(line.replace("年", "").replace("月", "").replace("日", "")):
        return None
    match = _DATE.fullmatch(line)
    if match:
        return _date_from_match(match)
    try:
        return datetime.fromisoformat(line).isoformat()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(line).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _take_credits(line: str, meta: Meta) -> str:
    # "作者 / 刘润 编辑 / 二蔓 版面 / 黄静": a credits line closes many Chinese articles.
    credits = list(_CREDIT.finditer(line))
    if len(credits) < 2:
        return line
    author = next((m[2] for m in credits if m[1] in ("作者", "撰文")), None)
    meta.fill(Meta(author=author))
    return line[: credits[0].start()].strip()


def _title_from_text(blocks: list[_Block], fmt: Format) -> str | None:
    # An opening heading; in plain text an opening short line that does not read as a sentence.
    if not blocks:
        return None
    first = blocks[0]
    if first.level:
        return first.text
    line = first.lines[0]
    if fmt is Format.TEXT and len(line) <= 80 and "。" not in line and not line.endswith(tuple(".,;:，；：")):
        return line
    return next((b.text for b in blocks if b.level == 1), None)


def _drop_page_chrome(blocks: list[_Block], title: str | None) -> list[_Block]:
    numbers = itertools.count()

    def is_chrome(line: str, block: _Block) -> bool:
        # The page around the article repeats its title (page title, breadcrumb, heading); the first
        # line and headings are the article's own.
        repeated_title = next(numbers) > 0 and line == title and not block.level
        return repeated_title or _is_breadcrumb(line)

    kept = (_Block(tuple(line for line in b.lines if not is_chrome(line, b)), b.level) for b in blocks)
    return [block for block in kept if block.lines]


def _is_breadcrumb(line: str) -> bool:
    crumbs = re.split(r"\s+[>»›]\s+", line)
    return bool(_BREADCRUMB_START.match(line)) or (len(crumbs) >= 3 and all(len(c) <= 40 for c in crumbs[:-1]))


def _drop_empty_sections(blocks: list[_Block]) -> list[_Block]:
    # Once players and link buttons are gone a heading can be left over nothing ("## Snips",
    # "### [10:40] Untitled"); a heading without text under it is not part of the body.
    return [b for i, b in enumerate(blocks) if not b.level or _has_body(blocks[i + 1 :], b.level)]


def _has_body(following: list[_Block], level: int) -> bool:
    for block in following:
        if not block.level:
            return True
        if block.level <= level:
            return False
    return False
