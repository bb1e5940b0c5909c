"""Storage backends behind the protocols of ``rag.stores.base``; ``open_backend`` picks one by RAG_STORE."""

from __future__ import annotations

from rag.config import Settings
from rag.stores.base import Backend
from rag.stores.local import LocalBackend
from rag.stores.qdrant import QdrantBackend
from rag.stores.qdrant_engines import ClientEngine, EdgeEngine, Engine

QDRANT_DIR = "qdrant"  # the embedded engine's folder under RAG_INDEX_DIR


def open_backend(settings: Settings) -> Backend:
    if settings.store == "qdrant":
        return QdrantBackend(qdrant_engine(settings), settings.qdrant_prefix)
    return LocalBackend(settings.index_dir, settings.index_type)


def qdrant_engine(settings: Settings) -> Engine:
    ef = settings.qdrant_hnsw_ef or None
    if settings.qdrant_url:
        return ClientEngine(settings.qdrant_url, settings.qdrant_api_key, ef)
    return EdgeEngine(settings.index_dir / QDRANT_DIR, ef)


def describe_store(settings: Settings) -> str:
    """Where the index lives, in words for a log line."""
    if settings.store != "qdrant":
        return str(settings.index_dir)
    where = settings.qdrant_url or f"embedded in {settings.index_dir / QDRANT_DIR}"
    return f"Qdrant ({where}), collections {settings.qdrant_prefix}_*"
