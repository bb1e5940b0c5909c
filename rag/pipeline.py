"""The one Python API that the CLI and the HTTP layer share: built once, then ``ask`` and ``search``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import extraction as extract
from rag.config import Settings
from rag.coverage import CoverageModel, Signals, agreement, default_model, latin_share
from rag.embedding import Embedder, load_embedder
from rag.errors import BadQueryError, DocumentNotFoundError, IndexStaleError
from rag.rankers import reader as reading
from rag.rankers.readernet import reader_for
from rag.retrieval.fusion import reciprocal_rank_fusion
from rag.store import REBUILD_HINT, StoredIndex, load_index, staleness
from rag.text.crosslingual import english_words, expand, read_aloud
from rag.text.tokenize import entities, tokenize
from rag.training.pairs import clip
from rag.types import Answer, Candidate, Chunk, Document, Evidence, Hit, Sentence

MAX_QUESTION_CHARS = 1000
# Sentences are drawn from this many fused passages: enough to reach every source in a small
# corpus, few enough that the answer stays on the passages retrieval trusts.
ANSWER_PASSAGES = 20
# BM25's vote in the fusion, next to 1 for each of the two dense rankings (passages, best sentence).
# Measured on the benchmark (README, "Tuning"): 3 gave the best MRR@10; keyword search is precise on
# this Chinese corpus once English words are translated, while e5-small ranks the right passage
# high but often not first.
KEYWORD_WEIGHT = 3.0


@dataclass(frozen=True)
class Retrieval:
    query_terms: list[list[str]]  # per query word: the word, then its translations
    sentence_similarities: np.ndarray  # cosine of the query with every sentence, computed once
    hits: list[Hit]
    dense: list[tuple[int, float]]
    keyword: list[tuple[int, float]]
    expected: str | None  # the answer type the question asks for: "date", "number" or None


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: StoredIndex,
        coverage: CoverageModel | None = None,
        dense: bool = True,
        keyword: bool = True,
        diversify: bool = True,
        reader: reading.SentenceReader | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.coverage = coverage or default_model()
        self.use_dense, self.use_keyword, self.diversify = dense, keyword, diversify
        self.reader = reader
        self.idf = extract.inverse_document_frequency(index.sentence_tokens)
        self._chunk_position = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self._sentence_chunk = np.array([ci for ci, _ in index.sentence_rows], dtype=np.int64)
        self._names = set().union(*(entities(d.text) for d in index.documents.values()))
        self._vocabulary = frozenset(self.idf)
        # A sentence is read with its document's title: "他说" in an interview is the interviewee
        # speaking, so a question that names him matches the sentence as it matches the passage.
        titles = {d.doc_id: tokenize(d.title) for d in index.documents.values()}
        self._sentence_terms = [
            [*index.sentence_tokens[row], *titles[index.chunks[ci].doc_id]]
            for row, (ci, _) in enumerate(index.sentence_rows)
        ]
        # Dictionaries load on first use (jieba ~1.5 s, wordfreq's English list ~0.4 s, pypinyin
        # ~0.4 s): here, not in the first request.
        tokenize("")
        english_words(), read_aloud("中")

    @classmethod
    def from_settings(cls, settings: Settings, check_fresh: bool = True, embedder: Embedder | None = None) -> Pipeline:
        index = load_index(settings.index_dir)
        if check_fresh:
            reason = staleness(index.manifest, settings, [Path(s) for s in index.manifest.sources])
            if reason:
                raise IndexStaleError(f"index in {settings.index_dir} is stale ({reason}): {REBUILD_HINT}")
        return cls(settings, embedder or load_embedder(settings), index, reader=reader_for(settings))

    def variant(
        self, *, dense: bool = True, keyword: bool = True, diversify: bool = True, reader: bool = True
    ) -> Pipeline:
        """The same loaded pipeline with a retriever, diversification or the reader switched off (for ablations)."""
        kept = self.reader if reader else None
        return Pipeline(self.settings, self.embedder, self.index, self.coverage, dense, keyword, diversify, kept)

    @property
    def model_name(self) -> str:
        return self.index.manifest.model

    @property
    def document_count(self) -> int:
        return len(self.index.documents)

    @property
    def chunk_count(self) -> int:
        return len(self.index.chunks)

    def documents(self) -> list[Document]:
        return sorted(self.index.documents.values(), key=lambda d: d.source_file)

    def document(self, doc_id: str) -> Document:
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with doc_id {doc_id!r}") from None

    def search(self, query: str, top_k: int = 5) -> list[Hit]:
        return self._retrieve(_clean_query(query), {}).hits[:top_k]

    def ask(self, question: str, top_k: int = 5, passages: int | None = None) -> Answer:
        """Evidence from up to ``top_k`` sources; ``passages`` (default ``top_k``) closest passages listed."""
        timings: dict[str, float] = {}
        question = _clean_query(question)
        with _timed(timings, "total"):
            r = self._retrieve(question, timings)
            with _timed(timings, "extract"):
                scored = self._score_sentences(r)
            confidence = None
            if self.reader is None:
                with _timed(timings, "extract"):
                    chosen = self._select(scored, top_k)
                    evidence = tuple(extract.to_evidence(s, self.index.documents[s.chunk.doc_id]) for s in chosen)
                with _timed(timings, "coverage"):
                    answerable = bool(evidence) and self.coverage.answerable(self._signals(question, r, scored))
            else:
                with _timed(timings, "reader"):
                    evidence, confidence = self._read(question, scored, top_k, self.reader)
                answerable = bool(evidence) and confidence >= self.reader.threshold
        return Answer(
            question=question,
            answerable=answerable,
            answer=extract.join_answer(evidence) if answerable else "",
            evidence=evidence if answerable else (),
            hits=tuple(r.hits[: top_k if passages is None else passages]),
            confidence=None if confidence is None else round(confidence, 4),
            timings_ms={k: round(v, 2) for k, v in timings.items()},
        )

    def _read(
        self, question: str, scored: list[extract.ScoredSentence], top_k: int, reader: reading.SentenceReader
    ) -> tuple[tuple[Evidence, ...], float]:
        """The reader's evidence, most likely answer first, and its probability that it answers."""
        candidates = reading.candidates(scored, self.settings.reader_candidates)
        judged = reading.read(reader, question, candidates, self._candidate)
        if not self.diversify:
            chosen = [j for j in judged[: min(3, top_k)] if j.probability >= reader.threshold] or judged[:1]
        else:
            chosen = reading.select(judged, top_k, reader.threshold)
        evidence = tuple(self._read_evidence(j, reader.threshold) for j in chosen)
        return evidence, judged[0].probability if judged else 0.0

    def _read_evidence(self, judged: reading.ReadSentence, threshold: float) -> Evidence:
        base = extract.to_evidence(judged.scored, self.index.documents[judged.doc_id])
        start = judged.scored.sentence.start
        span = judged.answer if judged.probability >= threshold else None
        return Evidence(
            text=base.text,
            score=judged.probability,
            citation=base.citation,
            answer_start=start + span[0] if span else None,
            answer_end=start + span[1] if span else None,
        )

    def _candidate(self, s: extract.ScoredSentence) -> Candidate:
        """The sentence with its document's title and the sentence before it in the document."""
        before = ""
        if s.row > 0:
            ci, si = self.index.sentence_rows[s.row - 1]
            previous = self.index.chunks[ci]
            if previous.doc_id == s.chunk.doc_id:
                before = previous.sentences[si].text
        title = self.index.documents[s.chunk.doc_id].title
        return clip(title, before, s.sentence.text)

    def signals(self, question: str) -> Signals:
        """What the coverage model sees for ``question`` (for calibration and debugging)."""
        question = _clean_query(question)
        r = self._retrieve(question, {})
        return self._signals(question, r, self._score_sentences(r))

    def _signals(self, question: str, r: Retrieval, scored: list[extract.ScoredSentence]) -> Signals:
        dense_scores = [s for _, s in r.dense]
        top = dense_scores[0] if dense_scores else 0.0
        tail = dense_scores[10:20] or dense_scores[-1:] or [0.0]
        return Signals(
            top_passage=top,
            top_sentence=max((s.similarity for s in scored), default=0.0),
            margin=top - float(np.mean(tail)),
            keyword=float(np.log1p(r.keyword[0][1])) if r.keyword else 0.0,
            agreement=agreement([i for i, _ in r.dense], [i for i, _ in r.keyword]),
            unknown_name=float(bool(entities(question) - self._names)),
            latin=latin_share(question),
        )

    def _retrieve(self, query: str, timings: dict[str, float]) -> Retrieval:
        n = self.settings.candidates
        with _timed(timings, "embed"):
            vector = self.embedder.embed([query], "query")[0]
        with _timed(timings, "dense"):
            dense = self.index.vectors.search(vector, n)
            similarities = self.index.sentence_vectors @ vector
            by_sentence = self._rank_by_best_sentence(similarities, n)
        with _timed(timings, "keyword"):
            terms = expand(tokenize(query), self.index.dictionary, self._vocabulary)
            keyword = self.index.keywords.search(list(dict.fromkeys(t for group in terms for t in group)), n)
        with _timed(timings, "fuse"):
            hits = self._fuse(dense, by_sentence, keyword)
        return Retrieval(terms, similarities, hits, dense, keyword, extract.expected_answer(query))

    def _rank_by_best_sentence(self, similarities: np.ndarray, n: int) -> list[tuple[int, float]]:
        """Chunks ranked by their best sentence: a passage that holds one precise answer sentence
        among unrelated ones scores low as a whole, but high here."""
        best = np.full(len(self.index.chunks), -1.0, dtype=np.float32)
        np.maximum.at(best, self._sentence_chunk, similarities)
        order = np.argsort(-best, kind="stable")[:n]
        return [(int(i), float(best[i])) for i in order]

    def _fuse(
        self, dense: list[tuple[int, float]], by_sentence: list[tuple[int, float]], keyword: list[tuple[int, float]]
    ) -> list[Hit]:
        rankings, weights = [], []
        if self.use_dense:
            rankings += [[i for i, _ in dense], [i for i, _ in by_sentence]]
            weights += [1.0, 1.0]
        if self.use_keyword:
            rankings.append([i for i, _ in keyword])
            weights.append(KEYWORD_WEIGHT)
        dense_at = {i: (rank, s) for rank, (i, s) in enumerate(dense, start=1)}
        keyword_at = {i: (rank, s) for rank, (i, s) in enumerate(keyword, start=1)}
        hits = []
        for rank, (i, score) in enumerate(reciprocal_rank_fusion(rankings, self.settings.rrf_k, weights), start=1):
            d_rank, d_score = dense_at.get(i, (None, None))
            k_rank, k_score = keyword_at.get(i, (None, None))
            hits.append(Hit(self.index.chunks[i], score, rank, d_score, d_rank, k_score, k_rank))
        return hits

    def _score_sentences(self, r: Retrieval) -> list[extract.ScoredSentence]:
        candidates: list[tuple[int, Chunk, Sentence, float]] = []
        top = r.hits[0].score if r.hits else 1.0
        for hit in r.hits[:ANSWER_PASSAGES]:
            rows = self.index.chunk_sentence_rows[self._chunk_position[hit.chunk.chunk_id]]
            context = hit.score / top
            candidates.extend((row, hit.chunk, hit.chunk.sentences[row - rows.start], context) for row in rows)
        return extract.score_sentences(
            r.query_terms, candidates, r.sentence_similarities, self._sentence_terms, self.idf, r.expected
        )

    def _select(self, scored: list[extract.ScoredSentence], top_k: int) -> list[extract.ScoredSentence]:
        if self.diversify:
            return extract.select_evidence(scored, top_k)
        # Without diversification: the best sentences overall, whatever their source.
        return list(scored[: min(3, top_k)])


def _clean_query(text: str) -> str:
    stripped = " ".join(text.split())
    if not stripped:
        raise BadQueryError("the question is empty")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise BadQueryError(f"the question has {len(stripped)} characters; the limit is {MAX_QUESTION_CHARS}")
    return stripped


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000
