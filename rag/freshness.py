"""Whether an index still reflects its documents and settings, told from its manifest.

``rag index`` asks before building (the Docker image's entrypoint runs it at every start) and the server
before serving, so this imports no model, no document parser and no text processing. A document file is
read only when its size or modification time differs from what the build recorded of it; then its
content decides, so a file touched but not changed leaves the index fresh.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.ingest import chunking
from rag.ingest.files import discover_files
from rag.stores.base import FORMAT_VERSION, Manifest

# A file modified this recently when a build records it could change again within its clock's tick, keeping
# size and modification time: the build leaves it out of the record, and the check reads it.
SETTLED_NS = 2_000_000_000

FileStats = dict[str, list[int]]  # resolved path -> [size in bytes, modification time in ns]


def serving_mismatch(manifest: Manifest | None, settings: Settings) -> str | None:
    """Why an index cannot serve these settings, judged from its manifest alone, or None when it can."""
    if manifest is None:
        return f"no index in {settings.index_dir}"
    if manifest.format_version != FORMAT_VERSION:
        return f"index format {manifest.format_version} is not {FORMAT_VERSION}"
    if manifest.model != settings.embedding_model:
        return f"index was built with model {manifest.model!r}, configured is {settings.embedding_model!r}"
    if manifest.chunking_hash != digest(chunking_settings(settings)):
        return f"chunking settings changed (index: {manifest.chunking})"
    return None


def staleness(manifest: Manifest | None, settings: Settings, sources: Sequence[Path]) -> str | None:
    """Why the index does not reflect these settings and source files, or None when it does."""
    mismatch = serving_mismatch(manifest, settings)
    if mismatch or manifest is None:
        return mismatch
    wanted = sorted(str(p.resolve()) for p in sources)
    if manifest.sources != wanted:
        return f"index covers {manifest.sources}, configured are {wanted}"
    files = discover_files(sources)
    if manifest.files and file_stats(files) == manifest.files:
        return None  # the same files, each with the size and modification time the build saw
    if manifest.corpus_hash != corpus_hash(files):
        return "documents changed since the index was built"
    return None


def file_stats(files: Sequence[Path]) -> FileStats:
    return {str(path.resolve()): _size_and_time(path) for path in files}


def settled_stats(files: Sequence[Path]) -> FileStats:
    """What a build records of its files: the stats of those not modified within the last SETTLED_NS."""
    now = time.time_ns()
    return {path: stat for path, stat in file_stats(files).items() if now - stat[1] >= SETTLED_NS}


def chunking_settings(settings: Settings) -> dict[str, Any]:
    return {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap, "version": chunking.VERSION}


def digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def corpus_hash(files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name + str(p)):
        h.update(path.name.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _size_and_time(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]
