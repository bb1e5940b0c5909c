"""One contract for every storage backend: what retrieval, extraction and a rebuild may rely on.

Runs on each backend that is available here: the local files, the embedded Qdrant engine
(qdrant-edge-py), qdrant-client's adapter in its local ``:memory:`` mode, and a real Qdrant server
when ``RAG_QDRANT_URL`` is set in the environment that starts pytest.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import bm25s
import numpy as np
import pytest
from embedders import CEDICT_SAMPLE, CORPUS, HashEmbedder, write_corpus

from rag.config import Settings
from rag.errors import ConfigError, IndexMissingError, StoreUnavailableError
from rag.indexing import Built, build_index
from rag.stores import open_backend
from rag.stores.base import Backend, Store
from rag.stores.qdrant import QdrantBackend
from rag.stores.qdrant_engines import ClientEngine, EdgeEngine
from rag.text.tokenize import tokenize

SERVER_URL = os.environ.get("RAG_QDRANT_URL")  # read before the autouse fixture clears RAG_*
BACKENDS = ["local", "qdrant-edge", "qdrant-memory", "qdrant-server"]


def settings_for(kind: str, tmp_path: Path, embedder: HashEmbedder) -> Settings:
    base = Settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embedding_model=embedder.name)
    if kind == "local":
        return base
    if kind == "qdrant-edge":
        return replace(base, store="qdrant")
    url = ":memory:" if kind == "qdrant-memory" else SERVER_URL
    if url is None:
        pytest.skip("no Qdrant server: set RAG_QDRANT_URL to run the contract against one")
    prefix = f"ragtest{secrets.token_hex(4)}"  # a server (or the process's memory) is shared: own collections
    return replace(base, store="qdrant", qdrant_url=url, qdrant_prefix=prefix)


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(kind: str, tmp_path: Path, embedder: HashEmbedder) -> Settings:
    return settings_for(kind, tmp_path, embedder)


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    backend = open_backend(settings)
    yield backend
    if settings.qdrant_url and isinstance(backend, QdrantBackend):
        for name in backend.engine.collections():
            if name.startswith(settings.qdrant_prefix + "_"):
                backend.engine.drop(name)


def build(settings: Settings, backend: Backend, embedder: HashEmbedder, **kwargs: object) -> Built:
    write_corpus(settings.seeds_dir) if not settings.seeds_dir.exists() else None
    return build_index(settings, embedder, backend, [settings.seeds_dir], cedict=CEDICT_SAMPLE, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(settings: Settings, backend: Backend, embedder: HashEmbedder) -> Store:
    build(settings, backend, embedder)
    return backend.open()


def all_chunks(store: Store) -> list:  # type: ignore[type-arg]
    return store.documents.chunks(range(store.documents.chunk_count))


def test_no_index_is_missing_and_says_how_to_build_one(backend: Backend) -> None:
    assert backend.manifest() is None
    with pytest.raises(IndexMissingError, match="rag index"):
        backend.open()


def test_the_manifest_describes_what_was_written(settings: Settings, backend: Backend, store: Store) -> None:
    manifest = backend.manifest()
    assert manifest == store.manifest
    assert manifest is not None and manifest.documents == len(CORPUS) == len(store.documents.documents)
    assert manifest.chunks == store.documents.chunk_count
    assert manifest.sentences == sum(len(c.sentences) for c in all_chunks(store))


def test_chunks_come_back_in_the_order_asked_and_quote_their_documents(store: Store) -> None:
    chunks = all_chunks(store)
    first = [c.index for c in chunks if c.doc_id == chunks[0].doc_id]
    assert first == list(range(len(first)))
    assert store.documents.chunks([2, 0, 2]) == [chunks[2], chunks[0], chunks[2]]
    for chunk in chunks:
        assert store.documents.chunk(chunks.index(chunk)) == chunk
        text = store.documents.documents[chunk.doc_id].text
        assert text[chunk.start : chunk.end] == chunk.text
        assert all(text[s.start : s.end] == s.text for s in chunk.sentences)


def test_sentence_rows_run_through_the_chunks_in_order(store: Store) -> None:
    row = 0
    for position, chunk in enumerate(all_chunks(store)):
        rows = store.documents.sentence_rows(position)
        assert rows == range(row, row + len(chunk.sentences))
        title = tokenize(store.documents.documents[chunk.doc_id].title)
        for index, r in enumerate(rows):
            assert store.documents.sentence_at(r) == (position, index)
            assert list(store.documents.sentence_terms(r)) == [*tokenize(chunk.sentences[index].text), *title]
        row += len(chunk.sentences)
    assert row == store.manifest.sentences


def test_stored_vectors_are_the_embedded_ones(store: Store, embedder: HashEmbedder) -> None:
    chunks = all_chunks(store)
    expected = embedder.embed([c.text for c in chunks], "passage")
    assert np.allclose(store.vectors.passage_vectors(range(len(chunks))), expected, atol=1e-6)
    sentences = [s.text for c in chunks for s in c.sentences]
    stored = store.vectors.sentence_vectors(range(len(sentences)))
    assert np.allclose(stored, embedder.embed(sentences, "passage"), atol=1e-6)


def exact(scores: np.ndarray, n: int) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable")[:n]]


def same_ranking(ranking: Sequence[tuple[int, float]], scores: np.ndarray, n: int) -> None:
    """The ranking holds the ``n`` best by ``scores``, with those scores; ties may come in any order."""
    assert len(ranking) == min(n, len(scores))
    for position, score in ranking:
        assert score == pytest.approx(float(scores[position]), abs=1e-5)
    assert sorted(s for _, s in ranking) == pytest.approx(sorted(scores[exact(scores, n)]), abs=1e-5)


@pytest.mark.parametrize("n", [1, 3, 100])
def test_passage_search_is_exact_on_a_small_index(store: Store, embedder: HashEmbedder, n: int) -> None:
    query = embedder.embed(["Where do giant pandas live?"], "query")[0]
    passages = store.vectors.passage_vectors(range(store.documents.chunk_count))
    same_ranking(store.vectors.search_passages(query, n), passages @ query, n)


@pytest.mark.parametrize("n", [1, 3, 100])
def test_passages_ranked_by_their_best_sentence(store: Store, embedder: HashEmbedder, n: int) -> None:
    query = embedder.embed(["大熊猫吃什么？"], "query")[0]
    best = np.array(
        [
            max(store.vectors.sentence_similarities(query, store.documents.sentence_rows(p)), default=-1.0)
            for p in range(store.documents.chunk_count)
        ]
    )
    same_ranking(store.vectors.search_by_sentence(query, n), best, n)


def test_sentence_similarities_follow_the_rows_asked(store: Store, embedder: HashEmbedder) -> None:
    query = embedder.embed(["green tea"], "query")[0]
    rows = [3, 0, 3]
    expected = store.vectors.sentence_vectors(rows) @ query
    assert np.allclose(store.vectors.sentence_similarities(query, rows), expected, atol=1e-6)


@pytest.mark.parametrize("terms", [["bamboo"], ["熊猫", "竹子"], ["panda", "panda", "zoo"], ["不存在的词"], []])
def test_keyword_search_ranks_as_lucene_bm25(store: Store, terms: list[str]) -> None:
    chunks = all_chunks(store)
    titles = {d.doc_id: d.title for d in store.documents.documents.values()}
    reference = bm25s.BM25()
    reference.index([tokenize(f"{titles[c.doc_id]}\n{c.text}") or ["\u2205"] for c in chunks], show_progress=False)
    known = [t for t in terms if t in reference.vocab_dict]
    scores = np.asarray(reference.get_scores(known), dtype=np.float32) if known else np.zeros(len(chunks))
    ranking = store.keywords.search(terms, 10)
    matching = int((scores > 0).sum())
    assert len(ranking) == min(10, matching)
    if ranking:
        same_ranking(ranking, scores, len(ranking))


def test_a_rewrite_swaps_in_the_new_index_and_a_store_already_open_keeps_answering(
    settings: Settings, backend: Backend, embedder: HashEmbedder, store: Store
) -> None:
    first = store.documents.chunk(0)
    (settings.seeds_dir / "tea_zh.txt").unlink()
    build(settings, backend, embedder)
    assert backend.manifest() is not None and backend.manifest().documents == len(CORPUS) - 1  # type: ignore[union-attr]
    assert backend.open().manifest.documents == len(CORPUS) - 1
    assert store.documents.chunk(0) == first  # the version it opened is still there


class Exploding(list):  # type: ignore[type-arg]
    """A list that fails once a write has read half of it: a write stopped in the middle."""

    def __iter__(self) -> Iterator[object]:
        for i, item in enumerate(super().__iter__()):
            if i == len(self) // 2:
                raise RuntimeError("disk full")
            yield item


def test_a_failed_write_leaves_the_previous_index_serving_and_nothing_behind(
    settings: Settings, backend: Backend, embedder: HashEmbedder, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.indexing

    before = backend.manifest()
    leftovers = _leftovers(backend, settings)
    real = rag.indexing.IndexContent

    def exploding(*args: object) -> object:
        content = real(*args)  # type: ignore[arg-type]
        return replace(content, keyword_tokens=Exploding(content.keyword_tokens))

    monkeypatch.setattr(rag.indexing, "IndexContent", exploding)
    (settings.seeds_dir / "tea_zh.txt").unlink()
    with pytest.raises(RuntimeError, match="disk full"):
        build(settings, backend, embedder)
    assert backend.manifest() == before
    assert backend.open().documents.documents == store.documents.documents
    assert _leftovers(backend, settings) == leftovers


def _leftovers(backend: Backend, settings: Settings) -> list[str]:
    if isinstance(backend, QdrantBackend):
        return backend.engine.collections()
    return sorted(p.name for p in settings.index_dir.iterdir())


def test_a_rebuild_embeds_only_the_changed_document(
    settings: Settings, backend: Backend, embedder: HashEmbedder, store: Store
) -> None:
    (settings.seeds_dir / "tea_zh.txt").write_text("乌龙茶是半发酵茶。\n\n铁观音产于福建安溪。\n", "utf-8")
    (settings.seeds_dir / "coffee.md").write_text("# Coffee\n\nEspresso is brewed under pressure.\n", "utf-8")
    (settings.seeds_dir / "zoo.html").unlink()
    embedder.calls.clear()
    built = build(settings, backend, embedder)
    reopened = backend.open()
    fresh = [c for c in all_chunks(reopened) if c.doc_id.startswith(("tea", "coffee"))]
    assert (built.changes.added, built.changes.changed, built.changes.removed) == (1, 1, 1)
    assert built.changes.unchanged == len(CORPUS) - 2
    assert built.changes.embedded_passages == len(fresh)
    assert sum(n for n, _ in embedder.calls) == len(fresh) + sum(len(c.sentences) for c in fresh)
    expected = embedder.embed([c.text for c in all_chunks(reopened)], "passage")
    assert np.allclose(reopened.vectors.passage_vectors(range(reopened.documents.chunk_count)), expected, atol=1e-6)


def test_without_reuse_every_text_is_embedded_again(
    settings: Settings, backend: Backend, embedder: HashEmbedder, store: Store
) -> None:
    embedder.calls.clear()
    built = build(settings, backend, embedder, reuse=False)
    assert built.changes.embedded_passages == store.documents.chunk_count
    assert built.changes.reused_vectors == 0


def test_an_index_moves_to_another_backend_without_embedding(
    tmp_path: Path, embedder: HashEmbedder, settings: Settings, backend: Backend, kind: str
) -> None:
    local = settings_for("local", tmp_path / "from", embedder)
    write_corpus(local.seeds_dir)
    build_index(local, embedder, open_backend(local), [local.seeds_dir], cedict=CEDICT_SAMPLE)
    source = open_backend(local).open()
    embedder.calls.clear()
    built = build_index(settings, embedder, backend, [local.seeds_dir], cedict=CEDICT_SAMPLE, reuse_from=source)
    assert embedder.calls == []
    assert built.changes.reused_vectors == source.manifest.chunks + source.manifest.sentences
    moved = backend.open()
    assert all_chunks(moved) == all_chunks(source)


# The Qdrant engines only.


def test_a_missing_qdrant_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)
    with pytest.raises(ConfigError, match=r"pip install 'rag\[qdrant\]'"):
        EdgeEngine(tmp_path)
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(ConfigError, match=r"pip install 'rag\[qdrant\]'"):
        ClientEngine(":memory:")


KILLED_WRITE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{tests!r}, {root!r}]
    from embedders import CEDICT_SAMPLE, HashEmbedder
    from rag.config import Settings
    from rag.indexing import build_index
    from rag.stores import open_backend
    from rag.stores.qdrant_engines import EdgeEngine

    upsert = EdgeEngine.upsert
    def slow(self, name, points):
        upsert(self, name, points)
        if name.endswith("_sentences"):
            print("half written", flush=True)
            time.sleep(60)
    EdgeEngine.upsert = slow
    settings = Settings(
        seeds_dir=Path({seeds!r}), index_dir=Path({index!r}), embedding_model="test/hash-bigrams", store="qdrant"
    )
    backend = open_backend(settings)
    build_index(settings, HashEmbedder(), backend, [settings.seeds_dir], cedict=CEDICT_SAMPLE, reuse=False)
    """
)


