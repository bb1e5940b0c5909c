"""PDF and DOCX files through the loader, as `rag index` reads them: documents, offsets, pages, skips."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pytest
from documents import CHINESE_PAGES, ENGLISH_PAGES, docx_bytes, image_only_pdf, pdf_bytes, with_member, write
from embedders import HashEmbedder, build_local, open_local

from rag.config import Settings
from rag.coverage import FEATURES, CoverageModel
from rag.ingest.binary import Limits
from rag.ingest.chunking import chunk_document
from rag.ingest.files import discover_files
from rag.ingest.isolation import MB
from rag.ingest.loading import load_corpus, load_document
from rag.pipeline import Pipeline
from rag.types import Document

DOCX_BLOCKS = [
    (1, "Tea harvest notes"),
    (0, "The first picking of the year starts in early April."),
    (2, "Prices"),
    (0, "Pre-Qingming leaves sold for 3,000 yuan a kilogram."),
]


def _pdf(tmp_path: Path, pages: list[list[str]], name: str = "report.pdf", **options: object) -> Document:
    raw = pdf_bytes(pages, chinese=pages is CHINESE_PAGES, **options)  # type: ignore[arg-type]
    return load_document(write(tmp_path, name, raw))


@pytest.mark.parametrize(
    ("pages", "language"), [pytest.param(ENGLISH_PAGES, "en", id="en"), pytest.param(CHINESE_PAGES, "zh", id="zh")]
)
def test_a_pdf_becomes_a_document_that_knows_where_its_pages_start(
    tmp_path: Path, pages: list[list[str]], language: str
) -> None:
    document = _pdf(tmp_path, pages)
    assert document.text == "\n\n".join("\n\n".join(page) for page in pages)
    assert document.page_starts == (0, document.text.index(pages[1][0]))
    assert (document.title, document.author, document.language) == (pages[0][0], "Test Author", language)


def test_a_pdf_title_comes_from_its_properties_first(tmp_path: Path) -> None:
    assert _pdf(tmp_path, ENGLISH_PAGES, title="River report").title == "River report"


@pytest.mark.parametrize("pages", [pytest.param(ENGLISH_PAGES, id="en"), pytest.param(CHINESE_PAGES, id="zh")])
def test_every_sentence_of_a_pdf_quotes_the_text_exactly(tmp_path: Path, pages: list[list[str]]) -> None:
    document = _pdf(tmp_path, pages)
    sentences = [s for chunk in chunk_document(document, 100, 0) for s in chunk.sentences]
    assert len(sentences) >= 8
    assert all(document.text[s.start : s.end] == s.text for s in sentences)


@pytest.mark.parametrize(
    ("pages", "quote"),
    [
        pytest.param(ENGLISH_PAGES, "The total cost of the survey was 84,000 euros", id="en"),
        pytest.param(CHINESE_PAGES, "这次调查的总费用是八万四千欧元", id="zh"),
    ],
)
def test_a_quote_from_page_two_is_on_page_two(tmp_path: Path, pages: list[list[str]], quote: str) -> None:
    document = _pdf(tmp_path, pages)
    assert document.page_at(document.text.index(quote)) == 2
    assert document.page_at(document.text.index(pages[0][-1])) == 1


def test_a_docx_becomes_a_document_with_headings_on_their_own_lines(tmp_path: Path) -> None:
    raw = docx_bytes(DOCX_BLOCKS, author="Li Wei", created=datetime(2024, 4, 2))
    document = load_document(write(tmp_path, "tea.docx", raw))
    assert document.text == "\n\n".join(text for _, text in DOCX_BLOCKS)
    assert (document.title, document.author, document.published) == (
        "Tea harvest notes",  # no title in the properties: the first heading
        "Li Wei",
        "2024-04-02T00:00:00+00:00",
    )
    assert document.page_starts == () and document.page_at(0) is None


def test_a_chinese_docx_title_comes_from_its_properties(tmp_path: Path) -> None:
    raw = docx_bytes([(0, "每年的第一批采摘在四月初开始。")], title="龙井茶采摘笔记")
    document = load_document(write(tmp_path, "tea.docx", raw))
    assert (document.title, document.text, document.language) == (
        "龙井茶采摘笔记",
        "每年的第一批采摘在四月初开始。",
        "zh",
    )


def test_the_format_is_read_from_the_content_not_the_name(tmp_path: Path) -> None:
    pdf_as_text = load_document(write(tmp_path, "report.txt", pdf_bytes(ENGLISH_PAGES)))
    docx_as_text = load_document(write(tmp_path, "notes.txt", docx_bytes(DOCX_BLOCKS)))
    assert pdf_as_text.page_starts and pdf_as_text.text.startswith(ENGLISH_PAGES[0][0])
    assert docx_as_text.title == "Tea harvest notes"
    text_as_pdf = load_document(write(tmp_path, "plain.pdf", b"Just a note, saved with the wrong name."))
    assert text_as_pdf.text == "Just a note, saved with the wrong name."


def test_folders_yield_pdf_and_docx_files(tmp_path: Path) -> None:
    for name in ["a.pdf", "b.DOCX", "c.txt", "d.doc", "e.zip"]:
        write(tmp_path, name, b"x")
    assert [p.name for p in discover_files([tmp_path])] == ["a.pdf", "b.DOCX", "c.txt"]


# --- damaged and hostile files ----------------------------------------------------------------

ENGLISH_DOCX = docx_bytes(DOCX_BLOCKS)
SMALL = Limits(max_file_bytes=MB // 4, max_unzipped_bytes=2 * MB)

SKIPPED = [
    pytest.param("scan.pdf", image_only_pdf(), "no text layer (scanned?)", id="scanned"),
    pytest.param(
        "locked.pdf", pdf_bytes(ENGLISH_PAGES, encrypt="secret"), "encrypted PDF (needs a password)", id="encrypted"
    ),
    pytest.param(
        "cut.pdf", pdf_bytes(ENGLISH_PAGES)[:1500], "truncated PDF (no %%EOF marker at the end)", id="truncated-pdf"
    ),
    pytest.param("noise.pdf", random.Random(1).randbytes(5000), "binary file", id="random-bytes"),
    pytest.param(
        "noise2.pdf", b"%PDF-1.4\n" + random.Random(2).randbytes(5000) + b"\n%%EOF", "corrupt PDF (", id="corrupt-pdf"
    ),
    pytest.param("cut.docx", ENGLISH_DOCX[: len(ENGLISH_DOCX) // 2], "corrupt or truncated DOCX", id="truncated-docx"),
    pytest.param(
        "locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000), "password-protected DOCX", id="encrypted-docx"
    ),
    pytest.param(
        "bomb.docx",
        with_member(ENGLISH_DOCX, "word/media/filler.bin", 3 * MB),
        "MB, over the limit of 2 MB (zip bomb?)",
        id="zip-bomb",
    ),
    pytest.param(
        "big.pdf",
        pdf_bytes(ENGLISH_PAGES) + b"%" * 300_000,
        "too large: 0.3 MB, over the limit of 0.25 MB (RAG_MAX_FILE_MB)",
        id="oversized",
    ),
]


@pytest.mark.parametrize(("name", "raw", "reason"), SKIPPED)
def test_a_damaged_file_is_skipped_with_its_reason(tmp_path: Path, name: str, raw: bytes, reason: str) -> None:
    write(tmp_path, "good.pdf", pdf_bytes(ENGLISH_PAGES))
    write(tmp_path, name, raw)
    corpus = load_corpus([tmp_path], SMALL)
    assert [d.source_file for d in corpus.documents] == ["good.pdf"]
    [skipped] = corpus.skipped
    assert Path(skipped.path).name == name and reason in skipped.reason


def test_the_file_size_limit_comes_from_the_settings() -> None:
    assert Limits.from_settings(Settings(max_file_mb=0.5)).max_file_bytes == MB // 2
    assert Limits().max_file_bytes == 50 * MB


# --- end to end -------------------------------------------------------------------------------


def test_a_question_about_page_two_of_a_pdf_is_answered_with_page_two(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    write(seeds, "rivers.pdf", pdf_bytes(ENGLISH_PAGES, title="River report"))
    write(seeds, "tea.docx", docx_bytes(DOCX_BLOCKS))
    settings = Settings(seeds_dir=seeds, index_dir=tmp_path / "index", embedding_model=HashEmbedder().name)
    built = build_local(settings)
    assert built.manifest.documents == 2
    n = len(FEATURES)
    always = CoverageModel(weights=(0.0,) * n, bias=30.0, mean=(0.0,) * n, scale=(1.0,) * n)
    pipeline = Pipeline(settings, HashEmbedder(), open_local(settings), coverage=always)

    answer = pipeline.ask("What was the total cost of the survey in euros?")

    quote = "The total cost of the survey was 84,000 euros, paid by the regional water agency."
    [evidence] = [e for e in answer.evidence if e.text == quote]
    document = pipeline.document(evidence.citation.doc_id)
    assert document.text[evidence.citation.start : evidence.citation.end] == quote
    assert (evidence.citation.source_file, evidence.citation.title, evidence.citation.page) == (
        "rivers.pdf",
        "River report",
        2,
    )
