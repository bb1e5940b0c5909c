"""Indexing into the local store: built atomically, and loaded intact (rag.indexing and rag.stores.local);
the index is known to be stale when what it covers changes (tests/test_freshness.py)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np
import pytest
from embedders import (
    CORPUS,
    DIMENSION,
    FailingEmbedder,
    HashEmbedder,
    build_local,
    open_local,
    write_corpus,
)

from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import BadDocumentError, IndexMissingError, IndexStaleError
from rag.freshness import staleness
from rag.ingest import chunking
from rag.ingest.binary import Limits
from rag.ingest.chunking import chunk_corpus
from rag.ingest.known import known_path
from rag.ingest.loading import load_corpus
from rag.stores import local
from rag.stores.base import FORMAT_VERSION, IndexContent, Manifest, Store
from rag.stores.local import LocalBackend
from rag.text import analyses
from rag.text.analyses import analyses_path
from rag.text.tokenize import tokenize
from rag.types import Chunk

CHUNK_SIZE = 100


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_corpus(tmp_path / "seeds")
    return Settings(
        seeds_dir=tmp_path / "seeds",
        index_dir=tmp_path / "index",
        embedding_model=HashEmbedder().name,
        chunk_size=CHUNK_SIZE,
    )


def build(settings: Settings, embedder: Embedder | None = None) -> None:
    build_local(settings, embedder)


def read_manifest(index_dir: Path) -> Manifest | None:
    return LocalBackend(index_dir).manifest()


def chunks_of(store: Store) -> list[Chunk]:
    return [store.documents.chunk(i) for i in range(store.documents.chunk_count)]


def current_build(index_dir: Path) -> str:
    return (index_dir / "current").readlink().name


def builds(index_dir: Path) -> list[str]:
    """What the index folder holds besides the link to the current build and what the next build reuses."""
    reused = {analyses_path(index_dir).name, known_path(index_dir, Limits()).name}
    return sorted(p.name for p in index_dir.iterdir() if p.name != "current" and p.name not in reused)


# --- building ----------------------------------------------------------------------------------


def test_a_build_is_linked_as_current_and_described_by_its_manifest(settings: Settings) -> None:
    built = build_local(settings)
    manifest, notes = built.manifest, built.notes
    current = settings.index_dir / "current"
    assert current.is_symlink() and current_build(settings.index_dir).startswith("build-")
    assert builds(settings.index_dir) == [current_build(settings.index_dir)]
    raw = json.loads((current / "manifest.json").read_text("utf-8"))
    chunks = json.loads((current / "chunks.json").read_text("utf-8"))
    assert raw["format_version"] == FORMAT_VERSION
    assert (raw["model"], raw["dimension"]) == (settings.embedding_model, DIMENSION)
    assert (raw["documents"], raw["chunks"], raw["skipped"]) == (len(CORPUS), len(chunks), 0)
    assert raw["sentences"] == sum(len(c["sentences"]) for c in chunks)
    assert raw["chunking"] == {"chunk_size": CHUNK_SIZE, "chunk_overlap": 0, "version": chunking.VERSION}
    assert raw["sources"] == [str(settings.seeds_dir.resolve())]
    assert len(raw["corpus_hash"]) == 16
    assert raw["versions"]["rag"] == importlib.metadata.version("rag")
    assert raw == dataclasses.asdict(manifest) and notes == []


def test_skipped_and_duplicate_files_are_counted_and_noted(settings: Settings) -> None:
    (settings.seeds_dir / "empty.txt").write_text("", "utf-8")
    (settings.seeds_dir / "copy.md").write_text(CORPUS["panda_en.md"], "utf-8")
    built = build_local(settings)
    manifest, notes = built.manifest, built.notes
    assert (manifest.documents, manifest.skipped) == (len(CORPUS), 1)
    assert any(n.startswith("skipped ") and "empty.txt: empty file" in n for n in notes)
    assert any(n.startswith("duplicate ") and "copy.md" in n for n in notes)


def test_load_returns_what_was_built(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    corpus = load_corpus([settings.seeds_dir])
    assert store.documents.documents == {d.doc_id: d for d in corpus.documents}
    assert chunks_of(store) == chunk_corpus(corpus.documents, CHUNK_SIZE, 0)
    assert store.manifest == read_manifest(settings.index_dir)
    sentences = [s.text for c in chunks_of(store) for s in c.sentences]
    rows = list(range(len(sentences)))
    query = HashEmbedder().embed(["bamboo"], "query")[0]
    expected = HashEmbedder().embed(sentences, "passage") @ query
    np.testing.assert_allclose(store.vectors.sentence_similarities(query, rows), expected, rtol=1e-6)
    assert store.manifest.sentences == len(sentences)
    assert all(store.documents.sentence_terms(row) for row in rows)
    lexicon = store.lexicon
    assert lexicon.dictionary.table["panda"] == [["熊猫"]]  # only the headwords this corpus uses
    assert "大熊猫" in lexicon.dictionary.sounds["daxiongmao"]  # the corpus's words, read in pinyin
    assert lexicon.idf and lexicon.vocabulary == frozenset(lexicon.idf)


def test_sentence_terms_carry_the_document_title(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    for row in range(store.manifest.sentences):
        ci, si = store.documents.sentence_at(row)
        chunk = store.documents.chunk(ci)
        title = store.documents.documents[chunk.doc_id].title
        terms = list(store.documents.sentence_terms(row))
        assert terms == [*tokenize(chunk.sentences[si].text), *tokenize(title)]


def test_loaded_offsets_quote_the_documents(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    for chunk in chunks_of(store):
        text = store.documents.documents[chunk.doc_id].text
        assert text[chunk.start : chunk.end] == chunk.text
        assert all(text[s.start : s.end] == s.text for s in chunk.sentences)


def test_the_loaded_vector_index_finds_each_chunk_first(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    chunks = chunks_of(store)
    vectors = HashEmbedder().embed([c.text for c in chunks], "passage")
    assert store.manifest.dimension == DIMENSION
    assert [store.vectors.search_passages(v, 1)[0][0] for v in vectors] == list(range(len(chunks)))


def test_passages_ranked_by_their_best_sentence(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    query = HashEmbedder().embed(["Which pandas eat bamboo?"], "query")[0]
    ranking = store.vectors.search_by_sentence(query, 100)
    assert sorted(i for i, _ in ranking) == list(range(store.documents.chunk_count))  # every chunk, once
    for position, score in ranking:
        rows = list(store.documents.sentence_rows(position))
        assert score == pytest.approx(float(store.vectors.sentence_similarities(query, rows).max()), abs=1e-6)
    assert [s for _, s in ranking] == sorted((s for _, s in ranking), reverse=True)


def test_keyword_search_ranks_the_passage_with_the_rare_word_first(settings: Settings) -> None:
    build(settings)
    store = open_local(settings)
    ranking = store.keywords.search(tokenize("龙井茶"), 10)
    assert ranking and all(score > 0 for _, score in ranking)
    assert store.documents.chunk(ranking[0][0]).doc_id == "tea_zh"
    assert store.keywords.search(tokenize("zebra"), 10) == []  # a word no passage has scores nothing


@pytest.mark.parametrize("terms", [["熊猫", "竹子"], ["panda", "panda", "zoo"], ["龙井茶", "zebra"], ["zebra"], []])
def test_keyword_scores_are_those_bm25s_gives_for_the_saved_index(settings: Settings, terms: list[str]) -> None:
    build(settings)
    keywords = open_local(settings).keywords
    assert isinstance(keywords, local.LocalKeywords)
    reference = bm25s.BM25.load(str(settings.index_dir / "current" / "bm25"))
    known = [t for t in terms if t in reference.vocab_dict]
    expected = reference.get_scores(known) if known else np.zeros(keywords.scores([]).shape, dtype=np.float32)
    np.testing.assert_array_equal(keywords.scores(terms), expected)  # to the bit: summed in the same order


def test_a_rebuild_replaces_the_previous_build(settings: Settings) -> None:
    build(settings)
    first = current_build(settings.index_dir)
    (settings.seeds_dir / "extra.txt").write_text("Red pandas are not bears. They eat bamboo too.", "utf-8")
    build(settings)
    second = current_build(settings.index_dir)
    assert second != first and builds(settings.index_dir) == [second]
    assert "extra" in open_local(settings).documents.documents


def test_a_rebuild_reads_only_new_text_and_indexes_what_a_fresh_build_does(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(settings)
    (settings.seeds_dir / "extra.txt").write_text("Red pandas are not bears. 小熊猫也吃竹子。", "utf-8")
    written: list[IndexContent] = []
    write = LocalBackend.write
    monkeypatch.setattr(LocalBackend, "write", lambda self, content: written.append(content) or write(self, content))
    read: list[str] = []
    monkeypatch.setattr(analyses, "tokenize", lambda text: read.append(text) or tokenize(text))
    build(settings)  # reads the first build's analyses
    assert read and all("extra" in text or "熊猫" in text or "pandas" in text for text in read)
    fresh = dataclasses.replace(settings, index_dir=tmp_path / "fresh")
    build(fresh)  # reads every text
    reused, anew = written
    assert reused.documents == anew.documents
    assert [list(t) for t in reused.keyword_tokens] == [list(t) for t in anew.keyword_tokens]
    assert [list(t) for t in reused.sentence_terms] == [list(t) for t in anew.sentence_terms]
    assert reused.lexicon.to_json() == anew.lexicon.to_json()


# --- failures leave the previous index serving -------------------------------------------------


def _failing_embedder(monkeypatch: pytest.MonkeyPatch) -> Embedder:
    return FailingEmbedder(succeed=1)  # passages embedded, then the sentences fail


def _failing_vector_index(monkeypatch: pytest.MonkeyPatch) -> Embedder:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local, "_write_faiss", fail)
    return HashEmbedder()


def _failing_keyword_index(monkeypatch: pytest.MonkeyPatch) -> Embedder:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bm25 failed")

    monkeypatch.setattr(local, "_write_bm25", fail)  # after chunks.faiss is written
    return HashEmbedder()


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param(_failing_embedder, RuntimeError, id="embedder"),
        pytest.param(_failing_vector_index, OSError, id="vector-index"),
        pytest.param(_failing_keyword_index, RuntimeError, id="keyword-index"),
    ],
)
def test_a_failed_build_leaves_the_previous_index_serving(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[pytest.MonkeyPatch], Embedder],
    error: type[Exception],
) -> None:
    build(settings)
    before = open_local(settings)
    link = current_build(settings.index_dir)
    (settings.seeds_dir / "extra.md").write_text("# Red pandas\n\nRed pandas are not bears.", "utf-8")
    embedder = failure(monkeypatch)
    with pytest.raises(error):
        build(settings, embedder)
    assert current_build(settings.index_dir) == link
    assert builds(settings.index_dir) == [link]  # nothing half-built left behind
    after = open_local(settings)
    assert after.documents.documents == before.documents.documents and chunks_of(after) == chunks_of(before)
    assert staleness(after.manifest, settings, [settings.seeds_dir]) == "documents changed since the index was built"


def _empty_folder(folder: Path) -> str:
    folder.mkdir()
    return "no .txt, .md, .html, .pdf or .docx files"


def _only_unsupported_files(folder: Path) -> str:
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n1,2\n", "utf-8")
    return "no .txt, .md, .html, .pdf or .docx files"


def _only_empty_documents(folder: Path) -> str:
    folder.mkdir()
    (folder / "blank.txt").write_text("  \n", "utf-8")
    return "blank.txt: empty file"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_empty_folder, id="empty-folder"),
        pytest.param(_only_unsupported_files, id="unsupported-files"),
        pytest.param(_only_empty_documents, id="empty-documents"),
    ],
)
def test_nothing_to_index_is_refused_and_leaves_the_previous_index(
    settings: Settings, tmp_path: Path, make: Callable[[Path], str]
) -> None:
    build(settings)
    link = current_build(settings.index_dir)
    empty = tmp_path / "empty"
    reason = make(empty)
    with pytest.raises(BadDocumentError) as err:
        build_local(settings, sources=[empty])
    assert "nothing to index" in str(err.value) and reason in str(err.value)
    assert current_build(settings.index_dir) == link and builds(settings.index_dir) == [link]
    assert len(open_local(settings).documents.documents) == len(CORPUS)


# --- loading a missing or damaged index --------------------------------------------------------


def test_loading_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError) as err:
        LocalBackend(tmp_path / "nowhere").open()
    assert "rag index" in str(err.value)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _drop_last_chunk(path: Path) -> None:
    path.write_text(json.dumps(json.loads(path.read_text("utf-8"))[:-1], ensure_ascii=False), "utf-8")


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        pytest.param("chunks.json", _truncate, id="chunks-truncated"),
        pytest.param("chunks.json", _drop_last_chunk, id="chunks-inconsistent"),
        pytest.param("documents.json", _truncate, id="documents-truncated"),
        pytest.param("chunks.faiss", _truncate, id="faiss-truncated"),
        pytest.param("sentences.npy", _truncate, id="sentence-vectors-truncated"),
        pytest.param("sentence_terms.json", _truncate, id="sentence-terms-truncated"),
        pytest.param("lexicon.json", Path.unlink, id="lexicon-missing"),
        pytest.param("bm25/vocab.index.json", _truncate, id="bm25-vocabulary-truncated"),
        pytest.param("bm25/params.index.json", Path.unlink, id="bm25-params-missing"),
    ],
)
def test_a_damaged_index_is_reported_as_stale(settings: Settings, name: str, damage: Callable[[Path], None]) -> None:
    build(settings)
    damage(settings.index_dir / "current" / name)
    with pytest.raises(IndexStaleError) as err:
        open_local(settings)
    assert "rag index" in str(err.value)


def test_two_builds_in_the_same_second_keep_the_index(settings: Settings) -> None:
    build(settings)
    build(settings)
    build(settings)
    assert len(builds(settings.index_dir)) == 1
    assert open_local(settings).documents.documents


def test_an_empty_array_file_is_reported_stale(settings: Settings) -> None:
    build(settings)
    (settings.index_dir / "current" / "sentences.npy").write_bytes(b"")
    with pytest.raises(IndexStaleError, match="rag index"):
        open_local(settings)
