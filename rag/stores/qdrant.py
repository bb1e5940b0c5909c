"""The scale-out backend: the index in Qdrant, embedded in this process or on a server or cluster.

Four collections per index version, each reached through an alias::

    {prefix}_chunks     -> {prefix}_{version}_chunks     dense "dense" + sparse "keywords" (BM25 term
                                                         weights; the engine applies IDF), payload: the chunk
    {prefix}_sentences  -> {prefix}_{version}_sentences  dense "dense", payload: chunk, position, terms
    {prefix}_documents  -> {prefix}_{version}_documents  payload: the document, metadata and clean text
    {prefix}_meta       -> {prefix}_{version}_meta       payload: the manifest (point 0), the lexicon (point 1)

Point ids are the positions the build numbered, as in the local store. A write fills new collections
and then switches all four aliases in one step, so a search sees the old index or the new one. An
opened store resolves the aliases once and reads that version until it is reopened; a write keeps the
version it replaced, so replicas still on it go on answering, and drops any older or abandoned one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from rag.errors import IndexMissingError, IndexStaleError
from rag.stores.base import REBUILD_HINT, IndexContent, Manifest, Ranking, Store, chunk_from_dict
from rag.stores.qdrant_engines import Collection, Engine, Point, Sparse
from rag.types import Chunk, Document

KINDS = ("chunks", "sentences", "documents", "meta")
MANIFEST_ID, LEXICON_ID = 0, 1
# BM25 as bm25s computes it (Lucene's variant), so both backends rank keywords alike.
BM25_K1, BM25_B = 1.5, 0.75
EMPTY_TOKEN = "\u2205"  # what a passage without terms is indexed as, as the local store does
CHUNK_CACHE = 4096
READ_BATCH = 512
WRITE_BATCH = 1024  # chunks (with their sentences) turned into points at a time


def term_index(term: str) -> int:
    """A term's sparse-vector dimension: a stable 32-bit hash, so no vocabulary has to be stored."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def bm25_vectors(token_lists: Sequence[Sequence[str]]) -> list[Sparse]:
    """Per passage, each term's BM25 weight without IDF: tf / (tf + k1 * (1 - b + b * length / average))."""
    lists = [list(tokens) or [EMPTY_TOKEN] for tokens in token_lists]
    average = sum(map(len, lists)) / max(len(lists), 1)
    vectors = []
    for tokens in lists:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tokens) / average)
        weights: dict[int, float] = {}
        for term, tf in Counter(tokens).items():
            index = term_index(term)
            weights[index] = weights.get(index, 0.0) + tf / (tf + norm)
        vectors.append(Sparse(list(weights), list(weights.values())))
    return vectors


def query_vector(terms: Sequence[str]) -> Sparse:
    counts = Counter(term_index(t) for t in terms)  # a repeated term counts twice, as in bm25s
    return Sparse(list(counts), [float(c) for c in counts.values()])


