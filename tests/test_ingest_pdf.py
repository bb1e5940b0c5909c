from __future__ import annotations

import random

import pytest
from documents import CHINESE_PAGES, ENGLISH_PAGES, image_only_pdf, pdf_bytes

from rag.errors import BadDocumentError
from rag.ingest.pdf import NO_TEXT, is_pdf, read_pdf


def _paragraphs(pages: list[list[str]]) -> list[list[str]]:
    return [[block.text for block in page] for page in read_pdf(pdf_bytes(pages, chinese=pages is CHINESE_PAGES)).pages]


@pytest.mark.parametrize(
    "pages", [pytest.param(ENGLISH_PAGES, id="en"), pytest.param(CHINESE_PAGES, id="zh-STSong-Light")]
)
def test_each_page_comes_back_as_its_heading_and_whole_paragraphs(pages: list[list[str]]) -> None:
    # The paragraphs wrap over several lines in the PDF: they are joined again, with a space between
    # English words and nothing between Chinese characters.
    assert _paragraphs(pages) == pages


def test_properties_give_title_and_author_and_date() -> None:
    read = read_pdf(pdf_bytes(ENGLISH_PAGES, title="River report"))
    assert (read.title, read.author) == ("River report", "Test Author")
    assert read.published is not None and read.published[:4].isdigit()


def test_a_placeholder_title_is_no_title() -> None:
    assert read_pdf(pdf_bytes(ENGLISH_PAGES)).title is None  # reportlab writes "untitled"


def test_a_pdf_is_told_by_its_header() -> None:
    assert is_pdf(pdf_bytes(ENGLISH_PAGES))
    assert not is_pdf(b"Some text about %PDF" + b" files" * 300 + b"%PDF-1.7")


def test_encrypted_with_an_empty_user_password_opens() -> None:
    # Owner-password-only PDFs restrict printing, not reading.
    read = read_pdf(pdf_bytes(ENGLISH_PAGES, encrypt=""))
    assert read.pages[1][0].text == "Costs and volunteers"


DAMAGED = [
    pytest.param(pdf_bytes(ENGLISH_PAGES, encrypt="secret"), "encrypted PDF (needs a password)", id="encrypted"),
    pytest.param(image_only_pdf(), NO_TEXT, id="image-only"),
    pytest.param(pdf_bytes(ENGLISH_PAGES)[:1500], "truncated PDF (no %%EOF marker at the end)", id="truncated"),
    pytest.param(
        b"%PDF-1.7\n" + random.Random(0).randbytes(3000) + b"\n%%EOF\n", "corrupt PDF (", id="header-then-noise"
    ),
]


@pytest.mark.parametrize(("raw", "reason"), DAMAGED)
def test_a_damaged_pdf_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadDocumentError) as refused:
        read_pdf(raw)
    assert str(refused.value).startswith(reason)


def test_the_scanned_reason_reads_as_promised() -> None:
    assert NO_TEXT == "no text layer (scanned?)"
