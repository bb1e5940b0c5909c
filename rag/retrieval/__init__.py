"""Retrieval: every retriever ranks passages for the query, the joiner fuses the rankings into hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.query import Query
from rag.retrieval.dense import BestSentenceRetriever, PassageRetriever
from rag.retrieval.fusion import RRFJoiner
from rag.retrieval.keyword import KeywordRetriever
from rag.stores.base import DocumentStore, Ranking, Store
from rag.timing import Timings
from rag.types import Hit


class Retriever(Protocol):
    name: str

    def retrieve(self, query: Query, n: int) -> Ranking: ...


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    positions: list[int]  # the chunk position of each hit
    rankings: dict[str, Ranking]  # every retriever's own ranking, by name


def default_retrievers(store: Store) -> list[Retriever]:
    return [PassageRetriever(store.vectors), BestSentenceRetriever(store.vectors), KeywordRetriever(store.keywords)]


def retrieve(
    query: Query,
    retrievers: Sequence[Retriever],
    joiner: RRFJoiner,
    documents: DocumentStore,
    n: int,
    timings: Timings | None = None,
) -> Retrieval:
    timed = timings or Timings()
    rankings = {}
    for retriever in retrievers:
        with timed(retriever.name):
            rankings[retriever.name] = retriever.retrieve(query, n)
    with timed("fuse"):
        fused = joiner.join(rankings)
        chunks = documents.chunks([f.position for f in fused])
        hits = [Hit(chunk, f.score, f.rank, f.retrievers) for chunk, f in zip(chunks, fused, strict=True)]
    return Retrieval(hits, [f.position for f in fused], rankings)


__all__ = ["RRFJoiner", "Retrieval", "Retriever", "default_retrievers", "retrieve"]