class QdrantBackend:
    def __init__(self, engine: Engine, prefix: str = "rag") -> None:
        self.engine = engine
        self.prefix = prefix

    def _aliases(self) -> dict[str, str]:
        return {kind: f"{self.prefix}_{kind}" for kind in KINDS}

    def _serving(self) -> dict[str, str] | None:
        """The collections the aliases point at now, or None when there is no complete index."""
        aliases = self.engine.aliases()
        names = {kind: aliases.get(alias) for kind, alias in self._aliases().items()}
        return {k: v for k, v in names.items() if v} if all(names.values()) else None

    def manifest(self) -> Manifest | None:
        serving = self._serving()
        return None if serving is None else self._manifest(serving)

    def _manifest(self, names: Mapping[str, str]) -> Manifest | None:
        try:
            records = self.engine.retrieve(names["meta"], [MANIFEST_ID])
            return Manifest(**records[0].payload["manifest"]) if records else None
        except (KeyError, TypeError, ValueError):
            return None  # an unreadable manifest is as good as none: rebuild

    def write(self, content: IndexContent) -> None:
        version = f"v{time.strftime('%Y%m%dt%H%M%S')}{secrets.token_hex(3)}"
        names = {kind: f"{self.prefix}_{version}_{kind}" for kind in KINDS}
        try:
            self._fill(names, content)
            replaced = self._serving()
            self.engine.switch_aliases({self._aliases()[k]: names[k] for k in KINDS})
        except BaseException:
            for name in names.values():
                self._drop_quietly(name)
            raise
        keep = set(names.values()) | set((replaced or {}).values())
        for name in self.engine.collections():
            if name.startswith(f"{self.prefix}_v") and name not in keep:
                self._drop_quietly(name)  # older versions and ones an interrupted build left

    def _drop_quietly(self, name: str) -> None:
        try:
            self.engine.drop(name)
        except Exception:  # cleanup is best effort: the next write tries again
            return

    def _fill(self, names: Mapping[str, str], content: IndexContent) -> None:
        dimension = int(content.chunk_vectors.shape[1])
        self.engine.create(names["chunks"], Collection({"dense": dimension}, ["keywords"]))
        self.engine.create(names["sentences"], Collection({"dense": dimension}))
        self.engine.create(names["documents"], Collection())
        self.engine.create(names["meta"], Collection())
        keywords = bm25_vectors(content.keyword_tokens)
        row = 0
        for start in range(0, len(content.chunks), WRITE_BATCH):  # in slices: memory stays flat at any size
            chunk_points, sentence_points = [], []
            for position in range(start, min(len(content.chunks), start + WRITE_BATCH)):
                chunk = content.chunks[position]
                payload = {"chunk": asdict(chunk), "first_row": row}
                vectors = {"dense": content.chunk_vectors[position].tolist(), "keywords": keywords[position]}
                chunk_points.append(Point(position, vectors, payload))
                for index in range(len(chunk.sentences)):
                    payload = {"chunk": position, "index": index, "terms": list(content.sentence_terms[row])}
                    sentence_points.append(Point(row, {"dense": content.sentence_vectors[row].tolist()}, payload))
                    row += 1
            self.engine.upsert(names["chunks"], chunk_points)
            self.engine.upsert(names["sentences"], sentence_points)
        documents = [Point(i, {}, {"document": asdict(d)}) for i, d in enumerate(content.documents)]
        self.engine.upsert(names["documents"], documents)
        meta = [
            Point(MANIFEST_ID, {}, {"manifest": asdict(content.manifest)}),
            Point(LEXICON_ID, {}, {"lexicon": content.lexicon.to_json()}),
        ]
        self.engine.upsert(names["meta"], meta)  # last: a version without its manifest is never served
        for name in names.values():
            self.engine.seal(name)

    def open(self) -> Store:
        names = self._serving()
        manifest = None if names is None else self._manifest(names)
        if names is None or manifest is None:
            raise IndexMissingError(f"no index in Qdrant under the prefix {self.prefix!r}: {REBUILD_HINT}")
        from rag.text.lexicon import Lexicon  # here, not with the module: see LocalBackend.open

        try:
            lexicon = Lexicon.from_json(self.engine.retrieve(names["meta"], [LEXICON_ID])[0].payload["lexicon"])
            documents = [Document(**r.payload["document"]) for r in _read_all(self.engine, names, manifest.documents)]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise IndexStaleError(f"index in Qdrant is unreadable ({exc}): {REBUILD_HINT}") from exc
        corpus = QdrantDocuments(self.engine, names, documents, manifest)
        vectors = QdrantVectors(self.engine, names)
        keywords = QdrantKeywords(self.engine, names["chunks"])
        return Store(manifest, corpus, vectors, keywords, lexicon, check=self.engine.ping)


def _read_all(engine: Engine, names: Mapping[str, str], count: int) -> list[Any]:
    records = []
    for start in range(0, count, READ_BATCH):
        records += sorted(engine.retrieve(names["documents"], range(start, min(count, start + READ_BATCH))), key=_id)
    if len(records) != count:
        raise ValueError(f"{len(records)} documents stored, the manifest says {count}")
    return records


def _id(record: Any) -> int:
    return int(record.id)


