"""Dense retrieval: passages by their own embedding, and passages by their best sentence's."""

from __future__ import annotations

from rag.query import Query
from rag.stores.base import Ranking, VectorIndex


class PassageRetriever:
    name = "dense"

    def __init__(self, vectors: VectorIndex) -> None:
        self.vectors = vectors

    def retrieve(self, query: Query, n: int) -> Ranking:
        return self.vectors.search_passages(query.vector, n)


class BestSentenceRetriever:
    """A passage that holds one precise answer sentence among unrelated ones scores low as a whole,
    but high here."""

    name = "sentence"

    def __init__(self, vectors: VectorIndex) -> None:
        self.vectors = vectors

    def retrieve(self, query: Query, n: int) -> Ranking:
        return self.vectors.search_by_sentence(query.vector, n)
