"""The documents the previous build read, kept beside the index so that the next build reads again only the files
that are new or changed.

Every build read every file: a PDF is parsed in a child process at about 20 ms a page, a page of HTML cleaned of
its navigation. A document read is the same for the same file name and bytes, read under the same limits by the
same code, so it is kept under a digest of the name and bytes, in a file of the index folder named by a digest of
the reading code, the libraries it uses and the limits (a new version, or new limits, read everything again).
Files that could not be read are not kept: they are tried again, with their reason given again.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.diskcache import code_digest, entry_key, field_values, load, save_alone
from rag.ingest.binary import Limits
from rag.types import Document

FORMAT = 1
PREFIX = ".documents-"
_INGEST = ("loading", "cleaning", "html_page", "html_tree", "html_boxes", "markdown", "metadata", "blocks", "files")
# The code that reads a file into a document, and the libraries it reads with: a change to any reads every file anew.
READING_CODE = (
    "rag.ingest.known",
    *(f"rag.ingest.{name}" for name in (*_INGEST, "binary", "isolation", "pdf", "docx")),
    "rag.text.scripts",
    "rag.types",
)
READING_LIBRARIES = (
    "pypdf",
    "python-docx",
    "beautifulsoup4",
    "lxml",
    "charset-normalizer",
    "python-frontmatter",
    "PyYAML",
)


class KnownDocuments:
    """Documents by a digest of their file's name and bytes: the previous build's, and those this build read."""

    def __init__(self, previous: dict[bytes, tuple[Any, ...]] | None = None) -> None:
        self._previous = previous or {}
        self._kept: dict[bytes, tuple[Any, ...]] = {}  # this build's files: what ``save`` keeps

    @classmethod
    def load(cls, index_dir: Path, limits: Limits) -> KnownDocuments:
        """The documents the last build over ``index_dir`` saved; none when there are none it can use."""
        saved = load(known_path(index_dir, limits), FORMAT, compress=True)
        return cls(saved) if isinstance(saved, dict) else cls()

    def read(self, name: str, raw: bytes, read: Callable[[], Document]) -> Document:
        """The document of the file ``name`` holding ``raw``: ``read()``, unless a build read it before."""
        key = entry_key(name.encode("utf-8", "surrogatepass"), raw)
        fields = self._kept.get(key) or self._previous.get(key)
        if fields is None:
            fields = field_values(read())  # a BadDocumentError passes through: such a file is not kept
        self._kept[key] = fields
        return Document(*fields)

    def save(self, index_dir: Path, limits: Limits) -> None:
        """The documents of this build in ``index_dir``, in place of any earlier file."""
        save_alone(known_path(index_dir, limits), PREFIX, FORMAT, self._kept, "the documents read")


def known_path(index_dir: Path, limits: Limits) -> Path:
    versions = [f"{name} {metadata.version(name)}" for name in READING_LIBRARIES]
    digest = code_digest(READING_CODE, *(text.encode() for text in [*versions, repr(limits)]))
    return index_dir / f"{PREFIX}{digest}"
