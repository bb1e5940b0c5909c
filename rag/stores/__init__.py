"""Storage backends behind the protocols of ``rag.stores.base``; ``open_store`` picks one by RAG_STORE."""

from __future__ import annotations

from rag.config import Settings
from rag.stores.base import Backend
from rag.stores.local import LocalBackend


def open_backend(settings: Settings) -> Backend:
    # One backend today; the distributed one joins here, chosen by settings.store.
    return LocalBackend(settings.index_dir, settings.index_type)
