"""The reader stage: the best candidate sentences of today's scorer, read with the question in one
batch, re-ranked by the reader's probability that they answer it, and chosen per source.

The reader itself (``rag.rankers.readernet``) is a torch model; this module only needs something that reads,
so tests hand in a fake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.extraction import ScoredSentence, near_duplicate
from rag.types import Candidate, Reading

# Candidates from one source before the rest are filled in by score: a source that speaks to the
# question keeps a place in the batch even when another source has many similar sentences.
PER_SOURCE = 2


class SentenceReader(Protocol):
    threshold: float

    def read(self, question: str, passages: Sequence[Candidate]) -> list[Reading]: ...


@dataclass(frozen=True)
class ReadSentence:
    scored: ScoredSentence
    probability: float
    answer: tuple[int, int] | None  # the short answer's offsets inside the sentence

    @property
    def doc_id(self) -> str:
        return self.scored.chunk.doc_id


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


def read(
    reader: SentenceReader,
    question: str,
    sentences: Sequence[ScoredSentence],
    passage_of: Callable[[ScoredSentence], Candidate],
) -> list[ReadSentence]:
    """The sentences with the reader's judgement, most likely answer first."""
    readings = reader.read(question, [passage_of(s) for s in sentences])
    out = [ReadSentence(s, r.probability, r.answer) for s, r in zip(sentences, readings, strict=True)]
    out.sort(key=lambda r: -r.probability)
    return out


def select(read_sentences: Sequence[ReadSentence], top_k: int, floor: float) -> list[ReadSentence]:
    """The best answering sentence of each source (so disagreement shows), then the next best, up to
    ``top_k``; a sentence below ``floor`` is shown only when nothing reaches it; near-duplicates once."""
    if not read_sentences:
        return []
    passing = [r for r in read_sentences if r.probability >= floor] or list(read_sentences[:1])
    chosen: list[ReadSentence] = []
    seen: set[str] = set()
    for r in passing:
        if len(chosen) < top_k and r.doc_id not in seen and not _repeats(r, chosen):
            chosen.append(r)
            seen.add(r.doc_id)
    for r in passing:
        if len(chosen) < top_k and r not in chosen and not _repeats(r, chosen):
            chosen.append(r)
    chosen.sort(key=lambda r: -r.probability)
    return chosen


def _repeats(candidate: ReadSentence, chosen: Sequence[ReadSentence]) -> bool:
    return any(near_duplicate(candidate.scored.sentence.text, c.scored.sentence.text) for c in chosen)
