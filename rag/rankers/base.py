"""The stage between retrieval and the answer that re-orders candidate sentences by reading them.

A ranker is one module implementing ``Ranker``: it gets the question and the candidate sentences
extraction scored, and returns them with its probability that each answers the question, most likely
first. The pipeline shows what ``select`` keeps and answers when the best probability reaches the
ranker's threshold; without a ranker, extraction's scores and the coverage model decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.extraction import ScoredSentence, near_duplicate
from rag.query import Query


@dataclass(frozen=True)
class Ranked:
    scored: ScoredSentence
    probability: float  # that the sentence answers the question
    answer: tuple[int, int] | None  # the short answer's offsets inside the sentence

    @property
    def doc_id(self) -> str:
        return self.scored.chunk.doc_id


class Ranker(Protocol):
    name: str

    @property
    def threshold(self) -> float:
        """The probability from which a sentence counts as answering."""
        ...

    @property
    def uncertain(self) -> float | None:
        """The probability from which evidence is shown as possibly answering; None: no such band."""
        ...

    def rank(self, query: Query, sentences: Sequence[ScoredSentence]) -> list[Ranked]: ...


def select(ranked: Sequence[Ranked], top_k: int, floor: float) -> list[Ranked]:
    """The best answering sentence of each source (so disagreement shows), then the next best, up to
    ``top_k``; a sentence below ``floor`` is shown only when nothing reaches it; near-duplicates once."""
    if not ranked:
        return []
    passing = [r for r in ranked if r.probability >= floor] or list(ranked[:1])
    chosen: list[Ranked] = []
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


def _repeats(candidate: Ranked, chosen: Sequence[Ranked]) -> bool:
    return any(near_duplicate(candidate.scored.sentence.text, c.scored.sentence.text) for c in chosen)
