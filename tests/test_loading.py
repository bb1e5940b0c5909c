from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from rag.errors import BadDocumentError
from rag.ingest.chunking import chunk_corpus
from rag.ingest.cleaning import Format
from rag.ingest.files import discover_files
from rag.ingest.loading import (
    corpus_summary,
    detect_format,
    detect_language,
    load_corpus,
    load_document,
)
from rag.types import Corpus, Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = {path.name[:3]: path for path in SEEDS.glob("*.txt")}


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    corpus = load_corpus([SEEDS])
    assert corpus.skipped == () and corpus.duplicates == ()
    return {doc.source_file[:3]: doc for doc in corpus.documents}


# --- the five seeds ---------------------------------------------------------------------------

METADATA = [
    pytest.param(
        "000",
        "Vol.51 那些关于DeepSeek的谣言与误解",
        "庄明浩",
        "2025-02-07T09:36:39",
        "https://www.xiaoyuzhoufm.com/episode/67a5a7e4247d51713c228ca1",
        id="000-front-matter",
    ),
    pytest.param(
        "001",
        "DeepSeek和国运有啥关系？",
        "关不羽",
        "2025-02-12",
        "https://chinadigitaltimes.net/chinese/715803.html",
        id="001-metadata-box",
    ),
    pytest.param("002", "刘润:DeepSeek这把火,为何烧疼了硅谷?", "刘润", "2025-02-08T21:58:00", None, id="002-spam-page"),
    pytest.param(
        "003",
        "DeepSeek引爆AI革命:中国的OpenAI挑战西方霸权",
        None,
        None,
        "https://www.youtube.com/watch?v=_1f-o0nqpEI",
        id="003-markdown",
    ),
    pytest.param(
        "004",
        "专访杜奕瑾：DeepSeek改变美中AI竞争格局？",
        None,
        "2025-02-22T18:08:09+00:00",
        "https://www.voachinese.com/a/7984584.html",
        id="004-feed-html",
    ),
]


@pytest.mark.parametrize(("seed", "title", "author", "published", "url"), METADATA)
def test_seed_metadata_is_what_the_file_says(
    seeds: dict[str, Document], seed: str, title: str, author: str | None, published: str | None, url: str | None
) -> None:
    doc = seeds[seed]
    assert (doc.title, doc.author, doc.published, doc.url) == (title, author, published, url)
    assert doc.doc_id == SEED_FILES[seed].stem
    assert doc.source_file == SEED_FILES[seed].name
    assert doc.language == "zh"


def test_seed_formats_are_detected_from_content() -> None:
    def body(seed: str) -> str:
        return SEED_FILES[seed].read_text(encoding="utf-8")

    assert detect_format(body("001"), ".txt") is Format.HTML
    assert detect_format(body("004"), ".txt") is Format.HTML
    assert detect_format(body("000"), ".txt") is Format.MARKDOWN
    assert detect_format(body("003"), ".txt") is Format.MARKDOWN
    assert detect_format(body("002"), ".txt") is Format.TEXT


def test_corpus_summary_counts_documents_chunks_and_skips(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    corpus = load_corpus([SEEDS, tmp_path])
    chunks = chunk_corpus(corpus.documents, 300, 0)
    assert corpus_summary(corpus, chunks) == f"5 documents, {len(chunks)} chunks, 1 skipped"


# --- bad input --------------------------------------------------------------------------------


def _only_skip(corpus: Corpus) -> str:
    assert corpus.documents == ()
    (skipped,) = corpus.skipped
    return skipped.reason


def test_empty_file_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"  \n")
    with caplog.at_level(logging.WARNING, logger="rag.ingest.loading"):
        assert _only_skip(load_corpus([path])) == "empty file"
    assert [r.getMessage() for r in caplog.records] == [f"skipped {path}: empty file"]
    with pytest.raises(BadDocumentError, match="empty file"):
        load_document(path)


