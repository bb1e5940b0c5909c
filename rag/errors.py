"""One hierarchy for every failure a user can cause or meet.

The HTTP layer (api/errors.py) and the CLI (rag/cli.py) each map these in one place.
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error this package raises on purpose."""

    code = "rag_error"


class ConfigError(RagError):
    code = "bad_config"


class ModelError(RagError):
    code = "model_unavailable"


class BadDocumentError(RagError):
    code = "bad_document"


class DocumentNotFoundError(RagError):
    code = "document_not_found"


class NotDeletableError(RagError):
    """The document is indexed, but its file is not one that the service may remove."""

    code = "not_deletable"


class SeedsNotWritableError(RagError):
    """A write through the service needs RAG_SEEDS_DIR writable (a read-only mount, a full disk, permissions)."""

    code = "seeds_not_writable"


class UploadTooLargeError(RagError):
    """An upload over the count of files that one request may carry."""

    code = "payload_too_large"


class BadQueryError(RagError):
    code = "bad_query"


class IndexMissingError(RagError):
    code = "index_missing"


class IndexStaleError(RagError):
    code = "index_stale"


class StoreUnavailableError(RagError):
    """The index's engine (a Qdrant server or cluster) cannot be reached or failed."""

    code = "store_unavailable"
