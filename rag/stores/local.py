"""The zero-setup backend: FAISS for vectors, BM25 scores written by bm25s for keywords, JSON for the rest.

Layout under ``RAG_INDEX_DIR``::

    current -> build-<timestamp>-<pid>   (a symlink, swapped atomically with os.replace)
    build-.../manifest.json              model, corpus fingerprint, chunking settings, counts, versions
    build-.../documents.json, chunks.json, chunks.faiss, sentences.npy, sentence_terms.json,
                                         lexicon.json, bm25/

A write fills a new ``build-*`` directory and only then repoints ``current``, so a failed or
interrupted build leaves the previous index serving.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.errors import ConfigError, IndexMissingError, IndexStaleError
from rag.stores.base import REBUILD_HINT, IndexContent, Manifest, Ranking, Store, chunk_from_dict
from rag.types import Chunk, Document

CURRENT = "current"
HNSW_NEIGHBOURS = 32
# HNSW's graph only pays for itself on large corpora; below this, exact search is both faster and exact.
HNSW_MIN_VECTORS = 10_000
# A build directory this old that is not in service was left by an interrupted build.
ABANDONED_SECONDS = 3600
BM25_METHOD = "lucene"  # bm25s's default; LocalKeywords sums its scores, which need no term-absence correction


class LocalBackend:
    def __init__(self, index_dir: Path, index_type: str = "flat") -> None:
        self.index_dir = index_dir
        self.index_type = index_type

    def manifest(self) -> Manifest | None:
        path = self.index_dir / CURRENT / "manifest.json"
        if not path.is_file():
            return None
        try:
            return Manifest(**json.loads(path.read_text("utf-8")))
        except (ValueError, TypeError):
            return None  # an unreadable manifest is as good as none: rebuild

    def write(self, content: IndexContent) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        # A fresh, unique directory: the cleanup below must only ever remove what this build created.
        build = Path(tempfile.mkdtemp(prefix=f"build-{time.strftime('%Y%m%dT%H%M%S')}-", dir=self.index_dir))
        try:
            build.chmod(0o755)  # mkdtemp makes it private; a server may run as another user
            _write_faiss(_faiss_index(content.chunk_vectors, self.index_type), build / "chunks.faiss")
            _write_bm25(content.keyword_tokens, build / "bm25")
            np.save(build / "sentences.npy", content.sentence_vectors)
            _write_json(build / "sentence_terms.json", content.sentence_terms)
            _write_json(build / "lexicon.json", content.lexicon.to_json())
            _write_json(build / "documents.json", [asdict(d) for d in content.documents])
            _write_json(build / "chunks.json", [asdict(c) for c in content.chunks])
            _write_json(build / "manifest.json", asdict(content.manifest))
            _swap_current(self.index_dir, build)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise

    def open(self) -> Store:
        # Imported here, not with the module: the lexicon's module brings the query-time text tools (pypinyin,
        # wordfreq: most of a second), which reading the manifest, as `rag index` does first, does not need.
        from rag.text.lexicon import Lexicon

        root = self.index_dir / CURRENT
        manifest = self.manifest()
        if manifest is None:
            raise IndexMissingError(f"no index in {self.index_dir}: {REBUILD_HINT}")
        try:
            documents = [Document(**d) for d in _read_json(root / "documents.json")]
            chunks = [chunk_from_dict(c) for c in _read_json(root / "chunks.json")]
            passages = faiss.read_index(str(root / "chunks.faiss"))
            keywords = LocalKeywords.load(root / "bm25", len(chunks))
            sentence_vectors = np.load(root / "sentences.npy")
            terms = _read_json(root / "sentence_terms.json")
            lexicon = Lexicon.from_json(_read_json(root / "lexicon.json"))
        except (OSError, EOFError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise IndexStaleError(f"index in {self.index_dir} is unreadable ({exc}): {REBUILD_HINT}") from exc
        corpus = LocalDocuments(documents, chunks, terms)
        if corpus.sentence_count != len(sentence_vectors) or passages.ntotal != len(chunks):
            raise IndexStaleError(f"index in {self.index_dir} is inconsistent: {REBUILD_HINT}")
        vectors = LocalVectors(passages, sentence_vectors, corpus.sentence_chunks)
        return Store(manifest, corpus, vectors, keywords, lexicon)


class LocalDocuments:
    def __init__(self, documents: Sequence[Document], chunks: Sequence[Chunk], terms: Sequence[Sequence[str]]) -> None:
        self._documents = {d.doc_id: d for d in documents}
        self._chunks = list(chunks)
        self._terms = terms
        self._rows: list[tuple[int, int]] = []  # sentence row -> (chunk position, sentence position)
        self._spans: list[range] = []  # chunk position -> its sentence rows
        for ci, chunk in enumerate(self._chunks):
            first = len(self._rows)
            self._rows.extend((ci, si) for si in range(len(chunk.sentences)))
            self._spans.append(range(first, len(self._rows)))

    @property
    def documents(self) -> Mapping[str, Document]:
        return self._documents

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    @property
    def sentence_count(self) -> int:
        return len(self._rows)

    @property
    def sentence_chunks(self) -> np.ndarray:
        return np.array([ci for ci, _ in self._rows], dtype=np.int64)

    def chunk(self, position: int) -> Chunk:
        return self._chunks[position]

    def chunks(self, positions: Sequence[int]) -> list[Chunk]:
        return [self._chunks[p] for p in positions]

    def sentence_rows(self, position: int) -> range:
        return self._spans[position]

    def sentence_at(self, row: int) -> tuple[int, int]:
        return self._rows[row]

    def sentence_terms(self, row: int) -> Sequence[str]:
        return self._terms[row]


class LocalVectors:
    """Passages in FAISS; sentences as one in-memory matrix, whose full product ranks passages by
    their best sentence exactly (a sentence search grouped by chunk, done in one step)."""

    def __init__(self, passages: Any, sentences: np.ndarray, sentence_chunks: np.ndarray) -> None:
        self._passages = passages
        self._sentences = sentences
        self._sentence_chunks = sentence_chunks
        self._chunk_count = int(passages.ntotal)

    def search_passages(self, vector: np.ndarray, n: int) -> Ranking:
        n = min(n, self._chunk_count)
        if n == 0:
            return []
        scores, ids = self._passages.search(vector.reshape(1, -1).astype(np.float32), n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def search_by_sentence(self, vector: np.ndarray, n: int) -> Ranking:
        best = np.full(self._chunk_count, -1.0, dtype=np.float32)
        np.maximum.at(best, self._sentence_chunks, self._sentences @ vector)
        order = np.argsort(-best, kind="stable")[:n]
        return [(int(i), float(best[i])) for i in order]

    def sentence_similarities(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        return np.asarray(self.sentence_vectors(rows) @ vector)

    def passage_vectors(self, positions: Sequence[int]) -> np.ndarray:
        vectors = [self._passages.reconstruct(int(p)) for p in positions]
        return np.asarray(vectors, dtype=np.float32).reshape(len(positions), self._passages.d)

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray:
        return np.asarray(self._sentences[np.asarray(rows, dtype=np.int64)])


class LocalKeywords:
    """BM25 (Lucene's variant) over the terms the build tokenised: the score matrix bm25s computed and saved
    (one column of per-passage scores for each term, compressed by column), summed here as bm25s sums it, so
    that serving imports neither bm25s nor the SciPy it imports when installed."""

    def __init__(
        self, vocabulary: Mapping[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, size: int
    ) -> None:
        self._vocabulary = vocabulary
        self._data = data
        self._indices = indices
        self._indptr = indptr
        self._size = size

    @classmethod
    def load(cls, directory: Path, size: int) -> LocalKeywords:
        params = _read_json(directory / "params.index.json")
        if params.get("method") != BM25_METHOD or params.get("num_docs") != size:
            found = f"{params.get('method')!r} over {params.get('num_docs')} passages"
            raise ValueError(f"bm25/ holds a BM25 index of {found}, expected {BM25_METHOD!r} over {size}")
        data, indices, indptr = (np.load(directory / f"{name}.csc.index.npy") for name in ("data", "indices", "indptr"))
        return cls(_read_json(directory / "vocab.index.json"), data, indices, indptr, size)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Each passage's score: the sum of its column entries over the known terms, a repeated term twice."""
        scores = np.zeros(self._size, dtype=np.float32)
        for term in terms:
            column = self._vocabulary.get(term)
            if column is not None:
                start, end = self._indptr[column], self._indptr[column + 1]
                np.add.at(scores, self._indices[start:end], self._data[start:end])
        return scores

    def search(self, terms: Sequence[str], n: int) -> Ranking:
        scores = self.scores(terms)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


def _faiss_index(vectors: np.ndarray, kind: str) -> Any:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    index: Any
    if kind == "flat" or (kind == "hnsw" and len(vectors) < HNSW_MIN_VECTORS):
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        raise ConfigError(f"Config 'RAG_INDEX_TYPE' has value '{kind}'. Expected 'flat' or 'hnsw'.")
    index.add(vectors)
    return index


def _write_faiss(index: Any, path: Path) -> None:
    faiss.write_index(index, str(path))


def _write_bm25(token_lists: Sequence[Sequence[str]], directory: Path) -> None:
    import bm25s  # here, not with the module: only a build needs it, and it imports SciPy when installed

    # NumPy builds the score matrix, as it does where SciPy is not installed (the Docker image): the same arrays.
    bm25 = bm25s.BM25(method=BM25_METHOD, csc_backend="numpy")
    bm25.index([list(t) or ["\u2205"] for t in token_lists], show_progress=False)  # bm25s needs a token per passage
    bm25.save(str(directory), show_progress=False)


def _write_json(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _swap_current(index_dir: Path, build: Path) -> None:
    link = index_dir / CURRENT
    previous = link.resolve() if link.is_symlink() else None
    tmp_link = index_dir / f".current-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(build.name)
    tmp_link.replace(link)  # atomic: readers see the old build or the new one, never a mix
    if previous is not None and previous != build.resolve():
        shutil.rmtree(previous, ignore_errors=True)
    for stale in index_dir.glob("build-*"):
        if stale.resolve() != build.resolve() and stale.is_dir() and _older_than(stale, ABANDONED_SECONDS):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build


def _older_than(path: Path, seconds: float) -> bool:
    return time.time() - path.stat().st_mtime > seconds
