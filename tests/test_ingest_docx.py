from __future__ import annotations

from datetime import datetime

import pytest
from documents import docx_bytes, pdf_bytes, with_member

from rag.errors import BadDocumentError
from rag.ingest.docx import check_unzipped_size, is_docx, read_docx

ENGLISH = [
    (1, "Tea harvest notes"),
    (0, "The first picking of the year starts in early April."),
    (2, "Prices"),
    (0, "Pre-Qingming leaves sold for 3,000 yuan a kilogram.\nLater pickings cost far less."),
]
CHINESE = [(1, "龙井茶采摘笔记"), (0, "每年的第一批采摘在四月初开始。"), (0, "明前茶每公斤卖到三千元。")]


def test_headings_and_paragraphs_come_back_in_order() -> None:
    read = read_docx(docx_bytes(ENGLISH))
    assert [(b.level, b.text) for b in read.pages[0]] == ENGLISH
    assert read.paged is False  # a DOCX has no fixed pages


def test_chinese_text_comes_back() -> None:
    assert [b.text for b in read_docx(docx_bytes(CHINESE)).pages[0]] == [text for _, text in CHINESE]


def test_properties_give_title_author_and_date() -> None:
    read = read_docx(docx_bytes(CHINESE, title="茶叶笔记", author="王芳", created=datetime(2024, 4, 2, 9, 30)))
    assert (read.title, read.author, read.published) == ("茶叶笔记", "王芳", "2024-04-02T09:30:00+00:00")


def test_an_empty_title_is_no_title() -> None:
    assert read_docx(docx_bytes(ENGLISH)).title is None


def test_a_table_reads_row_by_row() -> None:
    read = read_docx(docx_bytes(ENGLISH[:1], table=[["Picking", "Price"], ["Pre-Qingming", "3,000 yuan"]]))
    assert read.pages[0][-1].lines == ("Picking | Price", "Pre-Qingming | 3,000 yuan")


def test_a_docx_is_told_by_its_content_not_its_name() -> None:
    assert is_docx(docx_bytes(ENGLISH), ".txt")
    assert not is_docx(pdf_bytes([["x"]]), ".docx")
    assert not is_docx(b"PK\x03\x04 not really a zip", ".zip")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(docx_bytes(ENGLISH)[:2000], "corrupt or truncated DOCX", id="truncated"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "password-protected DOCX", id="encrypted"),
    ],
)
def test_a_damaged_docx_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadDocumentError, match=reason):
        is_docx(raw, ".docx")


def test_a_zip_bomb_is_refused_by_its_unpacked_size() -> None:
    bomb = with_member(docx_bytes(ENGLISH), "word/media/filler.bin", 8 * 1024 * 1024)
    assert len(bomb) < 100_000
    with pytest.raises(BadDocumentError, match=r"DOCX unpacks to \d+ MB, over the limit of 4 MB \(zip bomb\?\)"):
        check_unzipped_size(bomb, 4 * 1024 * 1024)
    check_unzipped_size(docx_bytes(ENGLISH), 4 * 1024 * 1024)  # an ordinary one passes
