"""Answer extraction: score the sentences of the top passages, keep the best of each source, cite them.

Sentence vectors are computed at index time, so scoring a question costs one matrix product.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.types import Chunk, Citation, Document, Evidence, Sentence

# The weights below were chosen by a sweep on the benchmark questions (see "Tuning" in README.md);
# they are the knobs to revisit on another corpus.
# Weight of keyword overlap next to cosine similarity. e5 cosines of relevant and irrelevant
# sentences differ by ~0.05-0.10, so an overlap in [0, 1] needs a weight of that order.
OVERLAP_WEIGHT = 0.3
# A source's best sentence must score within this of the best sentence overall to be shown:
# it keeps a weak, off-topic sentence from a source that does not address the question out.
SOURCE_MARGIN = 0.12
NEAR_DUPLICATE = 0.7
# Weight of the passage's own retrieval score: a sentence in a passage both retrievers rank
# high is likelier on topic than an equally similar sentence in a passage only one found.
CONTEXT_WEIGHT = 0.05


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    chunk: Chunk
    sentence: Sentence
    similarity: float
    overlap: float
    score: float


def inverse_document_frequency(token_lists: Iterable[Sequence[str]]) -> dict[str, float]:
    lists = list(token_lists)
    df = Counter(t for tokens in lists for t in set(tokens))
    n = len(lists)
    return {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}


def keyword_overlap(query_terms: Sequence[Sequence[str]], tokens: Iterable[str], idf: dict[str, float]) -> float:
    """Share of the query's idf mass that the sentence contains. Each query word is a group of
    alternatives (the word and its translations): present if any is, weighted by its rarest known
    alternative. A word the corpus does not know at all weighs as the rarest word."""
    if not query_terms:
        return 0.0
    rarest = max(idf.values(), default=1.0)
    present = set(tokens)
    total = found = 0.0
    for group in query_terms:
        weight = max((idf[t] for t in group if t in idf), default=rarest)
        total += weight
        found += weight if present.intersection(group) else 0.0
    return found / total


def score_sentences(
    query_terms: Sequence[Sequence[str]],
    candidates: Sequence[tuple[int, Chunk, Sentence, float]],
    similarities: np.ndarray,
    sentence_tokens: Sequence[Sequence[str]],
    idf: dict[str, float],
) -> list[ScoredSentence]:
    """``candidates``: (sentence row, chunk, sentence, the chunk's retrieval score in [0, 1]);
    ``similarities``: the query's cosine with every sentence row, computed once per query."""
    scored = []
    for row, chunk, sentence, context in candidates:
        sim = similarities[row]
        overlap = keyword_overlap(query_terms, sentence_tokens[row], idf)
        score = float(sim) + OVERLAP_WEIGHT * overlap + CONTEXT_WEIGHT * context
        scored.append(ScoredSentence(row, chunk, sentence, float(sim), overlap, score))
    scored.sort(key=lambda s: -s.score)
    return scored


def char_bigrams(text: str) -> set[str]:
    squashed = "".join(ch for ch in text.lower() if ch.isalnum())
    return {squashed[i : i + 2] for i in range(len(squashed) - 1)} or {squashed}


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
    )
    return Evidence(text=s.sentence.text, score=s.score, citation=citation)


def join_answer(evidence: Sequence[Evidence]) -> str:
    return " ".join(e.text for e in evidence)
