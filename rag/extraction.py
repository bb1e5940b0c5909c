"""Answer extraction: score the sentences of the top passages, keep the best of each source, cite them.

Sentence vectors are computed at index time, so scoring a question costs one product with the
candidate sentences' vectors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.query import Query
from rag.retrieval import Retrieval
from rag.stores.base import DocumentStore, VectorIndex
from rag.text.lexicon import Idf
from rag.types import Chunk, Citation, Document, Evidence, Hit, Sentence

# The weights below were chosen by a sweep on the benchmark questions (see docs/tuning.md);
# they are the knobs to revisit on another corpus.
# Weight of keyword overlap next to cosine similarity. e5 cosines of relevant and irrelevant
# sentences differ by ~0.05-0.10, so an overlap in [0, 1] needs a weight of that order.
OVERLAP_WEIGHT = 0.3
# Sentences are drawn from this many fused passages: enough to reach every source in a small
# corpus, few enough that the answer stays on the passages retrieval trusts.
ANSWER_PASSAGES = 20
# A source's best sentence must score within this of the best sentence overall to be shown:
# it keeps a weak, off-topic sentence from a source that does not address the question out.
SOURCE_MARGIN = 0.12
NEAR_DUPLICATE = 0.7
# Weight of the passage's own retrieval score: a sentence in a passage both retrievers rank
# high is likelier on topic than an equally similar sentence in a passage only one found.
CONTEXT_WEIGHT = 0.05
# Added to a sentence that holds what the question asks for ("how many" -> a number, "when" -> a
# date): of two sentences about DeepSeek's experts, the one that says "8 of 256" answers "how many".
# Measured with the coverage decision off: evidence hit 0.854 -> 0.866 on the benchmark set and
# 0.788 -> 0.849 on the held-out set, no question lost (any bonus from 0.05 to 0.15 gives the same); it
# is kept below the cosine gap between an on-topic and an off-topic sentence, so a number alone never
# makes a sentence relevant.
ANSWER_TYPE_BONUS = 0.05
# Taken from a sentence that is itself a question: show notes and articles ask the reader's question
# ("DeepSeek有五万块H100芯片？", "DeepSeek免费开源，那他们如何盈利？") as a heading before answering it, and such
# a heading is the sentence most like the question but answers nothing. Measured with the coverage
# decision off: benchmark evidence hit 0.866 -> 0.902 and disputed coverage 0.837 -> 0.884 (no question
# lost); held-out set unchanged. 0.05 to 0.1 give the same; 0.2 loses a rhetorical-question answer.
QUESTION_PENALTY = 0.05
_QUESTION = re.compile(r"[?？]\s*[\"'”’」』)）]*\s*$")
# Taken, the same, from a sentence wholly inside one pair of brackets: an aside that points at content or labels
# it ("（ 正版看这里《特朗普的“AI沙皇”David Sacks谈DeepSeek》 ）", a link in show notes; "【时间线】", a heading)
# without stating it. The link ranked above the answer to "What did Trump say about DeepSeek?" (docs/tuning.md).
ASIDE_PENALTY = QUESTION_PENALTY
_BRACKETS = {"（": "）", "(": ")", "【": "】", "[": "]"}

_HOLDS = {
    "date": re.compile(
        r"\d{4}\s*年|\d{1,2}\s*月|\d{1,2}\s*日|\b(?:19|20)\d\d\b|今年|去年|明年|"
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d",
        re.IGNORECASE,
    ),
    "number": re.compile(r"\d|[一二两三四五六七八九十百千万亿]+\s*(?:[个张块位名年天次倍%元]|万|亿|美元)"),
}


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    chunk: Chunk
    sentence: Sentence
    similarity: float
    overlap: float
    score: float


def keyword_overlap(query_terms: Sequence[Sequence[str]], tokens: Iterable[str], idf: Idf) -> float:
    """Share of the query's idf mass that the sentence contains. Each query word is a group of
    alternatives (the word and its translations): present if any is, weighted by its rarest known
    alternative. A word the corpus does not know at all weighs as the rarest word."""
    return QueryWeights.of(query_terms, idf).overlap(tokens)


@dataclass(frozen=True)
class QueryWeights:
    """The query's word groups with their idf weights, worked out once per question, not per sentence."""

    weights: tuple[float, ...]
    total: float
    groups_of: dict[str, tuple[int, ...]]  # term -> the groups it belongs to (a translation may be in two)

    @classmethod
    def of(cls, query_terms: Sequence[Sequence[str]], idf: Idf) -> QueryWeights:
        rarest = idf.rarest
        weights = tuple(max((idf[t] for t in group if t in idf), default=rarest) for group in query_terms)
        groups_of: dict[str, tuple[int, ...]] = {}
        for index, group in enumerate(query_terms):
            for term in set(group):
                groups_of[term] = (*groups_of.get(term, ()), index)
        return cls(weights, sum(weights), groups_of)

    def overlap(self, tokens: Iterable[str]) -> float:
        return self.overlaps([tokens])[0]

    def overlaps(self, sentences: Iterable[Iterable[str]]) -> list[float]:
        """``overlap`` of each sentence's tokens, in one loop (a question scores a hundred or more)."""
        if not self.total:
            return [0.0 for _ in sentences]
        groups_of, weight, total = self.groups_of, self.weights.__getitem__, self.total
        terms = groups_of.keys()
        out = []
        for tokens in sentences:
            found = terms & tokens  # the set operation runs in C
            if found:
                groups = {index for term in found for index in groups_of[term]}
                out.append(sum(map(weight, groups)) / total)
            else:
                out.append(0.0)
        return out


