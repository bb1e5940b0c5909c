"""Read a Word document (DOCX) into blocks: its headings, paragraphs and tables, in order.

A DOCX is a zip holding ``word/document.xml``. The zip is checked before python-docx opens it: a
small file can unpack to gigabytes (a zip bomb), so one whose members add up to more than a limit is
refused. Python's zipfile never inflates a member past the size the zip declares for it, so the sum
of the declared sizes bounds what parsing can unpack.
"""

from __future__ import annotations

import io
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.errors import BadDocumentError
from rag.ingest.blocks import Block, Pages, normalise_space

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 files, and password-protected DOCX
MAIN_PART = "word/document.xml"
MAX_MEMBERS = 10_000
MB = 1024 * 1024

_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError)


def is_docx(raw: bytes, suffix: str) -> bool:
    """Whether ``raw`` is a DOCX; a damaged zip that says it is one (by its name or content) raises."""
    if raw.startswith(OLE_MAGIC) and suffix == ".docx":
        raise BadDocumentError("password-protected DOCX, or an old .doc file renamed: not readable")
    if not raw.startswith(ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = set(archive.namelist())
    except _ZIP_ERRORS as error:
        if suffix == ".docx" or MAIN_PART.encode() in raw[:65536]:
            raise BadDocumentError(f"corrupt or truncated DOCX (not a readable zip: {error})") from None
        return False
    return MAIN_PART in names


def check_unzipped_size(raw: bytes, max_bytes: int) -> None:
    """Refuse a DOCX whose members unpack to more than ``max_bytes`` in all (a zip bomb)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise BadDocumentError(f"DOCX with {len(members)} parts, over the limit of {MAX_MEMBERS} (zip bomb?)")
    total = sum(member.file_size for member in members)
    if total > max_bytes:
        raise BadDocumentError(
            f"DOCX unpacks to {total / MB:.0f} MB, over the limit of {max_bytes / MB:.0f} MB (zip bomb?)"
        )


def read_docx(raw: bytes) -> Pages:
    try:
        document = docx.Document(io.BytesIO(raw))
        blocks = [block for item in document.iter_inner_content() for block in _blocks(item)]
        properties = document.core_properties
        title, author, created = properties.title, properties.author, properties.created
    except Exception as error:  # python-docx and lxml raise many kinds (KeyError, XMLSyntaxError...) on damage
        raise BadDocumentError(f"corrupt DOCX ({type(error).__name__}: {error})") from None
    if not blocks:
        raise BadDocumentError("no text in the DOCX")
    return Pages(
        (tuple(blocks),),
        paged=False,
        title=normalise_space(title or "") or None,
        author=normalise_space(author or "") or None,
        published=created.isoformat(timespec="seconds") if created else None,
    )


def _blocks(item: Paragraph | Table) -> list[Block]:
    if isinstance(item, Table):
        return _table(item)
    lines = tuple(line for line in map(normalise_space, item.text.split("\n")) if line)
    if not lines:
        return []
    return [Block(lines, _heading_level(item))]


def _heading_level(paragraph: Paragraph) -> int:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 1
    if name and name.startswith("Heading ") and name[8:].isdigit():
        return min(int(name[8:]), 6)
    return 0


def _table(table: Table) -> list[Block]:
    # A row per line, its cells apart: a table read row by row keeps what each row says together.
    rows = []
    for row in table.rows:
        cells = [normalise_space(cell.text) for cell in row.cells]
        unique = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]  # merged cells repeat
        if unique:
            rows.append(" | ".join(unique))
    return [Block(tuple(rows))] if rows else []
