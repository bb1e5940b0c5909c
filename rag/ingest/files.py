"""Which files are documents, and the ids and keys that tell documents apart, without reading any.

Nothing here imports a parser: the freshness check of ``rag index`` and the server's document library use
it at start, and ``rag.ingest.loading`` reads the files it finds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
BINARY_SUFFIXES = frozenset({".pdf", ".docx"})
SUFFIXES = frozenset({".txt", ".text"}) | MARKDOWN_SUFFIXES | HTML_SUFFIXES | BINARY_SUFFIXES


def discover_files(paths: Sequence[Path]) -> list[Path]:
    """The files load_corpus reads from these paths, in the order it reads them."""
    return [path for path, problem in candidates(paths) if problem is None]


def candidates(paths: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each file of ``paths`` once, with None, and each given path that is not a document, with the reason."""
    seen: set[Path] = set()
    for given in paths:
        for path, problem in _files_in(given):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path, problem


def content_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def doc_id_for(source_file: str) -> str:
    # The file stem: readable, and the same on every machine (seeds are named NNN_hash.txt).
    return re.sub(r"[^\w.-]+", "_", Path(source_file).stem).strip("_") or "document"


def _files_in(given: Path) -> Iterator[tuple[Path, str | None]]:
    if given.is_dir():
        # Unsupported or hidden files inside a folder are not documents; they are passed over silently.
        found = (p for p in given.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        for path in sorted(found, key=lambda p: p.relative_to(given).as_posix()):
            if not any(part.startswith(".") for part in path.relative_to(given).parts):
                yield path, None
    elif not given.exists():
        yield given, "no such file or folder"
    elif given.suffix.lower() not in SUFFIXES:
        yield given, f"unsupported file type '{given.suffix or given.name}'"
    else:
        yield given, None
