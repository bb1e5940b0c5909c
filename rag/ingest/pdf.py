"""Read a PDF's text layer, page by page, into blocks.

pypdf extracts each page's text as lines, in the order of the content stream, and says where on the
page each piece of text sits. A PDF has no paragraphs, only lines placed on a page: a paragraph ends
where the gap to the next line is wider than the page's line spacing, the font size changes (a
heading), or a line stops well short of the page's full lines. The lines of a paragraph are joined
again, with a space between Latin words and nothing between Chinese characters, where a line break
would split a sentence that the chunker and the quotes must see whole. A page number alone on the
first or last line is dropped. A file that is encrypted, truncated or damaged, or has no text at all
(a scan), raises BadDocumentError with the reason.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError

from rag.errors import BadDocumentError
from rag.ingest.blocks import Block, Pages, normalise_space

MAGIC = b"%PDF-"
HEADER_WINDOW = 1024  # readers accept the %PDF- header anywhere in the first kilobyte
TRAILER_WINDOW = 2048  # and look for %%EOF near the end
PARAGRAPH_END = 0.85  # a line shorter than this share of the page's full line ends its paragraph
PARAGRAPH_GAP = 1.3  # a gap this many times the page's line spacing separates paragraphs
NO_TEXT = "no text layer (scanned?)"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PAGE_NUMBER = re.compile(r"(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?|第\s*\d{1,4}\s*页", re.I)
# What PDF writers put in the properties when the author gave nothing ("(anonymous)", "untitled").
_PLACEHOLDERS = frozenset({"untitled", "anonymous", "unknown", "title", "author"})


def is_pdf(raw: bytes) -> bool:
    return MAGIC in raw[:HEADER_WINDOW]


def read_pdf(raw: bytes) -> Pages:
    if b"%%EOF" not in raw[-TRAILER_WINDOW:]:
        raise BadDocumentError("truncated PDF (no %%EOF marker at the end)")
    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted:
            _decrypt(reader)
        pages = [_page_blocks(_lines(page)) for page in reader.pages]
    except BadDocumentError:
        raise
    except Exception as error:  # pypdf raises many kinds (PdfReadError, KeyError, ValueError...) on damage
        raise BadDocumentError(f"corrupt PDF ({type(error).__name__}: {error})") from None
    if not any(pages):
        raise BadDocumentError(NO_TEXT)
    title, author, published = _properties(reader)
    return Pages(tuple(pages), title=title, author=author, published=published)


def _decrypt(reader: PdfReader) -> None:
    # Many PDFs are encrypted with an empty user password, only to restrict printing or copying:
    # those open without one. A password that has to be typed is another matter.
    try:
        opened = reader.decrypt("")
    except DependencyError as error:
        raise BadDocumentError(f"encrypted PDF that cannot be opened here ({error})") from None
    if opened == PasswordType.NOT_DECRYPTED:
        raise BadDocumentError("encrypted PDF (needs a password)")


def _properties(reader: PdfReader) -> tuple[str | None, str | None, str | None]:
    try:
        info = reader.metadata
        if info is None:
            return None, None, None
        created: datetime | None = info.creation_date
    except Exception:  # a malformed date or info dictionary costs the metadata, not the text
        return None, None, None
    published = created.isoformat(timespec="seconds") if created else None
    return _property(info.title), _property(info.author), published


def _property(value: object) -> str | None:
    text = normalise_space(str(value or ""))
    return text if text.strip("() ").lower() not in _PLACEHOLDERS | {""} else None


# --- lines into paragraphs --------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    text: str
    y: float  # the baseline's height on the page, in points
    size: float  # the font size


def _lines(page: PageObject) -> list[_Line]:
    # The visitor sees the pieces that extract_text joins into its text, each with its text and
    # current transformation matrices: a line's height is that of its first piece.
    lines: list[_Line] = []
    current, where = "", (0.0, 0.0)

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        nonlocal current, where
        *ends, rest = text.split("\n")
        for part in ends:
            if (current + part).strip():
                lines.append(_Line(current + part, *(where if current.strip() else _place(cm, tm, size))))
            current = ""
        if rest.strip() and not current.strip():
            where = _place(cm, tm, size)
        current += rest

    page.extract_text(visitor_text=visit)
    if current.strip():
        lines.append(_Line(current, *where))
    return [_Line(text, line.y, line.size) for line in lines if (text := _clean_line(line.text))]


def _place(cm: list[float], tm: list[float], size: float) -> tuple[float, float]:
    return tm[4] * cm[1] + tm[5] * cm[3] + cm[5], size


def _page_blocks(lines: list[_Line]) -> tuple[Block, ...]:
    # A number alone on the first or last line is the page's number, not its text.
    while lines and _PAGE_NUMBER.fullmatch(lines[-1].text):
        lines = lines[:-1]
    if lines and _PAGE_NUMBER.fullmatch(lines[0].text):
        lines = lines[1:]
    if not lines:
        return ()
    full, spacing = _full_width(lines), _line_spacing(lines)
    blocks: list[Block] = []
    paragraph = lines[0].text
    for before, line in pairwise(lines):
        if _ends_paragraph(before, line, full, spacing):
            blocks.append(Block((paragraph,)))
            paragraph = line.text
        else:
            paragraph = _join(paragraph, line.text)
    blocks.append(Block((paragraph,)))
    return tuple(blocks)


def _ends_paragraph(line: _Line, after: _Line, full: float, spacing: float | None) -> bool:
    gap = line.y - after.y
    return (
        _width(line.text) < PARAGRAPH_END * full
        or abs(line.size - after.size) > 0.5
        or (spacing is not None and not 0 < gap <= PARAGRAPH_GAP * spacing)
    )


def _line_spacing(lines: list[_Line]) -> float | None:
    # The usual distance between two lines of a paragraph: the smaller gaps, not the paragraph gaps.
    gaps = sorted(g for a, b in pairwise(lines) if (g := a.y - b.y) > 1)
    return gaps[len(gaps) // 4] if gaps else None


def _clean_line(line: str) -> str:
    # NUL and other control characters come out of some fonts' character maps between every letter.
    return normalise_space(unicodedata.normalize("NFC", _CONTROL.sub("", line)))


def _full_width(lines: list[_Line]) -> float:
    # The width of a full line: the longest but for the odd overlong one (a URL, a table row).
    widths = sorted(_width(line.text) for line in lines)
    return widths[int(0.9 * (len(widths) - 1))] if len(widths) >= 5 else widths[-1]


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _join(before: str, after: str) -> str:
    if _wide(before[-1]) or _wide(after[0]):
        return before + after
    if before.endswith("-") and before[-2:-1].isalpha() and after[0].islower():
        return before + after  # a word broken at its hyphen ("well-" "known")
    return f"{before} {after}"


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"
