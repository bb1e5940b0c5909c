"""Load documents from disk as clean text with metadata: the first stage of the data flow.

Files are found in the folders given (hidden and unsupported ones passed over). PDF and DOCX files,
told by their content, are read by ``rag.ingest.binary``; the rest are decoded: UTF-8, a byte-order
mark, or a guess among the legacy Chinese encodings. The format is read from the content, the suffix
only settling close calls. Front matter and a clipping tool's link header say what the
document is; ``rag.ingest.cleaning`` turns the body into clean text and finds the rest of its metadata. A file
that cannot be read or leaves no text is skipped with the reason, and so is a second copy of a text;
ids are file stems, made unique by the content where two files share one.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import frontmatter
import yaml
from bs4 import BeautifulSoup
from charset_normalizer import from_bytes

from rag.errors import BadDocumentError
from rag.ingest.binary import Limits, read_binary
from rag.ingest.blocks import Block, Pages, map_lines, normalise_space
from rag.ingest.cleaning import Format, clean_body
from rag.ingest.files import HTML_SUFFIXES, MARKDOWN_SUFFIXES, candidates, content_key, doc_id_for
from rag.ingest.html_page import TAG
from rag.ingest.isolation import MB
from rag.ingest.known import KnownDocuments
from rag.ingest.metadata import Meta, clean_url, iso_date
from rag.text.scripts import HAN
from rag.types import Chunk, Corpus, Document, Skipped

log = logging.getLogger("rag.ingest.loading")

# Legacy encodings worth guessing: the Chinese ones. Anything else that is not UTF-8 is refused
# rather than decoded as mojibake.
FALLBACK_ENCODINGS = ["gb18030", "big5"]
FORMAT_SAMPLE = 50_000  # characters; the opening of a file is enough to tell its format
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_LATIN_WORD = re.compile(r"[A-Za-z]+")
MAX_TITLE_CHARS = 200  # a first line longer than this is a paragraph, not a title


# --- public API -------------------------------------------------------------------------------


def load_corpus(paths: Sequence[Path], limits: Limits | None = None, known: KnownDocuments | None = None) -> Corpus:
    documents: list[Document] = []
    skipped: list[Skipped] = []
    duplicates: list[Skipped] = []
    first_with_text: dict[str, str] = {}
    for path, problem in candidates(paths):
        if problem is None:
            try:
                document = load_document(path, limits or Limits(), known)
            except BadDocumentError as error:
                problem = str(error)
        if problem is not None:
            log.warning("skipped %s: %s", path, problem)
            skipped.append(Skipped(str(path), problem))
            continue
        key = content_key(document.text)
        if key in first_with_text:
            reason = f"duplicate of {first_with_text[key]}"
            log.info("skipped %s: %s", path, reason)
            duplicates.append(Skipped(str(path), reason))
            continue
        first_with_text[key] = document.source_file
        documents.append(_with_unique_id(document, {d.doc_id for d in documents}))
    return Corpus(tuple(documents), tuple(skipped), tuple(duplicates))


def load_document(path: Path, limits: Limits | None = None, known: KnownDocuments | None = None) -> Document:
    """The document in the file at ``path``; ``known``: documents an earlier build read, by name and bytes."""
    limits = limits or Limits()
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise BadDocumentError(
                f"too large: {size / MB:.1f} MB, over the limit of {limits.max_file_bytes / MB:g} MB (RAG_MAX_FILE_MB)"
            )
        raw = path.read_bytes()
    except OSError as error:
        raise BadDocumentError(f"cannot read: {error.strerror or error}") from None
    if known is not None:
        return known.read(path.name, raw, lambda: _document_from_bytes(raw, path, limits))
    return _document_from_bytes(raw, path, limits)


def _document_from_bytes(raw: bytes, path: Path, limits: Limits) -> Document:
    # Before decoding: a PDF or DOCX is binary, which decode() refuses.
    pages = read_binary(raw, path.suffix.lower(), limits)
    if pages is not None:
        return document_from_pages(pages, path.name)
    try:
        return document_from_text(decode(raw), path.name)
    except RecursionError:
        # The readers walk a page with stacks of their own; should a library under them recurse, the file is refused
        # with a reason rather than stopping the build or the upload.
        raise BadDocumentError("cannot read: its markup is nested too deeply") from None


def document_from_pages(pages: Pages, source_file: str) -> Document:
    """A document read by pages (PDF, DOCX): blocks apart by a blank line, and where each page starts."""
    page_blocks = [map_lines(page, lambda line: normalise_space(_normalise_unicode(line))) for page in pages.pages]
    blocks = [block for page in page_blocks for block in page]
    text = "\n\n".join(block.text for block in blocks)
    if not text:
        raise BadDocumentError("no text")
    starts, offset = [], 0
    for page in page_blocks:
        starts.append(min(offset, len(text)))
        offset += sum(len(block.text) + 2 for block in page)  # each block and the blank line after it
    return Document(
        doc_id=doc_id_for(source_file),
        source_file=source_file,
        title=pages.title or _first_heading(blocks) or Path(source_file).stem,
        author=pages.author,
        published=pages.published,
        url=None,
        language=detect_language(text),
        text=text,
        page_starts=tuple(starts) if pages.paged else (),
    )


def document_from_text(text: str, source_file: str) -> Document:
    text = _normalise_unicode(text)
    front, body = _split_front_matter(text)
    header, body = _split_link_header(body)
    fmt = detect_format(body, Path(source_file).suffix.lower())
    clean, meta = clean_body(body, fmt, given=front, fallback=header)
    if not clean:
        raise BadDocumentError("no text left after cleaning")
    return Document(
        doc_id=doc_id_for(source_file),
        source_file=source_file,
        title=meta.title or Path(source_file).stem,
        author=meta.author,
        published=meta.published,
        url=meta.url,
        language=detect_language(clean),
        text=clean,
    )


def _first_heading(blocks: Sequence[Block]) -> str | None:
    heading = next((block for block in blocks if block.level), blocks[0])
    line = heading.lines[0]
    return line if len(line) <= MAX_TITLE_CHARS else None


def corpus_summary(corpus: Corpus, chunks: Sequence[Chunk]) -> str:
    skipped = len(corpus.skipped) + len(corpus.duplicates)
    summary = f"{len(corpus.documents)} documents, {len(chunks)} chunks, {skipped} skipped"
    if corpus.duplicates:
        summary += f" ({len(corpus.duplicates)} duplicate{'s' if len(corpus.duplicates) > 1 else ''})"
    return summary


def decode(raw: bytes) -> str:
    if not raw.strip():
        raise BadDocumentError("empty file")
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                raise BadDocumentError(f"undecodable: bad {codec} after a byte-order mark") from None
    if _looks_binary(raw):
        raise BadDocumentError("binary file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = from_bytes(raw, cp_isolation=FALLBACK_ENCODINGS).best()
    if match is None:
        raise BadDocumentError(f"undecodable: not UTF-8, {' or '.join(FALLBACK_ENCODINGS)}")
    return str(match)


def _normalise_unicode(text: str) -> str:
    # NFC, not NFKC: NFKC folds full-width CJK punctuation (，：（） ！？) and full-width digits into
    # ASCII and "…" into "...", which changes the text users see and quote, and blurs the sentence
    # boundaries the chunker relies on. NFC only composes accents, so citations stay verbatim.
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.translate(_INVISIBLE)


def detect_format(body: str, suffix: str) -> Format:
    sample = body[:FORMAT_SAMPLE]
    markdown_lines = sum(1 for line in sample.split("\n") if _MARKDOWN_LINE.match(line))
    html_elements = _count_html_elements(sample)
    if html_elements > markdown_lines:
        return Format.HTML
    if suffix in MARKDOWN_SUFFIXES or markdown_lines >= 3:
        return Format.MARKDOWN
    if suffix in HTML_SUFFIXES and html_elements:
        return Format.HTML
    return Format.TEXT


def detect_language(text: str) -> str:
    # A Han character carries about as much as a Latin word, so compare characters with words:
    # a Chinese article full of "DeepSeek" and "GPU" still comes out "zh".
    han = len(HAN.findall(text))
    return "zh" if han and han >= len(_LATIN_WORD.findall(text)) else "en"


def _looks_binary(raw: bytes) -> bool:
    sample = raw[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\v\x1b")
    return control > len(sample) * 0.05


def _with_unique_id(document: Document, taken: set[str]) -> Document:
    # Same stem in two folders: the content decides the suffix, so the id is still stable.
    if document.doc_id not in taken:
        return document
    digest = hashlib.sha256(document.text.encode()).hexdigest()[:8]
    return replace(document, doc_id=f"{document.doc_id}-{digest}")


# --- metadata ---------------------------------------------------------------------------------

_FRONT_MATTER_KEYS = {
    "title": ("title",),
    "author": ("author", "authors", "creator", "by"),
    "published": ("published", "date", "pubDate", "created"),
    "url": ("source", "url", "link", "canonical", "original_url"),
}


def _split_front_matter(text: str) -> tuple[Meta, str]:
    if not text.lstrip().startswith("---"):
        return Meta(), text
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise BadDocumentError(f"unparsable front matter: {problem}") from None
    if not post.metadata:  # "---" was a horizontal rule, or the block held no fields: keep the text
        return Meta(), text
    values = {name: _first_value(post.metadata, keys) for name, keys in _FRONT_MATTER_KEYS.items()}
    url = values["url"]
    meta = Meta(
        title=values["title"],
        author=values["author"],
        published=iso_date(values["published"]) if values["published"] else None,
        url=clean_url(url) if url and url.startswith(("http://", "https://")) else None,
    )
    return meta, str(post.content)


def _first_value(metadata: dict[str, object], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


_LINK_LINE = re.compile(r"\[(?P<text>[^\]\n]+)\]\((?P<url>https?://[^\s)]+)\)")
_UNDERLINE = re.compile(r"[-=]{3,}")


def _split_link_header(body: str) -> tuple[Meta, str]:
    # Clipping tools open a saved page with "[title](url)" and an underline, sometimes after an
    # HTML comment with the clipping time: the page's title and address, not its text.
    lines = body.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or _is_comment_line(lines[i])):
        i += 1
    match = _LINK_LINE.fullmatch(lines[i].strip()) if i < len(lines) else None
    if match is None:
        return Meta(), body
    i += 1
    if i < len(lines) and _UNDERLINE.fullmatch(lines[i].strip()):
        i += 1
    header = Meta(title=normalise_space(match["text"]), url=clean_url(match["url"]))
    return header, "\n".join(lines[i:])


def _is_comment_line(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("<!--") and stripped.endswith("-->")


# --- format detection -------------------------------------------------------------------------

_MARKDOWN_LINE = re.compile(r"\s{0,3}(#{1,6}\s|>|[-*+]\s|\d+[.)]\s|```|~~~)|\s*\[[^\]]*\]\([^)]*\)\s*$")

# Elements that lay out a page. Inline tags (<a>, <br>, <span>) and media tags (<audio>) also turn up
# in markdown notes and do not make one a page.
_PAGE_ELEMENTS = [
    "html", "body", "main", "article", "section", "header", "div", "p", "ul", "ol", "li", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td",
]  # fmt: skip


def _count_html_elements(text: str) -> int:
    if not TAG.search(text):
        return 0
    return len(BeautifulSoup(text, "html.parser").find_all(_PAGE_ELEMENTS))
