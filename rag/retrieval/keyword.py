"""Keyword retrieval: BM25 over the question's terms and their translations into the corpus's words."""

from __future__ import annotations

from rag.query import Query
from rag.stores.base import KeywordIndex, Ranking


class KeywordRetriever:
    name = "keyword"

    def __init__(self, keywords: KeywordIndex) -> None:
        self.keywords = keywords

    def retrieve(self, query: Query, n: int) -> Ranking:
        return self.keywords.search(query.search_terms, n)