@functools.lru_cache(maxsize=65536)  # asked of every candidate sentence of every question
def is_question(text: str) -> bool:
    """Whether the sentence ends with a question mark (before any closing quote or bracket)."""
    return bool(_QUESTION.search(text))


@functools.lru_cache(maxsize=65536)  # as is_question
def is_aside(text: str) -> bool:
    """Whether the sentence is wholly inside one pair of brackets, its opening one the first character and its
    closing one the last (before a full stop): "（见上文）" is, "（一）背景（续）" is not."""
    body = text.strip().rstrip("。.").rstrip()
    close = _BRACKETS.get(body[:1])
    if close is None or not body.endswith(close):
        return False
    depth = 0
    for position, char in enumerate(body):
        if char == body[0]:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return position == len(body) - 1
    return False


@functools.lru_cache(maxsize=65536)  # as is_question
def holds(kind: str, text: str) -> bool:
    """Whether ``text`` holds an answer of ``kind`` (a date or a number)."""
    return bool(_HOLDS[kind].search(text))


def score_passages(
    query: Query,
    retrieval: Retrieval,
    documents: DocumentStore,
    vectors: VectorIndex,
    idf: Idf,
) -> list[ScoredSentence]:
    """Every sentence of the top ANSWER_PASSAGES passages, scored for the query, best first; only
    these sentences' similarities are fetched from the vector index."""
    chosen = list(zip(retrieval.hits[:ANSWER_PASSAGES], retrieval.positions, strict=False))
    return _score_hits(query, retrieval, chosen, documents, vectors, idf)


def score_other_sources(
    query: Query,
    retrieval: Retrieval,
    documents: DocumentStore,
    vectors: VectorIndex,
    idf: Idf,
) -> list[ScoredSentence]:
    """The sentences of each document's best passage, for documents with no passage among the top
    ANSWER_PASSAGES: a source that speaks to the question in fewer, lower-ranked passages (one article
    among several podcasts) still gets its say in the grouped view."""
    seen = {hit.chunk.doc_id for hit in retrieval.hits[:ANSWER_PASSAGES]}
    chosen = []
    for hit, position in zip(retrieval.hits[ANSWER_PASSAGES:], retrieval.positions[ANSWER_PASSAGES:], strict=False):
        if hit.chunk.doc_id not in seen:
            seen.add(hit.chunk.doc_id)
            chosen.append((hit, position))
    return _score_hits(query, retrieval, chosen, documents, vectors, idf)


