"""The reader as a ranker: the best candidate sentences of extraction, read with the question in one
batch, each with its document's title and the sentence before it.

The reader itself runs on ONNX Runtime (``rag.rankers.reader_onnx``) or torch (``rag.rankers.readernet``),
imported only by ``reader_for`` when the reader is on; this module only needs something that reads, so
tests hand in a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import ModelError
from rag.extraction import ScoredSentence, is_question
from rag.query import Query
from rag.rankers.base import Ranked
from rag.rankers.reading import default_dir
from rag.sources import next_sentence
from rag.stores.base import DocumentStore
from rag.types import Candidate, Reading

# Candidates from one source before the rest are filled in by score: a source that speaks to the
# question keeps a place in the batch even when another source has many similar sentences.
PER_SOURCE = 2
# What the reader reads of a sentence, in characters: the start of its document's title, the end of the
# sentence before it, and its own start (the model reads 128 tokens in all, the question included).
TITLE_CHARS = 24
BEFORE_CHARS = 48
SENTENCE_CHARS = 160


class SentenceReader(Protocol):
    path: str  # the model file it reads
    threshold: float
    uncertain: float | None

    def read(self, question: str, passages: Sequence[Candidate]) -> list[Reading]: ...


class Verifier(Protocol):
    path: str  # the model file it reads
    reads: int  # the scorer's first sentences it reads (its manifest's "read"): its signal is their highest logit

    def logits_and_spans(
        self, question: str, passages: Sequence[Candidate]
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]: ...


class Reader(SentenceReader, Verifier, Protocol):
    """What either runtime loads: a reader (or the verifier) that reads and gives its logits."""


class ReaderRanker:
    name = "reader"

    def __init__(self, reader: SentenceReader, documents: DocumentStore, candidates: int) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1. Currently, candidates is {candidates}")
        self.reader = reader
        self.documents = documents
        self.candidates = candidates

    @property
    def threshold(self) -> float:
        return self.reader.threshold

    @property
    def uncertain(self) -> float | None:
        return self.reader.uncertain

    def rank(self, query: Query, sentences: Sequence[ScoredSentence]) -> list[Ranked]:
        """The sentences with the reader's judgement, most likely answer first. A chosen sentence that is
        a question (a heading) is read with the sentence after it, in the same batch: that sentence is
        what the answer quotes with it when it answers."""
        chosen = candidates(sentences, self.candidates)
        rows = {s.row for s in chosen}
        for s in list(chosen):
            if is_question(s.sentence.text):
                after = next_sentence(s, sentences, self.documents.documents[s.chunk.doc_id])
                if after is not None and after.row not in rows:
                    chosen.append(after)
                    rows.add(after.row)
        readings = self.reader.read(query.text, [self.candidate(s) for s in chosen])
        out = [Ranked(s, r.probability, r.answer) for s, r in zip(chosen, readings, strict=True)]
        out.sort(key=lambda r: -r.probability)
        return out

    def candidate(self, s: ScoredSentence) -> Candidate:
        return candidate(s, self.documents)


def candidate(s: ScoredSentence, documents: DocumentStore) -> Candidate:
    """The sentence with its document's title and the sentence before it in the document."""
    before = ""
    if s.row > 0:
        ci, si = documents.sentence_at(s.row - 1)
        previous = documents.chunk(ci)
        if previous.doc_id == s.chunk.doc_id:
            before = previous.sentences[si].text
    title = documents.documents[s.chunk.doc_id].title
    return clip(title, before, s.sentence.text)


def reader_for(settings: Settings, embedder: Embedder | None = None) -> SentenceReader | None:
    """The shipped reader for ``settings``' embedding model, or None when neither RAG_READER nor
    RAG_SHORT_ANSWERS is on. With RAG_RUNTIME=onnx it runs on ONNX Runtime and reads with ``embedder``'s
    tokenizer when that is the ONNX embedder; with RAG_RUNTIME=torch, on torch and transformers, imported
    only then: serving without them needs neither."""
    if not (settings.reader or settings.short_answers):
        return None
    return _load(settings, embedder, verifier=False)


def verifier_for(settings: Settings, embedder: Embedder | None = None) -> Verifier | None:
    """The shipped verifier (an eighth coverage signal: README, "The verifier"), or None when RAG_VERIFIER is
    off; on the runtime the reader would run on."""
    return _load(settings, embedder, verifier=True) if settings.verifier else None


def _load(settings: Settings, embedder: Embedder | None, verifier: bool) -> Reader:
    if settings.runtime == "onnx":
        from rag.embedding_onnx import OnnxEmbedder
        from rag.rankers.reader_onnx import load_onnx_reader

        onnx_embedder = embedder if isinstance(embedder, OnnxEmbedder) else None
        return load_onnx_reader(settings, onnx_embedder, verifier=verifier)
    from rag.embedding import resolve_model_path

    try:
        from rag.rankers.readernet import load_reader
    except ModuleNotFoundError as exc:  # an installation without torch, such as the Docker image
        raise ModelError(
            f"Config 'RAG_RUNTIME' has value 'torch', but the reader needs torch and transformers on it and "
            f"{exc.name} is not installed: this installation (the Docker image is one) serves without them. "
            "Set RAG_RUNTIME=onnx, which serves the reader on ONNX Runtime"
        ) from None
    verifier_dir = default_dir() if verifier else None
    return load_reader(Path(resolve_model_path(settings)), settings.embedding_model, verifier=verifier_dir)


def candidates(scored: Sequence[ScoredSentence], n: int) -> list[ScoredSentence]:
    """The ``n`` sentences to read: each source's best PER_SOURCE first, then the next best overall."""
    per_source: dict[str, int] = {}
    first = []
    for s in scored:
        if per_source.get(s.chunk.doc_id, 0) < PER_SOURCE:
            per_source[s.chunk.doc_id] = per_source.get(s.chunk.doc_id, 0) + 1
            first.append(s)
    first = first[:n]
    chosen = set(map(id, first))
    rest = [s for s in scored if id(s) not in chosen][: n - len(first)]
    return sorted([*first, *rest], key=lambda s: -s.score)


def clip(title: str, before: str, sentence: str) -> Candidate:
    """What the reader reads of a sentence: its start, the end of the sentence before, the title's start."""
    return Candidate(title[:TITLE_CHARS], before[-BEFORE_CHARS:], sentence[:SENTENCE_CHARS])
