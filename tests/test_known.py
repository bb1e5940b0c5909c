"""rag/ingest/known.py: a file read by the previous build is not read again unless its name, its bytes, the
limits or the reading code changed; a file that could not be read is tried again; a damaged file reads all."""

from __future__ import annotations

from pathlib import Path

import pytest
from documents import pdf_bytes

from rag.ingest import loading
from rag.ingest.binary import Limits
from rag.ingest.known import READING_CODE, KnownDocuments, known_path
from rag.ingest.loading import load_corpus
from rag.types import Document

LIMITS = Limits()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "pandas.md").write_text("# Pandas\n\nGiant pandas eat bamboo.\n", "utf-8")
    (seeds / "tea.txt").write_text("乌龙茶是半发酵茶。\n", "utf-8")
    (seeds / "page.html").write_text("<html><head><title>茶</title></head><body><p>铁观音产于福建。</p></body></html>")
    return seeds


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files read from their bytes."""
    names: list[str] = []
    read = loading._document_from_bytes
    monkeypatch.setattr(
        loading, "_document_from_bytes", lambda raw, path, limits: names.append(path.name) or read(raw, path, limits)
    )
    return names


def build(folder: Path, index: Path, limits: Limits = LIMITS) -> tuple[list[Document], KnownDocuments]:
    known = KnownDocuments.load(index, limits)
    corpus = load_corpus([folder], limits, known)
    known.save(index, limits)
    return list(corpus.documents), known


def test_a_build_reads_again_only_new_and_changed_files(folder: Path, tmp_path: Path, reads: list[str]) -> None:
    first, _ = build(folder, tmp_path / "index")
    assert sorted(reads) == ["page.html", "pandas.md", "tea.txt"]
    reads.clear()
    assert build(folder, tmp_path / "index")[0] == first  # nothing read: the same documents
    assert reads == []
    (folder / "tea.txt").write_text("乌龙茶是半发酵茶。\n\n铁观音也是。\n", "utf-8")
    (folder / "pandas.md").rename(folder / "bears.md")  # the name is the document's id: read again
    (folder / "new.md").write_text("# New\n\nRed pandas are not bears.\n", "utf-8")
    documents, _ = build(folder, tmp_path / "index")
    assert sorted(reads) == ["bears.md", "new.md", "tea.txt"]
    assert documents == list(load_corpus([folder], LIMITS).documents)


def test_other_limits_or_other_code_read_every_file(
    folder: Path, tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    build(folder, tmp_path / "index")
    reads.clear()
    build(folder, tmp_path / "index", Limits(max_file_bytes=LIMITS.max_file_bytes // 2))
    assert len(reads) == 3
    reads.clear()
    monkeypatch.setattr("rag.ingest.known.READING_CODE", READING_CODE[1:])  # as if the code had changed
    build(folder, tmp_path / "index")
    assert len(reads) == 3
    assert len(list((tmp_path / "index").glob(".documents-*"))) == 1  # the other code's file removed


def test_a_file_that_could_not_be_read_is_tried_again(folder: Path, tmp_path: Path, reads: list[str]) -> None:
    (folder / "empty.md").write_text("   \n", "utf-8")
    build(folder, tmp_path / "index")
    reads.clear()
    build(folder, tmp_path / "index")
    assert reads == ["empty.md"]


def test_a_damaged_file_reads_every_file(folder: Path, tmp_path: Path, reads: list[str]) -> None:
    build(folder, tmp_path / "index")
    known_path(tmp_path / "index", LIMITS).write_bytes(b"damaged")
    reads.clear()
    build(folder, tmp_path / "index")
    assert len(reads) == 3


def test_a_pdf_read_before_keeps_its_pages(folder: Path, tmp_path: Path, reads: list[str]) -> None:
    (folder / "report.pdf").write_bytes(
        pdf_bytes([["First", "Pandas eat bamboo."], ["Second", "Tea grows in Fujian."]])
    )
    first, _ = build(folder, tmp_path / "index")
    reads.clear()
    again, _ = build(folder, tmp_path / "index")
    assert reads == [] and again == first
    (report,) = [d for d in again if d.source_file == "report.pdf"]
    assert len(report.page_starts) == 2 and report.text[report.page_starts[1] :].startswith("Second")
