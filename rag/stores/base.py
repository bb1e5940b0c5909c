"""What a storage backend provides: the protocols retrieval and extraction read through, and the manifest.

A backend is one module that writes an ``IndexContent`` atomically and opens it again as a ``Store``.
Rows are numbered as the build numbered them: chunk ``i`` is the ``i``-th chunk of the corpus, and
sentence rows run through the chunks in order, so a ranking is a list of ``(position, score)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.types import Chunk, Document, Sentence

if TYPE_CHECKING:
    from rag.text.lexicon import Lexicon

FORMAT_VERSION = 12  # 5: idf, names and sentence terms computed at index time and saved with the index;
# 6: the dictionary stored with it gives no translations from senses CC-CEDICT marks as dated;
# 7: a proper noun's sense gives only its first phrase, not the description after it; 8: slang senses give none;
# 9: a made-up word ending in a particle is segmented as two words ("庄明浩是" -> "庄明浩", "是");
# 10: the dictionary also gives CC-CEDICT's traditional headwords, for a corpus in traditional script;
# 11: 谁, 何时, 啥 and 咋 are question words, no terms; 12: for a corpus in Latin script, the dictionary also gives
# Chinese words' English glosses
REBUILD_HINT = "run `rag index` (or `make index`) to rebuild it"

Ranking = list[tuple[int, float]]  # (position, score), best first


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
    # Each document file's resolved path -> [size, modification time in ns] when the build read it, if it had
    # not just changed (rag.freshness): the check reads only files that differ. Empty in older manifests.
    files: dict[str, list[int]] = field(default_factory=dict)


class VectorIndex(Protocol):
    def search_passages(self, vector: np.ndarray, n: int) -> Ranking:
        """Chunk positions by the cosine of their own vector."""
        ...

    def search_by_sentence(self, vector: np.ndarray, n: int) -> Ranking:
        """Chunk positions by the cosine of their best sentence: a sentence search grouped by chunk."""
        ...

    def sentence_similarities(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """The cosine of ``vector`` with each sentence row in ``rows``, in that order."""
        ...

    def passage_vectors(self, positions: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunks, one row each: a rebuild reuses them for unchanged text."""
        ...

    def sentence_vectors(self, rows: Sequence[int]) -> np.ndarray: ...


class KeywordIndex(Protocol):
    def search(self, terms: Sequence[str], n: int) -> Ranking:
        """Chunk positions by BM25 over the terms; only chunks that hold one of them."""
        ...


class DocumentStore(Protocol):
    @property
    def documents(self) -> Mapping[str, Document]: ...

    @property
    def chunk_count(self) -> int: ...

    def chunk(self, position: int) -> Chunk: ...

    def chunks(self, positions: Sequence[int]) -> list[Chunk]:
        """Several chunks in one read, in the order asked for."""
        ...

    def sentence_rows(self, position: int) -> range:
        """The sentence rows of the chunk at ``position``."""
        ...

    def sentence_at(self, row: int) -> tuple[int, int]:
        """(chunk position, sentence position in the chunk) of a sentence row."""
        ...

    def sentence_terms(self, row: int) -> Sequence[str]:
        """The sentence's keyword terms with its document title's, as extraction matches them."""
        ...


@dataclass(frozen=True)
class Store:
    """An opened index: everything a question needs, and nothing from the source files."""

    manifest: Manifest
    documents: DocumentStore
    vectors: VectorIndex
    keywords: KeywordIndex
    lexicon: Lexicon
    check: Callable[[], None] = field(default=lambda: None)  # raises StoreUnavailableError when unreachable


@dataclass(frozen=True)
class IndexContent:
    """What a build hands a backend to write."""

    manifest: Manifest
    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray  # one row per sentence, in chunk order
    keyword_tokens: Sequence[Sequence[str]]  # per chunk: the terms BM25 indexes (title and text)
    sentence_terms: Sequence[Sequence[str]]  # per sentence row
    lexicon: Lexicon


def chunk_from_dict(raw: Mapping[str, Any]) -> Chunk:
    """A chunk as a backend stored it with ``dataclasses.asdict``."""
    fields = dict(raw)
    sentences = tuple(Sentence(**s) for s in fields.pop("sentences"))
    return Chunk(**fields, sentences=sentences)


class Backend(Protocol):
    def write(self, content: IndexContent) -> None:
        """Replace the index atomically: searches see the old one or the new one, never a mix."""
        ...

    def manifest(self) -> Manifest | None:
        """The manifest of the index in service, or None when there is none or it is unreadable."""
        ...

    def open(self) -> Store: ...