def _score_hits(
    query: Query,
    retrieval: Retrieval,
    chosen: Sequence[tuple[Hit, int]],
    documents: DocumentStore,
    vectors: VectorIndex,
    idf: Idf,
) -> list[ScoredSentence]:
    candidates: list[tuple[int, Chunk, Sentence, float]] = []
    top = retrieval.hits[0].score if retrieval.hits else 1.0
    for hit, position in chosen:
        rows = documents.sentence_rows(position)
        context = hit.score / top
        candidates.extend((row, hit.chunk, hit.chunk.sentences[row - rows.start], context) for row in rows)
    if not candidates:
        return []
    fetched = [row for row, *_ in candidates]
    similarities = vectors.sentence_similarities(query.vector, fetched)
    terms = [documents.sentence_terms(row) for row in fetched]
    return score_sentences(query.terms, candidates, similarities, terms, idf, query.expected)


def score_sentences(
    query_terms: Sequence[Sequence[str]],
    candidates: Sequence[tuple[int, Chunk, Sentence, float]],
    similarities: Sequence[float] | np.ndarray,
    sentence_terms: Sequence[Sequence[str]],
    idf: Idf,
    expected: str | None = None,
) -> list[ScoredSentence]:
    """``candidates``: (sentence row, chunk, sentence, the chunk's retrieval score in [0, 1]), with
    each one's cosine with the query in ``similarities`` and its keyword terms in ``sentence_terms``;
    ``expected``: the answer type the question asks for (see ``rag.query.expected_answer``)."""
    weights = QueryWeights.of(query_terms, idf)
    overlaps = weights.overlaps(sentence_terms)
    cosines = np.asarray(similarities)
    scores = (
        cosines.astype(np.float64)
        + OVERLAP_WEIGHT * np.asarray(overlaps, dtype=np.float64)
        + CONTEXT_WEIGHT * np.fromiter((context for *_, context in candidates), np.float64, len(candidates))
    ).tolist()
    scored = []
    for (row, chunk, sentence, _), sim, overlap, score in zip(
        candidates, cosines.tolist(), overlaps, scores, strict=True
    ):
        if expected and holds(expected, sentence.text):
            score += ANSWER_TYPE_BONUS
        if is_question(sentence.text):
            score -= QUESTION_PENALTY
        if is_aside(sentence.text):
            score -= ASIDE_PENALTY
        scored.append(ScoredSentence(row, chunk, sentence, sim, overlap, score))
    scored.sort(key=lambda s: -s.score)
    return scored


@functools.lru_cache(maxsize=4096)  # a question compares each candidate with several others
def char_bigrams(text: str) -> frozenset[str]:
    squashed = "".join(ch for ch in text.lower() if ch.isalnum())
    return frozenset(squashed[i : i + 2] for i in range(len(squashed) - 1)) or frozenset({squashed})


def near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    x, y = char_bigrams(a), char_bigrams(b)
    return len(x & y) / max(1, min(len(x), len(y))) >= threshold


def select_evidence(scored: Sequence[ScoredSentence], top_k: int) -> list[ScoredSentence]:
    """The best sentence of each source that speaks to the question (so disagreement shows),
    then the next best sentences overall, up to ``top_k`` in all; near-duplicates once."""
    if not scored:
        return []
    floor = scored[0].score - SOURCE_MARGIN
    chosen: list[ScoredSentence] = []
    seen_docs: set[str] = set()
    for s in scored:
        if s.score < floor or len(seen_docs) >= top_k:
            break
        if s.chunk.doc_id not in seen_docs and not _repeats(s, chosen):
            chosen.append(s)
            seen_docs.add(s.chunk.doc_id)
    for s in scored:
        if len(chosen) >= top_k or s.score < floor:
            break
        if s not in chosen and not _repeats(s, chosen):
            chosen.append(s)
    chosen.sort(key=lambda s: -s.score)
    return chosen


def _repeats(candidate: ScoredSentence, chosen: Sequence[ScoredSentence]) -> bool:
    return any(near_duplicate(candidate.sentence.text, c.sentence.text) for c in chosen)


def to_evidence(s: ScoredSentence, document: Document) -> Evidence:
    citation = Citation(
        doc_id=document.doc_id,
        source_file=document.source_file,
        title=document.title,
        url=document.url,
        published=document.published,
        chunk_id=s.chunk.chunk_id,
        start=s.sentence.start,
        end=s.sentence.end,
        page=document.page_at(s.sentence.start),
    )
    return Evidence(text=s.sentence.text, score=s.score, citation=citation)


def join_answer(evidence: Sequence[Evidence]) -> str:
    return " ".join(e.text for e in evidence)