def test_a_page_a_reader_cannot_walk_is_skipped_and_the_others_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.ingest import loading

    def recurses(*_: object, **__: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    (tmp_path / "deep.html").write_text("<html><body><p>Deep.</p></body></html>", encoding="utf-8")
    (tmp_path / "fine.txt").write_text("A fine document.", encoding="utf-8")
    real = loading.clean_body
    monkeypatch.setattr(
        loading, "clean_body", lambda body, fmt, **kw: (recurses if fmt is Format.HTML else real)(body, fmt, **kw)
    )
    corpus = load_corpus([tmp_path])
    assert [d.source_file for d in corpus.documents] == ["fine.txt"]
    assert [s.reason for s in corpus.skipped] == ["cannot read: its markup is nested too deeply"]


def test_binary_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert _only_skip(load_corpus([path])) == "binary file"


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        pytest.param("gb18030", "深度求索发布了新的推理模型，训练成本只有六百万美元。这让硅谷感到震惊。", id="gb18030"),
        pytest.param("big5", "深度求索發布了新的推理模型，訓練成本只有六百萬美元。這讓矽谷感到震驚。", id="big5"),
    ],
)
def test_chinese_legacy_encodings_are_decoded(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    doc = load_document(path)
    assert doc.text == text
    assert doc.language == "zh"


def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("第一句话。第二句话！".encode("utf-16"))
    assert load_document(path).text == "第一句话。第二句话！"


def test_undecodable_garbage_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes(bytes(random.Random(7).randrange(0x80, 0x100) for _ in range(500)))
    assert _only_skip(load_corpus([path])).startswith("undecodable")


def test_unsupported_extension_named_explicitly_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "notes.epub"
    path.write_text("Some text.", encoding="utf-8")
    assert _only_skip(load_corpus([path])) == "unsupported file type '.epub'"


def test_unsupported_and_hidden_files_in_a_folder_are_ignored_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "notes.epub").write_text("Some text.", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("Hidden text.", encoding="utf-8")
    (tmp_path / "kept.md").write_text("# Kept\n\nA sentence here.", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="rag.ingest.loading"):
        corpus = load_corpus([tmp_path])
    assert [d.source_file for d in corpus.documents] == ["kept.md"]
    assert corpus.skipped == () and caplog.records == []


def test_discover_files_lists_what_load_corpus_reads(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.md", "sub/c.html", "d.epub", ".e.txt"):
        (tmp_path / name).write_text("Text.", encoding="utf-8")
    found = discover_files([tmp_path, tmp_path / "a.md", tmp_path / "d.epub", tmp_path / "missing.txt"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.md", "b.txt", "sub/c.html"]


def test_missing_path_is_skipped(tmp_path: Path) -> None:
    assert _only_skip(load_corpus([tmp_path / "nope.txt"])) == "no such file or folder"


def test_unparsable_front_matter_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: [unclosed\n---\nBody text.", encoding="utf-8")
    assert _only_skip(load_corpus([path])).startswith("unparsable front matter")


def test_duplicate_content_is_indexed_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.txt").write_text("同一篇文章。\n\n第二段。", encoding="utf-8")
    (tmp_path / "b.md").write_text("同一篇文章。\n\n\n   第二段。  \n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="rag.ingest.loading"):
        corpus = load_corpus([tmp_path])
    assert [d.source_file for d in corpus.documents] == ["a.txt"]
    assert [(Path(d.path).name, d.reason) for d in corpus.duplicates] == [("b.md", "duplicate of a.txt")]
    assert "b.md" in caplog.text
    assert corpus_summary(corpus, []) == "1 documents, 0 chunks, 1 skipped (1 duplicate)"


def test_html_inside_a_txt_file_is_cleaned_as_html(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Rates</title><script>var x = 1;</script></head><body>"
        '<nav><a href="/">Home</a> <a href="/news">News</a></nav>'
        "<h1>Rates</h1><p>Rates fell&nbsp;in March.</p><p>Banks cut lending &amp; hiring.</p>"
        "<footer>© 2024 Example</footer></body></html>"
    )
    (tmp_path / "page.txt").write_text(page, encoding="utf-8")
    doc = load_document(tmp_path / "page.txt")
    assert doc.title == "Rates"
    assert doc.text == "Rates\n\nRates fell in March.\n\nBanks cut lending & hiring."


def test_same_stem_in_two_folders_gets_distinct_stable_ids(tmp_path: Path) -> None:
    for folder, text in (("x", "第一篇。"), ("y", "第二篇。")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text(text, encoding="utf-8")
    ids = [d.doc_id for d in load_corpus([tmp_path]).documents]
    assert ids[0] == "notes" and ids[1].startswith("notes-") and len(set(ids)) == 2
    assert ids == [d.doc_id for d in load_corpus([tmp_path]).documents]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        pytest.param("DeepSeek R1模型的发布，无疑在全球AI领域投下了一枚核弹。", "zh", id="zh-with-latin-names"),
        pytest.param("The model was trained on 2,048 GPUs, said 深度求索.", "en", id="en-with-a-chinese-name"),
    ],
)
def test_language_is_detected_from_the_text(text: str, language: str) -> None:
    assert detect_language(text) == language