def test_killing_a_rebuild_leaves_the_previous_alias_serving(tmp_path: Path, embedder: HashEmbedder) -> None:
    settings = settings_for("qdrant-edge", tmp_path, embedder)
    backend = open_backend(settings)
    build(settings, backend, embedder)
    before = backend.manifest()
    (settings.seeds_dir / "tea_zh.txt").unlink()
    script = KILLED_WRITE.format(
        tests=str(Path(__file__).parent),
        root=str(Path(__file__).parent.parent),
        seeds=str(settings.seeds_dir),
        index=str(settings.index_dir),
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "half written"
        assert len(open_backend(settings).engine.collections()) == 8  # type: ignore[attr-defined]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    reopened = open_backend(settings)
    assert reopened.manifest() == before
    assert reopened.open().manifest.documents == len(CORPUS)
    build(settings, reopened, embedder)  # the next write clears what the killed one left
    assert len(reopened.engine.collections()) == 8  # type: ignore[attr-defined]  # the new and the replaced


def test_an_unreachable_server_is_reported_not_raised_as_a_traceback(tmp_path: Path, embedder: HashEmbedder) -> None:
    settings = replace(settings_for("local", tmp_path, embedder), store="qdrant", qdrant_url="http://127.0.0.1:9")
    backend = open_backend(settings)
    with pytest.raises(StoreUnavailableError, match=r"Qdrant at http://127\.0\.0\.1:9 failed"):
        backend.manifest()
    with pytest.raises(StoreUnavailableError):
        backend.open()
