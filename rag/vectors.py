"""Dense vector search with FAISS: inner product over L2-normalised vectors (= cosine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError

HNSW_NEIGHBOURS = 32
# HNSW's graph only pays for itself on large corpora; below this, exact search is both faster and exact.
HNSW_MIN_VECTORS = 10_000


class VectorIndex:
    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "flat") -> VectorIndex:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index: Any
        dim = vectors.shape[1]
        if kind == "flat" or (kind == "hnsw" and len(vectors) < HNSW_MIN_VECTORS):
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            raise ConfigError(f"Config 'RAG_INDEX_TYPE' has value '{kind}'. Expected 'flat' or 'hnsw'.")
        index.add(vectors)
        return cls(index)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    @property
    def dimension(self) -> int:
        return int(self._index.d)  # type: ignore[attr-defined]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, self.size)
        if k == 0:
            return []
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), k)  # type: ignore[attr-defined]
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        import faiss

        return cls(faiss.read_index(str(path)))