class QdrantDocuments:
    """Documents in memory; chunks and sentence rows read from the engine when a question needs them."""

    def __init__(
        self, engine: Engine, names: Mapping[str, str], documents: Sequence[Document], manifest: Manifest
    ) -> None:
        self._engine = engine
        self._names = names
        self._documents = {d.doc_id: d for d in documents}
        self._chunk_count = manifest.chunks
        self._chunks: OrderedDict[int, tuple[Chunk, int, list[list[str]]]] = OrderedDict()
        self._rows: dict[int, tuple[int, int]] = {}

    @property
    def documents(self) -> Mapping[str, Document]:
        return self._documents

    @property
    def chunk_count(self) -> int:
        return self._chunk_count

    def chunks(self, positions: Sequence[int]) -> list[Chunk]:
        missing = [p for p in dict.fromkeys(positions) if p not in self._chunks]
        if missing:
            self._load(missing)
        return [self._cached(p)[0] for p in positions]

    def chunk(self, position: int) -> Chunk:
        return self.chunks([position])[0]

    def _cached(self, position: int) -> tuple[Chunk, int, list[list[str]]]:
        if position not in self._chunks:
            self._load([position])
        self._chunks.move_to_end(position)
        return self._chunks[position]

    def _load(self, positions: Sequence[int]) -> None:
        chunks = {r.id: r.payload for r in self._engine.retrieve(self._names["chunks"], positions)}
        if len(chunks) != len(set(positions)):
            raise IndexStaleError(f"chunks {sorted(set(positions) - set(chunks))} are missing: {REBUILD_HINT}")
        first_rows = {p: int(chunks[p]["first_row"]) for p in chunks}
        rows = [first_rows[p] + i for p in chunks for i in range(len(chunks[p]["chunk"]["sentences"]))]
        terms = {r.id: r.payload["terms"] for r in self._engine.retrieve(self._names["sentences"], rows)}
        for position, payload in chunks.items():
            chunk = chunk_from_dict(payload["chunk"])
            first = first_rows[position]
            self._chunks[position] = (chunk, first, [terms[first + i] for i in range(len(chunk.sentences))])
            self._rows.update({first + i: (position, i) for i in range(len(chunk.sentences))})
        while len(self._chunks) > CHUNK_CACHE:
            _, (chunk, first, _) = self._chunks.popitem(last=False)
            for i in range(len(chunk.sentences)):
                self._rows.pop(first + i, None)

    def sentence_rows(self, position: int) -> range:
        chunk, first, _ = self._cached(position)
        return range(first, first + len(chunk.sentences))

    def sentence_at(self, row: int) -> tuple[int, int]:
        if row not in self._rows:
            records = self._engine.retrieve(self._names["sentences"], [row])
            if not records:
                raise IndexError(f"sentence row {row} is not in the index")
            self._load([int(records[0].payload["chunk"])])
        return self._rows[row]

    def sentence_terms(self, row: int) -> Sequence[str]:
        position, index = self.sentence_at(row)
        return self._cached(position)[2][index]


class QdrantVectors:
    def __init__(self, engine: Engine, names: Mapping[str, str]) -> None:
        self._engine = engine
        self._names = names

    def search_passages(self, vector: np.ndarray, n: int) -> Ranking:
        return self._engine.search(self._names["chunks"], "dense", _floats(vector), n) if n > 0 else []

    def search_by_sentence(self, vector: np.ndarray, n: int) -> Ranking:
        if n <= 0:
            return []
        return self._engine.search_groups(self._names["sentences"], "dense", _floats(vector), "chunk", n)

    def sentence_similarities(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        return np.asarray(self.sentence_vectors(rows) @ vector)

    def passage_vectors(self, positions: Sequence[int]) -> np.ndarray:
        return self._vectors(self._names["chunks"], positions)

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray:
        return self._vectors(self._names["sentences"], rows)

    def _vectors(self, name: str, ids: Sequence[int]) -> np.ndarray:
        found: dict[int, list[float]] = {}
        for start in range(0, len(ids), READ_BATCH):
            batch = ids[start : start + READ_BATCH]
            found.update((r.id, r.vectors["dense"]) for r in self._engine.retrieve(name, batch, ["dense"]))
        if len(found) != len(set(ids)):
            raise IndexStaleError(f"vectors are missing from {name}: {REBUILD_HINT}")
        return np.asarray([found[i] for i in ids], dtype=np.float32).reshape(len(ids), -1)


class QdrantKeywords:
    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._name = name

    def search(self, terms: Sequence[str], n: int) -> Ranking:
        if not terms or n <= 0:
            return []
        return [(i, s) for i, s in self._engine.search(self._name, "keywords", query_vector(terms), n) if s > 0]


def _floats(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
